//! Writes in flight. After serin writes an object, its own status write often wakes the
//! next reconcile before the watch has delivered that object's new version; converge would
//! then see the old version and send the same write again. This remembers, per object,
//! the last write and the cached resourceVersion it was made against: the same write is
//! skipped until the cache moves past that version.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub(super) struct Pending {
    writes: Mutex<HashMap<String, (String, String)>>,
}

impl Pending {
    /// Whether `fingerprint` must be written to `key`, whose cached version is `cached_rv`.
    pub(super) fn needed(&self, key: &str, fingerprint: &str, cached_rv: Option<&str>) -> bool {
        let Ok(writes) = self.writes.lock() else {
            return true;
        };
        match (writes.get(key), cached_rv) {
            (Some((fp, rv)), Some(cached)) => !(fp == fingerprint && rv == cached),
            _ => true,
        }
    }

    /// Records a write of `fingerprint` made while the cache held `cached_rv`.
    pub(super) fn wrote(&self, key: &str, fingerprint: &str, cached_rv: Option<&str>) {
        if let (Ok(mut writes), Some(rv)) = (self.writes.lock(), cached_rv) {
            writes.insert(key.to_string(), (fingerprint.to_string(), rv.to_string()));
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
}
