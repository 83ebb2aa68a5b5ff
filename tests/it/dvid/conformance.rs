//! The conformance harness (`support::conformance`) over DVID sources: grayscale (with
//! extents beyond its data) and labelmap (with a block never stored) against the fake.

use serde_json::json;

use super::seed::*;
use crate::support::conformance::{Names, conform, env};

#[tokio::test]
async fn dvid_sources_conform() {
    let fake = seeded_fake().await;
    let root = tempfile::tempdir().unwrap();
    let env = env(root.path());
    let mut total = 0;
    for (i, instance) in ["grayscale", "labels", "labelarr"].into_iter().enumerate() {
        let config =
            json!({"type": "dvid", "name": instance, "source": [fake.url(), ROOT, instance]});
        let array = crate::support::conformance::open(&config, &env, &Names::default()).await;
        assert_eq!(array.meta().type_name, "dvid");
        let tally = conform(&format!("dvid {instance}"), &array, 0x5eed ^ i as u64).await;
        assert!(
            tally.assertions >= 9,
            "{instance}: only {} assertions",
            tally.assertions
        );
        total += tally.assertions;
    }
    eprintln!("dvid: 3 cases, {total} assertions");
}
