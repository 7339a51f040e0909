//! The CRDs under `crds/` are generated from the Rust types; this fails when they drift.
//! Regenerate with `cargo run -q -p serin -- crd > crds/serin.yaml`.

#[test]
fn committed_crds_match_the_types() {
    let generated = serin::api::crds_yaml().expect("render CRDs");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/serin.yaml");
    let committed = std::fs::read_to_string(path).expect("crds/serin.yaml");
    assert!(
        committed == generated,
        "crds/serin.yaml is out of date: run `cargo run -q -p serin -- crd > crds/serin.yaml`"
    );
}

// ---------------------------------------------------------------------------------------
// CEL cost: a real API server estimates each `x-kubernetes-validations` rule's worst-case
// cost from the sizes the schema allows, and refuses the CRD when a rule walks a list,
// map or string with no bound (the worst case then comes from the 3 MiB request limit).
// serin's CRD was refused that way once; this keeps every walked value bounded.

use serde_json::Value;

/// One problem: the schema path of the rule and what it walks without a bound.
fn unbounded_walks(schema: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk(schema, "", &[], &mut found);
    found
}

/// Visits every schema node; `ancestors` are the lists and maps above it, whose size
/// multiplies how often a rule below them runs.
fn walk(node: &Value, path: &str, ancestors: &[(&str, bool)], found: &mut Vec<String>) {
    if let Some(rules) = node["x-kubernetes-validations"].as_array() {
        for (i, rule) in rules.iter().enumerate() {
            let text = rule["rule"].as_str().unwrap_or_default();
            let at = format!("{path} rule[{i}] `{text}`");
            for (apath, bounded) in ancestors {
                if !bounded {
                    found.push(format!("{at}: runs once per element of unbounded {apath}"));
                }
            }
            for (walked, wpath) in walked_nodes(node, text, path) {
                check_bounded(walked, &wpath, &at, found);
            }
        }
    }
    if let Some(props) = node["properties"].as_object() {
        for (name, child) in props {
            walk(child, &format!("{path}.{name}"), ancestors, found);
        }
    }
    if let Some(items) = node.get("items") {
        let mut up = ancestors.to_vec();
        up.push((path, node.get("maxItems").is_some()));
        walk(items, &format!("{path}[]"), &up, found);
    }
    if let Some(values) = node.get("additionalProperties").filter(|v| v.is_object()) {
        let mut up = ancestors.to_vec();
        up.push((path, node.get("maxProperties").is_some()));
        walk(values, &format!("{path}{{}}"), &up, found);
    }
}

/// The node itself (a rule on a list or string walks it) and every `self.a.b` chain the
/// rule names, resolved through `properties`. `has(self.a)` only tests presence, at a
/// constant cost, so it walks nothing.
fn walked_nodes<'a>(node: &'a Value, rule: &str, path: &str) -> Vec<(&'a Value, String)> {
    let mut out = vec![(node, path.to_string())];
    for (start, _) in rule.match_indices("self.") {
        if rule[..start].ends_with("has(") {
            continue;
        }
        let mut here = node;
        let mut here_path = path.to_string();
        let chain = &rule[start + "self.".len()..];
        let chain = chain
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .next()
            .unwrap_or_default();
        for segment in chain.split('.') {
            match here["properties"].get(segment) {
                Some(child) => {
                    here = child;
                    here_path = format!("{here_path}.{segment}");
                }
                None => break,
            }
        }
        if !out.iter().any(|(_, p)| *p == here_path) {
            out.push((here, here_path));
        }
    }
    out
}

/// A walked list needs `maxItems`, a map `maxProperties`, a string `maxLength` (or an
/// enum); a list's elements are walked too.
fn check_bounded(node: &Value, path: &str, at: &str, found: &mut Vec<String>) {
    match node["type"].as_str() {
        Some("array") => {
            if node.get("maxItems").is_none() {
                found.push(format!("{at}: walks list {path} without maxItems"));
            }
            if let Some(items) = node.get("items") {
                check_bounded(items, &format!("{path}[]"), at, found);
            }
        }
        Some("string") if node.get("maxLength").is_none() && node.get("enum").is_none() => {
            found.push(format!("{at}: walks string {path} without maxLength"));
        }
        Some("object")
            if node["additionalProperties"].is_object() && node.get("maxProperties").is_none() =>
        {
            found.push(format!("{at}: walks map {path} without maxProperties"));
        }
        _ => {}
    }
}

#[test]
fn no_cel_rule_walks_an_unbounded_value() {
    for crd in serin::api::crds() {
        let crd = serde_json::to_value(&crd).expect("CRD as JSON");
        for version in crd["spec"]["versions"].as_array().expect("versions") {
            let schema = &version["schema"]["openAPIV3Schema"];
            let found = unbounded_walks(schema);
            assert!(
                found.is_empty(),
                "{}: CEL rules walk unbounded values (a real API server refuses the CRD \
                 on cost):\n{}",
                crd["metadata"]["name"],
                found.join("\n")
            );
        }
    }
}

/// The check itself catches what a real server refused: `self.all(...)` on a list with
/// no `maxItems`, and a list-walking rule one level up; and it accepts the bounded form.
#[test]
fn the_cel_walk_check_catches_an_unbounded_list() {
    let unbounded = serde_json::json!({
        "type": "object",
        "properties": { "analysis": {
            "type": "object",
            "x-kubernetes-validations": [{ "rule": "self.stepWeights.isSorted()" }],
            "properties": { "stepWeights": {
                "type": "array",
                "items": { "type": "integer", "format": "int32" },
                "x-kubernetes-validations": [{ "rule": "self.all(w, w >= 1 && w <= 100)" }]
            }}
        }}
    });
    let found = unbounded_walks(&unbounded);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found.iter().all(|f| f.contains("without maxItems")));

    let mut bounded = unbounded;
    bounded["properties"]["analysis"]["properties"]["stepWeights"]["maxItems"] = 100.into();
    assert_eq!(unbounded_walks(&bounded), Vec::<String>::new());

    let per_element = serde_json::json!({
        "type": "array",
        "items": {
            "type": "object",
            "x-kubernetes-validations": [{ "rule": "has(self.a)" }],
            "properties": { "a": { "type": "string", "maxLength": 3 } }
        }
    });
    assert_eq!(unbounded_walks(&per_element).len(), 1);
}
