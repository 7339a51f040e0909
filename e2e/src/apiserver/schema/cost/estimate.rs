//! The worst-case cost of one parsed rule, computed node by node as cel-go's
//! `checker.Cost` computes it (checker/cost.go) with Kubernetes' size estimator: reading a
//! variable or a field costs 1, a literal 0, a call 1 plus its arguments unless its cost
//! depends on sizes (see `calls`), and a comprehension its range, initial value and result
//! plus the largest possible number of iterations times its loop condition and step.
//!
//! Sizes follow the value back to the schema through a path (`self`, field names, `@items`,
//! `@keys`, `@values`), exactly as cel-go builds it, so the same quirks hold (an iteration
//! variable over a literal list reads the root's size, for instance).

use std::collections::HashMap;

use cel::common::ast::{ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue};

use super::calls;
use super::coster::{Coster, Local, Operand};
use super::decl::Decl;
use super::types::{Entry, Est, Ty, UNKNOWN};

/// Cost of reading a variable or selecting a field.
const SELECT_AND_IDENT: Est = Est::fixed(1);
const LIST_CREATE: Est = Est::fixed(10);
const MAP_CREATE: Est = Est::fixed(30);
const STRUCT_CREATE: Est = Est::fixed(40);
/// Kubernetes turns off the cost of presence tests (`has()`), as it did before cel-go 0.17.7.
const PRESENCE_TEST: Est = Est::fixed(0);

/// The worst-case cost of `expr` with `self` (and `oldSelf`, an optional when
/// `optional_old_self`) of the declared type `root`.
pub(crate) fn max_cost(root: &Decl, expr: &IdedExpr, optional_old_self: bool) -> u64 {
    let old_self = if optional_old_self {
        Ty::Optional(Box::new(Ty::of(root)))
    } else {
        Ty::of(root)
    };
    let mut coster = Coster {
        root,
        old_self,
        paths: HashMap::new(),
        sizes: HashMap::new(),
        entries: HashMap::new(),
        types: HashMap::new(),
        locals: HashMap::new(),
    };
    coster.cost(expr).max
}

impl<'d> Coster<'d> {
    pub(crate) fn cost(&mut self, e: &IdedExpr) -> Est {
        let (cost, ty) = match &e.expr {
            Expr::Literal(_) => (Est::fixed(0), literal_type(e)),
            Expr::Ident(name) => self.ident(e, name),
            Expr::Select(select) if select.test => {
                let cost = PRESENCE_TEST.add(self.cost(&select.operand));
                (cost, Ty::Bool)
            }
            Expr::Select(select) => {
                let mut cost = self.cost(&select.operand);
                let operand = self.type_of(&select.operand);
                if operand.has_fields() {
                    cost = cost.add(SELECT_AND_IDENT);
                }
                let mut path = self.path_of(&select.operand);
                path.push(select.field.clone());
                self.paths.insert(e.id, path);
                (cost, operand.field(&select.field))
            }
            Expr::Call(_) => calls::cost_call(self, e),
            Expr::List(list) => self.create_list(e, &list.elements),
            Expr::Map(map) => self.create_map(e, &map.entries),
            Expr::Struct(s) => {
                let mut cost = STRUCT_CREATE;
                for entry in &s.entries {
                    if let EntryExpr::StructField(field) = &entry.expr {
                        cost = cost.add(self.cost(&field.value));
                    }
                }
                (cost, Ty::Opaque)
            }
            Expr::Comprehension(comp) if is_bind(comp) => self.bind(e, comp),
            Expr::Comprehension(comp) => self.comprehension(e, comp),
            Expr::Unspecified => (Est::default(), Ty::Dyn),
        };
        self.types.insert(e.id, ty);
        cost
    }

    fn ident(&mut self, e: &IdedExpr, name: &str) -> (Est, Ty<'d>) {
        let (path, ty) = match self.local(name) {
            Some(local) => (local.path.clone(), local.ty.clone()),
            None => {
                let ty = match name {
                    "self" => Ty::of(self.root),
                    "oldSelf" => self.old_self.clone(),
                    "int" | "uint" | "double" | "string" | "bytes" | "bool" | "list" | "map"
                    | "null_type" | "type" => Ty::Type,
                    _ => Ty::Dyn,
                };
                (vec![name.to_string()], ty)
            }
        };
        self.paths.insert(e.id, path);
        (SELECT_AND_IDENT, ty)
    }

    fn create_list(&mut self, e: &IdedExpr, elements: &[IdedExpr]) -> (Est, Ty<'d>) {
        let mut cost = LIST_CREATE;
        let mut item = Est {
            min: if elements.is_empty() { 0 } else { u64::MAX },
            max: 0,
        };
        let mut ty = Ty::Dyn;
        for element in elements {
            cost = cost.add(self.cost(element));
            item = item.union(self.size_or_unknown(element));
            if ty == Ty::Dyn {
                ty = self.type_of(element);
            }
        }
        let entry = Entry {
            list: true,
            key: Est::fixed(1),
            value: item,
        };
        self.entries.insert(e.id, entry);
        (cost, Ty::List(Box::new(ty)))
    }

    fn create_map(
        &mut self,
        e: &IdedExpr,
        entries: &[cel::common::ast::IdedEntryExpr],
    ) -> (Est, Ty<'d>) {
        let mut cost = MAP_CREATE;
        let empty = if entries.is_empty() { 0 } else { u64::MAX };
        let (mut key, mut value) = (Est { min: empty, max: 0 }, Est { min: empty, max: 0 });
        let (mut key_ty, mut value_ty) = (Ty::Dyn, Ty::Dyn);
        for entry in entries {
            if let EntryExpr::MapEntry(entry) = &entry.expr {
                cost = cost.add(self.cost(&entry.key)).add(self.cost(&entry.value));
                key = key.union(self.size_or_unknown(&entry.key));
                value = value.union(self.size_or_unknown(&entry.value));
                if key_ty == Ty::Dyn {
                    key_ty = self.type_of(&entry.key);
                    value_ty = self.type_of(&entry.value);
                }
            }
        }
        let entry = Entry {
            list: false,
            key,
            value,
        };
        self.entries.insert(e.id, entry);
        (cost, Ty::Map(Box::new(key_ty), Box::new(value_ty)))
    }

    fn comprehension(&mut self, e: &IdedExpr, comp: &ComprehensionExpr) -> (Est, Ty<'d>) {
        let mut sum = self.cost(&comp.iter_range).add(self.cost(&comp.accu_init));
        self.push_value(&comp.accu_var, &comp.accu_init);
        let range_ty = self.type_of(&comp.iter_range);
        let entry = self.entry_of(&comp.iter_range);
        let is_list = entry.map_or(matches!(range_ty, Ty::List(_)), |en| en.list);
        let path = self.path_of(&comp.iter_range);
        let local = |segment: &str, size: Option<Est>, ty: Ty<'d>| {
            let mut path = path.clone();
            path.push(segment.to_string());
            Local {
                path,
                size,
                entry: None,
                ty,
            }
        };
        match &comp.iter_var2 {
            Some(second) => {
                let (key, value) = if is_list {
                    ("@indices", "@items")
                } else {
                    ("@keys", "@values")
                };
                let key_ty = if is_list {
                    Ty::Int
                } else {
                    range_ty.iterated()
                };
                self.push(&comp.iter_var, local(key, entry.map(|en| en.key), key_ty));
                self.push(
                    second,
                    local(value, entry.map(|en| en.value), range_ty.element()),
                );
            }
            None if is_list => {
                let size = entry.map(|en| en.value);
                self.push(&comp.iter_var, local("@items", size, range_ty.iterated()));
            }
            None => {
                let size = entry.map(|en| en.key);
                self.push(&comp.iter_var, local("@keys", size, range_ty.iterated()));
            }
        }
        let loop_cost = self.cost(&comp.loop_cond);
        let step_cost = self.cost(&comp.loop_step);
        self.pop(&comp.iter_var);
        if let Some(second) = &comp.iter_var2 {
            self.pop(second);
        }
        // An accumulator that starts as an empty list takes the type the step builds.
        let step_ty = self.type_of(&comp.loop_step);
        if let Some(accu) = self
            .locals
            .get_mut(&comp.accu_var)
            .and_then(|s| s.last_mut())
            && matches!(accu.ty, Ty::List(ref item) if **item == Ty::Dyn)
            && matches!(step_ty, Ty::List(_))
        {
            accu.ty = step_ty;
        }
        sum = sum.add(self.cost(&comp.result));
        let ty = self.type_of(&comp.result);
        self.pop(&comp.accu_var);
        let range = self.size_or_unknown(&comp.iter_range);
        sum = sum.add(range.mul(step_cost.add(loop_cost)));
        match &comp.accu_init.expr {
            Expr::Literal(_) => {
                if let Some(size) = self.compute_size(&comp.accu_init) {
                    self.sizes.insert(e.id, size);
                }
            }
            Expr::List(_) | Expr::Map(_) => {
                self.sizes.insert(e.id, range);
                if let Some(step) = self.entry_of(&comp.loop_step) {
                    self.entries.insert(e.id, step);
                }
            }
            _ => {}
        }
        (sum, ty)
    }

    fn bind(&mut self, e: &IdedExpr, comp: &ComprehensionExpr) -> (Est, Ty<'d>) {
        let mut sum = self.cost(&comp.iter_range).add(self.cost(&comp.accu_init));
        self.push_value(&comp.accu_var, &comp.accu_init);
        sum = sum.add(self.cost(&comp.result));
        self.pop(&comp.accu_var);
        if let Some(size) = self.compute_size(&comp.result) {
            self.sizes.insert(e.id, size);
        }
        if let Some(entry) = self.entry_of(&comp.result) {
            self.entries.insert(e.id, entry);
        }
        (sum, self.type_of(&comp.result))
    }

    fn push_value(&mut self, name: &str, value: &IdedExpr) {
        let local = Local {
            path: self.path_of(value),
            size: self.compute_size(value),
            entry: self.entry_of(value),
            ty: self.type_of(value),
        };
        self.push(name, local);
    }

    fn push(&mut self, name: &str, local: Local<'d>) {
        self.locals.entry(name.to_string()).or_default().push(local);
    }

    fn pop(&mut self, name: &str) {
        if let Some(stack) = self.locals.get_mut(name) {
            stack.pop();
        }
    }

    fn local(&self, name: &str) -> Option<&Local<'d>> {
        self.locals.get(name).and_then(|stack| stack.last())
    }

    pub(crate) fn type_of(&self, e: &IdedExpr) -> Ty<'d> {
        self.types.get(&e.id).cloned().unwrap_or(Ty::Dyn)
    }

    pub(crate) fn path_of(&self, e: &IdedExpr) -> Vec<String> {
        if let Expr::Ident(name) = &e.expr
            && let Some(local) = self.local(name)
        {
            return local.path.clone();
        }
        self.paths.get(&e.id).cloned().unwrap_or_default()
    }

    pub(crate) fn set_type(&mut self, e: &IdedExpr, ty: Ty<'d>) {
        self.types.insert(e.id, ty);
    }

    /// Whether `name` is a variable in scope (rather than a function namespace).
    pub(crate) fn is_variable(&self, name: &str) -> bool {
        self.local(name).is_some() || name == "self" || name == "oldSelf"
    }

    pub(crate) fn set_path(&mut self, e: &IdedExpr, path: Vec<String>) {
        self.paths.insert(e.id, path);
    }

    pub(crate) fn set_size(&mut self, e: &IdedExpr, size: Option<Est>) {
        if let Some(size) = size {
            self.sizes.insert(e.id, size);
        }
    }

    pub(crate) fn set_entry(&mut self, e: &IdedExpr, entry: Option<Entry>) {
        if let Some(entry) = entry {
            self.entries.insert(e.id, entry);
        }
    }

    pub(crate) fn entry_of(&self, e: &IdedExpr) -> Option<Entry> {
        if let Some(entry) = self.entries.get(&e.id) {
            return Some(*entry);
        }
        match &e.expr {
            Expr::Ident(name) => self.local(name).and_then(|l| l.entry),
            _ => None,
        }
    }

    /// Kubernetes' size estimator: the declared bound of the schema node a path reaches
    /// (its first segment, the variable, is skipped: every path starts at `self`).
    pub(crate) fn schema_size(&self, path: &[String]) -> Option<Est> {
        let mut decl = self.root;
        for segment in path.get(1..)? {
            decl = decl.step(segment)?;
        }
        Some(Est {
            min: 0,
            max: decl.max_elements,
        })
    }

    /// cel-go's `computeSize`: known sizes, literals, the schema, scalar types, locals.
    pub(crate) fn compute_size(&mut self, e: &IdedExpr) -> Option<Est> {
        if let Some(size) = self.sizes.get(&e.id) {
            return Some(*size);
        }
        if let Some(size) = literal_size(e) {
            return Some(size);
        }
        if let Some(size) = self.schema_size(&self.path_of(e)) {
            self.sizes.insert(e.id, size);
            return Some(size);
        }
        if self.type_of(e).is_scalar() {
            return Some(Est::fixed(1));
        }
        match &e.expr {
            Expr::Ident(name) => self.local(name).and_then(|l| l.size),
            _ => None,
        }
    }

    pub(crate) fn size_or_unknown(&mut self, e: &IdedExpr) -> Est {
        self.compute_size(e).unwrap_or(UNKNOWN)
    }

    /// The operand view of an argument or target, once its cost is known.
    pub(crate) fn operand<'e>(&mut self, e: &'e IdedExpr) -> Operand<'e, 'd> {
        let mut path = self.path_of(e);
        // Only paths from root variables reach the schema.
        if path
            .first()
            .is_some_and(|root| root == "@result" || root == "__result__")
        {
            path.clear();
        }
        Operand {
            expr: e,
            path,
            ty: self.type_of(e),
            size: self.compute_size(e),
        }
    }
}

fn is_bind(comp: &ComprehensionExpr) -> bool {
    matches!(&comp.iter_range.expr, Expr::List(list) if list.elements.is_empty())
        && matches!(
            &comp.loop_cond.expr,
            Expr::Literal(LiteralValue::Boolean(b)) if !*b.inner()
        )
        && comp.accu_var != "@result"
        && comp.accu_var != "__result__"
}

fn literal_size(e: &IdedExpr) -> Option<Est> {
    let size = match &e.expr {
        Expr::Literal(LiteralValue::String(s)) => s.inner().chars().count() as u64,
        Expr::Literal(LiteralValue::Bytes(b)) => b.inner().len() as u64,
        Expr::Literal(_) => 1,
        Expr::List(list) => list.elements.len() as u64,
        Expr::Map(map) => map.entries.len() as u64,
        _ => return None,
    };
    Some(Est::fixed(size))
}

fn literal_type<'d>(e: &IdedExpr) -> Ty<'d> {
    match &e.expr {
        Expr::Literal(LiteralValue::Boolean(_)) => Ty::Bool,
        Expr::Literal(LiteralValue::Bytes(_)) => Ty::Bytes,
        Expr::Literal(LiteralValue::Double(_)) => Ty::Double,
        Expr::Literal(LiteralValue::Int(_)) => Ty::Int,
        Expr::Literal(LiteralValue::UInt(_)) => Ty::Uint,
        Expr::Literal(LiteralValue::String(_)) => Ty::String,
        _ => Ty::Null,
    }
}
