//! The words serin writes for people and tools to match on: condition types and statuses,
//! and event reasons. They are part of the API as much as the fields are, so they live in
//! one place; the README's events table is checked against [`reasons::ALL`].

/// Condition types and statuses.
pub mod conditions {
    /// Flagger's condition: True once promoted (Initialized, Succeeded), False when failed.
    pub const PROMOTED: &str = "Promoted";
    /// serin's condition: False while the spec has fields serin does not implement.
    pub const SUPPORTED: &str = "Supported";
    /// serin's condition: False while the spec is invalid in a way the schema cannot check.
    pub const VALID: &str = "Valid";
    /// serin's condition: False while a parent (Gateway or mesh) has not accepted the route.
    pub const ROUTE_ACCEPTED: &str = "RouteAccepted";
    /// serin's condition: False while reconciling this Canary fails inside serin (a
    /// panic, caught); removed by the next reconcile that completes.
    pub const RECONCILED: &str = "Reconciled";

    /// Condition statuses, as Kubernetes spells them.
    pub const TRUE: &str = "True";
    pub const FALSE: &str = "False";
    pub const UNKNOWN: &str = "Unknown";
}

/// Reasons of the events serin publishes on a Canary.
pub mod reasons {
    pub const INITIALIZED: &str = "Initialized";
    pub const PRIMARY_NOT_READY: &str = "PrimaryNotReady";
    pub const NEW_REVISION: &str = "NewRevision";
    pub const RESTART_ANALYSIS: &str = "RestartAnalysis";
    pub const REVERTED: &str = "Reverted";
    pub const START_ANALYSIS: &str = "StartAnalysis";
    pub const ADVANCE: &str = "Advance";
    pub const HALT: &str = "Halt";
    pub const ROLLBACK: &str = "RollBack";
    pub const FAILED: &str = "Failed";
    pub const PROMOTE: &str = "Promote";
    pub const ROUTE_PRIMARY: &str = "RoutePrimary";
    /// Blue/green: all traffic moved to the canary before promotion.
    pub const ROUTE_CANARY: &str = "RouteCanary";
    pub const SUCCEEDED: &str = "Succeeded";
    pub const PROMOTION_FAILED: &str = "PromotionFailed";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const TARGET_NOT_FOUND: &str = "TargetNotFound";
    /// The autoscaler `autoscalerRef` names does not exist; replicas stay fixed.
    pub const AUTOSCALER_NOT_FOUND: &str = "AutoscalerNotFound";
    /// The target exists but serin cannot manage it (e.g. its selector has no matchLabels).
    pub const INVALID_TARGET: &str = "InvalidTarget";
    pub const UNSUPPORTED_FIELDS: &str = "UnsupportedFields";
    /// A stored Canary serin cannot decode (e.g. a value written by an older server).
    pub const INVALID_OBJECT: &str = "InvalidObject";
    pub const TERMINATING: &str = "Terminating";
    pub const TERMINATED: &str = "Terminated";
    /// The router's route is not accepted by its parent: the run holds its weight.
    pub const ROUTE_NOT_ACCEPTED: &str = "RouteNotAccepted";
    /// A gate (`confirm-*`) is closed; the Canary holds where it is.
    pub const WAITING: &str = "Waiting";
    /// A webhook did not answer 200-202 (name, HTTP status and answer in the message).
    pub const WEBHOOK_FAILED: &str = "WebhookFailed";
    /// serin panicked while reconciling this Canary; caught, retried with backoff.
    pub const RECONCILE_PANICKED: &str = "ReconcilePanicked";
    /// The API server refused one of serin's writes (its message is in the event).
    pub const WRITE_REFUSED: &str = "WriteRefused";

    /// serin's evidence checks: a step held for want of canary requests (once), an
    /// observe-mode check that did not pass, the judge's early promotion.
    pub const EVIDENCE: &str = "Evidence";

    /// Every reason, for the README check.
    pub const ALL: &[&str] = &[
        INITIALIZED,
        PRIMARY_NOT_READY,
        NEW_REVISION,
        RESTART_ANALYSIS,
        REVERTED,
        START_ANALYSIS,
        ADVANCE,
        HALT,
        ROLLBACK,
        FAILED,
        PROMOTE,
        ROUTE_PRIMARY,
        ROUTE_CANARY,
        SUCCEEDED,
        PROMOTION_FAILED,
        WAITING,
        WEBHOOK_FAILED,
        INVALID_SPEC,
        TARGET_NOT_FOUND,
        AUTOSCALER_NOT_FOUND,
        INVALID_TARGET,
        UNSUPPORTED_FIELDS,
        INVALID_OBJECT,
        TERMINATING,
        TERMINATED,
        ROUTE_NOT_ACCEPTED,
        RECONCILE_PANICKED,
        WRITE_REFUSED,
        EVIDENCE,
    ];
}

#[cfg(test)]
mod tests {
    /// The README's events table lists every reason serin publishes, and no other.
    #[test]
    fn the_readme_events_table_matches_the_reasons() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("### Events")
            .expect("README has an events section");
        let table: Vec<&str> = readme[start..]
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .collect();
        let mut listed: Vec<&str> = table
            .iter()
            .filter_map(|row| row.split('|').nth(2))
            .flat_map(|cell| cell.split(','))
            .map(|r| r.trim().trim_matches('`'))
            .filter(|r| !r.is_empty() && *r != "reason" && !r.starts_with('-'))
            .collect();
        listed.sort_unstable();
        let mut known = super::reasons::ALL.to_vec();
        known.sort_unstable();
        assert_eq!(listed, known, "README events table vs api::reasons::ALL");
    }
}
