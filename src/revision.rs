//! Deterministic revision hashes of pod templates.
//!
//! A revision is the target's pod template and nothing else: a replica change is not a new
//! revision. Equal templates always hash equal (JSON objects serialise with sorted keys), so
//! re-applying an unchanged spec never restarts the primary, unlike a random id.

use serde::Serialize;

/// FNV-1a, 64 bits: stable across Rust versions and platforms (the standard library's
/// hasher is not), and plenty for telling revisions apart.
fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

/// The revision hash of a pod template (or any serialisable value), as 16 hex digits.
pub fn revision_hash<T: Serialize>(template: &T) -> String {
    // serde_json::Value keeps object keys sorted (no preserve_order feature), so going
    // through a Value makes the bytes independent of field order in the source.
    let value = serde_json::to_value(template).unwrap_or(serde_json::Value::Null);
    let bytes = serde_json::to_vec(&value).unwrap_or_default();
    format!("{:016x}", fnv1a64(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_templates_hash_equal_whatever_the_key_order() {
        let a = json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}});
        let b: serde_json::Value = serde_json::from_str(
            r#"{"spec": {"containers": [{"image": "i:1", "name": "c"}]}, "metadata": {"labels": {"app": "x"}}}"#,
        )
        .unwrap();
        assert_eq!(revision_hash(&a), revision_hash(&b));
    }

    #[test]
    fn a_new_image_is_a_new_revision() {
        let a = json!({"spec": {"containers": [{"name": "c", "image": "i:1"}]}});
        let b = json!({"spec": {"containers": [{"name": "c", "image": "i:2"}]}});
        assert_ne!(revision_hash(&a), revision_hash(&b));
    }

    #[test]
    fn hash_is_stable() {
        // Pinned: a change here restarts every primary after an upgrade of serin.
        assert_eq!(revision_hash(&json!({"a": 1})), "9c3e82dd6fcae8b1");
    }
}
