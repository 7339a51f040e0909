//! The JSONPath subset Kubernetes evaluates on the server: CRD
//! `additionalPrinterColumns[].jsonPath` (and the field paths built-in
//! printers read). Mirrors client-go's `util/jsonpath` with missing keys
//! allowed, which is how the apiextensions table convertor runs it: a path
//! that leads nowhere yields no value rather than an error.
//!
//! Supported: `.field`, `['field']`/`["field"]` (comma lists too), `[n]`
//! (negative counts from the end), `[start:end:step]`, `[*]`/`.*`, `..`
//! (recursive descent) and filters `[?(@.a.b)]`, `[?(@.a == "x")]` with
//! `== != < <= > >=` against a string, number, boolean, `null` or another
//! `@` path. An optional `$` prefix and `{...}` braces are accepted.

use serde_json::Value;

/// Why a path could not be parsed (the position is a byte offset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSONPath at {pos}: {msg}")]
pub struct ParseError {
    pub pos: usize,
    pub msg: &'static str,
}

/// A parsed path, reusable across objects (a CRD's columns are parsed once).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Names(Vec<String>),
    Wildcard,
    Recursive,
    Indices(Vec<i64>),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Filter(Filter),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    lhs: JsonPath,
    cmp: Option<(Op, Operand)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Literal(Value),
    Path(JsonPath),
}

/// Evaluates `path` against `obj`; an unparsable path or a missing key gives
/// no values (the table convertor then prints `<none>`).
pub fn eval(path: &str, obj: &Value) -> Vec<Value> {
    parse(path).map(|p| p.eval(obj)).unwrap_or_default()
}

/// Parses a path once for repeated evaluation.
pub fn parse(path: &str) -> Result<JsonPath, ParseError> {
    let mut text = path.trim();
    let mut base = path.len() - path.trim_start().len();
    if let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        text = inner.trim();
        base += 1;
    }
    let mut parser = Parser {
        src: text,
        pos: 0,
        base,
    };
    parser.eat('$');
    let steps = parser.steps(false)?;
    if parser.pos < text.len() {
        return Err(parser.err("unexpected character"));
    }
    Ok(JsonPath { steps })
}

impl JsonPath {
    /// All values the path selects, in document order.
    pub fn eval(&self, obj: &Value) -> Vec<Value> {
        let mut current: Vec<&Value> = vec![obj];
        for step in &self.steps {
            current = current.into_iter().flat_map(|v| apply(step, v)).collect();
            if current.is_empty() {
                break;
            }
        }
        current.into_iter().cloned().collect()
    }
}

fn apply<'a>(step: &Step, v: &'a Value) -> Vec<&'a Value> {
    match step {
        Step::Names(names) => names.iter().filter_map(|n| v.get(n.as_str())).collect(),
        Step::Wildcard => match v {
            Value::Array(a) => a.iter().collect(),
            Value::Object(m) => m.values().collect(),
            _ => Vec::new(),
        },
        Step::Recursive => {
            let mut out = Vec::new();
            descend(v, &mut out);
            out
        }
        Step::Indices(ixs) => match v {
            Value::Array(a) => ixs
                .iter()
                .filter_map(|&i| resolve(i, a.len()).and_then(|i| a.get(i)))
                .collect(),
            _ => Vec::new(),
        },
        Step::Slice(start, end, step) => match v {
            Value::Array(a) => slice(a, *start, *end, *step),
            _ => Vec::new(),
        },
        Step::Filter(f) => match v {
            Value::Array(a) => a.iter().filter(|item| f.matches(item)).collect(),
            _ => Vec::new(),
        },
    }
}

fn descend<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(v);
    match v {
        Value::Array(a) => a.iter().for_each(|c| descend(c, out)),
        Value::Object(m) => m.values().for_each(|c| descend(c, out)),
        _ => {}
    }
}

fn resolve(i: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let i = if i < 0 { len + i } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

fn slice(a: &[Value], start: Option<i64>, end: Option<i64>, step: Option<i64>) -> Vec<&Value> {
    let len = i64::try_from(a.len()).unwrap_or(i64::MAX);
    let clamp = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
    let (s, e) = (clamp(start.unwrap_or(0)), clamp(end.unwrap_or(len)));
    let step = step.unwrap_or(1).max(1) as usize;
    (s..e.max(s))
        .step_by(step)
        .filter_map(|i| a.get(i as usize))
        .collect()
}

impl Filter {
    fn matches(&self, item: &Value) -> bool {
        let left = self.lhs.eval(item);
        let Some((op, rhs)) = &self.cmp else {
            return !left.is_empty();
        };
        let right = match rhs {
            Operand::Literal(v) => vec![v.clone()],
            Operand::Path(p) => p.eval(item),
        };
        left.iter()
            .any(|l| right.iter().any(|r| compare(*op, l, r)))
    }
}

fn compare(op: Op, l: &Value, r: &Value) -> bool {
    use std::cmp::Ordering;
    let ord = match (l, r) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ if l == r => Some(Ordering::Equal),
        _ => None,
    };
    match (op, ord) {
        (Op::Eq, o) => o == Some(Ordering::Equal),
        (Op::Ne, o) => o != Some(Ordering::Equal),
        (Op::Lt, Some(o)) => o == Ordering::Less,
        (Op::Le, Some(o)) => o != Ordering::Greater,
        (Op::Gt, Some(o)) => o == Ordering::Greater,
        (Op::Ge, Some(o)) => o != Ordering::Less,
        (_, None) => false,
    }
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    base: usize,
}

impl Parser<'_> {
    fn err(&self, msg: &'static str) -> ParseError {
        ParseError {
            pos: self.base + self.pos,
            msg,
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.pos += c.len_utf8();
        }
        hit
    }

    fn eat_str(&mut self, s: &str) -> bool {
        let hit = self.src[self.pos..].starts_with(s);
        if hit {
            self.pos += s.len();
        }
        hit
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// Steps until the end of input, or (inside a filter) until a character
    /// that cannot continue a path.
    fn steps(&mut self, in_filter: bool) -> Result<Vec<Step>, ParseError> {
        let mut steps = Vec::new();
        loop {
            if self.eat_str("..") {
                steps.push(Step::Recursive);
                if self.peek() != Some('[') {
                    steps.push(self.field()?);
                }
            } else if self.eat('.') {
                if self.peek().is_none() && steps.is_empty() {
                    return Ok(steps); // "." alone: the object itself
                }
                steps.push(self.field()?);
            } else if self.eat('[') {
                steps.push(self.bracket()?);
            } else if self.peek().is_none() || in_filter {
                return Ok(steps);
            } else if steps.is_empty() {
                // client-go accepts a bare leading field name ("spec.x").
                steps.push(self.field()?);
            } else {
                return Err(self.err("expected '.' or '['"));
            }
        }
    }

    fn field(&mut self) -> Result<Step, ParseError> {
        if self.eat('*') {
            return Ok(Step::Wildcard);
        }
        // `\.` escapes a dot inside a name (`labels.app\.kubernetes\.io/name`).
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c == '\\' && self.src[self.pos + 1..].starts_with('.') {
                name.push('.');
                self.pos += 2;
                continue;
            }
            if c == '.' || c == '[' || c.is_whitespace() || "=!<>)".contains(c) {
                break;
            }
            name.push(c);
            self.pos += c.len_utf8();
        }
        if name.is_empty() {
            return Err(self.err("empty field name"));
        }
        Ok(Step::Names(vec![name]))
    }

    fn bracket(&mut self) -> Result<Step, ParseError> {
        self.skip_ws();
        let step = if self.eat('*') {
            Step::Wildcard
        } else if self.eat('?') {
            Step::Filter(self.filter()?)
        } else if matches!(self.peek(), Some('\'' | '"')) {
            let mut names = vec![self.quoted()?];
            while self.comma() {
                names.push(self.quoted()?);
            }
            Step::Names(names)
        } else {
            self.index_or_slice()?
        };
        self.skip_ws();
        if !self.eat(']') {
            return Err(self.err("expected ']'"));
        }
        Ok(step)
    }

    fn comma(&mut self) -> bool {
        self.skip_ws();
        let hit = self.eat(',');
        self.skip_ws();
        hit
    }

    fn quoted(&mut self) -> Result<String, ParseError> {
        let Some(q) = self.peek().filter(|c| *c == '\'' || *c == '"') else {
            return Err(self.err("expected a quoted name"));
        };
        self.pos += 1;
        let rest = &self.src[self.pos..];
        let Some(end) = rest.find(q) else {
            return Err(self.err("unterminated string"));
        };
        self.pos += end + 1;
        Ok(rest[..end].to_string())
    }

    fn int(&mut self) -> Result<Option<i64>, ParseError> {
        self.skip_ws();
        let start = self.pos;
        self.eat('-');
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let text = &self.src[start..self.pos];
        if text.is_empty() {
            return Ok(None);
        }
        text.parse()
            .map(Some)
            .map_err(|_| self.err("invalid integer"))
    }

    fn index_or_slice(&mut self) -> Result<Step, ParseError> {
        let first = self.int()?;
        self.skip_ws();
        if self.eat(':') {
            let end = self.int()?;
            let step = if self.eat(':') { self.int()? } else { None };
            return Ok(Step::Slice(first, end, step));
        }
        let Some(first) = first else {
            return Err(self.err("expected an index"));
        };
        let mut ixs = vec![first];
        while self.comma() {
            ixs.push(self.int()?.ok_or_else(|| self.err("expected an index"))?);
        }
        Ok(Step::Indices(ixs))
    }

    fn filter(&mut self) -> Result<Filter, ParseError> {
        if !self.eat('(') {
            return Err(self.err("expected '(' after '?'"));
        }
        self.skip_ws();
        let lhs = self.at_path()?;
        self.skip_ws();
        let cmp = match self.op() {
            Some(op) => {
                self.skip_ws();
                Some((op, self.operand()?))
            }
            None => None,
        };
        self.skip_ws();
        if !self.eat(')') {
            return Err(self.err("expected ')' closing the filter"));
        }
        Ok(Filter { lhs, cmp })
    }

    fn at_path(&mut self) -> Result<JsonPath, ParseError> {
        if !self.eat('@') {
            return Err(self.err("a filter must start with '@'"));
        }
        Ok(JsonPath {
            steps: self.steps(true)?,
        })
    }

    fn op(&mut self) -> Option<Op> {
        const OPS: [(&str, Op); 6] = [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        OPS.iter().find(|(s, _)| self.eat_str(s)).map(|(_, op)| *op)
    }

    fn operand(&mut self) -> Result<Operand, ParseError> {
        match self.peek() {
            Some('@') => Ok(Operand::Path(self.at_path()?)),
            Some('\'' | '"') => Ok(Operand::Literal(Value::String(self.quoted()?))),
            _ => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c != ')' && !c.is_whitespace()) {
                    self.pos += 1;
                }
                let word = &self.src[start..self.pos];
                match word {
                    "true" => Ok(Operand::Literal(Value::Bool(true))),
                    "false" => Ok(Operand::Literal(Value::Bool(false))),
                    "null" | "nil" => Ok(Operand::Literal(Value::Null)),
                    _ => serde_json::from_str::<serde_json::Number>(word)
                        .map(|n| Operand::Literal(Value::Number(n)))
                        .map_err(|_| self.err("expected a literal")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({
            "metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {"app.kubernetes.io/name": "web"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1", "ports": [{"containerPort": 80}]},
                {"name": "side", "image": "envoy:2"}
            ]}}},
            "status": {"conditions": [
                {"type": "Available", "status": "True", "count": 1},
                {"type": "Progressing", "status": "False", "count": 5}
            ]}
        })
    }

    #[test]
    fn fields_and_missing_keys() {
        let d = deployment();
        assert_eq!(eval(".spec.replicas", &d), vec![json!(3)]);
        assert_eq!(eval("{.metadata.name}", &d), vec![json!("web")]);
        assert_eq!(eval("$.metadata.name", &d), vec![json!("web")]);
        assert_eq!(eval("metadata.name", &d), vec![json!("web")]);
        assert!(eval(".status.phase", &d).is_empty());
        assert!(eval(".spec.replicas.deeper", &d).is_empty());
        assert_eq!(eval(".", &d), vec![d.clone()]);
    }

    #[test]
    fn escaped_dots_and_quoted_names() {
        let d = deployment();
        let want = vec![json!("web")];
        assert_eq!(eval(r".metadata.labels.app\.kubernetes\.io/name", &d), want);
        assert_eq!(eval(".metadata.labels['app.kubernetes.io/name']", &d), want);
        assert_eq!(eval(r#".metadata["name"]"#, &d), want);
    }

    #[test]
    fn indices_slices_and_wildcards() {
        let d = deployment();
        let c = ".spec.template.spec.containers";
        assert_eq!(eval(&format!("{c}[0].name"), &d), vec![json!("app")]);
        assert_eq!(eval(&format!("{c}[-1].name"), &d), vec![json!("side")]);
        assert!(eval(&format!("{c}[5].name"), &d).is_empty());
        assert_eq!(
            eval(&format!("{c}[*].image"), &d),
            vec![json!("nginx:1"), json!("envoy:2")]
        );
        assert_eq!(eval(&format!("{c}[0:1].name"), &d), vec![json!("app")]);
        assert_eq!(eval(&format!("{c}[0,1].name"), &d).len(), 2);
        assert_eq!(eval(".metadata.*", &d).len(), 3);
    }

    #[test]
    fn recursive_descent() {
        let d = deployment();
        assert_eq!(eval("..containerPort", &d), vec![json!(80)]);
        assert_eq!(
            eval("..image", &d),
            vec![json!("nginx:1"), json!("envoy:2")]
        );
    }

    #[test]
    fn filters() {
        let d = deployment();
        let ready = r#".status.conditions[?(@.type=="Available")].status"#;
        assert_eq!(eval(ready, &d), vec![json!("True")]);
        let single = ".status.conditions[?(@.type == 'Progressing')].status";
        assert_eq!(eval(single, &d), vec![json!("False")]);
        assert!(eval(r#".status.conditions[?(@.type=="Ready")].status"#, &d).is_empty());
        assert_eq!(
            eval(".status.conditions[?(@.count > 2)].type", &d),
            vec![json!("Progressing")]
        );
        assert_eq!(
            eval(".status.conditions[?(@.count<=1)].type", &d),
            vec![json!("Available")]
        );
        assert_eq!(
            eval(r#".status.conditions[?(@.type!="Available")].type"#, &d),
            vec![json!("Progressing")]
        );
        assert_eq!(
            eval(".spec.template.spec.containers[?(@.ports)].name", &d),
            vec![json!("app")]
        );
        // A filter on an object (not an array) selects nothing, as in client-go.
        assert!(eval(r#".metadata[?(@.name=="web")]"#, &d).is_empty());
    }

    #[test]
    fn parse_errors_are_reported_not_panics() {
        for bad in [
            "[",
            ".a[?(@.b==)]",
            ".a[?(b)]",
            ".a['x]",
            ".a[1:x]",
            ".a b",
            "..",
            ".a[?@.b]",
        ] {
            assert!(parse(bad).is_err(), "{bad} should not parse");
            assert!(eval(bad, &json!({"a": 1})).is_empty());
        }
        assert!(parse("").is_ok());
    }
}
