use super::*;

const DELAY: Duration = Duration::from_millis(300);

fn spec(revision: &str, replicas: i32) -> Spec {
    Spec {
        name: "app".into(),
        generation: 1,
        replicas,
        revision: revision.into(),
        never_ready: false,
        ready_cap: None,
        progress_deadline: Duration::from_secs(600),
        max_unavailable: max_unavailable(true, replicas, None, None),
    }
}

fn reason(status: &Status, type_: &str) -> (&'static str, &'static str) {
    let c = status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .expect("condition");
    (c.status, c.reason)
}

/// Runs the stand-in's steps for `spec` at `now` and returns the status.
fn step(track: &mut Track, spec: &Spec, now: Instant) -> Status {
    track.observe(spec, now);
    track.settle(spec, DELAY, now);
    track.status(spec, now)
}

#[test]
fn new_deployment_becomes_ready_after_the_delay() {
    let t0 = Instant::now();
    let s = spec("aaa", 2);
    let mut track = Track::new(&s, false, t0);
    let during = step(&mut track, &s, t0);
    assert_eq!(
        (
            during.replicas,
            during.updated_replicas,
            during.ready_replicas
        ),
        (2, 2, 0)
    );
    assert_eq!(during.unavailable_replicas, 2);
    assert_eq!(
        reason(&during, "Available"),
        ("False", "MinimumReplicasUnavailable")
    );
    assert_eq!(
        reason(&during, "Progressing"),
        ("True", "ReplicaSetUpdated")
    );
    assert_eq!(track.next_change(&s, DELAY, t0), Some(t0 + DELAY));

    let after = step(&mut track, &s, t0 + DELAY);
    assert_eq!(
        (
            after.replicas,
            after.ready_replicas,
            after.available_replicas
        ),
        (2, 2, 2)
    );
    assert_eq!(after.unavailable_replicas, 0);
    assert_eq!(
        reason(&after, "Available"),
        ("True", "MinimumReplicasAvailable")
    );
    assert_eq!(
        reason(&after, "Progressing"),
        ("True", "NewReplicaSetAvailable")
    );
    assert_eq!(track.next_change(&s, DELAY, t0 + DELAY), None);
}

#[test]
fn template_change_keeps_old_pods_until_new_ones_are_ready() {
    let t0 = Instant::now();
    let v1 = spec("aaa", 1);
    let mut track = Track::new(&v1, true, t0);
    let t1 = t0 + Duration::from_secs(5);
    let v2 = Spec {
        generation: 2,
        revision: "bbb".into(),
        ..v1.clone()
    };
    let during = step(&mut track, &v2, t1);
    assert_eq!(
        (
            during.replicas,
            during.updated_replicas,
            during.ready_replicas
        ),
        (2, 1, 1)
    );
    assert_eq!(during.observed_generation, 2);
    assert_eq!(
        reason(&during, "Progressing"),
        ("True", "ReplicaSetUpdated")
    );
    let after = step(&mut track, &v2, t1 + DELAY);
    assert_eq!(
        (after.replicas, after.updated_replicas, after.ready_replicas),
        (1, 1, 1)
    );
    assert_eq!(
        reason(&after, "Progressing"),
        ("True", "NewReplicaSetAvailable")
    );
    assert!(after.conditions[1].message.contains("app-bbb"));
}

#[test]
fn scale_up_waits_for_the_delay_and_scale_down_is_immediate() {
    let t0 = Instant::now();
    let mut track = Track::new(&spec("aaa", 1), true, t0);
    let three = spec("aaa", 3);
    let during = step(&mut track, &three, t0);
    assert_eq!(
        (
            during.replicas,
            during.ready_replicas,
            during.unavailable_replicas
        ),
        (3, 1, 2)
    );
    assert_eq!(step(&mut track, &three, t0 + DELAY).ready_replicas, 3);
    let zero = step(&mut track, &spec("aaa", 0), t0 + DELAY);
    assert_eq!((zero.replicas, zero.ready_replicas), (0, 0));
    assert_eq!(
        reason(&zero, "Available"),
        ("True", "MinimumReplicasAvailable")
    );
    assert_eq!(
        reason(&zero, "Progressing"),
        ("True", "NewReplicaSetAvailable")
    );
}

#[test]
fn never_ready_revision_exceeds_its_progress_deadline() {
    let t0 = Instant::now();
    let s = Spec {
        never_ready: true,
        progress_deadline: Duration::from_secs(5),
        ..spec("bad", 1)
    };
    let mut track = Track::new(&s, false, t0);
    let after_delay = step(&mut track, &s, t0 + DELAY * 2);
    assert_eq!(
        (after_delay.ready_replicas, after_delay.available_replicas),
        (0, 0)
    );
    assert_eq!(
        reason(&after_delay, "Available"),
        ("False", "MinimumReplicasUnavailable")
    );
    assert_eq!(
        reason(&after_delay, "Progressing"),
        ("True", "ReplicaSetUpdated")
    );
    assert_eq!(
        track.next_change(&s, DELAY, t0 + DELAY),
        Some(t0 + Duration::from_secs(5))
    );
    let late = step(&mut track, &s, t0 + Duration::from_secs(5));
    assert_eq!(
        reason(&late, "Progressing"),
        ("False", "ProgressDeadlineExceeded")
    );
    assert_eq!(
        track.next_change(&s, DELAY, t0 + Duration::from_secs(5)),
        None
    );
}

#[test]
fn a_ready_cap_leaves_the_other_pods_unready_and_can_be_raised() {
    let t0 = Instant::now();
    let s = Spec {
        ready_cap: Some(2),
        progress_deadline: Duration::from_secs(5),
        ..spec("part", 4)
    };
    let mut track = Track::new(&s, false, t0);
    let settled = step(&mut track, &s, t0 + DELAY);
    assert_eq!(
        (
            settled.replicas,
            settled.updated_replicas,
            settled.available_replicas,
            settled.unavailable_replicas
        ),
        (4, 4, 2, 2)
    );
    assert_eq!(
        reason(&settled, "Progressing"),
        ("True", "ReplicaSetUpdated")
    );
    // The rest never gets ready: the rollout times out like a real one.
    assert_eq!(
        track.next_change(&s, DELAY, t0 + DELAY),
        Some(t0 + Duration::from_secs(5))
    );
    let late = step(&mut track, &s, t0 + Duration::from_secs(5));
    assert_eq!(
        reason(&late, "Progressing"),
        ("False", "ProgressDeadlineExceeded")
    );
    // Lowering the cap fails pods at once; lifting it makes them all ready.
    let lower = Spec {
        ready_cap: Some(1),
        ..s.clone()
    };
    assert_eq!(
        step(&mut track, &lower, t0 + DELAY * 2).available_replicas,
        1
    );
    let all = Spec {
        ready_cap: None,
        ..s.clone()
    };
    let done = step(&mut track, &all, t0 + DELAY * 3);
    assert_eq!(done.available_replicas, 4);
    assert_eq!(
        reason(&done, "Progressing"),
        ("True", "NewReplicaSetAvailable")
    );
    assert_eq!(track.next_change(&all, DELAY, t0 + DELAY * 3), None);
}

#[test]
fn reverting_to_the_ready_revision_completes_at_once() {
    let t0 = Instant::now();
    let good = spec("aaa", 1);
    let mut track = Track::new(&good, true, t0);
    let bad = Spec {
        never_ready: true,
        ..spec("bad", 1)
    };
    assert_eq!(step(&mut track, &bad, t0).ready_replicas, 1);
    let back = step(&mut track, &good, t0 + Duration::from_millis(1));
    assert_eq!((back.replicas, back.ready_replicas), (1, 1));
    assert_eq!(
        reason(&back, "Progressing"),
        ("True", "NewReplicaSetAvailable")
    );
}

#[test]
fn max_unavailable_follows_the_deployment_controller() {
    assert_eq!(max_unavailable(true, 1, None, None), 0);
    assert_eq!(max_unavailable(true, 4, None, None), 1);
    assert_eq!(max_unavailable(true, 10, Some("50%"), None), 5);
    assert_eq!(max_unavailable(true, 3, Some("0"), Some("0")), 1);
    assert_eq!(max_unavailable(true, 3, Some("7"), None), 3);
    assert_eq!(max_unavailable(false, 3, Some("2"), None), 0);
}
