//! The state of one cost estimate and what a function's cost depends on: shared by the
//! walk over the expression (`estimate`) and the costs of calls (`calls`, `library`,
//! `signatures`), which recurse into each other through [`Coster`]'s methods.

use std::collections::HashMap;

use cel::common::ast::IdedExpr;

use super::decl::Decl;
use super::types::{Entry, Est, Ty, UNKNOWN};

/// A local variable: an iteration variable or accumulator of a comprehension.
pub(super) struct Local<'d> {
    pub(super) path: Vec<String>,
    pub(super) size: Option<Est>,
    pub(super) entry: Option<Entry>,
    pub(super) ty: Ty<'d>,
}

/// What a function's cost depends on, for its target and each argument (cel-go's `AstNode`).
pub(crate) struct Operand<'e, 'd> {
    pub(crate) expr: &'e IdedExpr,
    pub(crate) path: Vec<String>,
    pub(crate) ty: Ty<'d>,
    pub(crate) size: Option<Est>,
}

pub(crate) struct Coster<'d> {
    pub(super) root: &'d Decl,
    pub(super) old_self: Ty<'d>,
    pub(super) paths: HashMap<u64, Vec<String>>,
    pub(super) sizes: HashMap<u64, Est>,
    pub(super) entries: HashMap<u64, Entry>,
    pub(super) types: HashMap<u64, Ty<'d>>,
    pub(super) locals: HashMap<String, Vec<Local<'d>>>,
}

/// Kubernetes' `sizeEstimate`: the computed size, else the schema's, else unknown.
pub(super) fn estimate(c: &Coster<'_>, o: &Operand<'_, '_>) -> Est {
    o.size.or_else(|| c.schema_size(&o.path)).unwrap_or(UNKNOWN)
}
