//! Tokens: from the config or `ARRAYD_DVID_TOKEN`, sent as `Authorization: Bearer`, and
//! never in a problem detail or a log line.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::seed::*;
use crate::support::assert_problem;
use crate::support::fake_dvid::{AuthStyle, Fault, Scope};

#[tokio::test]
async fn tokens_reach_dvid_but_never_a_problem() {
    let e = env().await;
    let secret = "s3cret-dvid-token-1234";
    e.fake.require_token(secret, AuthStyle::Dsg);
    let body = assert_problem(
        e.s.put_json("/v1/arrays/g", &e.config(ROOT, "grayscale"))
            .await,
        422,
    )
    .await;
    assert_eq!(body["problems"][0]["field"], "token");
    assert!(body.to_string().contains("dsg token required"), "{body}");
    let mut c = e.config(ROOT, "grayscale");
    c["token"] = json!("wrong-token-5678");
    let body = assert_problem(e.s.put_json("/v1/arrays/g", &c).await, 422).await;
    assert!(
        body.to_string().contains("invalid DSG token")
            && !body.to_string().contains("wrong-token-5678")
    );

    c["token"] = json!(secret);
    e.s.register("g", &c).await;
    // The registry API never shows the token back.
    let shown = e.s.get("/v1/arrays/g").await.text().await.unwrap();
    assert!(
        !shown.contains(secret) && shown.contains("[redacted]"),
        "{shown}"
    );
    let listed = e.s.get("/v1/arrays").await.text().await.unwrap();
    assert!(!listed.contains(secret));
    let v = e.read("g", [8, 4, 4], [2, 3, 5], [8, 8, 8]).await;
    assert_eq!(as_u64(&v), expected([2, 3, 5], [8, 8, 8], gray_value));
    let api: Vec<_> = e
        .fake
        .log()
        .into_iter()
        .filter(|l| l.path.starts_with("/api/repo") || l.path.starts_with("/api/node"))
        .collect();
    let bearer = format!("Bearer {secret}");
    assert!(
        api.iter()
            .rev()
            .take(3)
            .all(|l| l.auth.as_deref() == Some(bearer.as_str()))
    );
    // A failing upstream names its URL, never the token.
    e.fake.set_fault(Scope::Data, Fault::Status(500));
    let body = assert_problem(e.roi_get("g", [8, 4, 4], [2, 3, 40], [8, 8, 8]).await, 502).await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&e.fake.url()) && !body.to_string().contains(secret),
        "{body}"
    );
}

#[tokio::test]
async fn token_from_the_environment_is_used_and_never_logged() {
    use std::process::{Command, Stdio};
    let fake = seeded_fake().await;
    let secret = "env-token-from-ARRAYD-9876";
    fake.require_token(secret, AuthStyle::Jwt);
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("arrayd.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_arrayd"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ])
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--data-root")
        .arg(dir.path())
        .env("ARRAYD_DVID_TOKEN", secret)
        .env("ARRAYD_LOG", "debug")
        .stdout(Stdio::from(std::fs::File::create(&log_path).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("stderr.log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(client.get(format!("{base}/readyz")).send().await, Ok(r) if r.status() == 200) {
        assert!(Instant::now() < deadline, "arrayd did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let put = |name: &str, c: Value| {
        client
            .put(format!("{base}/v1/arrays/{name}"))
            .json(&c)
            .send()
    };
    let ok = put(
        "g",
        json!({"type": "dvid", "source": [fake.url(), ROOT, "grayscale"]}),
    )
    .await
    .unwrap();
    let status = ok.status();
    assert_eq!(status, 201, "{}", ok.text().await.unwrap());
    let r = client
        .get(format!(
            "{base}/v1/arrays/g/roi?offset=16,12,20&shape=64,32,32"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v = arrayd::encode::npy::decode(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(as_u64(&v), expected([2, 3, 5], [8, 8, 8], gray_value));
    // A config token overrides the environment's (and is refused here, JWT-style 400).
    let bad = put("h", json!({"type": "dvid", "source": [fake.url(), ROOT, "grayscale"], "token": "cfg-token-1111"})).await.unwrap();
    assert_eq!(bad.status(), 422);
    let text = bad.text().await.unwrap();
    assert!(
        text.contains("error parsing JWT") && !text.contains("cfg-token-1111"),
        "{text}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        fake.log()
            .iter()
            .any(|l| l.auth.as_deref() == Some(&format!("Bearer {secret}")))
    );
    let logs = std::fs::read_to_string(&log_path).unwrap()
        + &std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(
        logs.contains("DVID") || logs.contains("dvid") || logs.contains("/v1/arrays/g"),
        "the log is empty"
    );
    assert!(
        !logs.contains(secret) && !logs.contains("cfg-token-1111"),
        "a token was logged"
    );
}
