//! Strategic merge patch, as kube-apiserver applies it to built-in kinds
//! (k8s.io/apimachinery `strategicpatch`): maps merge recursively, `null` deletes, lists with
//! a merge key merge item by item, lists of scalars with `patchStrategy: merge` merge as sets,
//! other lists are replaced; the directives `$patch` (`replace`, `delete`, `merge`),
//! `$retainKeys`, `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>` are
//! honoured (`kubectl apply` sends the last in every patch it computes).

use serde_json::{Map, Value};

use super::PatchError;
use super::json_equal;
use super::model::{ListType, TypeModel};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

/// Applies a strategic merge patch to `target`, a `kind` object.
pub fn strategic_merge_patch(
    target: &Value,
    patch: &Value,
    kind: &str,
) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::Invalid(
            "strategic merge patch must be a JSON object".to_string(),
        ));
    };
    let original = match target {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    let merger = Merger {
        model: TypeModel::for_kind(kind),
    };
    merger
        .merge_map(original, patch, &mut Vec::new())
        .map(Value::Object)
}

struct Merger {
    model: TypeModel,
}

type Path<'a> = Vec<&'a str>;

impl Merger {
    fn merge_map<'p>(
        &self,
        mut original: Map<String, Value>,
        patch: &'p Map<String, Value>,
        path: &mut Path<'p>,
    ) -> Result<Map<String, Value>, PatchError> {
        if let Some(directive) = patch.get(DIRECTIVE) {
            match directive.as_str() {
                // The patch is the new map (merged into nothing, which strips its directives).
                Some("replace") => original = Map::new(),
                Some("delete") => return Ok(Map::new()),
                Some("merge") => {}
                _ => return Err(bad_patch_type(directive, patch)),
            }
        }
        retain_keys(&mut original, patch)?;
        for (key, value) in patch {
            if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
                delete_from_primitive_list(&mut original, field, value)?;
            }
        }
        let live_lists: Vec<(&str, Vec<Value>)> = order_directives(patch)
            .filter_map(|(field, _)| Some((field, original.get(field)?.as_array()?.clone())))
            .collect();
        for (key, value) in patch {
            if key.starts_with('$') {
                continue;
            }
            if value.is_null() {
                original.remove(key);
                continue;
            }
            path.push(key);
            let merged = self.merge_value(original.remove(key), value, path)?;
            path.pop();
            original.insert(key.clone(), merged);
        }
        for (field, order) in order_directives(patch) {
            let live = live_lists
                .iter()
                .find(|(f, _)| *f == field)
                .map(|(_, l)| l.as_slice());
            path.push(field);
            self.set_element_order(&mut original, field, order, live.unwrap_or(&[]), path)?;
            path.pop();
        }
        Ok(original)
    }

    fn merge_value<'p>(
        &self,
        original: Option<Value>,
        patch: &'p Value,
        path: &mut Path<'p>,
    ) -> Result<Value, PatchError> {
        match (original, patch) {
            (Some(Value::Object(orig)), Value::Object(p)) => {
                self.merge_map(orig, p, path).map(Value::Object)
            }
            // A new map (or one replacing a scalar) is merged into nothing, which strips its
            // directives and nulls.
            (_, Value::Object(p)) => self.merge_map(Map::new(), p, path).map(Value::Object),
            (Some(Value::Array(orig)), Value::Array(p)) => {
                self.merge_list(orig, p, path).map(Value::Array)
            }
            (_, Value::Array(p)) => self.merge_list(Vec::new(), p, path).map(Value::Array),
            (_, scalar) => Ok(scalar.clone()),
        }
    }

    fn merge_list<'p>(
        &self,
        original: Vec<Value>,
        patch: &'p [Value],
        path: &mut Path<'p>,
    ) -> Result<Vec<Value>, PatchError> {
        match self.model.list_type(path) {
            ListType::Atomic => self.replace_list(patch, path),
            ListType::Set => Ok(merge_primitive_list(original, patch)),
            ListType::Map { patch_key, .. } => {
                if patch.iter().any(|item| !item.is_object()) {
                    // Not the shape Kubernetes declares: the list is replaced.
                    return self.replace_list(patch, path);
                }
                self.merge_keyed_list(original, patch, patch_key, path)
            }
        }
    }

    fn replace_list<'p>(
        &self,
        patch: &'p [Value],
        path: &mut Path<'p>,
    ) -> Result<Vec<Value>, PatchError> {
        patch
            .iter()
            .filter(|item| !is_directive_item(item))
            .map(|item| self.merge_value(None, item, path))
            .collect()
    }

    fn merge_keyed_list<'p>(
        &self,
        mut original: Vec<Value>,
        patch: &'p [Value],
        key: &str,
        path: &mut Path<'p>,
    ) -> Result<Vec<Value>, PatchError> {
        let live = original.clone();
        let mut items = Vec::new();
        let mut replace = false;
        for item in patch {
            let Some(map) = item.as_object() else {
                continue;
            };
            match map.get(DIRECTIVE) {
                None => items.push(map),
                Some(directive) => match directive.as_str() {
                    Some("delete") => {
                        let value = map.get(key).ok_or_else(|| no_merge_key(map, key))?;
                        original.retain(|o| !o.get(key).is_some_and(|v| json_equal(v, value)));
                    }
                    Some("replace") => replace = true,
                    Some("merge") => {
                        return Err(PatchError::Invalid(
                            "merging lists cannot yet be specified in the patch".to_string(),
                        ));
                    }
                    _ => return Err(bad_patch_type(directive, map)),
                },
            }
        }
        if replace {
            original.clear();
        }
        for item in &items {
            let value = item.get(key).ok_or_else(|| no_merge_key(item, key))?;
            let found = original
                .iter()
                .position(|o| o.get(key).is_some_and(|v| json_equal(v, value)));
            match found {
                Some(index) => {
                    let current = match std::mem::take(&mut original[index]) {
                        Value::Object(map) => map,
                        _ => Map::new(),
                    };
                    original[index] = Value::Object(self.merge_map(current, item, path)?);
                }
                None => original.push(Value::Object(self.merge_map(Map::new(), item, path)?)),
            }
        }
        let order: Vec<Value> = items
            .iter()
            .map(|item| Value::Object((*item).clone()))
            .collect();
        Ok(normalize_order(original, &order, &live, Some(key)))
    }

    /// Sorts the merged list `field` by the patch's `$setElementOrder/field` list; items the
    /// order does not name (added by someone else) keep their place relative to the live list.
    fn set_element_order(
        &self,
        original: &mut Map<String, Value>,
        field: &str,
        order: &Value,
        live: &[Value],
        path: &Path<'_>,
    ) -> Result<(), PatchError> {
        let Value::Array(order) = order else {
            return Err(PatchError::Invalid(format!(
                "invalid patch: {SET_ELEMENT_ORDER}{field} must be a list"
            )));
        };
        let key = match self.model.list_type(path) {
            ListType::Map { patch_key, .. } => Some(patch_key),
            _ => None,
        };
        if let Some(Value::Array(merged)) = original.remove(field) {
            let sorted = normalize_order(merged, order, live, key);
            original.insert(field.to_string(), Value::Array(sorted));
        }
        Ok(())
    }
}

/// The `$setElementOrder/<field>` directives of a patch, by field.
fn order_directives(patch: &Map<String, Value>) -> impl Iterator<Item = (&str, &Value)> {
    patch
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(SET_ELEMENT_ORDER)?, v)))
}

fn is_directive_item(item: &Value) -> bool {
    item.as_object().is_some_and(|m| m.contains_key(DIRECTIVE))
}

fn retain_keys(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(keys) = patch.get(RETAIN_KEYS) else {
        return Ok(());
    };
    let bad = || {
        PatchError::Invalid("invalid patch: doesn't support retainKeys as it is not a list of strings or it is not a superset of the keys in the patch".to_string())
    };
    let keys: Vec<&str> = keys
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|k| k.as_str().ok_or_else(bad))
        .collect::<Result<_, _>>()?;
    let patch_keys_retained = patch
        .iter()
        .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
        .all(|(k, _)| keys.contains(&k.as_str()));
    if !patch_keys_retained {
        return Err(bad());
    }
    original.retain(|k, _| keys.contains(&k.as_str()));
    Ok(())
}

fn delete_from_primitive_list(
    original: &mut Map<String, Value>,
    field: &str,
    values: &Value,
) -> Result<(), PatchError> {
    let Value::Array(values) = values else {
        return Err(PatchError::Invalid(format!(
            "invalid patch: {DELETE_FROM_PRIMITIVE_LIST}{field} must be a list"
        )));
    };
    if let Some(Value::Array(list)) = original.get_mut(field) {
        list.retain(|item| !values.iter().any(|v| json_equal(v, item)));
    }
    Ok(())
}

/// A set-like merge of scalars: the union without duplicates, `{"$patch": "replace"}`
/// replacing instead.
fn merge_primitive_list(original: Vec<Value>, patch: &[Value]) -> Vec<Value> {
    let scalars: Vec<Value> = patch
        .iter()
        .filter(|v| !is_directive_item(v))
        .cloned()
        .collect();
    let replace = patch
        .iter()
        .any(|v| v.get(DIRECTIVE).and_then(Value::as_str) == Some("replace"));
    if replace {
        return scalars;
    }
    let live = original.clone();
    let mut merged: Vec<Value> = Vec::with_capacity(original.len() + scalars.len());
    for item in original.into_iter().chain(scalars.iter().cloned()) {
        if !merged.iter().any(|m| json_equal(m, &item)) {
            merged.push(item);
        }
    }
    normalize_order(merged, &scalars, &live, None)
}

/// kube-apiserver's `normalizeElementOrder`: the items named by `order` sorted by it, the
/// others in their live order, then interleaved so that a server-only item stays before the
/// patch items it preceded in the live list.
fn normalize_order(
    merged: Vec<Value>,
    order: &[Value],
    live: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let index_in = |list: &[Value], item: &Value| list.iter().position(|o| same_item(o, item, key));
    let (mut patched, server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| index_in(order, item).is_some());
    patched.sort_by_key(|item| index_in(order, item).unwrap_or(usize::MAX));
    let mut result = Vec::with_capacity(patched.len() + server_only.len());
    let (mut left, mut right) = (
        server_only.into_iter().peekable(),
        patched.into_iter().peekable(),
    );
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => match (index_in(live, l), index_in(live, r)) {
                (Some(li), Some(ri)) => li < ri,
                _ => false,
            },
        };
        let next = if take_left { left.next() } else { right.next() };
        result.extend(next);
    }
    result
}

fn same_item(a: &Value, b: &Value, key: Option<&str>) -> bool {
    match key {
        None => json_equal(a, b),
        Some(key) => match (a.get(key), b.get(key)) {
            (Some(x), Some(y)) => json_equal(x, y),
            _ => false,
        },
    }
}

fn bad_patch_type(directive: &Value, patch: &Map<String, Value>) -> PatchError {
    PatchError::Invalid(format!(
        "unknown patch type: {directive} in map: {}",
        Value::Object(patch.clone())
    ))
}

fn no_merge_key(map: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::Invalid(format!(
        "map: {} does not contain declared merge key: {key}",
        Value::Object(map.clone())
    ))
}

#[cfg(test)]
#[path = "strategic_tests.rs"]
mod tests;
