//! The static cost check apiextensions-apiserver runs on a CRD's `x-kubernetes-validations`
//! when the CRD is created or updated: every rule's worst-case cost, estimated as cel-go
//! estimates it from the schema's size bounds, times the number of times the rule can run
//! in one object, must stay within a per-rule budget, and all rules of a schema together
//! within a per-schema budget. Refusals are worded and placed as kube-apiserver's.
//!
//! Paths follow the internal CRD form the real server validates: when every version has
//! the same schema it is hoisted to `spec.validation`, otherwise each stays at
//! `spec.versions[i].schema`.

mod calls;
mod coster;
mod decl;
mod estimate;
mod library;
mod signatures;
mod types;

use cel::IdedExpr;
use cel::parser::Parser;
use serde_json::Value;

use super::FieldError;
use super::errors::forbidden;
use super::node::Node;

pub(crate) use decl::decl_of;

/// `StaticEstimatedCostLimit`: the budget of one rule (or message expression).
pub(crate) const RULE_COST_LIMIT: u64 = 10_000_000;
/// `StaticEstimatedCRDCostLimit`: the budget of all rules of one schema.
pub(crate) const SCHEMA_COST_LIMIT: u64 = 100_000_000;

/// The cost checks of a CRD being written (`old` on update: a version whose schema did not
/// change is exempt from the per-rule budget, so that raising the estimates never strands
/// an existing CRD; the schema total still applies).
pub fn validate_crd_costs(crd: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let versions = crd["spec"]["versions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let Some(first) = versions.first() else {
        return Vec::new();
    };
    let unchanged = |version: &Value| {
        let name = &version["name"];
        old.and_then(|o| o["spec"]["versions"].as_array())
            .and_then(|vs| vs.iter().find(|v| v["name"] == *name))
            .is_some_and(|v| v["schema"] == version["schema"])
    };
    let identical = versions.iter().all(|v| v["schema"] == first["schema"]);
    let mut errors = Vec::new();
    if identical {
        check_schema(
            &first["schema"],
            "spec.validation",
            unchanged(first),
            &mut errors,
        );
    } else {
        for (i, version) in versions.iter().enumerate() {
            let base = format!("spec.versions[{i}].schema");
            check_schema(&version["schema"], &base, unchanged(version), &mut errors);
        }
    }
    errors
}

/// The running total of one schema and its costliest rules.
#[derive(Default)]
struct Total {
    sum: u64,
    costliest: Vec<(String, u64)>,
}

impl Total {
    fn observe(&mut self, path: String, cost: u64) {
        self.sum = self.sum.saturating_add(cost);
        // Rules under 1% of the schema budget are not worth naming.
        if cost < SCHEMA_COST_LIMIT / 100 {
            return;
        }
        self.costliest.push((path, cost));
        self.costliest
            .sort_by_key(|&(_, cost)| std::cmp::Reverse(cost));
        self.costliest.truncate(4);
    }
}

fn check_schema(validation: &Value, base: &str, unchanged: bool, errors: &mut Vec<FieldError>) {
    let schema = &validation["openAPIV3Schema"];
    if !schema.is_object() {
        return;
    }
    let root = format!("{base}.openAPIV3Schema");
    let mut walk = Walk {
        unchanged,
        total: Total::default(),
        errors,
    };
    walk.node(Node(schema), &root, Some(1), true);
    let total = walk.total;
    if total.sum > SCHEMA_COST_LIMIT {
        for (path, _) in &total.costliest {
            errors.push(forbidden(
                path,
                "contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema",
            ));
        }
        let detail = exceeds(
            "x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema",
            total.sum,
            SCHEMA_COST_LIMIT,
        );
        errors.push(forbidden(&root, &detail));
    }
}

struct Walk<'a> {
    unchanged: bool,
    total: Total,
    errors: &'a mut Vec<FieldError>,
}

impl Walk<'_> {
    /// Checks the rules under `node`, children first as the real validation recurses;
    /// `cardinality` is how often the node can occur in one object, `None` when it sits
    /// under an unbounded list or map.
    fn node(&mut self, node: Node<'_>, path: &str, cardinality: Option<u64>, root: bool) {
        let child_cardinality =
            cardinality.and_then(|c| occurrences(node).map(|n| guard_mul(c, n)));
        if let Some(values) = node.additional() {
            self.node(
                values,
                &format!("{path}.additionalProperties"),
                child_cardinality,
                false,
            );
        }
        for (name, schema) in node.properties().into_iter().flatten() {
            let child = format!("{path}.properties[{name}]");
            self.node(Node(schema), &child, child_cardinality, false);
        }
        if let Some(items) = node.items() {
            self.node(items, &format!("{path}.items"), child_cardinality, false);
        }
        self.rules(node, path, cardinality, root);
    }

    fn rules(&mut self, node: Node<'_>, path: &str, cardinality: Option<u64>, root: bool) {
        let Some(rules) = node
            .get("x-kubernetes-validations")
            .and_then(Value::as_array)
            .filter(|r| !r.is_empty())
        else {
            return;
        };
        let Some(decl) = decl_of(node, root || node.embedded()) else {
            return;
        };
        // Under an unbounded container the node's own smallest size bounds its repeats.
        let times = cardinality.unwrap_or_else(|| decl::max_cardinality(decl.min_size));
        for (i, rule) in rules.iter().enumerate() {
            let at = format!("{path}.x-kubernetes-validations[{i}]");
            let optional_old = rule["optionalOldSelf"].as_bool().unwrap_or(false);
            if let Some(expr) = rule["rule"].as_str().and_then(parse) {
                let cost = guard_mul(estimate::max_cost(&decl, &expr, optional_old), times);
                self.check(format!("{at}.rule"), "estimated rule cost", cost);
            }
            if let Some(expr) = rule["messageExpression"].as_str().and_then(parse) {
                // A message is only built once per failure: no cardinality.
                let cost = estimate::max_cost(&decl, &expr, optional_old);
                self.check(
                    format!("{at}.messageExpression"),
                    "estimated messageExpression cost",
                    cost,
                );
            }
        }
    }

    fn check(&mut self, path: String, what: &str, cost: u64) {
        if !self.unchanged && cost > RULE_COST_LIMIT {
            self.errors
                .push(forbidden(&path, &exceeds(what, cost, RULE_COST_LIMIT)));
        }
        self.total.observe(path, cost);
    }
}

/// A rule's expression; `None` for an empty or unparsable one (compilation reports those).
pub(crate) fn parse(source: &str) -> Option<IdedExpr> {
    let source = source.trim();
    if source.is_empty() {
        return None;
    }
    Parser::new()
        .enable_optional_syntax(true)
        .parse(source)
        .ok()
}

/// The worst-case cost of one rule on a node, before any cardinality (`MaxCost`).
#[cfg(test)]
pub(crate) fn rule_max_cost(decl: &decl::Decl, source: &str) -> Option<u64> {
    parse(source).map(|expr| estimate::max_cost(decl, &expr, false))
}

/// How many children of `node` one occurrence holds (`extractMaxElements`): a map's
/// `maxProperties`, a list's `maxItems`, 1 for a plain object; `None` when unbounded.
fn occurrences(node: Node<'_>) -> Option<u64> {
    let bound = |key: &str| node.count(key).map(|n| n.max(0) as u64);
    match node.type_name() {
        "object" if node.get("additionalProperties").is_some() => bound("maxProperties"),
        "array" => bound("maxItems"),
        _ => Some(1),
    }
}

/// `multiplyWithOverflowGuard`.
fn guard_mul(base: u64, times: u64) -> u64 {
    if base == 0 {
        0
    } else {
        base.saturating_mul(times)
    }
}

/// `getCostErrorMessage`: the factor with six decimals under 1.5, one up to 100, and
/// "more than 100x" beyond.
pub(crate) fn exceeds(what: &str, cost: u64, limit: u64) -> String {
    let factor = cost as f64 / limit as f64;
    let factor = if factor > 100.0 {
        "more than 100x".to_string()
    } else if factor < 1.5 {
        format!("{factor:.6}x")
    } else {
        format!("{factor:.1}x")
    };
    format!(
        "{what} exceeds budget by factor of {factor} (try simplifying the rule, or adding maxItems, \
         maxProperties, and maxLength where arrays, maps, and strings are declared)"
    )
}

#[cfg(test)]
#[path = "cost_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "cost_expectations_tests.rs"]
mod expectations;
