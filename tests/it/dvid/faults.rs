//! Upstream faults become problems — 500, a truncated or garbage body → 502, a timeout →
//! 504, connection refused or an open circuit → 503 — are never cached, and reads
//! succeed again once DVID recovers.

use std::time::{Duration, Instant};

use serde_json::json;

use super::seed::*;
use crate::support::fake_dvid::{Fault, Scope};
use crate::support::{assert_problem, metric};

/// Registers the grayscale instance as `g` with a 300 ms timeout.
async fn faulty_env() -> Env {
    let e = env().await;
    let mut c = e.config(ROOT, "grayscale");
    c["timeout_ms"] = json!(300);
    e.s.register("g", &c).await;
    e
}

/// A read under `fault` fails with `status`; after recovery the same read succeeds
/// and calls DVID again (the failure was not cached).
async fn fails_then_recovers(e: &Env, status: u16, needle: &str) {
    let (begin, shape) = ([40, 40, 40], [8, 8, 8]);
    let before = e.fake.count("raw");
    let body = assert_problem(e.roi_get("g", [8, 4, 4], begin, shape).await, status).await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(needle), "{needle} not in {detail}");
    assert!(detail.contains(&e.fake.url()), "{detail}");
    e.fake.clear_fault();
    let mid = e.fake.count("raw");
    let v = e.read("g", [8, 4, 4], begin, shape).await;
    assert_eq!(as_u64(&v), expected(begin, shape, gray_value));
    assert!(mid > before, "the failing read called DVID");
    assert!(e.fake.count("raw") > mid, "the failure was not cached");
}

#[tokio::test]
async fn upstream_500_is_502() {
    let e = faulty_env().await;
    e.fake.set_fault(Scope::Data, Fault::Status(500));
    fails_then_recovers(&e, 502, "answered HTTP 500: Panic detected").await;
    assert_eq!(
        e.fake.count("raw"),
        4,
        "three attempts, then one after recovery"
    );
}

#[tokio::test]
async fn upstream_timeout_is_504() {
    let e = faulty_env().await;
    e.fake
        .set_fault(Scope::Data, Fault::Delay(Duration::from_secs(5)));
    let start = Instant::now();
    fails_then_recovers(&e, 504, "did not answer within 300 ms").await;
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    let text = e.s.get("/metrics").await.text().await.unwrap();
    assert_eq!(
        metric(
            &text,
            "arrayd_upstream_requests_total",
            "outcome=\"timeout\""
        ),
        3.0
    );
}

#[tokio::test]
async fn truncated_body_is_502() {
    let e = faulty_env().await;
    e.fake.set_fault(Scope::Data, Fault::Truncate);
    fails_then_recovers(&e, 502, "cut short").await;
}

#[tokio::test]
async fn garbage_bodies_are_502() {
    let e = faulty_env().await;
    e.fake.set_fault(Scope::Data, Fault::Garbage);
    fails_then_recovers(&e, 502, "expected 32768 bytes of uint8 voxels, got 1001").await;
    e.s.register("seg", &e.config(ROOT, "labels")).await;
    e.fake.set_fault(Scope::Data, Fault::Garbage);
    let body = assert_problem(
        e.roi_get("seg", [16, 8, 8], [0, 0, 0], [4, 4, 4]).await,
        502,
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("LZ4 block"),
        "{body}"
    );
    e.fake.clear_fault();
    let v = e.read("seg", [16, 8, 8], [0, 0, 0], [4, 4, 4]).await;
    assert_eq!(as_u64(&v), expected([0, 0, 0], [4, 4, 4], label_value));
}

#[tokio::test]
async fn a_connection_dropped_after_the_request_is_502() {
    let e = faulty_env().await;
    e.fake.set_fault(Scope::Data, Fault::Hangup);
    fails_then_recovers(&e, 502, "closed the connection").await;
}

#[tokio::test]
async fn connection_refused_is_503_until_dvid_returns() {
    let e = faulty_env().await;
    e.fake.stop().await;
    let body = assert_problem(
        e.roi_get("g", [8, 4, 4], [40, 40, 40], [8, 8, 8]).await,
        503,
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("cannot connect"),
        "{body}"
    );
    e.fake.restart().await;
    let v = e.read("g", [8, 4, 4], [40, 40, 40], [8, 8, 8]).await;
    assert_eq!(as_u64(&v), expected([40, 40, 40], [8, 8, 8], gray_value));
}

#[tokio::test]
async fn the_circuit_opens_fails_fast_and_closes_after_a_probe() {
    let e = faulty_env().await;
    e.fake.set_fault(Scope::Data, Fault::Status(500));
    for _ in 0..5 {
        assert_problem(e.roi_get("g", [8, 4, 4], [2, 3, 5], [8, 8, 8]).await, 502).await;
    }
    assert_eq!(e.fake.count("raw"), 15);
    let body = assert_problem(e.roi_get("g", [8, 4, 4], [2, 3, 5], [8, 8, 8]).await, 503).await;
    assert!(
        body["detail"].as_str().unwrap().contains("circuit open"),
        "{body}"
    );
    assert_eq!(
        e.fake.count("raw"),
        15,
        "an open circuit does not call DVID"
    );
    e.fake.clear_fault();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let v = e.read("g", [8, 4, 4], [2, 3, 5], [8, 8, 8]).await;
    assert_eq!(as_u64(&v), expected([2, 3, 5], [8, 8, 8], gray_value));
    let v = e.read("g", [8, 4, 4], [40, 40, 40], [8, 8, 8]).await;
    assert_eq!(as_u64(&v), expected([40, 40, 40], [8, 8, 8], gray_value));
    let text = e.s.get("/metrics").await.text().await.unwrap();
    assert_eq!(
        metric(
            &text,
            "arrayd_upstream_requests_total",
            "outcome=\"circuit_open\""
        ),
        1.0
    );
}

#[tokio::test]
async fn a_client_that_leaves_before_the_answer_is_counted_as_499() {
    let e = env().await;
    e.s.register("slow", &e.config(ROOT, "grayscale")).await;
    e.fake
        .set_fault(Scope::Data, Fault::Delay(Duration::from_millis(1500)));
    let url =
        e.s.url("/v1/arrays/slow/roi?offset=320,160,160&shape=64,32,32");
    let gave_up =
        e.s.client
            .get(&url)
            .timeout(Duration::from_millis(200))
            .send()
            .await;
    assert!(gave_up.is_err(), "the client timed out and closed");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = e.s.get("/metrics").await.text().await.unwrap();
        let left = metric(
            &text,
            "arrayd_http_requests_total",
            "route=\"/v1/arrays/{name}/roi\"",
        );
        if left >= 1.0 {
            assert!(text.contains("status=\"499\""), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "no request was counted: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
