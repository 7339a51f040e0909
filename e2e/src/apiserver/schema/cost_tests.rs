//! Hand-computed costs, each derived in its comment from cel-go's rules (checker/cost.go)
//! and Kubernetes' size bounds: reading a variable or field 1, a literal 0, a call 1 plus
//! its arguments, `&&`/`||` just their operands, a comprehension `range + init + result +
//! n * (condition + step)` where `all` has condition `@not_strictly_false(@result)` (2) and
//! step `@result && p` (1 + p). An unbounded list of items of at least `m` bytes holds
//! `(3 MiB - 2) / (m + 1)` items; an unbounded string `3 MiB - 2` bytes; `maxLength: n`
//! allows `4n` bytes.

use serde_json::{Value, json};

use super::super::node::Node;
use super::{decl_of, exceeds, rule_max_cost, validate_crd_costs};

fn cost(schema: Value, rule: &str) -> u64 {
    let decl = decl_of(Node(&schema), false).expect("a CEL-visible schema");
    rule_max_cost(&decl, rule).expect("a parsable rule")
}

fn ints(extra: Value) -> Value {
    let mut schema = json!({"type": "array", "items": {"type": "integer", "format": "int32"}});
    if let (Some(s), Some(e)) = (schema.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    schema
}

fn strings(list: Value, item: Value) -> Value {
    let mut items = json!({"type": "string"});
    if let (Some(i), Some(e)) = (items.as_object_mut(), item.as_object()) {
        i.extend(e.clone());
    }
    let mut schema = json!({"type": "array", "items": items});
    if let (Some(s), Some(e)) = (schema.as_object_mut(), list.as_object()) {
        s.extend(e.clone());
    }
    schema
}

const STEP_WEIGHTS: &str = "self.all(w, w >= 1 && w <= 100)";

#[test]
fn all_over_an_unbounded_int_list() {
    // Ints take at least 1 byte: (3145728 - 2) / 2 = 1572863 items. Per item: condition 2,
    // step `@result && (w >= 1 && w <= 100)` = 1 + (1 + 1) + (1 + 1) = 5, so 7. Plus `self`
    // 1, `true` 0 and the result 1: 2 + 7 * 1572863.
    assert_eq!(cost(ints(json!({})), STEP_WEIGHTS), 11_010_043);
}

#[test]
fn max_items_bounds_the_comprehension() {
    // 2 + 7 * 100.
    assert_eq!(cost(ints(json!({"maxItems": 100})), STEP_WEIGHTS), 702);
    // Either side of the budget.
    assert_eq!(
        cost(ints(json!({"maxItems": 1_428_571})), STEP_WEIGHTS),
        9_999_999
    );
    assert_eq!(
        cost(ints(json!({"maxItems": 1_428_572})), STEP_WEIGHTS),
        10_000_006
    );
}

#[test]
fn size_is_constant_and_has_is_cheap() {
    // `size(self)` 1 + 1, `<=` 1 + 2 + 0: whatever the list holds.
    assert_eq!(cost(strings(json!({}), json!({})), "size(self) <= 10"), 3);
    // A presence test costs nothing in Kubernetes; reading `self` costs 1.
    let object = json!({"type": "object", "properties": {"x": {"type": "integer"}}});
    assert_eq!(cost(object.clone(), "has(self.x)"), 1);
    // `!has(self.x)` 1 + 1; `self.x > 0`: 1 + (self 1 + select 1) + 0; `||` adds nothing.
    assert_eq!(cost(object, "!has(self.x) || self.x > 0"), 5);
}

#[test]
fn is_sorted_charges_per_element() {
    // `!has(..)` 2; `isSorted` 1 per int (1572863) plus its target `self.s` (2).
    let object = json!({"type": "object", "properties": {"s": ints(json!({}))}});
    let rule = "!has(self.s) || self.s.isSorted()";
    assert_eq!(cost(object, rule), 2 + 1_572_863 + 2);
}

#[test]
fn regex_over_strings_in_a_list() {
    // Unbounded: 1048575 strings ((3145726) / 3) of 3145726 bytes. `matches`: string
    // ceil(3145727 * 0.1) = 314573 times regex ceil(8 * 0.25) = 2, plus `s` 1: 629147.
    // Step 1 + 629147, condition 2: 629150 per string, 2 + 629150 * 1048575 in all.
    let rule = "self.all(s, s.matches('^[a-z]+$'))";
    assert_eq!(
        cost(strings(json!({}), json!({})), rule),
        2 + 629_150 * 1_048_575
    );
    // 10 strings of at most 64 characters (256 bytes): ceil(257 * 0.1) = 26, times 2,
    // plus 1 = 53; step 54, condition 2: 2 + 56 * 10.
    let bounded = strings(json!({"maxItems": 10}), json!({"maxLength": 64}));
    assert_eq!(cost(bounded, rule), 562);
}

#[test]
fn prefix_tests_cost_by_the_prefix() {
    // `startsWith` traverses its argument: ceil(3 * 0.1) = 1, plus `self` 1.
    assert_eq!(cost(json!({"type": "string"}), "self.startsWith('abc')"), 2);
    // `contains` multiplies both: ceil(3145726 * 0.1) * ceil(3 * 0.1) + 1.
    assert_eq!(
        cost(json!({"type": "string"}), "self.contains('abc')"),
        314_573 + 1
    );
}

#[test]
fn nested_comprehensions_multiply() {
    // Strings of at most 5 characters: 20 bytes. `x == y`: ceil(20 * 0.1) = 2, plus 1 + 1.
    // Inner `exists` over 20: condition `@not_strictly_false(!@result)` 3, step 1 + 4:
    // 2 + 1 + 20 * 8 = 163. Outer over 10: step 1 + 163, condition 2: 2 + 1 + 10 * 166.
    let list = |n: u64| strings(json!({"maxItems": n}), json!({"maxLength": 5}));
    let object = json!({"type": "object", "properties": {"a": list(10), "b": list(20)}});
    assert_eq!(
        cost(object, "self.a.all(x, self.b.exists(y, x == y))"),
        1663
    );
}

#[test]
fn enums_and_formats_bound_strings() {
    // The longest enum value (10 bytes) bounds the string: `==` ceil(min(10, 10) * 0.1) = 1.
    let kind = json!({"type": "string", "enum": ["Deployment", "Service"]});
    assert_eq!(cost(kind, "self == 'Deployment'"), 2);
    // `in` scans the list literal (3), which costs 10 to build, plus `self`.
    let kind = json!({"type": "string"});
    assert_eq!(
        cost(kind, "self in ['Deployment', 'DaemonSet', 'Service']"),
        14
    );
}

#[test]
fn factors_are_worded_like_kubernetes() {
    let f = |cost| exceeds("estimated rule cost", cost, 10_000_000);
    assert!(f(11_010_043).contains("by factor of 1.101004x (try simplifying"));
    assert!(f(21_000_003).contains("by factor of 2.1x ("));
    assert!(f(2_000_000_000).contains("by factor of more than 100x ("));
}

fn crd(versions: Vec<Value>) -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "things.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "things", "kind": "Thing"}, "versions": versions}})
}

fn version(name: &str, steps: Value) -> Value {
    json!({"name": name, "served": true, "storage": name == "v1", "schema": {"openAPIV3Schema": {
        "type": "object", "properties": {"spec": {"type": "object", "properties": {
            "steps": steps}}}}}})
}

fn with_rule(mut list: Value) -> Value {
    list["x-kubernetes-validations"] = json!([{"rule": STEP_WEIGHTS}]);
    list
}

#[test]
fn crd_paths_follow_the_internal_form() {
    // One schema for all versions: hoisted to `spec.validation`.
    let errors = validate_crd_costs(&crd(vec![version("v1", with_rule(ints(json!({}))))]), None);
    let rule =
        "openAPIV3Schema.properties[spec].properties[steps].x-kubernetes-validations[0].rule";
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, format!("spec.validation.{rule}"));
    assert_eq!(errors[0].reason, "FieldValueForbidden");
    assert!(
        errors[0]
            .message
            .ends_with(": Forbidden: estimated rule cost exceeds budget by factor of 1.101004x (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)"),
        "{}",
        errors[0].message
    );
    // Different schemas: each stays in its version.
    let bounded = with_rule(ints(json!({"maxItems": 10})));
    let both = crd(vec![
        version("v1", bounded),
        version("v2", with_rule(ints(json!({})))),
    ]);
    let errors = validate_crd_costs(&both, None);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, format!("spec.versions[1].schema.{rule}"));
}

#[test]
fn unchanged_schemas_keep_their_rules_on_update() {
    let old = crd(vec![version("v1", with_rule(ints(json!({}))))]);
    let mut new = old.clone();
    new["spec"]["names"]["shortNames"] = json!(["th"]);
    assert!(validate_crd_costs(&new, Some(&old)).is_empty());
}

#[test]
fn rules_under_unbounded_lists_run_once_per_item() {
    // `self.matches(..)` on a string: 314573 * 2 + 1 = 629147, run once for each of the
    // 3145728 / 3 = 1048576 strings a request can hold: more than 100 times the budget.
    let item = json!({"type": "string",
        "x-kubernetes-validations": [{"rule": "self.matches('^[a-z]+$')"}]});
    // That alone also breaks the schema's total: the rule is named again, then the total.
    let errors = validate_crd_costs(
        &crd(vec![version("v1", strings(json!({}), item.clone()))]),
        None,
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors[0]
            .field
            .ends_with("properties[steps].items.x-kubernetes-validations[0].rule")
    );
    assert!(errors[0].message.contains("by factor of more than 100x"));
    assert_eq!(errors[1].field, errors[0].field);
    assert_eq!(errors[2].field, "spec.validation.openAPIV3Schema");
    // Ten strings of at most 64 characters: 10 * (26 * 2 + 1).
    let mut bounded = strings(json!({"maxItems": 10}), item);
    bounded["items"]["maxLength"] = json!(64);
    assert!(validate_crd_costs(&crd(vec![version("v1", bounded)]), None).is_empty());
}

#[test]
fn the_schema_total_has_its_own_budget() {
    // Eleven rules of 9999999 each: every one within its budget, 1.0999999 times the
    // schema's in all; the four costliest are named, then the total.
    let list = with_rule(ints(json!({"maxItems": 1_428_571})));
    let properties: serde_json::Map<String, Value> = (0..11)
        .map(|i| (format!("l{i:02}"), list.clone()))
        .collect();
    let mut v1 = version("v1", json!({}));
    v1["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"] = Value::Object(properties);
    let errors = validate_crd_costs(&crd(vec![v1]), None);
    assert_eq!(errors.len(), 5, "{errors:?}");
    assert!(errors[..4].iter().all(|e| e.message.ends_with(
        "Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema"
    )));
    assert_eq!(errors[4].field, "spec.validation.openAPIV3Schema");
    assert!(errors[4].message.contains(
        "x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of 1.100000x"
    ));
}

/// serin's own Canary CRD, with `maxItems` on `stepWeights` set or removed.
fn serin_crd(max_items: Option<u64>) -> Value {
    let text = include_str!("../../../../crds/serin.yaml");
    let first = text
        .split("\n---\n")
        .map(|doc| doc.trim_start_matches("---\n"))
        .find(|doc| doc.contains("name: canaries.serin.dev"))
        .expect("the Canary CRD");
    let mut crd: Value = serde_saphyr::from_str(first).expect("CRD YAML");
    let pointer = "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/analysis/properties/stepWeights";
    let steps = crd.pointer_mut(pointer).expect("stepWeights");
    match max_items {
        Some(n) => steps["maxItems"] = json!(n),
        None => {
            steps.as_object_mut().map(|s| s.remove("maxItems"));
        }
    }
    crd
}

#[test]
fn serins_crd_needs_max_items_on_step_weights() {
    let errors = validate_crd_costs(&serin_crd(None), None);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].message,
        "spec.validation.openAPIV3Schema.properties[spec].properties[analysis].properties[stepWeights].x-kubernetes-validations[0].rule: Forbidden: estimated rule cost exceeds budget by factor of 1.101004x (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)"
    );
    assert!(validate_crd_costs(&serin_crd(Some(100)), None).is_empty());
}

#[test]
fn nested_unbounded_lists_count_every_item_once() {
    // Ints inside lists inside an unbounded list: however they are nested, a request holds
    // at most 3145728 / (1 + 1) = 1572864 of them. The rule costs `>=` 2, `<=` 2, `self % 2`
    // 1 + 1 and `== 0` ceil(min(1, 1) * 0.1) = 1 plus 2: 7, so 11010048 in all.
    let item = json!({"type": "integer",
        "x-kubernetes-validations": [{"rule": "self >= 1 && self <= 100 && self % 2 == 0"}]});
    let nested = json!({"type": "array", "items": {"type": "array", "items": item}});
    let errors = validate_crd_costs(&crd(vec![version("v1", nested)]), None);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]
            .field
            .ends_with("steps].items.items.x-kubernetes-validations[0].rule")
    );
    assert!(
        errors[0].message.contains("by factor of 1.101005x"),
        "{}",
        errors[0].message
    );
    // Bounding the outer list alone changes nothing: the inner lists are still unbounded,
    // and under an unbounded list the request size is the bound.
    let rule = json!([{"rule": "self >= 1 && self <= 100 && self % 2 == 0"}]);
    let mut outer_only = json!({"type": "array", "maxItems": 10,
        "items": {"type": "array", "items": {"type": "integer"}}});
    outer_only["items"]["items"]["x-kubernetes-validations"] = rule.clone();
    let errors = validate_crd_costs(&crd(vec![version("v1", outer_only.clone())]), None);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].message.contains("by factor of 1.101005x"),
        "{}",
        errors[0].message
    );
    // Bounds on both levels multiply: 10 lists of 1000 ints, 7 * 10000.
    let mut both = outer_only;
    both["items"]["maxItems"] = json!(1000);
    assert!(validate_crd_costs(&crd(vec![version("v1", both)]), None).is_empty());
}

#[test]
fn every_construct_gets_a_cost() {
    // Optional selects and defaults: `_?._` 1 + (self 1 + 0) = 2, `orValue` 1 + 0 + 2 = 3,
    // `> 0` 1 + 3 + 0.
    let object = json!({"type": "object", "properties": {
        "x": {"type": "integer"}, "m": {"type": "object", "maxProperties": 4,
            "additionalProperties": {"type": "string", "maxLength": 8}},
        "t": {"type": "string", "format": "date-time"}, "q": {"x-kubernetes-int-or-string": true}}});
    assert_eq!(cost(object.clone(), "self.?x.orValue(0) > 0"), 4);
    for rule in [
        "self.m.all(k, self.m[k].size() < 4)",
        "self.m.exists_one(k, k.startsWith('a'))",
        "self.m.map(k, self.m[k]).filter(v, v.matches('^a')).size() > 0",
        "timestamp(self.t) < timestamp('2030-01-01T00:00:00Z')",
        "type(self.q) == string ? self.q.endsWith('%') : self.q > 0",
        "[1, 2].all(i, i > 0) && {'a': 1}.exists(k, k == 'a')",
        "self.m.all(k, k.lowerAscii().split('-').join('.').size() < 64)",
        "!has(self.x) || dyn(self.x) + 1 > 0",
        "self.x in [1, 2, 3] && 'a' + 'b' == 'ab'",
    ] {
        let c = cost(object.clone(), rule);
        assert!(c > 0 && c < u64::MAX, "{rule}: {c}");
    }
}

#[test]
fn list_extension_functions_cost_per_pair() {
    // `sort` compares every pair: 10 * 10 * 2 + 1 (call) + 10 (new list), plus `self`: 212.
    // `==` costs ceil(min(100, 10) * 0.1) = 1 (cel-go sizes the sorted list as 10 * 10),
    // plus both sides.
    assert_eq!(
        cost(ints(json!({"maxItems": 10})), "self.sort() == self"),
        214
    );
    // `slice(0, 3)` copies 3 items: 3 + 1 + 10, plus `self`; `size()` 1 more.
    assert_eq!(
        cost(ints(json!({"maxItems": 10})), "size(self.slice(0, 3)) < 5"),
        17
    );
}
