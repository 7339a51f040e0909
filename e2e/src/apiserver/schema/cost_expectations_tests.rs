//! Kubernetes' own expectations for its CEL cost estimator (apiextensions-apiserver's
//! `TestCostEstimation`, Kubernetes 1.36), checked against the sandbox's: the same schemas
//! and rules must cost exactly the same, with and without size bounds.

use serde_json::{Value, json};

use super::super::node::Node;
use super::{decl_of, rule_max_cost};

fn cost(schema: Value, rule: &str) -> u64 {
    let decl = decl_of(Node(&schema), false).expect("a CEL-visible schema");
    rule_max_cost(&decl, rule).expect("a parsable rule")
}

/// A schema of `kind` ("string", "number", "date", ...) with `bound` as its `maxLength`.
fn scalar(kind: &str, bound: Option<u64>) -> Value {
    let mut s = match kind {
        "date" | "date-time" | "duration" | "byte" => json!({"type": "string", "format": kind}),
        "int-or-string" => json!({"x-kubernetes-int-or-string": true}),
        other => json!({"type": other}),
    };
    if let Some(n) = bound.filter(|_| kind == "string" || kind == "int-or-string" || kind == "byte")
    {
        s["maxLength"] = json!(n);
    }
    s
}

fn array(items: Value, bound: Option<u64>) -> Value {
    let mut s = json!({"type": "array", "items": items});
    if let Some(n) = bound {
        s["maxItems"] = json!(n);
    }
    s
}

fn map(values: Value, bound: Option<u64>) -> Value {
    let mut s = json!({"type": "object", "additionalProperties": values});
    if let Some(n) = bound {
        s["maxProperties"] = json!(n);
    }
    s
}

/// Each case: its cost without bounds (0: not checked) and with one bound set on the node
/// under test.
#[test]
fn kubernetes_cost_expectations() {
    type Build = fn(Option<u64>) -> Value;
    let cases: [(&str, Build, &str, u64, u64, u64); 28] = [
        (
            "number array",
            |b| array(scalar("number", None), b),
            "self.all(x, true)",
            4_718_591,
            10,
            32,
        ),
        (
            "string array",
            |b| array(scalar("string", None), b),
            "self.all(x, true)",
            3_145_727,
            20,
            62,
        ),
        (
            "boolean array",
            |b| array(scalar("boolean", None), b),
            "self.all(x, true)",
            1_887_437,
            5,
            17,
        ),
        (
            "array of arrays",
            |b| array(array(scalar("number", None), None), b),
            "self.all(x, true)",
            3_145_727,
            100,
            302,
        ),
        (
            "int-or-string array",
            |b| array(scalar("int-or-string", None), b),
            "self.all(x, true)",
            4_718_591,
            10,
            32,
        ),
        (
            "duration array",
            |b| array(scalar("duration", None), b),
            "self.all(x, true)",
            2_359_295,
            5,
            17,
        ),
        (
            "date array",
            |b| array(scalar("date", None), b),
            "self.all(x, true)",
            725_936,
            15,
            47,
        ),
        (
            "date-time array",
            |b| array(scalar("date-time", None), b),
            "self.all(x, true)",
            428_963,
            25,
            77,
        ),
        (
            "map of numbers",
            |b| map(scalar("number", None), b),
            "self.all(x, true)",
            1_348_169,
            10,
            32,
        ),
        (
            "map of durations",
            |b| map(scalar("duration", None), b),
            "self.all(x, true)",
            1_048_577,
            5,
            17,
        ),
        (
            "contains",
            |b| scalar("string", b),
            "self.contains('test')",
            314_574,
            10,
            5,
        ),
        (
            "startsWith",
            |b| scalar("string", b),
            "self.startsWith('test')",
            2,
            15,
            2,
        ),
        (
            "concat",
            |b| scalar("string", b),
            r#"size(self + "hello") > size("hello")"#,
            314_578,
            4,
            7,
        ),
        (
            "index numbers",
            |b| array(scalar("number", None), b),
            "self[1] == 0.0",
            2,
            5000,
            2,
        ),
        (
            "index strings",
            |b| array(scalar("string", None), b),
            "self[1] == self[1]",
            314_577,
            8,
            314_577,
        ),
        (
            "n^2",
            |b| array(scalar("number", None), b),
            "self.all(x, self.all(y, true))",
            0,
            10,
            352,
        ),
        (
            "n^3",
            |b| array(scalar("number", None), b),
            "self.all(x, self.all(y, self.all(z, true)))",
            0,
            10,
            3552,
        ),
        (
            "matches",
            |b| scalar("string", b),
            r#"self.matches("x")"#,
            314_574,
            50,
            22,
        ),
        (
            "matches empty string",
            |b| scalar("string", b),
            r#""".matches("(((((((((())))))))))[0-9]")"#,
            7,
            10,
            7,
        ),
        (
            "string bound zero",
            |b| scalar("string", b),
            r#"self == "x""#,
            2,
            0,
            1,
        ),
        (
            "map bound zero",
            |b| map(scalar("number", None), b),
            r#"self["x"] == 0.0"#,
            2,
            0,
            2,
        ),
        (
            "equality per item",
            |b| array(scalar("number", None), b),
            "self.all(x, x == 0.0)",
            6_291_454,
            3 * 1024 * 2048,
            25_165_826,
        ),
        (
            "find",
            |b| scalar("string", b),
            "self.find('[0-9]+') == ''",
            629_147,
            10,
            11,
        ),
        (
            "join",
            |b| array(scalar("string", b), b),
            "self.join(' ') == 'aa bb'",
            329_853_068_905,
            10,
            43,
        ),
        (
            "isSorted",
            |b| array(scalar("string", b), b),
            "self.isSorted() == true",
            329_854_432_052,
            10,
            52,
        ),
        (
            "lowerAscii",
            |b| scalar("string", b),
            "self.lowerAscii() == 'lower!'",
            314_575,
            10,
            6,
        ),
        (
            "size",
            |b| map(scalar("integer", None), b),
            "oldSelf.size() == self.size()",
            5,
            10,
            5,
        ),
        (
            "quantity",
            |b| scalar("int-or-string", b),
            "isQuantity(self)",
            314_574,
            20,
            9,
        ),
    ];
    for (name, build, rule, unbounded, bound, bounded) in cases {
        if unbounded > 0 {
            assert_eq!(cost(build(None), rule), unbounded, "{name} without bounds");
        }
        assert_eq!(
            cost(build(Some(bound)), rule),
            bounded,
            "{name} with {bound}"
        );
    }
    let object = |b: Option<u64>| {
        json!({"type": "object", "properties": {
            "str": scalar("string", b), "separator": scalar("string", b),
            "before": scalar("string", Some(2)), "after": scalar("string", Some(4))}})
    };
    let replace = "self.str.replace(self.before, self.after) == 'does not matter'";
    assert_eq!(cost(object(None), replace), 629_154);
    assert_eq!(cost(object(Some(4)), replace), 12);
    let split = "self.str.split(self.separator) == []";
    assert_eq!(cost(object(None), split), 629_160);
    assert_eq!(cost(object(Some(10)), split), 22);
    let dated = |kind: &str| map(scalar(kind, None), Some(7));
    assert_eq!(cost(dated("date-time"), r#"self["a"] == self["b"]"#), 8);
    assert_eq!(cost(dated("duration"), r#"self["c"] == self["d"]"#), 8);
    let enumerated = json!({"type": "string", "enum": ["A", "B", "C", "LongValue"]});
    assert_eq!(cost(enumerated.clone(), "self.contains('A')"), 2);
    let mut capped = enumerated;
    capped["maxLength"] = json!(1000);
    assert_eq!(cost(capped, "self.contains('A')"), 401);
}
