//! The pure model of one Deployment's rollout, as the deployment controller
//! and the kubelets of a real cluster would report it.
//!
//! [`Track`] remembers what the stand-in has "started" for a Deployment: which
//! pod template is current, since when, and how many pods of which revision
//! are ready. [`Track::status`] turns that memory into the Deployment status a
//! real cluster would show at a given instant. Nothing here does IO or reads
//! the clock: the caller passes `now`.
//!
//! The model follows the Kubernetes deployment controller (`calculateStatus`
//! and `syncRolloutStatus`): pods of a new template are created at once and
//! become ready after the configured delay; the previous revision's ready pods
//! stay until then, so a revision that never becomes ready leaves the old pods
//! serving, as a rolling update does.

use std::time::Duration;

use tokio::time::Instant;

/// What the stand-in needs to know about a Deployment's spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub name: String,
    pub generation: i64,
    pub replicas: i32,
    /// Hash of the pod template, like the `pod-template-hash` label.
    pub revision: String,
    /// The template says its pods never become ready (a crashlooping image).
    pub never_ready: bool,
    /// At most this many pods become ready (the others fail their readiness probe):
    /// the annotation [`super::READY_REPLICAS_ANNOTATION`]. None: all of them.
    pub ready_cap: Option<i32>,
    pub progress_deadline: Duration,
    /// Resolved `maxUnavailable` of the rolling update strategy.
    pub max_unavailable: i32,
}

/// Counts and conditions of a Deployment status, without timestamps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub observed_generation: i64,
    pub replicas: i32,
    pub updated_replicas: i32,
    pub ready_replicas: i32,
    pub available_replicas: i32,
    pub unavailable_replicas: i32,
    pub conditions: Vec<Condition>,
}

/// A Deployment condition without its timestamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub type_: &'static str,
    pub status: &'static str,
    pub reason: &'static str,
    pub message: String,
}

/// The stand-in's memory of one Deployment.
#[derive(Clone, Debug)]
pub struct Track {
    revision: String,
    replicas: i32,
    /// Last change of the template or the replica count: readiness delays and
    /// the progress deadline count from here.
    changed_at: Instant,
    /// Revision whose pods are ready, and how many of them are.
    ready_revision: Option<String>,
    ready: i32,
}

impl Track {
    /// Starts tracking a Deployment first seen at `now`. When its status
    /// already shows this very revision complete (the stand-in restarted), it
    /// is taken as ready instead of being rolled out again.
    pub fn new(spec: &Spec, already_complete: bool, now: Instant) -> Self {
        let ready = already_complete.then(|| spec.revision.clone());
        Self {
            revision: spec.revision.clone(),
            replicas: spec.replicas,
            changed_at: now,
            ready: if already_complete { spec.replicas } else { 0 },
            ready_revision: ready,
        }
    }

    /// Takes in the current spec: a new template starts a rollout, a new
    /// replica count a scale.
    pub fn observe(&mut self, spec: &Spec, now: Instant) {
        if spec.revision != self.revision {
            self.revision = spec.revision.clone();
            self.replicas = spec.replicas;
            self.changed_at = now;
        } else if spec.replicas != self.replicas {
            self.replicas = spec.replicas;
            self.changed_at = now;
        }
        if self.current_is_ready() && self.ready > spec.ready_target() {
            // Scaling down removes pods at once; a lowered cap fails their probes at once.
            self.ready = spec.ready_target();
        }
    }

    /// Marks the current revision's pods ready once the delay has passed.
    pub fn settle(&mut self, spec: &Spec, delay: Duration, now: Instant) {
        // Zero replicas is complete at once: there is no pod to wait for.
        let due = spec.replicas == 0 || (now >= self.changed_at + delay && !spec.never_ready);
        if due {
            self.ready_revision = Some(self.revision.clone());
            self.ready = spec.ready_target();
        }
    }

    fn current_is_ready(&self) -> bool {
        self.ready_revision.as_deref() == Some(self.revision.as_str())
    }

    /// When the status will change next without a spec change: the end of the
    /// readiness delay, or the progress deadline of a never-ready revision.
    pub fn next_change(&self, spec: &Spec, delay: Duration, now: Instant) -> Option<Instant> {
        let settled = self.current_is_ready() && self.ready == spec.ready_target();
        let at = if settled && self.ready == spec.replicas {
            return None;
        } else if settled || spec.never_ready {
            // Some pods never get ready: the rollout times out at its deadline.
            self.changed_at + spec.progress_deadline
        } else {
            self.changed_at + delay
        };
        (at > now).then_some(at)
    }

    /// The status a real cluster would show for `spec` at `now`.
    pub fn status(&self, spec: &Spec, now: Instant) -> Status {
        let (new_ready, old_ready) = if self.current_is_ready() {
            (self.ready.min(spec.replicas), 0)
        } else {
            (0, self.ready)
        };
        let replicas = old_ready + spec.replicas;
        let available = old_ready + new_ready;
        let complete = old_ready == 0 && new_ready == spec.replicas;
        let timed_out = !complete && now >= self.changed_at + spec.progress_deadline;
        let min_available = spec.replicas - spec.max_unavailable;
        Status {
            observed_generation: spec.generation,
            replicas,
            updated_replicas: spec.replicas,
            ready_replicas: available,
            available_replicas: available,
            unavailable_replicas: (replicas - available).max(0),
            conditions: vec![
                available_condition(available >= min_available),
                progressing_condition(&spec.replica_set_name(), complete, timed_out),
            ],
        }
    }
}

impl Spec {
    /// How many of the current revision's pods become ready.
    pub fn ready_target(&self) -> i32 {
        self.ready_cap
            .map_or(self.replicas, |cap| cap.clamp(0, self.replicas))
    }

    /// Name of the ReplicaSet a real controller would create for this revision.
    pub fn replica_set_name(&self) -> String {
        format!("{}-{}", self.name, self.revision)
    }
}

fn available_condition(available: bool) -> Condition {
    let (status, reason, message) = if available {
        (
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        (
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    };
    Condition {
        type_: "Available",
        status,
        reason,
        message: message.to_owned(),
    }
}

fn progressing_condition(replica_set: &str, complete: bool, timed_out: bool) -> Condition {
    let (status, reason, message) = if complete {
        (
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{replica_set}\" has successfully progressed."),
        )
    } else if timed_out {
        (
            "False",
            "ProgressDeadlineExceeded",
            format!("ReplicaSet \"{replica_set}\" has timed out progressing."),
        )
    } else {
        (
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{replica_set}\" is progressing."),
        )
    };
    Condition {
        type_: "Progressing",
        status,
        reason,
        message,
    }
}

/// Resolves `maxUnavailable` like the deployment controller: percentages
/// round down, `maxSurge` rounds up, both zero means one, `Recreate` and zero
/// replicas mean zero.
pub fn max_unavailable(
    rolling: bool,
    replicas: i32,
    max_unavailable: Option<&str>,
    max_surge: Option<&str>,
) -> i32 {
    if !rolling || replicas == 0 {
        return 0;
    }
    let unavailable = resolve(max_unavailable.unwrap_or("25%"), replicas, false);
    let surge = resolve(max_surge.unwrap_or("25%"), replicas, true);
    let unavailable = if unavailable == 0 && surge == 0 {
        1
    } else {
        unavailable
    };
    unavailable.clamp(0, replicas)
}

fn resolve(value: &str, replicas: i32, round_up: bool) -> i32 {
    match value.strip_suffix('%') {
        Some(pct) => {
            let scaled =
                f64::from(pct.trim().parse::<i32>().unwrap_or(25)) * f64::from(replicas) / 100.0;
            (if round_up {
                scaled.ceil()
            } else {
                scaled.floor()
            }) as i32
        }
        None => value.trim().parse().unwrap_or(0),
    }
}

#[cfg(test)]
#[path = "rollout_tests.rs"]
mod tests;
