//! `GET /neuroglancer/{path}`: a local neuroglancer client (`--neuroglancer-dir`) for
//! sites that cannot reach a public one. Files are served from that directory only
//! (no `..`, no hidden files, symlinks must stay inside), `index.html` for `/`.
//!
//! The client in the neuroglancer Python wheel finds its server from a `/v/<token>/`
//! path, so the directory is also served under [`VIEWER_PATH`] (where viewer links
//! point), and its state event stream (`events/<token>`) is answered with an open,
//! silent stream: the state comes from the URL fragment, nothing from the server.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::error::{Error, Result};
use crate::http::cache_headers::{Cacheable, respond, revalidate};
use crate::server::AppState;

/// Where viewer links open the local client, below the server's base URL.
pub const VIEWER_PATH: &str = "/neuroglancer/v/arrayd/";

/// Seconds between the comments that keep the silent event stream open.
const KEEP_ALIVE_SECS: u64 = 15;

/// The media type of a client file, by extension.
#[must_use]
pub fn media_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The file `rel` (the part of the URL after `/neuroglancer/`) names inside `root`.
///
/// # Errors
/// 404 for a name that leaves `root`, a hidden file, or a file that does not exist.
pub fn resolve(root: &Path, rel: &str) -> Result<PathBuf> {
    let missing = || {
        Error::NotFound(format!(
            "/neuroglancer/{rel} is not a file of the local neuroglancer client"
        ))
    };
    let mut path = root.to_path_buf();
    let mut segs: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    if segs.len() >= 2 && segs[0] == "v" {
        segs.drain(..2);
    }
    for seg in segs {
        if seg.starts_with('.') || seg.contains('\\') {
            return Err(missing());
        }
        path.push(seg);
    }
    if path.is_dir() {
        path.push("index.html");
    }
    let real = path.canonicalize().map_err(|_| missing())?;
    let top = root
        .canonicalize()
        .map_err(|e| Error::Internal(format!("--neuroglancer-dir {}: {e}", root.display())))?;
    if !real.starts_with(&top) || !real.is_file() {
        return Err(missing());
    }
    Ok(real)
}

/// `GET /neuroglancer/` and `GET /neuroglancer/{*path}`
///
/// # Errors
/// 404 without `--neuroglancer-dir` or for a file it does not hold.
pub async fn serve(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response> {
    let Some(root) = state.settings.neuroglancer_dir.as_deref() else {
        return Err(Error::NotFound(
            "no local neuroglancer client: start the server with --neuroglancer-dir DIR (e.g. the neuroglancer wheel's static/client)".into(),
        ));
    };
    let rel = uri.path().strip_prefix("/neuroglancer").unwrap_or_default();
    let rel = percent_encoding::percent_decode_str(rel)
        .decode_utf8()
        .map_err(|_| Error::BadRequest("the path is not UTF-8".into()))?
        .into_owned();
    if rel.starts_with("/events/") {
        return Ok(silent_events());
    }
    let path = resolve(root, &rel)?;
    let body = tokio::fs::read(&path)
        .await
        .map_err(|e| Error::Internal(format!("{}: {e}", path.display())))?;
    let etag = format!("{:x}", xxhash_rust::xxh3::xxh3_64(&body));
    respond(
        &headers,
        Cacheable {
            body: body.into(),
            content_type: media_type(&path),
            etag,
            cache_control: if rel.ends_with(".html") || rel.ends_with('/') || rel.is_empty() {
                revalidate()
            } else {
                HeaderValue::from_static("public, max-age=3600")
            },
        },
    )
}

/// An event stream that sends only keep-alive comments.
fn silent_events() -> Response {
    let beats = futures::stream::unfold(true, |first| async move {
        if !first {
            tokio::time::sleep(std::time::Duration::from_secs(KEEP_ALIVE_SECS)).await;
        }
        Some((
            Ok::<_, std::convert::Infallible>(Bytes::from_static(b": arrayd\n\n")),
            false,
        ))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(beats),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_inside_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<html>").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.js"), "x").unwrap();
        std::fs::write(dir.path().join(".secret"), "x").unwrap();
        assert!(resolve(dir.path(), "/").unwrap().ends_with("index.html"));
        assert!(
            resolve(dir.path(), "sub/a.js")
                .unwrap()
                .ends_with("sub/a.js")
        );
        assert!(
            resolve(dir.path(), "v/arrayd/sub/a.js")
                .unwrap()
                .ends_with("sub/a.js")
        );
        assert!(
            resolve(dir.path(), "v/arrayd/")
                .unwrap()
                .ends_with("index.html")
        );
        for bad in ["../etc/passwd", "sub/../../x", ".secret", "nope.js", "sub"] {
            assert!(resolve(dir.path(), bad).is_err(), "{bad}");
        }
        assert_eq!(media_type(Path::new("x.wasm")), "application/wasm");
    }
}
