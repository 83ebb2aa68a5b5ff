//! Connection hygiene of the real binary: slow or idle clients are disconnected after
//! `--header-timeout` / `--idle-timeout`, and `--max-connections` answers 503.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines,
    reason = "test code"
)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Proc {
    child: Child,
    addr: SocketAddr,
    _state: tempfile::TempDir,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the binary with `extra` flags and waits until `/readyz` answers 200.
fn start(extra: &[&str]) -> Proc {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_arrayd"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--state-dir")
        .arg(state.path())
        .arg("--data-root")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden"))
        .args(extra)
        .env_remove("ARRAYD_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let p = Proc {
        child,
        addr,
        _state: state,
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok((200, _)) = get(addr, "/readyz") {
            return p;
        }
        assert!(Instant::now() < deadline, "server did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads one response (head and `content-length` body): status, head, body.
fn read_response(s: &mut TcpStream) -> std::io::Result<(u16, String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let status = head[9..12].parse().unwrap();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok((status, head, body))
}

/// One `Connection: close` GET on a fresh connection.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )?;
    read_response(&mut s).map(|(status, _, body)| (status, body))
}

/// Whether the peer has closed: EOF or an error other than a read timeout.
fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

/// Waits up to `within` for the server to close `s`; returns how long it took.
fn wait_closed(s: &mut TcpStream, within: Duration) -> Duration {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while !closed(s) {
        assert!(
            start.elapsed() < within,
            "the server kept the connection open for {within:?}"
        );
    }
    start.elapsed()
}

#[test]
fn slowloris_headers_are_cut_off() {
    let p = start(&["--header-timeout", "1", "--idle-timeout", "1"]);
    let mut s = connect(p.addr);
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let start = Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let header = b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut dropped = false;
    for &b in header.iter().cycle() {
        if start.elapsed() > Duration::from_secs(3) {
            break;
        }
        if s.write_all(&[b]).is_err() || closed(&mut s) {
            dropped = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let took = start.elapsed();
    assert!(
        dropped,
        "a slowloris client was still connected after {took:?}"
    );
    eprintln!("slowloris dropped after {took:?}");
    assert_eq!(get(p.addr, "/healthz").unwrap().0, 200);
}

#[test]
fn idle_keep_alive_is_closed() {
    let p = start(&["--header-timeout", "1", "--idle-timeout", "5"]);
    let mut s = connect(p.addr);
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (status, head, _) = read_response(&mut s).unwrap();
    assert_eq!(status, 200);
    assert!(!head.to_ascii_lowercase().contains("connection: close"));
    let took = wait_closed(&mut s, Duration::from_secs(3));
    eprintln!("idle keep-alive closed after {took:?}");
    assert!(
        took >= Duration::from_millis(800),
        "closed too early: {took:?}"
    );
}

#[test]
fn silent_connection_is_closed() {
    let p = start(&["--header-timeout", "1", "--idle-timeout", "5"]);
    let mut s = connect(p.addr);
    let took = wait_closed(&mut s, Duration::from_secs(3));
    eprintln!("silent connection closed after {took:?}");
}

#[test]
fn trickled_body_is_cut_off() {
    let p = start(&["--header-timeout", "5", "--idle-timeout", "1"]);
    let mut s = connect(p.addr);
    s.write_all(
        b"PUT /v1/arrays/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n{",
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let start = Instant::now();
    let mut last = Instant::now();
    loop {
        if closed(&mut s) {
            break;
        }
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(6),
            "a trickled body kept going for {took:?}"
        );
        if last.elapsed() >= Duration::from_millis(1500) {
            if s.write_all(b" ").is_err() {
                break;
            }
            last = Instant::now();
        }
    }
    let took = start.elapsed();
    eprintln!("trickled body dropped after {took:?}");
    assert_eq!(get(p.addr, "/healthz").unwrap().0, 200);
    // A body sent promptly is still read in full (the handler answers, not a timeout).
    let mut s = connect(p.addr);
    let body = "{}";
    write!(
        s,
        "PUT /v1/arrays/quick HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let (status, _, _) = read_response(&mut s).unwrap();
    assert!((400..500).contains(&status), "{status}");
}

#[tokio::test]
async fn unread_response_is_dropped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let p = tokio::task::spawn_blocking(|| {
        start(&["--demo", "--header-timeout", "2", "--idle-timeout", "1"])
    })
    .await
    .unwrap();
    let addr = p.addr;
    let (status, list) = tokio::task::spawn_blocking(move || get(addr, "/v1/arrays"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    let list: Value = serde_json::from_slice(&list).unwrap();
    let info = list["arrays"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "demo-raw")
        .unwrap()
        .clone();
    let join = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let (offset, shape) = (join(&info["roi"]["offset"]), join(&info["roi"]["shape"]));
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut s = socket.connect(addr).await.unwrap();
    s.write_all(
        format!(
            "GET /v1/arrays/demo-raw/roi?offset={offset}&shape={shape} HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let start = Instant::now();
    // Never read for a while: the server's write stalls and must give up.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) => return "eof",
                Ok(n) => total += n,
                Err(_) => return "reset",
            }
        }
    })
    .await
    .expect("the server kept an unread response open");
    let took = start.elapsed();
    eprintln!("unread response: {end} after {total} bytes, {took:?}");
    let full = 128 * 256 * 256;
    assert!(
        total < full,
        "the whole {total}-byte response arrived: the server never gave up"
    );
    assert!(total > 0, "nothing was sent");
}

#[test]
fn max_connections_answers_503_then_recovers() {
    let p = start(&[
        "--header-timeout",
        "2",
        "--idle-timeout",
        "2",
        "--max-connections",
        "8",
    ]);
    // Let the readiness probe's connection be released.
    std::thread::sleep(Duration::from_millis(300));
    let mut idle: Vec<TcpStream> = (0..8).map(|_| connect(p.addr)).collect();
    std::thread::sleep(Duration::from_millis(200));
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        assert!(!closed(s), "one of the first 8 connections was refused");
    }
    let mut ninth = connect(p.addr);
    ninth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (status, head, body) = read_response(&mut ninth).unwrap();
    assert_eq!(status, 503, "{head}");
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    assert!(head.contains("retry-after: 1"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["type"], "urn:arrayd:problem:limit-exceeded");
    assert_eq!(problem["title"], "Service Unavailable");
    assert_eq!(problem["status"], 503);
    assert_eq!(problem["limit"], "max-connections");
    assert_eq!(problem["flag"], "--max-connections");
    assert_eq!(problem["maximum"], 8);
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("--max-connections") && detail.contains('8'),
        "{detail}"
    );
    wait_closed(&mut ninth, Duration::from_secs(3));
    // The idle ones time out, and their slots are given back.
    for s in &mut idle {
        wait_closed(s, Duration::from_secs(4));
    }
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match get(p.addr, "/healthz") {
            Ok((200, _)) => break,
            other => assert!(Instant::now() < deadline, "not served again: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A handler slower than `--idle-timeout`, and a response body with a pause, are not
/// stalls of the client: both are answered in full.
#[tokio::test]
async fn slow_server_work_is_not_a_client_stall() {
    use axum::routing::get as route_get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let router = axum::Router::new()
        .route(
            "/slow",
            route_get(|| async {
                tokio::time::sleep(Duration::from_millis(2500)).await;
                "done"
            }),
        )
        .route(
            "/pause",
            route_get(|| async {
                let parts = futures::stream::unfold(0, |i| async move {
                    if i == 1 {
                        tokio::time::sleep(Duration::from_millis(2500)).await;
                    }
                    (i < 2).then(|| (Ok::<_, std::io::Error>(format!("part{i};")), i + 1))
                });
                axum::body::Body::from_stream(parts)
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = arrayd::http::listener::ConnLimits {
        header_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        max_connections: 4,
        drain: Duration::from_secs(1),
    };
    let server = tokio::spawn(arrayd::http::listener::serve(
        listener,
        router,
        limits,
        std::future::pending(),
    ));
    for (path, want) in [("/slow", "done"), ("/pause", "part0;part1;")] {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 200"), "{path}: {text}");
        let body: String = text
            .split_once("\r\n\r\n")
            .unwrap()
            .1
            .lines()
            .filter(|l| l.starts_with("part") || *l == "done")
            .collect();
        assert_eq!(body, want, "{path}: {text}");
    }
    server.abort();
}
