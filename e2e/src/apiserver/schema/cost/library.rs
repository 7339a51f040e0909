//! Kubernetes' `library.CostEstimator.EstimateCallCost`: the costs of the functions
//! Kubernetes adds to CEL (lists, regex, URLs, IPs, quantities, ...) and of the cel-go string
//! extension as Kubernetes versions it. It matches on the function name alone, before any
//! per-overload estimate, so it decides the cost of every function it names.

use super::coster::{Coster, Operand, estimate};
use super::types::{Est, Ty, UNKNOWN};

const TRAVERSAL: f64 = 0.1;
const REGEX: f64 = 0.25;
/// `cel.MaxNameFormatRegexSize`.
const NAME_FORMAT_REGEX: f64 = 128.0;

/// The function's own cost and result size, `None` for functions Kubernetes leaves to cel-go.
pub(super) fn kubernetes(
    c: &Coster<'_>,
    name: &str,
    target: Option<&Operand<'_, '_>>,
    args: &[Operand<'_, '_>],
) -> Option<(Est, Option<Est>)> {
    let size = |o: &Operand<'_, '_>| estimate(c, o);
    let first = args.first();
    let one = Some((Est::fixed(1), None));
    match name {
        "check" => Some((Est::fixed(350_000), None)),
        "serviceAccount" | "path" | "group" | "resource" | "subresource" | "namespace" | "name"
        | "allowed" | "reason" | "error" | "errored" => one,
        "isSorted" | "sum" | "max" | "min" | "indexOf" | "lastIndexOf" | "includes" => {
            let target = target?;
            Some((list_scan(c, name, target), None))
        }
        "url" | "jsonpatch.escapeKey" if args.len() == 1 => {
            let sz = size(&args[0]);
            Some((sz.factor(TRAVERSAL), Some(sz)))
        }
        "lowerAscii" | "upperAscii" | "substring" | "trim" => {
            let sz = size(target?);
            Some((sz.factor(TRAVERSAL), Some(sz)))
        }
        "replace" if args.len() >= 2 => {
            let sz = size(target?);
            let result = replaced_size(sz, size(&args[0]), size(&args[1]));
            Some((sz.factor(2.0 * TRAVERSAL), Some(result)))
        }
        "split" => {
            let sz = size(target?);
            // An explicit limit bounds the parts; Go reads a negative one as a huge uint.
            let max = match args.get(1).map(|a| &a.expr.expr) {
                Some(cel::common::ast::Expr::Literal(cel::common::ast::LiteralValue::Int(
                    limit,
                ))) => *limit.inner() as u64,
                _ => sz.max,
            };
            Some((sz.factor(2.0 * TRAVERSAL), Some(Est { min: 0, max })))
        }
        "join" => {
            let target = target?;
            let items = size(target);
            let mut sz = match element(c, target) {
                Some(item) => items.mul(item),
                None => Est::default(),
            };
            if let Some(separator) = first {
                let separators = Est {
                    min: items.min.saturating_sub(1),
                    max: items.max.saturating_sub(1),
                };
                sz = sz.add(size(separator).mul(separators));
            }
            Some((sz.factor(TRAVERSAL), Some(sz)))
        }
        "find" | "findAll" if first.is_some() => {
            let sz = size(target?);
            let string = sz.add(Est::fixed(1)).factor(TRAVERSAL);
            let regex = size(first?).factor(REGEX);
            Some((
                string.mul(regex),
                Some(Est {
                    min: 0,
                    max: sz.max,
                }),
            ))
        }
        "cidr" | "isIP" | "isCIDR" | "quantity" | "isQuantity" | "semver" | "isSemver" => {
            Some((size(first?).factor(TRAVERSAL), None))
        }
        // `cidr.ip()` reads a field; `ip(string)` parses.
        "ip" if target.is_some() => one,
        "ip" => Some((size(first?).factor(TRAVERSAL), None)),
        "ip.isCanonical" => Some((size(first?).factor(2.0 * TRAVERSAL), None)),
        "masked"
        | "prefixLength"
        | "family"
        | "isUnspecified"
        | "isLoopback"
        | "isLinkLocalMulticast"
        | "isLinkLocalUnicast"
        | "isGlobalUnicast" => one,
        "containsIP" | "containsCIDR" => {
            let arg = first?;
            // Comparing two addresses of 4 or 16 bytes.
            let address = Est { min: 4, max: 16 };
            let mut cost = address.add(address).factor(TRAVERSAL);
            if name == "containsCIDR" {
                cost = cost.add(address.factor(TRAVERSAL)).add(Est::fixed(1));
            }
            if arg.ty == Ty::String {
                cost = cost.add(size(arg).factor(TRAVERSAL));
            }
            Some((cost, None))
        }
        "validate" => {
            let cost = size(first?)
                .factor(TRAVERSAL)
                .factor(NAME_FORMAT_REGEX * REGEX);
            Some((cost, None))
        }
        "format.named" | "sign" | "asInteger" | "isInteger" | "asApproximateFloat"
        | "isGreaterThan" | "isLessThan" | "compareTo" | "add" | "sub" | "major" | "minor"
        | "patch" | "getScheme" | "getHostname" | "getHost" | "getPort" | "getEscapedPath"
        | "getQuery" => one,
        _ => None,
    }
}

/// The list functions charge 1 per element, plus a traversal of each element when they
/// are strings or bytes; on a string target (`indexOf`), a traversal of the string.
fn list_scan(c: &Coster<'_>, name: &str, target: &Operand<'_, '_>) -> Est {
    let mut per_element = Est::fixed(1);
    match item_type(&target.ty) {
        Some(item) => {
            if matches!(item, Ty::String | Ty::Bytes) {
                let item_size = element_size(c, target);
                per_element = per_element.add(item_size.factor(TRAVERSAL));
            }
            estimate(c, target).mul(per_element)
        }
        None if name == "includes" => estimate(c, target).mul(per_element),
        None => estimate(c, target).factor(TRAVERSAL),
    }
}

/// The first type parameter of a container: a list's items, a map's keys.
fn item_type<'d>(ty: &Ty<'d>) -> Option<Ty<'d>> {
    match ty {
        Ty::List(item) | Ty::Map(item, _) => Some((**item).clone()),
        _ => None,
    }
}

/// The size of an element of a list target, found through its schema path when it has one.
fn element_size(c: &Coster<'_>, target: &Operand<'_, '_>) -> Est {
    if target.path.is_empty() {
        return UNKNOWN;
    }
    let mut path = target.path.clone();
    path.push("@items".to_string());
    c.schema_size(&path).unwrap_or(UNKNOWN)
}

fn element(c: &Coster<'_>, target: &Operand<'_, '_>) -> Option<Est> {
    item_type(&target.ty).map(|_| element_size(c, target))
}

/// The size of `replace`'s result: the most replacements of the shortest match by the
/// longest replacement, and the reverse for the least.
fn replaced_size(sz: Est, from: Est, to: Est) -> Est {
    let (mut count, mut kept) = (Est::default(), Est::default());
    if from.min == 0 {
        count.max = if sz.max < u64::MAX {
            sz.max + 1
        } else {
            sz.max
        };
        kept.max = sz.max;
    } else if to.max <= from.min {
        kept.max = sz.max;
    } else {
        count.max = (sz.max as f64 / from.min as f64).ceil() as u64;
    }
    if from.max == 0 {
        count.min = if sz.min < u64::MAX {
            sz.min + 1
        } else {
            sz.min
        };
        kept.min = sz.min;
    } else if from.max <= to.min {
        kept.min = sz.min;
    } else {
        count.min = (sz.min as f64 / from.max as f64).ceil() as u64;
    }
    count.mul(to).add(kept)
}
