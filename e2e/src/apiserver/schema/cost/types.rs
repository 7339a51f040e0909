//! Estimates and types: the arithmetic of cel-go's `SizeEstimate`/`CostEstimate` (ranges
//! that saturate instead of overflowing, factors rounded up) and the CEL types the estimator
//! needs to pick the same overloads the type checker picks.

use super::decl::{Decl, Kind};

/// A `[min, max]` range, used both for sizes (elements, bytes) and for costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Est {
    pub(crate) min: u64,
    pub(crate) max: u64,
}

/// A size nothing is known about.
pub(crate) const UNKNOWN: Est = Est {
    min: 0,
    max: u64::MAX,
};

impl Est {
    pub(crate) const fn fixed(value: u64) -> Self {
        Est {
            min: value,
            max: value,
        }
    }

    pub(crate) fn add(self, other: Est) -> Est {
        Est {
            min: self.min.saturating_add(other.min),
            max: self.max.saturating_add(other.max),
        }
    }

    pub(crate) fn mul(self, other: Est) -> Est {
        Est {
            min: self.min.saturating_mul(other.min),
            max: self.max.saturating_mul(other.max),
        }
    }

    /// Scales by a cost factor, rounding up (cel-go's `MultiplyByCostFactor`).
    pub(crate) fn factor(self, factor: f64) -> Est {
        Est {
            min: scale(self.min, factor),
            max: scale(self.max, factor),
        }
    }

    pub(crate) fn union(self, other: Est) -> Est {
        Est {
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }
}

fn scale(value: u64, factor: f64) -> u64 {
    let x = value as f64;
    // u64::MAX as f64 is 2^64, the bound cel-go checks against.
    let limit = u64::MAX as f64;
    if x > 0.0 && factor > 0.0 && x > limit / factor {
        return u64::MAX;
    }
    let product = (x * factor).ceil();
    if product >= limit {
        u64::MAX
    } else {
        product as u64
    }
}

/// The sizes of a container's keys (or indices) and values, when known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Entry {
    pub(crate) list: bool,
    pub(crate) key: Est,
    pub(crate) value: Est,
}

impl Entry {
    pub(crate) fn union(a: Option<Entry>, b: Option<Entry>) -> Option<Entry> {
        let (a, b) = (a?, b?);
        Some(Entry {
            list: a.list,
            key: a.key.union(b.key),
            value: a.value.union(b.value),
        })
    }
}

/// A CEL type, as far as cost estimation needs it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty<'d> {
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Duration,
    Timestamp,
    Null,
    Dyn,
    Type,
    /// Library types (quantity, URL, IP, ...): opaque to the estimator.
    Opaque,
    List(Box<Ty<'d>>),
    Map(Box<Ty<'d>>, Box<Ty<'d>>),
    Object(&'d Decl),
    Optional(Box<Ty<'d>>),
}

impl<'d> Ty<'d> {
    pub(crate) fn of(decl: &'d Decl) -> Ty<'d> {
        match &decl.kind {
            Kind::Bool => Ty::Bool,
            Kind::Int => Ty::Int,
            Kind::Double => Ty::Double,
            Kind::String => Ty::String,
            Kind::Bytes => Ty::Bytes,
            Kind::Duration => Ty::Duration,
            Kind::Timestamp => Ty::Timestamp,
            Kind::Dyn => Ty::Dyn,
            Kind::List(item) => Ty::List(Box::new(Ty::of(item))),
            Kind::Map(value) => Ty::Map(Box::new(Ty::String), Box::new(Ty::of(value))),
            Kind::Object(_) => Ty::Object(decl),
        }
    }

    /// Types whose values have a size known without looking (cel-go's `isScalar`).
    pub(crate) fn is_scalar(&self) -> bool {
        match self {
            Ty::Bool | Ty::Double | Ty::Duration | Ty::Int | Ty::Timestamp | Ty::Uint => true,
            Ty::Optional(inner) => inner.is_scalar(),
            _ => false,
        }
    }

    /// The element type of a list, the key type of a map (what a comprehension iterates).
    pub(crate) fn iterated(&self) -> Ty<'d> {
        match self {
            Ty::List(item) => (**item).clone(),
            Ty::Map(key, _) => (**key).clone(),
            _ => Ty::Dyn,
        }
    }

    /// The value type reached by indexing.
    pub(crate) fn element(&self) -> Ty<'d> {
        match self {
            Ty::List(item) | Ty::Map(_, item) => (**item).clone(),
            _ => Ty::Dyn,
        }
    }

    /// The type of a field selected on a value of this type.
    pub(crate) fn field(&self, name: &str) -> Ty<'d> {
        match self {
            Ty::Object(decl) => match &decl.kind {
                Kind::Object(fields) => fields.get(name).map_or(Ty::Dyn, Ty::of),
                _ => Ty::Dyn,
            },
            Ty::Map(_, value) => (**value).clone(),
            _ => Ty::Dyn,
        }
    }

    /// Whether a select on this type reads a field (and costs one more).
    pub(crate) fn has_fields(&self) -> bool {
        matches!(self, Ty::Object(_) | Ty::Map(..))
    }

    /// Whether a value of this type may be of the type `want` (dyn may be anything).
    pub(crate) fn may_be(&self, want: fn(&Ty<'d>) -> bool) -> bool {
        matches!(self, Ty::Dyn) || want(self)
    }
}
