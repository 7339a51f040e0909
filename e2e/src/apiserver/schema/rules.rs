//! `x-kubernetes-validations`: CEL rules evaluated with `self` bound to the value of their
//! node (and `oldSelf` to the stored value on update), worded as kube-apiserver reports them.
//!
//! Transition rules (those that read `oldSelf`) only run when the stored object has a value
//! at the same place, unless `optionalOldSelf` makes `oldSelf` an optional. Values reach CEL
//! typed by the schema: `integer` as int, `number` as double, `date-time` strings as
//! timestamps, and objects as maps in which reading an absent field is an error the rule
//! guards with `has()`, as in Kubernetes.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use cel::common::types::CelOptional;
use cel::common::value::Val;
use cel::{Context, Env, ExecutionError, Program, Value as Cel};
use serde_json::Value;

use super::FieldError;
use super::errors::{for_reason, invalid};
use super::node::Node;

mod functions;
mod values;

use values::to_cel;

/// Whether the schema has any rule (kube-apiserver builds no CEL validator otherwise).
pub(crate) fn has_rules(schema: &Value) -> bool {
    match schema {
        Value::Object(map) => {
            map.get("x-kubernetes-validations")
                .and_then(Value::as_array)
                .is_some_and(|r| !r.is_empty())
                || map.values().any(has_rules)
        }
        Value::Array(items) => items.iter().any(has_rules),
        _ => false,
    }
}

/// Evaluates every rule of the schema over `obj` (`old` on update).
pub(crate) fn validate_rules(schema: &Value, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    walk(Node(schema), obj, old, "", &mut errors);
    errors
}

/// Visits the value tree, evaluating each node's rules; `path` is in `field.Path` notation
/// (`spec.ports[0]`, `spec.labels[key]`).
fn walk(
    node: Node<'_>,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    // Rules never see null: a rule on a nullable field only validates non-null values.
    if value.is_null() {
        return;
    }
    for rule in node
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(error) = evaluate(rule, node, value, old, path) {
            errors.push(error);
        }
    }
    match value {
        Value::Object(map) => {
            for (name, child) in map {
                let at_root_meta =
                    path.is_empty() && matches!(name.as_str(), "apiVersion" | "kind" | "metadata");
                let (child_node, child_path) = match (node.property(name), node.additional()) {
                    (Some(p), _) if !at_root_meta => (p, join(path, name)),
                    (None, Some(a)) => (a, format!("{path}[{name}]")),
                    _ => continue,
                };
                let old_child = old.and_then(|o| o.get(name));
                walk(child_node, child, old_child, &child_path, errors);
            }
        }
        Value::Array(items) => {
            let Some(item_node) = node.items() else {
                return;
            };
            for (index, item) in items.iter().enumerate() {
                let old_item = old.and_then(|o| correlate(node, item, o));
                walk(
                    item_node,
                    item,
                    old_item,
                    &format!("{path}[{index}]"),
                    errors,
                );
            }
        }
        _ => {}
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// The stored item a list item corresponds to: only `x-kubernetes-list-type: map` lists
/// correlate, by their keys.
fn correlate<'o>(node: Node<'_>, item: &Value, old_list: &'o Value) -> Option<&'o Value> {
    if node.list_type() != "map" {
        return None;
    }
    let keys = node.list_map_keys();
    old_list.as_array()?.iter().find(|candidate| {
        keys.iter()
            .all(|k| match (candidate.get(*k), item.get(*k)) {
                (Some(a), Some(b)) => crate::apiserver::patch::json_equal(a, b),
                (None, None) => true,
                _ => false,
            })
    })
}

/// A compiled rule, cached by its text: CRDs are few, objects many.
fn compile(env: &Env, source: &str) -> Result<Arc<Program>, String> {
    static CACHE: LazyLock<Mutex<HashMap<String, Arc<Program>>>> = LazyLock::new(Default::default);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(program) = cache.get(source) {
        return Ok(Arc::clone(program));
    }
    let program = Arc::new(env.compile(source).map_err(|e| e.to_string())?);
    cache.insert(source.to_string(), Arc::clone(&program));
    Ok(program)
}

fn environment() -> Arc<Env> {
    static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(functions::kubernetes_env()));
    Arc::clone(&ENV)
}

/// One rule over one value; `None` when it holds (or does not apply).
fn evaluate(
    rule: &Value,
    node: Node<'_>,
    value: &Value,
    old: Option<&Value>,
    path: &str,
) -> Option<FieldError> {
    let text = |key: &str| rule.get(key).and_then(Value::as_str);
    let source = text("rule")?.trim();
    let env = environment();
    let type_name = node.type_name();
    let program = match compile(&env, source) {
        Ok(program) => program,
        Err(e) => {
            let detail = format!("compilation failed: {e} for rule: {source}");
            return Some(invalid(path, &Value::String(type_name.into()), &detail));
        }
    };
    let optional_old = rule
        .get("optionalOldSelf")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let transition = program.references().has_variable("oldSelf");
    if transition && old.is_none() && !optional_old {
        return None;
    }
    let mut context = Context::with_env(Arc::clone(&env));
    functions::register(&mut context);
    context.add_variable_as_val("self", boxed(to_cel(node, value)));
    if optional_old {
        let inner = old.map(|o| boxed(to_cel(node, o)));
        context.add_variable_as_val("oldSelf", Box::new(CelOptional::from(inner)));
    } else if let Some(old) = old {
        context.add_variable_as_val("oldSelf", boxed(to_cel(node, old)));
    }
    let failure_path = match text("fieldPath") {
        Some(field_path) => format!("{path}{field_path}")
            .trim_start_matches('.')
            .to_string(),
        None => path.to_string(),
    };
    match program.execute(&context) {
        Ok(Cel::Bool(true)) => None,
        Ok(Cel::Bool(false)) => {
            let message = message_of(rule, source, &context, &env);
            Some(for_reason(
                &failure_path,
                text("reason"),
                type_name,
                &message,
            ))
        }
        Ok(other) => {
            let detail = format!("rule did not evaluate to a bool but to {other:?}: {source}");
            Some(invalid(path, &Value::String(type_name.into()), &detail))
        }
        Err(error) => Some(invalid(
            path,
            &Value::String(type_name.into()),
            &evaluation_error(&error, source),
        )),
    }
}

fn boxed(value: Cel) -> Box<dyn Val> {
    // Every value `to_cel` builds is plain data, which always converts.
    Box::<dyn Val>::try_from(value).unwrap_or_else(|_| Box::new(cel::common::types::CelNull))
}

/// The message of a failed rule: its `messageExpression` when that yields a non-empty
/// string, else its `message`, else `failed rule: <rule>`.
fn message_of(rule: &Value, source: &str, context: &Context<'_, '_>, env: &Env) -> String {
    let expression = rule.get("messageExpression").and_then(Value::as_str);
    if let Some(expression) = expression
        && let Ok(program) = compile(env, expression)
        && let Ok(Cel::String(text)) = program.execute(context)
        && !text.trim().is_empty()
        && !text.contains('\n')
    {
        return text.trim().to_string();
    }
    match rule.get("message").and_then(Value::as_str).map(str::trim) {
        Some(message) if !message.is_empty() => message.to_string(),
        _ => format!("failed rule: {source}"),
    }
}

/// kube-apiserver's wording of a rule that failed to evaluate.
fn evaluation_error(error: &ExecutionError, source: &str) -> String {
    match error {
        ExecutionError::NoSuchOverload(_) => format!(
            "'no such overload': call arguments did not match a supported operator, function or macro \
             signature for rule: {source}"
        ),
        ExecutionError::NoSuchKey(key) => format!("no such key: {key} evaluating rule: {source}"),
        other => format!("{other} evaluating rule: {source}"),
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
