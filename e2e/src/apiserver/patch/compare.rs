//! Field sets of objects: the fields an applied configuration sets, and what an update
//! added, modified and removed, walking values with the kind's merge rules.

use serde_json::{Map, Value};

use super::PatchError;
use super::fieldset::{Element, FieldSet, field, key_element, value_element};
use super::json_equal;
use super::model::{ListType, TypeModel};

/// Fields apply and update never track: the server sets them (`stripMeta` in kube-apiserver).
const SYSTEM_METADATA: [&str; 10] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// `obj` without `apiVersion`, `kind` and the system metadata.
pub(crate) fn strip_system(obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Value::Object(map) = &mut out {
        map.remove("apiVersion");
        map.remove("kind");
        if let Some(Value::Object(meta)) = map.get_mut("metadata") {
            for name in SYSTEM_METADATA {
                meta.remove(name);
            }
            if meta.is_empty() {
                map.remove("metadata");
            }
        }
    }
    out
}

/// What an update changed, as field sets.
#[derive(Debug, Default)]
pub(crate) struct Diff {
    pub(crate) added: FieldSet,
    pub(crate) modified: FieldSet,
    pub(crate) removed: FieldSet,
}

/// Walks values with the merge rules of one kind.
pub(crate) struct Walker {
    model: TypeModel,
}

/// The path being walked: field names (for the model) and elements (for the sets).
struct Cursor<'v> {
    fields: Vec<&'v str>,
    elements: Vec<Element>,
}

impl Walker {
    pub(crate) fn new(model: TypeModel) -> Self {
        Self { model }
    }

    pub(crate) fn model(&self) -> &TypeModel {
        &self.model
    }

    /// The fields an applied configuration sets (already stripped of system metadata).
    /// Keyed list items without their key, or twice the same key, are refused as on a real
    /// server.
    pub(crate) fn applied_set(&self, config: &Value) -> Result<FieldSet, PatchError> {
        let mut set = FieldSet::default();
        if let Value::Object(map) = config {
            self.collect_object(map, &mut Vec::new(), &mut set, Mode::Apply)?;
        }
        Ok(set)
    }

    fn collect_object<'v>(
        &self,
        map: &'v Map<String, Value>,
        path: &mut Vec<&'v str>,
        node: &mut FieldSet,
        mode: Mode,
    ) -> Result<(), PatchError> {
        for (name, value) in map {
            path.push(name);
            self.collect_value(value, path, node.child_mut(field(name)), mode)?;
            path.pop();
        }
        Ok(())
    }

    /// Fills `node`, the node of `value` at `path`.
    fn collect_value<'v>(
        &self,
        value: &'v Value,
        path: &mut Vec<&'v str>,
        node: &mut FieldSet,
        mode: Mode,
    ) -> Result<(), PatchError> {
        match value {
            Value::Object(map) if !map.is_empty() && !self.model.is_atomic_object(path) => {
                if mode == Mode::Update && self.model.is_granular_map(path) {
                    node.mark();
                }
                self.collect_object(map, path, node, mode)
            }
            Value::Array(items) if !items.is_empty() => self.collect_list(items, path, node, mode),
            _ => {
                node.mark();
                Ok(())
            }
        }
    }

    fn collect_list<'v>(
        &self,
        items: &'v [Value],
        path: &mut Vec<&'v str>,
        node: &mut FieldSet,
        mode: Mode,
    ) -> Result<(), PatchError> {
        let list_type = self.model.list_type(path);
        if mode == Mode::Update && list_type != ListType::Atomic {
            node.mark();
        }
        match list_type {
            ListType::Atomic => node.mark(),
            ListType::Set => {
                for item in items {
                    node.child_mut(value_element(item)).mark();
                }
            }
            ListType::Map {
                keys, atomic_items, ..
            } => {
                let Some(elements) = self.item_elements(items, keys, path, mode)? else {
                    node.mark();
                    return Ok(());
                };
                for (item, element) in items.iter().zip(elements) {
                    let child = node.child_mut(element);
                    child.mark();
                    if let (Value::Object(map), false) = (item, atomic_items) {
                        self.collect_object(map, path, child, mode)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The key elements of a keyed list's items; `None` (the list counted as atomic) when an
    /// update stored items without keys, an error for such an apply.
    fn item_elements(
        &self,
        items: &[Value],
        keys: &[&str],
        path: &[&str],
        mode: Mode,
    ) -> Result<Option<Vec<Element>>, PatchError> {
        let mut elements: Vec<Element> = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let element = item.as_object().and_then(|map| key_element(map, keys));
            match element {
                Some(e) if !elements.contains(&e) => elements.push(e),
                found if mode == Mode::Apply => {
                    let why = match found {
                        Some(e) => format!("duplicate entries for key {}", &e[2..]),
                        None => format!(
                            "associative list with keys has an element that omits key field {:?}",
                            keys.first().copied().unwrap_or_default()
                        ),
                    };
                    return Err(PatchError::Invalid(format!(
                        ".{}: element {index}: {why}",
                        path.join(".")
                    )));
                }
                _ => return Ok(None),
            }
        }
        Ok(Some(elements))
    }

    /// What changed from `old` to `new` (both stripped of system metadata).
    pub(crate) fn diff(&self, old: &Value, new: &Value) -> Diff {
        let mut diff = Diff::default();
        let mut cursor = Cursor {
            fields: Vec::new(),
            elements: Vec::new(),
        };
        self.diff_value(Some(old), Some(new), &mut cursor, &mut diff);
        diff
    }

    fn diff_value<'v>(
        &self,
        old: Option<&'v Value>,
        new: Option<&'v Value>,
        cursor: &mut Cursor<'v>,
        diff: &mut Diff,
    ) {
        match (old, new) {
            (None, None) => {}
            (None, Some(n)) => diff
                .added
                .graft(&cursor.elements, &self.update_subtree(n, cursor)),
            (Some(o), None) => diff
                .removed
                .graft(&cursor.elements, &self.update_subtree(o, cursor)),
            (Some(Value::Object(o)), Some(Value::Object(n)))
                if !self.model.is_atomic_object(&cursor.fields)
                    && (!o.is_empty() || !n.is_empty()) =>
            {
                self.diff_object(o, n, cursor, diff)
            }
            (Some(Value::Array(o)), Some(Value::Array(n)))
                if self.diff_list(o, n, cursor, diff) => {}
            (Some(o), Some(n)) => {
                if !json_equal(o, n) {
                    diff.modified.insert(&cursor.elements);
                }
            }
        }
    }

    fn diff_object<'v>(
        &self,
        old: &'v Map<String, Value>,
        new: &'v Map<String, Value>,
        cursor: &mut Cursor<'v>,
        diff: &mut Diff,
    ) {
        let removed = old.keys().filter(|k| !new.contains_key(*k));
        for name in new.keys().chain(removed) {
            cursor.fields.push(name);
            cursor.elements.push(field(name));
            self.diff_value(old.get(name), new.get(name), cursor, diff);
            cursor.elements.pop();
            cursor.fields.pop();
        }
    }

    /// Diffs a list item by item when its items are keyed or a set; `false` when it is
    /// atomic (the caller compares it as a whole).
    fn diff_list<'v>(
        &self,
        old: &'v [Value],
        new: &'v [Value],
        cursor: &mut Cursor<'v>,
        diff: &mut Diff,
    ) -> bool {
        let (keys, atomic_items) = match self.model.list_type(&cursor.fields) {
            ListType::Atomic => return false,
            ListType::Set => {
                let old_items: Vec<(Element, &Value)> =
                    old.iter().map(|v| (value_element(v), v)).collect();
                let new_items: Vec<(Element, &Value)> =
                    new.iter().map(|v| (value_element(v), v)).collect();
                self.diff_items(&old_items, &new_items, true, cursor, diff);
                return true;
            }
            ListType::Map {
                keys, atomic_items, ..
            } => (keys, atomic_items),
        };
        let elements = |items: &'v [Value]| -> Option<Vec<(Element, &'v Value)>> {
            let found = self
                .item_elements(items, keys, &cursor.fields, Mode::Update)
                .ok()??;
            Some(found.into_iter().zip(items.iter()).collect())
        };
        let (Some(old_items), Some(new_items)) = (elements(old), elements(new)) else {
            return false;
        };
        self.diff_items(&old_items, &new_items, atomic_items, cursor, diff);
        true
    }

    fn diff_items<'v>(
        &self,
        old: &[(Element, &'v Value)],
        new: &[(Element, &'v Value)],
        atomic_items: bool,
        cursor: &mut Cursor<'v>,
        diff: &mut Diff,
    ) {
        let find = |list: &[(Element, &'v Value)], e: &Element| {
            list.iter().find(|(x, _)| x == e).map(|(_, v)| *v)
        };
        for (element, value) in new {
            cursor.elements.push(element.clone());
            match find(old, element) {
                None => diff.added.graft(
                    &cursor.elements,
                    &self.item_subtree(value, atomic_items, cursor),
                ),
                Some(before) if atomic_items => {
                    if !json_equal(before, value) {
                        diff.modified.insert(&cursor.elements);
                    }
                }
                Some(before) => self.diff_value(Some(before), Some(value), cursor, diff),
            }
            cursor.elements.pop();
        }
        for (element, value) in old.iter().filter(|(e, _)| find(new, e).is_none()) {
            cursor.elements.push(element.clone());
            diff.removed.graft(
                &cursor.elements,
                &self.item_subtree(value, atomic_items, cursor),
            );
            cursor.elements.pop();
        }
    }

    fn item_subtree<'v>(&self, item: &'v Value, atomic: bool, cursor: &Cursor<'v>) -> FieldSet {
        let mut set = FieldSet::default();
        set.mark();
        if let (Value::Object(map), false) = (item, atomic) {
            let mut path = cursor.fields.clone();
            // Keys are always present in a stored keyed list: ignore impossible errors.
            let _ = self.collect_object(map, &mut path, &mut set, Mode::Update);
        }
        set
    }

    /// The fields of a value an update added (or removed) as a whole.
    fn update_subtree<'v>(&self, value: &'v Value, cursor: &Cursor<'v>) -> FieldSet {
        let mut set = FieldSet::default();
        let mut path = cursor.fields.clone();
        let _ = self.collect_value(value, &mut path, &mut set, Mode::Update);
        set
    }
}

/// Apply sets hold leaves and list items only; update sets also own the maps and lists they
/// create (`.`), as kube-apiserver records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Apply,
    Update,
}

#[cfg(test)]
#[path = "compare_tests.rs"]
mod tests;
