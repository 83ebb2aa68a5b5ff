//! The registry routes (`spec/api.md`, "Registry"): list, register/replace (with
//! `?dry_run=true`), show (config + metadata + chain tree), delete.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::array::chain_tree;
use crate::error::{Error, Result};
use crate::http::extract::{Admin, ArrayEntry, ArrayName, LimitedBody, NewArrayName, QueryParams};
use crate::registry::Entry;
use crate::server::AppState;
use crate::views::{base_url, links, write};

fn summary(entry: &Entry, base: &str) -> Value {
    let mut out = json!({"name": entry.name, "links": links(base, &entry.name)});
    match &entry.state {
        Ok(array) => {
            let m = array.meta();
            let meta = m.to_json();
            out["type"] = json!(m.type_name);
            for key in [
                "dtype",
                "axes",
                "shape",
                "voxel_size",
                "roi",
                "num_channels",
            ] {
                out[key] = meta[key].clone();
            }
            out["available"] = json!(true);
        }
        Err(reason) => {
            out["type"] = entry.config.get("type").cloned().unwrap_or(Value::Null);
            out["available"] = json!(false);
            out["error"] = json!(reason);
        }
    }
    out
}

/// The config with every `token` value replaced, for responses (the stored copy keeps it).
fn redacted(config: &Value) -> Value {
    match config {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if k == "token" && !v.is_null() {
                        json!("[redacted]")
                    } else {
                        redacted(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

fn detail(entry: &Entry, base: &str) -> Value {
    let mut out = json!({
        "name": entry.name,
        "config": redacted(&entry.config),
        "references": entry.refs,
        "links": links(base, &entry.name),
    });
    match &entry.state {
        Ok(array) => {
            out["metadata"] = array.meta().to_json();
            out["chain"] = chain_tree(array);
            if let Some(levels) = &entry.levels {
                out["levels"] = levels.to_json();
            }
        }
        Err(reason) => out["error"] = json!(reason),
    }
    out
}

/// `GET /v1/arrays`
///
/// # Errors
/// None in practice; the signature matches the other views.
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>> {
    let base = base_url(&state, &headers);
    let arrays: Vec<Value> = state
        .registry
        .list()
        .iter()
        .map(|e| summary(e, &base))
        .collect();
    Ok(Json(json!({ "arrays": arrays })))
}

/// `GET /v1/arrays/{name}`
///
/// # Errors
/// 404 for an unknown name.
pub async fn show(
    State(state): State<AppState>,
    ArrayEntry(entry): ArrayEntry,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    Ok(Json(detail(&entry, &base_url(&state, &headers))))
}

/// `PUT /v1/arrays/{name}[?dry_run=true]`
///
/// # Errors
/// 400 bad name (checked before the query and body), query or body, 401/403 token, 422 every validation problem.
pub async fn put(
    State(state): State<AppState>,
    _admin: Admin,
    NewArrayName(name): NewArrayName,
    query: QueryParams,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Result<Response> {
    query.only(&["dry_run"])?;
    let dry_run = query.flag("dry_run")?;
    let config: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::BadRequest(format!("the body must be a JSON array config: {e}")))?;
    let created = write::create_for(&state, &name, &config, dry_run).await?;
    let outcome = match state.registry.put(&name, config, dry_run).await {
        Ok(outcome) => outcome,
        Err(e) => {
            if let Some(c) = created {
                c.undo().await;
            }
            return Err(e);
        }
    };
    let mut out = detail(&outcome.entry, &base_url(&state, &headers));
    let status = if dry_run {
        out["dry_run"] = json!(true);
        StatusCode::OK
    } else if outcome.created {
        tracing::info!(array = name.as_str(), "registered");
        StatusCode::CREATED
    } else {
        tracing::info!(array = name.as_str(), "replaced");
        StatusCode::OK
    };
    Ok((status, Json(out)).into_response())
}

/// `DELETE /v1/arrays/{name}`
///
/// # Errors
/// 404 unknown, 409 still referenced, 401/403 token.
pub async fn delete(
    State(state): State<AppState>,
    _admin: Admin,
    ArrayName(name): ArrayName,
) -> Result<StatusCode> {
    state.registry.delete(&name).await?;
    tracing::info!(array = name.as_str(), "deleted");
    Ok(StatusCode::NO_CONTENT)
}
