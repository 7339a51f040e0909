//! The CEL environment of CRD validation rules: CEL's standard library, cel-go's strings,
//! lists and math extensions, and Kubernetes' list library (`isSorted`, `sum`, `min`, `max`).

use std::cmp::Ordering;
use std::sync::Arc;

use cel::extractors::This;
use cel::{Context, Env, ExecutionError, Value as Cel, extensions};

/// The environment rules compile and run in.
pub(super) fn kubernetes_env() -> Env {
    let mut env = Env::stdlib();
    // An extension that fails to register only narrows the language: rules using it then
    // report an evaluation error, as an unknown function would.
    let _ = env.add_extension(extensions::strings);
    let _ = env.add_extension(extensions::lists);
    let _ = env.add_extension(extensions::math);
    env
}

/// Adds Kubernetes' list functions to an evaluation context.
pub(super) fn register(context: &mut Context<'_, '_>) {
    let _ = context.add_function("isSorted", is_sorted);
    let _ = context.add_function("sum", sum);
    let _ = context.add_function("min", min);
    let _ = context.add_function("max", max);
}

fn compare(function: &str, a: &Cel, b: &Cel) -> Result<Ordering, ExecutionError> {
    a.partial_cmp(b)
        .ok_or_else(|| ExecutionError::function_error(function, "list elements are not comparable"))
}

/// `list.isSorted()`: true when every element is less than or equal to the next.
fn is_sorted(This(list): This<Arc<Vec<Cel>>>) -> Result<Cel, ExecutionError> {
    for pair in list.windows(2) {
        if compare("isSorted", &pair[0], &pair[1])? == Ordering::Greater {
            return Ok(Cel::Bool(false));
        }
    }
    Ok(Cel::Bool(true))
}

/// `list.sum()`: the sum of a list of numbers (0 for an empty list).
fn sum(This(list): This<Arc<Vec<Cel>>>) -> Result<Cel, ExecutionError> {
    let mut total = Cel::Int(0);
    for item in list.iter() {
        total = match (&total, item) {
            (Cel::Int(a), Cel::Int(b)) => Cel::Int(
                a.checked_add(*b)
                    .ok_or_else(|| ExecutionError::function_error("sum", "integer overflow"))?,
            ),
            (Cel::Int(a), Cel::Float(b)) => Cel::Float(*a as f64 + b),
            (Cel::Float(a), Cel::Float(b)) => Cel::Float(a + b),
            (Cel::Float(a), Cel::Int(b)) => Cel::Float(a + *b as f64),
            (Cel::UInt(a), Cel::UInt(b)) => Cel::UInt(a.saturating_add(*b)),
            (Cel::Int(0), Cel::UInt(b)) => Cel::UInt(*b),
            _ => {
                return Err(ExecutionError::function_error(
                    "sum",
                    "list elements are not numbers",
                ));
            }
        };
    }
    Ok(total)
}

fn extreme(function: &str, list: &[Cel], wanted: Ordering) -> Result<Cel, ExecutionError> {
    let mut items = list.iter();
    let mut best = items.next().ok_or_else(|| {
        ExecutionError::function_error(function, format!("{function} called on empty list"))
    })?;
    for item in items {
        if compare(function, item, best)? == wanted {
            best = item;
        }
    }
    Ok(best.clone())
}

/// `list.min()`.
fn min(This(list): This<Arc<Vec<Cel>>>) -> Result<Cel, ExecutionError> {
    extreme("min", &list, Ordering::Less)
}

/// `list.max()`.
fn max(This(list): This<Arc<Vec<Cel>>>) -> Result<Cel, ExecutionError> {
    extreme("max", &list, Ordering::Greater)
}
