//! Flagger-style durations (`30s`, `1m`, `1m30s`, `500ms`, `2h`).
//!
//! The CRD schema refuses malformed values at apply time with [`DURATION_PATTERN`] (a test
//! checks that every duration field of the generated schema carries exactly it); this
//! parser is the runtime side and reports the same values as errors, never panics.

use std::time::Duration;

/// Pattern the CRD schema enforces on every duration field.
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";

/// Longest duration text the schema accepts; with the pattern this keeps CEL's cost
/// estimate for the rule below small, and no real interval needs more characters.
pub const DURATION_MAX_LENGTH: u32 = 32;

/// Largest interval (analysis step or metric window) serin accepts. A day is longer than
/// any sensible step; the bound keeps every time computation far from overflow.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// The same bound in the CRD schema, as a CEL rule (`duration()` parses Go durations,
/// which the pattern's values are).
pub const MAX_INTERVAL_RULE: &str = "duration(self) <= duration('24h')";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid duration {0:?}: expected a number with a unit (ms, s, m, h), e.g. 30s or 1m30s")]
pub struct DurationError(pub String);

/// Parses `1m30s`-style durations.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(text.to_string());
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(err());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if digits == 0 {
            return Err(err());
        }
        let number: f64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let (unit_secs, len) = if rest.starts_with("ms") {
            (0.001, 2)
        } else if rest.starts_with('s') {
            (1.0, 1)
        } else if rest.starts_with('m') {
            (60.0, 1)
        } else if rest.starts_with('h') {
            (3600.0, 1)
        } else {
            return Err(err());
        };
        total += number * unit_secs;
        rest = &rest[len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| err())
}

/// Formats a duration the way Go prints one (`1.5s`, `250ms`, `2m0s`), as Flagger's
/// messages do for request durations.
pub fn format_go(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1000.0 {
        return format!("{}ms", trim_float(ms));
    }
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        return format!("{}s", trim_float(secs));
    }
    let mins = (secs / 60.0).floor();
    format!("{}m{}s", mins, trim_float(secs - mins * 60.0))
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flagger_durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
    }

    #[test]
    fn refuses_malformed_durations() {
        for bad in ["", "10", "m", "1x", "-1s", "1 m", "s1"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_go(Duration::from_millis(500)), "500ms");
        assert_eq!(format_go(Duration::from_millis(1515)), "1.515s");
        assert_eq!(format_go(Duration::from_secs(90)), "1m30s");
    }

    /// Every `interval` of the generated CRDs is checked with this one pattern, so the
    /// schema and the parser cannot drift apart.
    #[test]
    fn the_schema_uses_the_duration_pattern() {
        fn intervals(v: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
            match v {
                serde_json::Value::Object(m) => {
                    if let Some(serde_json::Value::Object(props)) = m.get("properties")
                        && let Some(i) = props.get("interval")
                    {
                        out.push(i["pattern"].clone());
                    }
                    m.values().for_each(|c| intervals(c, out));
                }
                serde_json::Value::Array(a) => a.iter().for_each(|c| intervals(c, out)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        for crd in crate::api::crds() {
            intervals(&serde_json::to_value(crd).unwrap(), &mut found);
        }
        assert!(found.len() >= 2, "analysis and metric intervals: {found:?}");
        for pattern in found {
            assert_eq!(pattern, DURATION_PATTERN);
        }
    }
}
