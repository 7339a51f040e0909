//! A route its parent has not accepted holds the run, says why once, and lets it go on.

use super::*;

#[test]
fn a_route_not_accepted_holds_the_weight_and_says_why_once() {
    let mut c = Canary::initialized();
    c.step(Some(scaled_down("v2")), Some(ready("v1")), None, t(5));
    c.route_not_accepted =
        Some("parent gw did not accept the route: NotAllowedByListeners: no".into());
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(10));
    assert_eq!(
        d.status.canary_weight, 0,
        "no weight before the route is accepted"
    );
    assert_eq!(d.next, Next::At(t(70)));
    let cond = d.status.condition(conditions::ROUTE_ACCEPTED).unwrap();
    assert_eq!(cond.status, conditions::FALSE);
    assert!(
        cond.message.contains("NotAllowedByListeners"),
        "{}",
        cond.message
    );
    assert_eq!(d.events.len(), 1);
    assert!(d.events[0].warning);
    assert_eq!(d.events[0].reason, reasons::ROUTE_NOT_ACCEPTED);

    let again = c.step(Some(ready("v2")), Some(ready("v1")), None, t(70));
    assert!(again.events.is_empty(), "the same reason is not repeated");
    assert_eq!(again.status.canary_weight, 0);

    c.route_not_accepted = None;
    let d = c.step(Some(ready("v2")), Some(ready("v1")), None, t(80));
    assert_eq!(d.status.canary_weight, 10, "accepted: the run starts");
    assert!(d.status.condition(conditions::ROUTE_ACCEPTED).is_none());
}
