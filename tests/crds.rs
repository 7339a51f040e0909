//! The CRDs under `crds/` are generated from the Rust types; this fails when they drift.
//! Regenerate with `cargo run -q -p serin -- crd > crds/serin.yaml`.

#[test]
fn committed_crds_match_the_types() {
    let generated = serin::api::crds_yaml().expect("render CRDs");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/serin.yaml");
    let committed = std::fs::read_to_string(path).expect("crds/serin.yaml");
    assert!(
        committed == generated,
        "crds/serin.yaml is out of date: run `cargo run -q -p serin -- crd > crds/serin.yaml`"
    );
}
