//! Writes in flight. After serin writes an object, its own status write often wakes the
//! next reconcile before the watch has delivered that object's new version; converge would
//! then see the old version and send the same write again. This remembers, per object,
//! the last write and the cached resourceVersion it was made against: the same write is
//! skipped until the cache moves past that version. A write that creates the object (the
//! cache has none yet) is skipped likewise until the cache holds it, for at most
//! [`CREATE_WAIT`], so an object deleted right after is still created again.
//!
//! The Canary's own status is the same case from the other side: serin's status write
//! wakes nothing faster than its converge does (a primary patch, a routing patch), so the
//! next reconcile may read the Canary from a cache that has not seen that write yet. A
//! decision made on it is a decision on the old status, and its write, carrying the old
//! resourceVersion, is refused with 409 Conflict. [`Pending::status_wrote`] remembers the
//! version the last status write was made against; while the cache still holds it,
//! [`Pending::status_stale`] says so and the reconcile waits for the watch event (which
//! wakes the Canary) instead of deciding.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the same creating write waits for the cache to see the object.
const CREATE_WAIT: Duration = Duration::from_secs(30);

/// How long a reconcile waits for the cache to see serin's own status write before it
/// decides anyway (the watch event was lost; the write may then meet a 409 and retry).
const STATUS_WAIT: Duration = Duration::from_secs(10);

/// How often the memory is swept of entries nothing will ask about again (objects and
/// Canaries deleted meanwhile): its size stays that of the writes of the last minutes.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Object writes older than this are forgotten: their cache has long caught up (or the
/// object is gone); forgetting one costs at most one repeated write.
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// One write: the fingerprint written, the cached version it was written against (none:
/// it created the object) and when.
type Write = (String, Option<String>, Instant);

/// Status writes the cache has not seen: the Canary's resourceVersions they replaced
/// (one per write, when serin writes twice before the cache catches up), the version the
/// last one returned, and when.
type StatusWrite = (Vec<String>, String, Instant);

#[derive(Default)]
pub(super) struct Pending {
    writes: Mutex<HashMap<String, Write>>,
    /// Serin's last status write of each Canary (by namespace/name) the cache may not
    /// have seen yet.
    status: Mutex<HashMap<String, StatusWrite>>,
    swept: Sweeps,
}

/// When a memory was last swept, so sweeps happen at most once per period.
#[derive(Default)]
pub(super) struct Sweeps(pub(super) Mutex<Option<Instant>>);

impl Sweeps {
    /// Whether a sweep is due, `every` after the last one; if so, it counts as done now.
    pub(super) fn due(&self, every: Duration) -> bool {
        let Ok(mut swept) = self.0.lock() else {
            return false;
        };
        if swept.is_some_and(|at| at.elapsed() < every) {
            return false;
        }
        *swept = Some(Instant::now());
        true
    }
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
        self.sweep();
    }

    /// Whether the cached Canary `key` (at `cached_rv`) is still the version serin's last
    /// status write replaced: a decision on it would be made on the old status.
    pub(super) fn status_stale(&self, key: &str, cached_rv: Option<&str>) -> bool {
        let Ok(mut status) = self.status.lock() else {
            return false;
        };
        let Some((against, _, at)) = status.get(key) else {
            return false;
        };
        if cached_rv.is_some_and(|rv| against.iter().any(|a| a == rv)) && at.elapsed() < STATUS_WAIT
        {
            return true;
        }
        // The cache moved past the write (or waiting is over): nothing to remember.
        status.remove(key);
        false
    }

    /// Records a status write of the Canary `key` made against `against` (the cached
    /// resourceVersion it carried) that returned `returned`.
    pub(super) fn status_wrote(&self, key: &str, against: Option<&str>, returned: Option<&str>) {
        let (Some(against), Ok(mut status)) = (against, self.status.lock()) else {
            return;
        };
        // A write that follows one the cache has not seen yet: the version that one
        // returned is now stale too.
        let mut replaced = match status.remove(key) {
            Some((mut replaced, previous, at)) if at.elapsed() < STATUS_WAIT => {
                replaced.push(previous);
                replaced
            }
            _ => Vec::new(),
        };
        replaced.push(against.to_string());
        replaced.dedup();
        let entry = (
            replaced,
            returned.unwrap_or_default().to_string(),
            Instant::now(),
        );
        status.insert(key.to_string(), entry);
        drop(status);
        self.sweep();
    }

    /// Forgets, at most once per [`SWEEP_EVERY`], what nothing will ask about again.
    fn sweep(&self) {
        if !self.swept.due(SWEEP_EVERY) {
            return;
        }
        if let Ok(mut status) = self.status.lock() {
            status.retain(|_, (_, _, at)| at.elapsed() < STATUS_WAIT);
        }
        if let Ok(mut writes) = self.writes.lock() {
            writes.retain(|_, (_, _, at)| at.elapsed() < FORGET_AFTER);
        }
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        (
            self.writes.lock().map(|m| m.len()).unwrap_or(0),
            self.status.lock().map(|m| m.len()).unwrap_or(0),
        )
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
    fn a_reconcile_waits_for_the_cache_to_see_its_own_status_write() {
        let p = Pending::default();
        assert!(!p.status_stale("ns/a", Some("5")), "nothing written yet");
        p.status_wrote("ns/a", Some("5"), Some("9"));
        assert!(
            p.status_stale("ns/a", Some("5")),
            "cache still before the write"
        );
        assert!(
            p.status_stale("ns/a", Some("5")),
            "and again, until it moves"
        );
        assert!(!p.status_stale("ns/b", Some("5")), "another Canary decides");
        assert!(
            !p.status_stale("ns/a", Some("9")),
            "the cache saw the write"
        );
        assert_eq!(p.len().1, 0, "forgotten once seen");
        p.status_wrote("ns/a", Some("9"), Some("12"));
        assert!(!p.status_stale("ns/a", Some("14")), "moved past it");
        assert_eq!(p.len().1, 0);
        p.status_wrote("ns/a", None, None);
        assert_eq!(p.len().1, 0, "no version, nothing to wait for");
    }

    #[test]
    fn two_writes_before_the_cache_catches_up_make_both_versions_stale() {
        let p = Pending::default();
        p.status_wrote("ns/a", Some("5"), Some("9"));
        // A second write (a condition merged after a failed converge) on top of the first.
        p.status_wrote("ns/a", Some("5"), Some("11"));
        assert!(p.status_stale("ns/a", Some("5")), "before both writes");
        assert!(
            p.status_stale("ns/a", Some("9")),
            "saw only the first write"
        );
        assert!(!p.status_stale("ns/a", Some("11")), "saw both");
    }

    #[test]
    fn old_entries_are_swept() {
        let p = Pending::default();
        p.wrote("vs/a", "w20", Some("5"));
        p.status_wrote("ns/a", Some("5"), Some("6"));
        // Pretend they were made long ago, and the last sweep too.
        let long_ago = Instant::now()
            .checked_sub(FORGET_AFTER + SWEEP_EVERY)
            .expect("an instant eleven minutes ago");
        for (_, (_, _, at)) in p.writes.lock().unwrap().iter_mut() {
            *at = long_ago;
        }
        for (_, (_, _, at)) in p.status.lock().unwrap().iter_mut() {
            *at = long_ago;
        }
        *p.swept.0.lock().unwrap() = Some(long_ago);
        p.wrote("vs/b", "w20", Some("1"));
        assert_eq!(p.len(), (1, 0));
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
