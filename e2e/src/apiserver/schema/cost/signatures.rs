//! The result types of calls: what the type checker would infer, as far as later costs
//! depend on it (a scalar result has size 1, a string result is traversed, a list result
//! is iterated).

use cel::common::ast::{Expr, LiteralValue};

use super::coster::Operand;
use super::types::Ty;

/// The result type of a call, as far as later costs depend on it.
pub(super) fn result_type<'d>(
    name: &str,
    target: Option<&Ty<'d>>,
    args: &[Operand<'_, 'd>],
) -> Ty<'d> {
    let arg = |i: usize| args.get(i).map_or(Ty::Dyn, |a| a.ty.clone());
    let inner = |ty: Option<&Ty<'d>>| match ty {
        Some(Ty::Optional(inner)) => (**inner).clone(),
        _ => Ty::Dyn,
    };
    match name {
        "size" | "int" | "indexOf" | "lastIndexOf" | "compareTo" | "sign" | "asInteger"
        | "prefixLength" | "family" | "major" | "minor" | "patch" => Ty::Int,
        "uint" => Ty::Uint,
        "double" | "asApproximateFloat" => Ty::Double,
        "string"
        | "lowerAscii"
        | "upperAscii"
        | "trim"
        | "substring"
        | "replace"
        | "join"
        | "charAt"
        | "format"
        | "strings.quote"
        | "find"
        | "getScheme"
        | "getHostname"
        | "getHost"
        | "getPort"
        | "getEscapedPath"
        | "jsonpatch.escapeKey" => Ty::String,
        "split" | "findAll" => Ty::List(Box::new(Ty::String)),
        "bytes" => Ty::Bytes,
        "duration" => Ty::Duration,
        "timestamp" => Ty::Timestamp,
        "type" => Ty::Type,
        "_?_:_" if arg(1) == Ty::Dyn => arg(2),
        "_?_:_" => arg(1),
        "_+_" => match (arg(0), arg(1)) {
            (Ty::List(item), rhs) if *item == Ty::Dyn => rhs,
            (Ty::Dyn, rhs) => rhs,
            (lhs, _) => lhs,
        },
        "_-_" => match (arg(0), arg(1)) {
            (Ty::Timestamp, Ty::Timestamp) => Ty::Duration,
            (lhs, _) => lhs,
        },
        "_*_" | "_/_" | "_%_" | "-_" => arg(0),
        "_[_]" => arg(0).element(),
        "_[?_]" => Ty::Optional(Box::new(arg(0).element())),
        "_?._" => {
            let field = match args.get(1).map(|a| &a.expr.expr) {
                Some(Expr::Literal(LiteralValue::String(s))) => arg(0).field(s.inner()),
                _ => Ty::Dyn,
            };
            Ty::Optional(Box::new(field))
        }
        "optional.of" | "optional.ofNonZeroValue" => Ty::Optional(Box::new(arg(0))),
        "optional.none" => Ty::Optional(Box::new(Ty::Dyn)),
        "value" => inner(target),
        "orValue" => match inner(target) {
            Ty::Dyn => arg(0),
            ty => ty,
        },
        "sum" | "min" | "max" => target.map_or(Ty::Dyn, Ty::iterated),
        "slice" | "reverse" | "distinct" | "sort" => target.cloned().unwrap_or(Ty::Dyn),
        "lists.range" => Ty::List(Box::new(Ty::Int)),
        "math.greatest" | "math.least" => arg(0),
        "quantity" | "url" | "ip" | "cidr" | "semver" | "masked" | "add" | "sub"
        | "format.named" => Ty::Opaque,
        "dyn" => Ty::Dyn,
        _ if returns_bool(name) => Ty::Bool,
        _ => Ty::Dyn,
    }
}

fn returns_bool(name: &str) -> bool {
    matches!(
        name,
        "_&&_"
            | "_||_"
            | "!_"
            | "_==_"
            | "_!=_"
            | "_<_"
            | "_<=_"
            | "_>_"
            | "_>=_"
            | "@in"
            | "@not_strictly_false"
            | "startsWith"
            | "endsWith"
            | "matches"
            | "contains"
            | "isSorted"
            | "hasValue"
            | "isIP"
            | "isCIDR"
            | "isQuantity"
            | "isSemver"
            | "isInteger"
            | "isGreaterThan"
            | "isLessThan"
            | "isUnspecified"
            | "isLoopback"
            | "isLinkLocalMulticast"
            | "isLinkLocalUnicast"
            | "isGlobalUnicast"
            | "ip.isCanonical"
            | "containsIP"
            | "containsCIDR"
            | "includes"
            | "sets.contains"
            | "sets.intersects"
            | "sets.equivalent"
            | "isURL"
    )
}
