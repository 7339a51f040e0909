//! Checked time arithmetic for the decision.
//!
//! Times come from status (which anyone with write access can set to any date chrono can
//! parse) and durations from the spec: `DateTime + Duration` panics when the sum leaves
//! chrono's range, and a panic in the decision is a panic on every retry. Every sum goes
//! through [`after`], which saturates at the far future instead: "not due yet" is the safe
//! reading of a deadline that cannot be represented.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// `t + d`, or the latest representable time when the sum overflows.
pub(super) fn after(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_in_range_are_exact() {
        let t = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(after(t, Duration::from_secs(60)).timestamp(), 60);
    }

    #[test]
    fn overflowing_sums_saturate_instead_of_panicking() {
        let max = DateTime::<Utc>::MAX_UTC;
        assert_eq!(after(max, Duration::from_secs(1)), max);
        assert_eq!(after(DateTime::<Utc>::UNIX_EPOCH, Duration::MAX), max);
        assert_eq!(after(DateTime::<Utc>::MIN_UTC, Duration::MAX), max);
    }
}
