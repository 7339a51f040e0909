//! The cost of a call: its target and arguments, plus what the function itself costs. Most
//! functions cost 1; those whose work grows with their input are costed as cel-go's
//! `functionCost` and Kubernetes' `library.CostEstimator` cost them, the latter first (it
//! matches by function name), then the extensions' per-overload estimators, then cel-go's
//! own table. Where the operand types leave several overloads possible (a `dyn` operand),
//! the cost covers all of them, as the type checker's overload list does.

use cel::common::ast::{Expr, IdedExpr};

use super::coster::{Coster, Operand, estimate};
use super::signatures::result_type;
use super::types::{Entry, Est, Ty, UNKNOWN};

/// cel-go's `StringTraversalCostFactor` and `RegexStringLengthCostFactor`.
const TRAVERSAL: f64 = 0.1;
const REGEX: f64 = 0.25;

/// Namespaces of global functions, which the parser reads as a member call on an identifier.
const NAMESPACES: [&str; 9] = [
    "optional",
    "math",
    "strings",
    "sets",
    "base64",
    "format",
    "ip",
    "jsonpatch",
    "lists",
];

pub(super) fn cost_call<'d>(c: &mut Coster<'d>, e: &IdedExpr) -> (Est, Ty<'d>) {
    let Expr::Call(call) = &e.expr else {
        return (Est::default(), Ty::Dyn);
    };
    let (name, target) = match call.target.as_deref() {
        Some(IdedExpr {
            expr: Expr::Ident(ns),
            ..
        }) if NAMESPACES.contains(&ns.as_str()) && !c.is_variable(ns) => {
            (format!("{ns}.{}", call.func_name), None)
        }
        other => (call.func_name.clone(), other),
    };
    if name == "dyn" && target.is_none() && call.args.len() == 1 {
        // `dyn()` only turns type checking off: 1 plus its argument, whose sizes it keeps.
        let cost = Est::fixed(1).add(c.cost(&call.args[0]));
        let size = c.compute_size(&call.args[0]);
        c.set_size(e, size);
        let entry = c.entry_of(&call.args[0]);
        c.set_entry(e, entry);
        return (cost, Ty::Dyn);
    }
    let mut arg_costs = Vec::with_capacity(call.args.len());
    let mut args = Vec::with_capacity(call.args.len());
    for arg in &call.args {
        arg_costs.push(c.cost(arg));
        args.push(c.operand(arg));
    }
    let mut sum = Est::default();
    let target = target.map(|t| {
        sum = sum.add(c.cost(t));
        c.operand(t)
    });
    let ty = result_type(&name, target.as_ref().map(|t| &t.ty), &args);
    // The result's type decides its size when it is a scalar, so it is known first.
    c.set_type(e, ty.clone());
    let mut function = Est {
        min: u64::MAX,
        max: 0,
    };
    let mut result_size: Option<Est> = None;
    for overload in overloads(&name, target.as_ref().map(|t| &t.ty), &args) {
        let (cost, size) = function_cost(c, e, overload, &name, target.as_ref(), &args, &arg_costs);
        function = function.union(cost);
        if let Some(size) = size {
            result_size = Some(result_size.map_or(size, |r| r.union(size)));
        }
        let element = match overload {
            "index_list" => Some("@items"),
            "index_map" => Some("@values"),
            _ => None,
        };
        if let (Some(segment), Some(container)) = (element, args.first()) {
            result_size = c.entry_of(container.expr).map(|en| en.value);
            let mut path = c.path_of(container.expr);
            path.push(segment.to_string());
            c.set_path(e, path);
        }
        if result_size.is_none() {
            result_size = c.compute_size(e);
        }
    }
    c.set_size(e, result_size);
    (sum.add(function), ty)
}

fn may<'d>(ty: &Ty<'d>, want: fn(&Ty<'d>) -> bool) -> bool {
    ty.may_be(want)
}

fn is_string(ty: &Ty<'_>) -> bool {
    *ty == Ty::String
}

fn is_bytes(ty: &Ty<'_>) -> bool {
    *ty == Ty::Bytes
}

fn is_list(ty: &Ty<'_>) -> bool {
    matches!(ty, Ty::List(_))
}

fn is_map(ty: &Ty<'_>) -> bool {
    matches!(ty, Ty::Map(..) | Ty::Object(_))
}

fn is_other(ty: &Ty<'_>) -> bool {
    !is_string(ty) && !is_bytes(ty) && !is_list(ty)
}

/// The overloads the type checker could bind, as far as they differ in cost.
fn overloads(name: &str, target: Option<&Ty<'_>>, args: &[Operand<'_, '_>]) -> Vec<&'static str> {
    let both = |want: fn(&Ty<'_>) -> bool| args.len() == 2 && args.iter().all(|a| may(&a.ty, want));
    let mut found = Vec::new();
    match (name, target) {
        ("_&&_" | "_||_", None) if args.len() == 2 => found.push("logical"),
        ("_?_:_", None) if args.len() == 3 => found.push("conditional"),
        ("_==_" | "_!=_", None) if args.len() == 2 => found.push("equals"),
        ("_<_" | "_<=_" | "_>_" | "_>=_", None) => {
            if both(is_string) || both(is_bytes) {
                found.push("compare_sized");
            }
            if both(is_other) {
                found.push("default");
            }
        }
        ("_+_", None) => {
            if both(is_string) {
                found.push("add_string");
            }
            if both(is_bytes) {
                found.push("add_bytes");
            }
            if both(is_list) {
                found.push("add_list");
            }
            if both(is_other) {
                found.push("default");
            }
        }
        ("@in", None) if args.len() == 2 => {
            if may(&args[1].ty, is_list) {
                found.push("in_list");
            }
            if may(&args[1].ty, is_map) {
                found.push("default");
            }
        }
        ("_[_]", None) if args.len() == 2 => {
            if may(&args[0].ty, is_list) {
                found.push("index_list");
            }
            if may(&args[0].ty, is_map) {
                found.push("index_map");
            }
        }
        ("startsWith" | "endsWith", Some(_)) => found.push("starts_with"),
        ("matches", Some(_)) => found.push("matches_string"),
        ("contains", Some(_)) => found.push("contains_string"),
        ("format", Some(ty)) if may(ty, is_string) => found.push("string_format"),
        ("bytes", None) if args.len() == 1 && may(&args[0].ty, is_string) => {
            found.push("string_to_bytes");
        }
        ("string", None) if args.len() == 1 && may(&args[0].ty, is_bytes) => {
            found.push("bytes_to_string");
        }
        ("strings.quote", None) => found.push("strings_quote"),
        ("sets.contains" | "sets.intersects", None) if args.len() == 2 => found.push("sets_1"),
        ("sets.equivalent", None) if args.len() == 2 => found.push("sets_2"),
        ("slice", Some(_)) if args.len() == 2 => found.push("list_slice"),
        ("flatten", Some(_)) if args.len() <= 1 => found.push("list_flatten"),
        ("lists.range", None) if args.len() == 1 => found.push("lists_range"),
        ("reverse", Some(ty)) if args.is_empty() && may(ty, is_list) => found.push("list_reverse"),
        ("distinct", Some(_)) if args.is_empty() => found.push("list_distinct"),
        ("sort", Some(_)) if args.is_empty() => found.push("list_sort"),
        _ => {}
    }
    if found.is_empty() {
        found.push("default");
    }
    found
}

/// The cost of one overload (without the target's own cost) and, when known, the size of
/// its result.
fn function_cost(
    c: &mut Coster<'_>,
    e: &IdedExpr,
    overload: &str,
    name: &str,
    target: Option<&Operand<'_, '_>>,
    args: &[Operand<'_, '_>],
    arg_costs: &[Est],
) -> (Est, Option<Est>) {
    let arg_sum = arg_costs.iter().fold(Est::default(), |s, a| s.add(*a));
    let known = |o: &Operand<'_, '_>| o.size.unwrap_or(UNKNOWN);
    if let Some(factor) = match overload {
        "sets_1" => Some(1.0),
        "sets_2" => Some(2.0),
        _ => None,
    } {
        let cost = estimate(c, &args[0])
            .mul(estimate(c, &args[1]))
            .factor(factor);
        return (cost.add(Est::fixed(1)).add(arg_sum), None);
    }
    if let Some((cost, size)) = list_extension(c, overload, target, args) {
        return (cost.add(arg_sum), Some(size));
    }
    if let Some((cost, size)) = super::library::kubernetes(c, name, target, args) {
        return (cost.add(arg_sum), size);
    }
    match (overload, target, args) {
        ("string_format", Some(t), _) => (known(t).factor(TRAVERSAL).add(arg_sum), None),
        ("string_to_bytes", _, [a]) => {
            let size = known(a);
            let result = Est {
                min: size.min,
                max: size.max.wrapping_mul(4),
            };
            (size.factor(TRAVERSAL).add(arg_sum), Some(result))
        }
        ("bytes_to_string", _, [a]) => {
            let size = known(a);
            let result = Est {
                min: size.min / 4,
                max: size.max,
            };
            (size.factor(TRAVERSAL).add(arg_sum), Some(result))
        }
        ("strings_quote", _, [a]) => {
            let size = known(a);
            let result = Est {
                min: size.min.wrapping_add(2),
                max: size.max.wrapping_mul(2).wrapping_add(2),
            };
            (size.factor(TRAVERSAL).add(arg_sum), Some(result))
        }
        // The cost of a prefix test grows with the prefix, not with the string tested.
        ("starts_with", _, [a]) => (known(a).factor(TRAVERSAL).add(arg_sum), None),
        ("in_list", _, [_, list]) => (known(list).factor(1.0).add(arg_sum), None),
        ("matches_string", Some(t), [regex]) => {
            // The string's length plus one, so an empty string against a costly regex costs.
            let string = known(t).add(Est::fixed(1)).factor(TRAVERSAL);
            let regex = known(regex).factor(REGEX);
            (string.mul(regex).add(arg_sum), None)
        }
        ("contains_string", Some(t), [needle]) => {
            let cost = known(t)
                .factor(TRAVERSAL)
                .mul(known(needle).factor(TRAVERSAL));
            (cost.add(arg_sum), None)
        }
        ("logical", _, _) => {
            let (lhs, rhs) = (arg_costs[0], arg_costs[1]);
            let cost = Est {
                min: lhs.min,
                max: lhs.add(rhs).max,
            };
            (cost, None)
        }
        ("conditional", _, [_, yes, no]) => {
            let size = known(yes).union(known(no));
            let entry = Entry::union(c.entry_of(yes.expr), c.entry_of(no.expr));
            c.set_entry(e, entry);
            let cost = arg_costs[0].add(arg_costs[1].union(arg_costs[2]));
            (cost, Some(size))
        }
        ("add_string" | "add_bytes" | "add_list", _, [lhs, rhs]) => {
            let size = known(lhs).add(known(rhs));
            let entry = Entry::union(c.entry_of(lhs.expr), c.entry_of(rhs.expr));
            c.set_entry(e, entry);
            let cost = if overload == "add_list" {
                Est::fixed(1)
            } else {
                size.factor(TRAVERSAL)
            };
            (cost.add(arg_sum), Some(size))
        }
        ("compare_sized" | "equals", _, [lhs, rhs]) => {
            let smallest = known(lhs).max.min(known(rhs).max);
            let cost = Est {
                min: u64::from(smallest > 0),
                max: smallest,
            };
            (cost.factor(TRAVERSAL).add(arg_sum), None)
        }
        _ => (Est::fixed(1).add(arg_sum), None),
    }
}

/// The lists extension (version 3): a call and a list allocation, plus a pass over the
/// result (scaled by the depth for `flatten`), or over every pair of elements for
/// `distinct` and `sort`.
fn list_extension(
    c: &Coster<'_>,
    overload: &str,
    target: Option<&Operand<'_, '_>>,
    args: &[Operand<'_, '_>],
) -> Option<(Est, Est)> {
    let (factor, size) = match overload {
        "list_slice" => {
            let size = estimate(c, target?);
            let start = literal_uint(&args[0], 0);
            let end = literal_uint(&args[1], size.max);
            (1.0, Est::fixed(end.wrapping_sub(start)))
        }
        "lists_range" => (1.0, Est::fixed(literal_uint(&args[0], u64::MAX))),
        "list_reverse" => (1.0, estimate(c, target?)),
        "list_flatten" => {
            let depth = args.first().map_or(1, |a| literal_uint(a, u64::MAX));
            (depth as f64, estimate(c, target?))
        }
        "list_distinct" => {
            let size = estimate(c, target?);
            (2.0, size.mul(size))
        }
        "list_sort" => {
            let target = target?;
            let size = estimate(c, target);
            let strings = matches!(target.ty.iterated(), Ty::String | Ty::Bytes);
            (if strings { 2.1 } else { 2.0 }, size.mul(size))
        }
        _ => return None,
    };
    let cost = size.factor(factor).add(Est::fixed(1)).add(Est::fixed(10));
    Some((cost, size))
}

/// An int literal argument as cel-go's `nodeAsUintValue` reads it (negatives as 0).
fn literal_uint(arg: &Operand<'_, '_>, default: u64) -> u64 {
    match &arg.expr.expr {
        Expr::Literal(cel::common::ast::LiteralValue::Int(i)) => (*i.inner()).max(0) as u64,
        _ => default,
    }
}
