//! Field sets as structured-merge-diff keeps them: a tree of path elements in the FieldsV1
//! encoding (`f:spec`, `k:{"name":"web"}`, `v:"x"`, `i:0`), each node possibly a member of
//! the set (`.` when it also has children).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::json_equal;
use super::model::key_default;

/// One path element, encoded as in FieldsV1.
pub(crate) type Element = String;

/// A set of field paths.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FieldSet {
    member: bool,
    children: BTreeMap<Element, FieldSet>,
}

pub(crate) fn field(name: &str) -> Element {
    format!("f:{name}")
}

pub(crate) fn value_element(value: &Value) -> Element {
    format!("v:{value}")
}

/// The element of a keyed list item, or `None` when the item has none of the key fields.
/// Key fields the item omits take their defaults (`protocol: TCP`), as the object is
/// defaulted before kube-apiserver computes field sets.
pub(crate) fn key_element(item: &Map<String, Value>, keys: &[&str]) -> Option<Element> {
    if !keys.iter().any(|k| item.contains_key(*k)) {
        return None;
    }
    let mut present: Vec<(&str, Value)> = keys
        .iter()
        .filter_map(|k| Some((*k, item.get(*k).cloned().or_else(|| key_default(k))?)))
        .collect();
    // Keys sorted by name, values compact JSON: the canonical form FieldsV1 uses.
    present.sort_by_key(|(k, _)| *k);
    let body: Vec<String> = present
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::String((*k).to_string())))
        .collect();
    Some(format!("k:{{{}}}", body.join(",")))
}

impl FieldSet {
    pub(crate) fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    pub(crate) fn is_member(&self) -> bool {
        self.member
    }

    pub(crate) fn has_children(&self) -> bool {
        !self.children.is_empty()
    }

    pub(crate) fn mark(&mut self) {
        self.member = true;
    }

    pub(crate) fn child_mut(&mut self, element: Element) -> &mut FieldSet {
        self.children.entry(element).or_default()
    }

    pub(crate) fn child(&self, element: &str) -> Option<&FieldSet> {
        self.children.get(element)
    }

    pub(crate) fn children(&self) -> impl Iterator<Item = (&Element, &FieldSet)> {
        self.children.iter()
    }

    pub(crate) fn node(&self, path: &[Element]) -> Option<&FieldSet> {
        match path.split_first() {
            None => Some(self),
            Some((first, rest)) => self.children.get(first)?.node(rest),
        }
    }

    pub(crate) fn insert(&mut self, path: &[Element]) {
        self.node_mut(path).member = true;
    }

    /// Adds every path of `sub`, re-rooted at `path`.
    pub(crate) fn graft(&mut self, path: &[Element], sub: &FieldSet) {
        self.node_mut(path).union(sub);
    }

    fn node_mut(&mut self, path: &[Element]) -> &mut FieldSet {
        path.iter()
            .fold(self, |node, element| node.child_mut(element.clone()))
    }

    pub(crate) fn union(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (element, child) in &other.children {
            self.child_mut(element.clone()).union(child);
        }
    }

    /// Removes the paths of `other` (not their descendants: each path counts alone).
    pub(crate) fn subtract(&mut self, other: &FieldSet) {
        if other.member {
            self.member = false;
        }
        for (element, theirs) in &other.children {
            if let Some(mine) = self.children.get_mut(element) {
                mine.subtract(theirs);
                if mine.is_empty() {
                    self.children.remove(element);
                }
            }
        }
    }

    pub(crate) fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (element, mine) in &self.children {
            if let Some(theirs) = other.children.get(element) {
                let both = mine.intersection(theirs);
                if !both.is_empty() {
                    out.children.insert(element.clone(), both);
                }
            }
        }
        out
    }

    /// Every path that is a member, parents first.
    pub(crate) fn members(&self) -> Vec<Vec<Element>> {
        let mut out = Vec::new();
        self.collect_members(&mut Vec::new(), &mut out);
        out
    }

    fn collect_members(&self, prefix: &mut Vec<Element>, out: &mut Vec<Vec<Element>>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (element, child) in &self.children {
            prefix.push(element.clone());
            child.collect_members(prefix, out);
            prefix.pop();
        }
    }

    /// The FieldsV1 object of this set (the set's root is never a member itself).
    pub(crate) fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".to_string(), Value::Object(Map::new()));
        }
        for (element, child) in &self.children {
            map.insert(element.clone(), child.to_fields_v1());
        }
        Value::Object(map)
    }

    /// Reads a FieldsV1 object; anything else is the empty set.
    pub(crate) fn from_fields_v1(value: &Value) -> FieldSet {
        let mut set = FieldSet::default();
        if let Value::Object(map) = value {
            for (element, child) in map {
                if element == "." {
                    continue;
                }
                let mut node = FieldSet::from_fields_v1(child);
                let child_map = child.as_object();
                node.member = child_map.is_none_or(|m| m.is_empty() || m.contains_key("."));
                set.children.insert(element.clone(), node);
            }
        }
        set
    }
}

/// A path in structured-merge-diff's notation: `.spec.containers[name="web"].image`.
pub(crate) fn display_path(path: &[Element]) -> String {
    path.iter().map(|e| display_element(e)).collect()
}

fn display_element(element: &str) -> String {
    if let Some(name) = element.strip_prefix("f:") {
        return format!(".{name}");
    }
    if let Some(key) = element.strip_prefix("k:") {
        let fields = match serde_json::from_str::<Value>(key) {
            Ok(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
            _ => vec![key.to_string()],
        };
        return format!("[{}]", fields.join(","));
    }
    if let Some(value) = element.strip_prefix("v:") {
        return format!("[={value}]");
    }
    if let Some(index) = element.strip_prefix("i:") {
        return format!("[{index}]");
    }
    element.to_string()
}

/// Whether a list item is the one a `k:` element names (key fields an item omits take their
/// defaults, as `protocol: TCP` on ports).
pub(crate) fn item_matches(item: &Value, element: &str) -> bool {
    if let Some(key) = element.strip_prefix("k:") {
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(key) else {
            return false;
        };
        return fields.iter().all(|(k, want)| {
            let have = item.get(k).cloned().or_else(|| key_default(k));
            have.is_some_and(|h| json_equal(&h, want))
        });
    }
    if let Some(value) = element.strip_prefix("v:") {
        return serde_json::from_str::<Value>(value).is_ok_and(|v| json_equal(&v, item));
    }
    false
}

/// The value at `path` in `root`.
pub(crate) fn value_at<'a>(root: &'a Value, path: &[Element]) -> Option<&'a Value> {
    path.iter()
        .try_fold(root, |value, element| child_value(value, element))
}

pub(crate) fn child_value<'a>(value: &'a Value, element: &str) -> Option<&'a Value> {
    if let Some(name) = element.strip_prefix("f:") {
        return value.as_object()?.get(name);
    }
    if let Some(index) = element.strip_prefix("i:") {
        return value.as_array()?.get(index.parse::<usize>().ok()?);
    }
    value
        .as_array()?
        .iter()
        .find(|item| item_matches(item, element))
}

pub(crate) fn child_value_mut<'a>(value: &'a mut Value, element: &str) -> Option<&'a mut Value> {
    if let Some(name) = element.strip_prefix("f:") {
        return value.as_object_mut()?.get_mut(name);
    }
    if let Some(index) = element.strip_prefix("i:") {
        return value.as_array_mut()?.get_mut(index.parse::<usize>().ok()?);
    }
    value
        .as_array_mut()?
        .iter_mut()
        .find(|item| item_matches(item, element))
}

/// Removes the field or list item `element` names from `value`.
pub(crate) fn remove_child(value: &mut Value, element: &str) {
    if let Some(name) = element.strip_prefix("f:") {
        if let Some(map) = value.as_object_mut() {
            map.remove(name);
        }
        return;
    }
    // `i:` elements only name items of lists apply treats as atomic: nothing to remove.
    if (element.starts_with("k:") || element.starts_with("v:"))
        && let Some(list) = value.as_array_mut()
    {
        list.retain(|item| !item_matches(item, element));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(elements: &[&str]) -> Vec<Element> {
        elements.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn key_elements_are_canonical() {
        let item = json!({"protocol": "TCP", "containerPort": 80, "name": "http"});
        let element = key_element(item.as_object().unwrap(), &["containerPort", "protocol"]);
        assert_eq!(
            element.as_deref(),
            Some(r#"k:{"containerPort":80,"protocol":"TCP"}"#)
        );
        assert_eq!(
            key_element(json!({"x": 1}).as_object().unwrap(), &["name"]),
            None
        );
        assert_eq!(value_element(&json!("a")), r#"v:"a""#);
    }

    #[test]
    fn fields_v1_round_trips_with_dot_for_members_with_children() {
        let encoded = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}
        });
        let set = FieldSet::from_fields_v1(&encoded);
        assert_eq!(set.to_fields_v1(), encoded);
        let members = set.members();
        assert!(members.contains(&path(&["f:metadata", "f:labels"])));
        assert!(members.contains(&path(&[
            "f:spec",
            "f:containers",
            r#"k:{"name":"web"}"#,
            "f:image"
        ])));
        assert!(!members.contains(&path(&["f:spec"])));
    }

    #[test]
    fn subtract_removes_paths_and_prunes_empty_nodes() {
        let mut set = FieldSet::default();
        set.insert(&path(&["f:spec", "f:replicas"]));
        set.insert(&path(&["f:spec", "f:paused"]));
        let mut other = FieldSet::default();
        other.insert(&path(&["f:spec", "f:replicas"]));
        set.subtract(&other);
        assert_eq!(set.members(), vec![path(&["f:spec", "f:paused"])]);
        set.subtract(&set.clone());
        assert!(set.is_empty());
    }

    #[test]
    fn intersection_keeps_common_members() {
        let mut a = FieldSet::default();
        a.insert(&path(&["f:spec", "f:replicas"]));
        a.insert(&path(&["f:spec", "f:x"]));
        let mut b = FieldSet::default();
        b.insert(&path(&["f:spec", "f:replicas"]));
        b.insert(&path(&["f:metadata"]));
        assert_eq!(
            a.intersection(&b).members(),
            vec![path(&["f:spec", "f:replicas"])]
        );
    }

    #[test]
    fn paths_display_like_structured_merge_diff() {
        let p = path(&["f:spec", "f:containers", r#"k:{"name":"web"}"#, "f:image"]);
        assert_eq!(display_path(&p), r#".spec.containers[name="web"].image"#);
        assert_eq!(
            display_path(&path(&["f:metadata", "f:finalizers", r#"v:"a""#])),
            r#".metadata.finalizers[="a"]"#
        );
    }

    #[test]
    fn values_are_found_by_key_with_defaults() {
        let obj = json!({"spec": {"ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}]}});
        let p = path(&[
            "f:spec",
            "f:ports",
            r#"k:{"containerPort":80,"protocol":"TCP"}"#,
        ]);
        assert_eq!(value_at(&obj, &p), Some(&json!({"containerPort": 80})));
        let udp = path(&[
            "f:spec",
            "f:ports",
            r#"k:{"containerPort":53,"protocol":"TCP"}"#,
        ]);
        assert_eq!(value_at(&obj, &udp), None);
        let mut obj = obj;
        remove_child(
            &mut obj["spec"]["ports"],
            r#"k:{"containerPort":53,"protocol":"UDP"}"#,
        );
        assert_eq!(obj["spec"]["ports"], json!([{"containerPort": 80}]));
    }
}
