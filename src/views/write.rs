//! The write routes (`spec/api.md`, "Writes"): `PUT /v1/arrays/{name}/roi` writes voxels
//! into a writable array and recomputes its stored levels over them; `PATCH
//! /v1/arrays/{name}/attrs` merges attributes into its stored metadata. Both need the
//! admin token when one is configured; a 2xx means the change is durable, visible to
//! every reader of this server and announced to the other replicas ([`crate::write::peers`]).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use serde_json::{Map, Value, json};
use zarrs::storage::ReadableWritableStorageTraits;

use crate::array::ArrayRef;
use crate::array::config::{self, TypedConfig};
use crate::dtype::DType;
use crate::encode::npy;
use crate::error::{Error, Result};
use crate::eval::check_aligned;
use crate::http::extract::{Admin, LimitedBody, OpenArray, QueryParams, read_limited};
use crate::http::roi_query::RoiQuery;
use crate::limits::{Exceeded, Limit, volume_bytes};
use crate::server::AppState;
use crate::volume::Volume;
use crate::write::container::{exists, remove};
use crate::write::create::create;
use crate::write::{Container, Writable, pyramid};

/// Room for a `.npy` header on top of the voxels.
const NPY_HEADER_MAX: u64 = 64 * 1024;

fn writer_of(open: &OpenArray) -> Result<&Arc<Writable>> {
    open.array.writer().ok_or_else(|| {
        Error::MethodNotAllowed(format!(
            "array {:?} is read-only; register a zarr config with \"writable\": true or \"create\" to write it",
            open.name()
        ))
    })
}

/// The body as voxels: a `.npy` file, or raw little-endian bytes described by
/// `X-Array-Dtype` and `X-Array-Shape`.
fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Volume> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let npy = body.starts_with(b"\x93NUMPY")
        || header(CONTENT_TYPE.as_str()).is_some_and(|t| t.contains("npy"));
    if npy {
        return npy::decode(body).map_err(|e| Error::BadRequest(format!("the body: {e}")));
    }
    let (Some(dtype), Some(shape)) = (header("x-array-dtype"), header("x-array-shape")) else {
        return Err(Error::BadRequest(
            "send a .npy body, or raw little-endian bytes with X-Array-Dtype and X-Array-Shape (c?,z,y,x)".into(),
        ));
    };
    let dtype: DType = dtype
        .parse()
        .map_err(|e: String| Error::BadRequest(format!("X-Array-Dtype: {e}")))?;
    let shape: Vec<usize> = shape
        .split(',')
        .map(|s| s.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            Error::BadRequest(format!(
                "X-Array-Shape {shape:?} must be comma-separated sizes"
            ))
        })?;
    Volume::from_le_bytes(dtype, &shape, body)
        .map_err(|e| Error::BadRequest(format!("the body: {e}")))
}

/// `PUT /v1/arrays/{name}/roi?offset=…&shape=…[&units=voxels]`
///
/// # Errors
/// 400 a bad ROI (off the voxel grid, outside the array) or body (not the ROI's shape),
/// 401/403 token, 405 a read-only array, 413 a body over `--max-roi-bytes`, 422 another
/// dtype than the array's.
pub async fn put_roi(
    State(state): State<AppState>,
    _admin: Admin,
    open: OpenArray,
    request: RoiQuery,
    req: Request<Body>,
) -> Result<Json<Value>> {
    let writer = writer_of(&open)?.clone();
    let array: &ArrayRef = &open.array;
    let m = array.meta();
    if request.fill().is_some() {
        return Err(Error::BadRequest("fill= has no meaning for a write".into()));
    }
    let roi = request.roi(&m.voxel_size, &m.roi)?;
    check_aligned(array, &roi)?;
    if !m.roi.contains(&roi) {
        return Err(Error::BadRequest(format!(
            "ROI {roi} is not inside the array ROI {}; writes must lie inside it",
            m.roi
        )));
    }
    let shape = m.volume_shape(&roi);
    let bytes = volume_bytes(&shape, m.dtype.size());
    let limits = state.ctx.limits;
    limits.roi_bytes(bytes)?;
    let over = Exceeded {
        limit: Limit::MaxRoiBytes,
        what: "the write body's size in bytes".into(),
        value: u128::from(limits.max_roi_bytes) + 1,
        max: limits.max_roi_bytes,
        hint: "write a smaller ROI per request",
    };
    let _reservation = state.budget.reserve(bytes).await?;
    let headers = req.headers().clone();
    let body = read_limited(req, limits.max_roi_bytes + NPY_HEADER_MAX, over).await?;
    let data = decode_body(&headers, &body)?;
    drop(body);
    if data.dtype() != m.dtype {
        return Err(Error::Unprocessable(format!(
            "the body is {} but array {:?} is {}; convert it before writing",
            data.dtype(),
            open.name(),
            m.dtype
        )));
    }
    if data.shape() != shape.as_slice() {
        return Err(Error::BadRequest(format!(
            "the body has shape {:?} but the ROI {roi} is {shape:?} voxels (c?,z,y,x)",
            data.shape()
        )));
    }
    let report = writer.write(&roi, Arc::new(data), &state.ctx).await?;
    let levels = pyramid::update(array, &roi, &state.ctx).await?;
    tracing::info!(array = open.name(), %roi, chunks = report.chunks, levels, "written");
    Ok(Json(json!({
        "written": {"offset": roi.offset, "shape": roi.shape},
        "chunks": report.chunks,
        "bytes": report.bytes,
        "generation": report.generation,
        "levels_updated": levels,
    })))
}

/// `PATCH /v1/arrays/{name}/attrs`: a JSON object merged into the stored attributes
/// (a `null` value removes the key); the array is reopened with them.
///
/// # Errors
/// 400 a body that is not a JSON object, 401/403 token, 405 a read-only array, 422 when
/// the new attributes make the array or a dependent invalid.
pub async fn patch_attrs(
    State(state): State<AppState>,
    _admin: Admin,
    open: OpenArray,
    query: QueryParams,
    LimitedBody(body): LimitedBody,
) -> Result<Json<Value>> {
    query.only(&[])?;
    let writer = writer_of(&open)?;
    let patch: Map<String, Value> = serde_json::from_slice(&body).map_err(|e| {
        Error::BadRequest(format!("the body must be a JSON object of attributes: {e}"))
    })?;
    let writer = writer.clone();
    let attrs = tokio::task::spawn_blocking(move || writer.merge_attrs(patch))
        .await
        .map_err(|e| Error::Internal(format!("updating the attributes failed: {e}")))??;
    state
        .registry
        .put(open.name(), open.entry.config.clone(), false)
        .await?;
    Ok(Json(json!({"attrs": attrs})))
}

/// An array `create` made for a registration that may still fail.
pub struct Created {
    store: Arc<dyn ReadableWritableStorageTraits>,
    dirs: Vec<String>,
}

impl std::fmt::Debug for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Created")
            .field("dirs", &self.dirs)
            .finish_non_exhaustive()
    }
}

impl Created {
    /// Removes what was created (the registration failed).
    pub async fn undo(self) {
        let Self { store, dirs } = self;
        let undone = tokio::task::spawn_blocking(move || {
            for dir in &dirs {
                if let Err(e) = remove(store.as_ref(), dir) {
                    tracing::warn!(dir, error = %e, "could not remove an array created for a failed registration");
                }
            }
        });
        if let Err(e) = undone.await {
            tracing::warn!(error = %e, "removing an array created for a failed registration failed");
        }
    }
}

/// Creates the array the top node's `create` asks for, before the config is
/// registered (never when a persisted config is reopened); `None` when there is
/// nothing to create (or only a dry run). An invalid config is left to the registry
/// to report.
///
/// # Errors
/// 409 an existing array without `overwrite`, 422 a bad `create` or a store that
/// cannot be created in, 500 storage failures.
pub async fn create_for(
    state: &AppState,
    name: &str,
    config: &Value,
    dry_run: bool,
) -> Result<Option<Created>> {
    let mut named = config.clone();
    if let Some(obj) = named.as_object_mut() {
        obj.entry("name")
            .or_insert_with(|| Value::String(name.to_owned()));
    }
    let Ok(node) = config::parse(&named) else {
        return Ok(None);
    };
    let TypedConfig::Zarr(z) = &node.typed else {
        return Ok(None);
    };
    let Some(spec) = &z.create else {
        return Ok(None);
    };
    let plan = spec.plan(&z.dataset).map_err(Error::Validation)?;
    let container = Container::open(&state.env, &z.file_name, !dry_run).map_err(|reason| {
        Error::Validation(vec![crate::array::FieldProblem::new("file_name", reason)])
    })?;
    let (store, name) = (container.store, name.to_owned());
    let created = tokio::task::spawn_blocking(move || {
        let s0 = &plan.levels[0].path;
        let fresh = !exists(store.as_ref(), s0)?;
        if dry_run {
            if !fresh && !plan.overwrite {
                return Err(Error::Conflict(format!(
                    "an array already exists at {s0:?}; set create.overwrite to true to replace it"
                )));
            }
            return Ok(None);
        }
        create(&plan, store.as_ref(), &name)?;
        tracing::info!(array = name, dataset = %s0, levels = plan.levels.len(), "created");
        Ok(fresh.then(|| Created {
            dirs: plan.levels.iter().map(|l| l.path.clone()).collect(),
            store,
        }))
    });
    created
        .await
        .map_err(|e| Error::Internal(format!("creating the array failed: {e}")))?
}
