//! The fake DVID's HTTP surface (`spec/dvid.md` §7 items 1-9, §8): one fallback handler
//! that parses DVID paths itself, so errors are DVID's plain-text 400s
//! (`<message> (<path>).`) and unknown paths DVID's 404.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use arrayd::dvid::blocks::{encode_block, write_record};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use flate2::{Compression, write::GzEncoder};
use futures::StreamExt;
use serde_json::{Value, json};

use super::repo::{Instance, World};
use super::{AuthStyle, Fault, Logged, Scope, Shared};

fn text(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Go's `http.Error` as DVID uses it: `<msg> (<path>).` and a newline.
fn dvid_error(status: StatusCode, msg: &str, path: &str) -> Response {
    text(status, format!("{msg} ({path}).\n"))
}

fn bad(msg: &str, path: &str) -> Response {
    dvid_error(StatusCode::BAD_REQUEST, msg, path)
}

fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "404 page not found\n".into())
}

fn json_ok(v: &Value) -> Response {
    let mut r = (StatusCode::OK, v.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn octets(b: Vec<u8>) -> Response {
    let mut r = (StatusCode::OK, b).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    r
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn le_bytes(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn parse3(s: &str, what: &str) -> Result<[i64; 3], String> {
    let parts: Vec<&str> = s.split('_').collect();
    let nums: Result<Vec<i64>, _> = parts.iter().map(|p| p.parse::<i64>()).collect();
    match nums {
        Ok(n) if n.len() == 3 => Ok([n[0], n[1], n[2]]),
        Ok(_) => Err(format!("Unable to parse {what} {s:?}: need 3 dimensions")),
        Err(e) => Err(format!("Unable to parse {what} {s:?}: {e}")),
    }
}

/// The endpoint keyword of a path (for the request log and fault scopes).
fn endpoint(s: &[&str]) -> String {
    match s {
        ["api", "server", x, ..] => format!("server-{x}"),
        ["api", "repos", "info"] => "repos-info".into(),
        ["api", "repo", _] => "repo-head".into(),
        ["api", "repo", _, "info"] => "repo-info".into(),
        ["api", "repo", _, kw, ..] => (*kw).into(),
        ["api", "node", _, "commit" | "status"] => "commit".into(),
        ["api", "node", _, _] => "instance-root".into(),
        ["api", "node", _, _, kw, ..] => (*kw).into(),
        _ => "other".into(),
    }
}

fn fault_applies(scope: Scope, endpoint: &str) -> bool {
    match scope {
        Scope::Data => matches!(
            endpoint,
            "raw" | "isotropic" | "blocks" | "specificblocks" | "subvolblocks"
        ),
        Scope::Blocks => matches!(endpoint, "blocks" | "specificblocks"),
    }
}

/// Every request lands here.
pub async fn handle(
    State(sh): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let q: HashMap<String, String> = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect();
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let segs: Vec<String> = path
        .trim_end_matches('/')
        .split('/')
        .skip(1)
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let kw = endpoint(&s);
    let seed = {
        let mut log = sh.log.lock().unwrap();
        log.push(Logged {
            path: path.clone(),
            query: query.clone(),
            endpoint: kw.clone(),
            auth: auth.clone(),
        });
        log.len() as u64
    };
    let fault = *sh.fault.lock().unwrap();
    let fault = fault
        .filter(|(scope, _)| fault_applies(*scope, &kw))
        .map(|(_, f)| f);
    match fault {
        Some(Fault::Status(503)) => {
            return dvid_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Server already running 1 throttled operations (max = 1)",
                &path,
            );
        }
        Some(Fault::Status(500)) => {
            return dvid_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("Panic detected on request {seed}: runtime error: forced by the fake"),
                &path,
            );
        }
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap();
            return dvid_error(status, "forced failure", &path);
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        // Unwinding the connection task drops the socket with no answer (and no panic
        // message: resume_unwind skips the hook).
        Some(Fault::Hangup) => std::panic::resume_unwind(Box::new("hang up")),
        _ => {}
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let token = sh.token.lock().unwrap().clone();
    let resp = {
        let w = sh.world.lock().unwrap();
        let req = Req {
            method: &method,
            path: &path,
            q: &q,
            host: &host,
            seed,
        };
        route(&w, &req, &s, token.as_ref(), auth.as_deref())
    };
    match fault {
        Some(Fault::Truncate) if resp.status() == StatusCode::OK => {
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            let half = Bytes::copy_from_slice(&body[..body.len() / 2]);
            // The head and half the body go out; then the connection drops.
            let cut = futures::stream::once(async {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Err(std::io::Error::other("connection lost"))
            });
            let chunks = futures::stream::once(async { Ok(half) }).chain(cut);
            let mut r = Response::new(Body::from_stream(chunks));
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            r
        }
        Some(Fault::Garbage) if resp.status() == StatusCode::OK => {
            let mut x = seed | 1;
            let junk: Vec<u8> = (0..1001)
                .map(|_| {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    (x >> 56) as u8
                })
                .collect();
            octets(junk)
        }
        _ => resp,
    }
}

struct Req<'a> {
    method: &'a Method,
    path: &'a str,
    q: &'a HashMap<String, String>,
    host: &'a str,
    seed: u64,
}

fn check_auth(
    token: Option<&(String, AuthStyle)>,
    auth: Option<&str>,
    path: &str,
) -> Option<Response> {
    let (want, style) = token?;
    let given = auth.and_then(|a| a.strip_prefix("Bearer "));
    match (style, given) {
        (_, Some(g)) if g == want => None,
        (AuthStyle::Dsg, None) => Some(dvid_error(
            StatusCode::UNAUTHORIZED,
            "dsg token required",
            path,
        )),
        (AuthStyle::Dsg, Some(_)) => Some(dvid_error(
            StatusCode::UNAUTHORIZED,
            "invalid DSG token",
            path,
        )),
        (AuthStyle::Jwt, None) => Some(bad(
            "JWT required via Authorization in request header",
            path,
        )),
        (AuthStyle::Jwt, Some(_)) => Some(bad("error parsing JWT: token is malformed", path)),
    }
}

fn route(
    w: &World,
    req: &Req<'_>,
    s: &[&str],
    token: Option<&(String, AuthStyle)>,
    auth: Option<&str>,
) -> Response {
    let path = req.path;
    if req.method != Method::GET && req.method != Method::HEAD {
        return bad("this fake DVID server is read-only", path);
    }
    match s {
        ["api", "server", "info"] => json_ok(&json!({
            "Cores": "2", "Maximum Cores": "2", "Datastore Version": "0.10.0",
            "DVID Version": "v1.0.0-fake", "Storage backend": "fake @ memory",
            "Server time": "2026-01-01T00:00:00Z", "Server uptime": "1s",
            "RPC Address": "localhost:8001", "Host": req.host, "Note": "",
            "TOML location": "", "Max Open Files": "1024"})),
        ["api", "server", "types"] => json_ok(&json!({
            "uint8blk": "github.com/janelia-flyem/dvid/datatype/imageblk/uint8.go",
            "labelmap": "github.com/janelia-flyem/dvid/datatype/labelmap",
            "labelarray": "github.com/janelia-flyem/dvid/datatype/labelarray"})),
        ["api", "repos", "info"] => json_ok(&Value::Object(
            w.repos.iter().map(|r| (r.root.clone(), r.info())).collect(),
        )),
        ["api", kind @ ("repo" | "node"), uuid, rest @ ..] => {
            let (ri, node_uuid) = match w.resolve(uuid) {
                Ok(x) => x,
                Err(m) => return bad(&m, path),
            };
            if let Some(denied) = check_auth(token, auth, path) {
                return denied;
            }
            let repo = &w.repos[ri];
            let node = w.node(ri, &node_uuid);
            match (*kind, rest) {
                ("repo", []) if req.method == Method::HEAD => text(
                    StatusCode::OK,
                    format!("Repo available with root UUID {}", repo.root),
                ),
                ("repo", ["info"]) => json_ok(&repo.info()),
                ("repo", ["branch-versions", b]) => match repo.leaf(b) {
                    None => bad(
                        &format!("branch {b:?} not found in repo {:?}", repo.root),
                        path,
                    ),
                    Some(leaf) => {
                        let mut out = vec![leaf.uuid.clone()];
                        let mut cur = leaf;
                        while let Some(p) =
                            cur.parents.first().and_then(|v| repo.node_by_version(*v))
                        {
                            out.push(p.uuid.clone());
                            cur = p;
                        }
                        json_ok(&json!(out))
                    }
                },
                ("node", ["commit" | "status"]) => json_ok(&json!({"Locked": node.locked})),
                ("node", [data, kw, args @ ..]) => match repo.instances.get(*data) {
                    None => bad("invalid data instance name", path),
                    Some(inst) => instance(inst, &repo.root, node.version, kw, args, req),
                },
                _ => not_found(),
            }
        }
        _ => not_found(),
    }
}

fn instance(
    inst: &Instance,
    root: &str,
    version: u64,
    kw: &str,
    args: &[&str],
    req: &Req<'_>,
) -> Response {
    let path = req.path;
    let result = match kw {
        "info" => return json_ok(&inst.info(root, version)),
        "raw" | "isotropic" => raw(inst, args, req),
        "blocks" if inst.is_labels() => label_blocks(inst, args, req),
        "blocks" => gray_blocks(inst, args),
        "specificblocks" => specific_blocks(inst, req),
        _ => {
            return text(
                StatusCode::BAD_REQUEST,
                format!(
                    "Bad API call ({path}) for data {:?}.  See API help at http://{}/api/help/{}\n",
                    inst.spec.name, req.host, inst.spec.type_name
                ),
            );
        }
    };
    match result {
        Ok(bytes) => octets(bytes),
        Err(msg) => bad(&msg, path),
    }
}

fn scale_of(inst: &Instance, req: &Req<'_>) -> Result<usize, String> {
    match req.q.get("scale") {
        Some(s) if inst.is_labels() => s
            .parse::<usize>()
            .map_err(|e| format!("bad scale {s:?}: {e}")),
        _ => Ok(0),
    }
}

fn raw(inst: &Instance, args: &[&str], req: &Req<'_>) -> Result<Vec<u8>, String> {
    let [shape, size, offset, rest @ ..] = args else {
        return Err("raw needs a shape, a size and an offset".into());
    };
    match shape.to_ascii_lowercase().as_str() {
        "0_1_2" | "0,1,2" | "vol" => {}
        "0_1" | "xy" | "0_2" | "xz" | "1_2" | "yz" => {
            return Err("2-D slices are not served by this fake DVID".into());
        }
        other => return Err(format!("bad data shape {other:?}")),
    }
    if rest.first().is_some_and(|f| !f.is_empty()) {
        return Err(format!(
            "output format {:?} is not served by this fake DVID",
            rest[0]
        ));
    }
    let size = parse3(size, "size")?;
    let offset = parse3(offset, "offset")?;
    if size.iter().any(|&n| n <= 0) {
        return Err("Illegal geometry requested".into());
    }
    let scale = scale_of(inst, req)?;
    if !inst.is_labels() {
        // uint8blk ignores `compression` for 3-D reads.
        return Ok(inst.voxels(0, offset, size, 1));
    }
    let compression = req.q.get("compression").map_or("", String::as_str);
    let b = inst.spec.block;
    let one_block = size == b && (0..3).all(|d| offset[d] % b[d] == 0);
    let coord = [0, 1, 2].map(|d| offset[d].div_euclid(b[d]));
    let stored = inst
        .scales
        .get(scale)
        .is_some_and(|m| m.contains_key(&coord));
    if one_block && !compression.is_empty() && !stored {
        // DVID's single-block fast path (§2.1) fails on a block that was never stored.
        return Err(format!("unable to get label block {coord:?}"));
    }
    let bytes = inst.voxels(scale, offset, size, 8);
    match compression {
        "" => Ok(bytes),
        "lz4" => Ok(lz4_flex::block::compress(&bytes)),
        "gzip" => Ok(gzip(&bytes)),
        "google" | "googlegzip" => {
            Err("compressed segmentation output is not served by this fake DVID".into())
        }
        other => Err(format!("unknown compression type {other:?}")),
    }
}

/// Frames the stored blocks among `coords` in shuffled order (§3: order not guaranteed).
fn frame(
    inst: &Instance,
    scale: usize,
    coords: Vec<[i64; 3]>,
    compression: &str,
    seed: u64,
) -> Result<Vec<u8>, String> {
    let b = inst.spec.block;
    let shape = [b[2], b[1], b[0]].map(|v| usize::try_from(v).unwrap());
    let Some(blocks) = inst.scales.get(scale) else {
        return Ok(Vec::new());
    };
    let mut found: Vec<([i64; 3], &Vec<u64>)> = coords
        .into_iter()
        .filter_map(|c| blocks.get(&c).map(|d| (c, d)))
        .collect();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in (1..found.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        found.swap(i, usize::try_from(x % (i as u64 + 1)).unwrap());
    }
    if found.len() > 1 && found.windows(2).all(|w| w[0].0 <= w[1].0) {
        // Never the natural order, so order-assuming clients fail every time.
        found.rotate_left(1);
    }
    let mut out = Vec::new();
    for (c, data) in found {
        let payload = match compression {
            "" | "lz4" => lz4_flex::block::compress(&le_bytes(data)),
            "uncompressed" => le_bytes(data),
            "gzip" => gzip(&le_bytes(data)),
            "blocks" => gzip(&encode_block(data, shape).unwrap()),
            _ => {
                return Err(
                    r#"compression must be "lz4" (default), "gzip", "blocks" or "uncompressed""#
                        .into(),
                );
            }
        };
        write_record(&mut out, c.map(|v| i32::try_from(v).unwrap()), &payload);
    }
    Ok(out)
}

fn label_blocks(inst: &Instance, args: &[&str], req: &Req<'_>) -> Result<Vec<u8>, String> {
    let [size_s, offset_s] = args else {
        return Err("blocks needs a size and an offset".into());
    };
    let size = parse3(size_s, "size")?;
    let offset = parse3(offset_s, "offset")?;
    let b = inst.spec.block;
    if (0..3).any(|d| size[d] <= 0 || size[d] % b[d] != 0 || offset[d].rem_euclid(b[d]) != 0) {
        return Err(format!(
            "cannot use labels via 'blocks' endpoint in non-block aligned geometry {size_s} -> {offset_s}"
        ));
    }
    let scale = scale_of(inst, req)?;
    let first = [0, 1, 2].map(|d| offset[d] / b[d]);
    let n = [0, 1, 2].map(|d| size[d] / b[d]);
    let mut coords = Vec::new();
    for z in 0..n[2] {
        for y in 0..n[1] {
            for x in 0..n[0] {
                coords.push([first[0] + x, first[1] + y, first[2] + z]);
            }
        }
    }
    let compression = req.q.get("compression").map_or("", String::as_str);
    frame(inst, scale, coords, compression, req.seed)
}

fn specific_blocks(inst: &Instance, req: &Req<'_>) -> Result<Vec<u8>, String> {
    let list = req.q.get("blocks").map_or("", String::as_str);
    let nums: Vec<i64> = list
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .map_err(|e| format!("bad block coordinate {s:?}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    if !nums.len().is_multiple_of(3) {
        return Err("blocks query string must have a multiple of 3 coordinates".into());
    }
    let coords: Vec<[i64; 3]> = nums.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
    let scale = scale_of(inst, req)?;
    if inst.is_labels() {
        let compression = req.q.get("compression").map_or("blocks", String::as_str);
        return frame(inst, scale, coords, compression, req.seed);
    }
    match req.q.get("compression").map_or("", String::as_str) {
        "uncompressed" => {}
        other => {
            return Err(format!(
                "compression {other:?} is not served for uint8blk by this fake DVID"
            ));
        }
    }
    let Some(blocks) = inst.scales.first() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for c in coords {
        if let Some(d) = blocks.get(&c) {
            let bytes: Vec<u8> = d.iter().map(|&v| v.to_le_bytes()[0]).collect();
            write_record(&mut out, c.map(|v| i32::try_from(v).unwrap()), &bytes);
        }
    }
    Ok(out)
}

/// uint8blk `blocks/{bx}_{by}_{bz}/{spanX}`: uncompressed rows of blocks, Background fill.
fn gray_blocks(inst: &Instance, args: &[&str]) -> Result<Vec<u8>, String> {
    let [coord, span] = args else {
        return Err("blocks needs a block coordinate and a span".into());
    };
    let c = parse3(coord, "block coordinate")?;
    let span: i64 = span
        .parse()
        .map_err(|e| format!("bad span {span:?}: {e}"))?;
    let b = inst.spec.block;
    let origin = [c[0] * b[0], c[1] * b[1], c[2] * b[2]];
    let mut out = Vec::new();
    for i in 0..span.max(0) {
        out.extend(inst.voxels(0, [origin[0] + i * b[0], origin[1], origin[2]], b, 1));
    }
    Ok(out)
}
