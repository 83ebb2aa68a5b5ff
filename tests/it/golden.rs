//! Every golden case of `tests/fixtures/golden` (computed by DaCapo, or by the numpy
//! reference where the spec deviates), read over HTTP from a real server on a loopback
//! port and compared exactly: metadata equals `expected.json`, the ROI equals
//! `expected.npy`, and reading the same ROI as small unaligned tiles gives the same
//! voxels.

use crate::support::TestServer;
use crate::support::golden_cases::{case_dirs, run_case};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_golden_case_matches_over_http() {
    let mut failures = Vec::new();
    for dir in case_dirs() {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let run = tokio::spawn(async move {
            let server = TestServer::golden().await;
            run_case(&dir, &server, &str::to_owned).await;
        });
        if let Err(e) = run.await {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
