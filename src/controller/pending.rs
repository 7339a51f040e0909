//! Writes in flight. After serin writes an object, its own status write often wakes the
//! next reconcile before the watch has delivered that object's new version; converge would
//! then see the old version and send the same write again. This remembers, per object,
//! the last write and the cached resourceVersion it was made against: the same write is
//! skipped until the cache moves past that version. A write that creates the object (the
//! cache has none yet) is skipped likewise until the cache holds it, for at most
//! [`CREATE_WAIT`], so an object deleted right after is still created again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the same creating write waits for the cache to see the object.
const CREATE_WAIT: Duration = Duration::from_secs(30);

/// One write: the fingerprint written, the cached version it was written against (none:
/// it created the object) and when.
type Write = (String, Option<String>, Instant);

#[derive(Default)]
pub(super) struct Pending {
    writes: Mutex<HashMap<String, Write>>,
}

impl Pending {
    /// Whether `fingerprint` must be written to `key`, whose cached version is `cached_rv`.
    pub(super) fn needed(&self, key: &str, fingerprint: &str, cached_rv: Option<&str>) -> bool {
        let Ok(mut writes) = self.writes.lock() else {
            return true;
        };
        match (writes.get(key), cached_rv) {
            (Some((fp, Some(rv), _)), Some(cached)) => !(fp == fingerprint && rv == cached),
            (Some((fp, None, at)), None) => !(fp == fingerprint && at.elapsed() < CREATE_WAIT),
            (Some((_, None, _)), Some(_)) => {
                // The cache holds the created object: forget the creation, so a later
                // deletion is repaired at once.
                writes.remove(key);
                true
            }
            _ => true,
        }
    }

    /// Records a write of `fingerprint` made while the cache held `cached_rv`.
    pub(super) fn wrote(&self, key: &str, fingerprint: &str, cached_rv: Option<&str>) {
        if let Ok(mut writes) = self.writes.lock() {
            let entry = (
                fingerprint.to_string(),
                cached_rv.map(str::to_string),
                Instant::now(),
            );
            writes.insert(key.to_string(), entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_write_waits_for_the_cache() {
        let p = Pending::default();
        assert!(p.needed("vs/a", "w20", Some("5")));
        p.wrote("vs/a", "w20", Some("5"));
        assert!(
            !p.needed("vs/a", "w20", Some("5")),
            "cache not caught up: skip"
        );
        assert!(
            p.needed("vs/a", "w40", Some("5")),
            "a different write goes out"
        );
        assert!(
            p.needed("vs/a", "w20", Some("6")),
            "the cache moved: judge again"
        );
    }

    #[test]
    fn a_creation_waits_for_the_cache_to_hold_the_object() {
        let p = Pending::default();
        assert!(p.needed("svc/a", "h1", None));
        p.wrote("svc/a", "h1", None);
        assert!(!p.needed("svc/a", "h1", None), "not cached yet: skip");
        assert!(p.needed("svc/a", "h2", None), "a different write goes out");
        assert!(p.needed("svc/a", "h1", Some("7")), "cached: judge again");
        assert!(
            p.needed("svc/a", "h1", None),
            "deleted after the cache saw it: create again"
        );
    }
}
