//! `zarr`: a stored zarr v2/v3 array, opened once through zarrs (`spec/arrays.md`,
//! "zarr"). Geometry comes from the metadata conventions in [`metadata`];
//! `snap_to_grid` only shrinks the advertised ROI (deviation 1).
//!
//! ```
//! # use arrayd::array::config::{parse, TypedConfig};
//! let node = parse(&serde_json::json!({"type": "zarr", "name": "raw",
//!     "file_name": "jrc_hela-2.zarr", "dataset": "recon-1/em/fibsem-uint8/s0",
//!     "snap_to_grid": null, "axes": null})).unwrap();
//! assert!(matches!(node.typed, TypedConfig::Zarr(_)));
//! ```

pub mod geometry;
pub mod layout;
pub mod levels;
pub mod metadata;
pub mod passthrough;
mod shards;

use std::sync::Arc;

use async_trait::async_trait;
use ndarray::ArrayD;
use serde::Deserialize;
use serde_json::{Map, Value};
use zarrs::array::{
    Array as ZArray, ArrayBytes, ArrayShardedExt, ArrayShardedReadableExt, ArraySubset,
    CodecOptions,
};
use zarrs::plugin::ExtensionName;
use zarrs::storage::{ReadableStorageTraits, StoreKey};

pub use self::geometry::Geometry;
use self::geometry::validate_geometry;
use self::layout::Layout;
use self::metadata::{NodeAttrs, find_geometry};
use self::passthrough::PassThrough;
use self::shards::ShardIndexes;
use super::resolve::{MetaParts, NodeCtx};
use super::{Array, FieldProblem, Freshness, Metadata, RawChunks};
use crate::dtype::DType;
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::{Coord, Roi, Snap};
use crate::grid::ChunkGrid;
use crate::storage::n5;
use crate::storage::remote::is_url;
use crate::volume::Volume;
use crate::with_dtype;
use crate::write::Writable;
use crate::write::create::CreateSpec;

/// Config fields of `zarr`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZarrConfig {
    /// Container path under the data root.
    pub file_name: String,
    /// Array path inside the container.
    pub dataset: String,
    /// Shrinks the ROI to this grid (world units).
    #[serde(default)]
    pub snap_to_grid: Option<Vec<i64>>,
    /// Axis names overriding the metadata.
    #[serde(default)]
    pub axes: Option<Vec<String>>,
    /// Creates the array when the config is registered ([`crate::write::create`]).
    #[serde(default)]
    pub create: Option<Box<CreateSpec>>,
    /// Opens the array for writing (implied by `create`).
    #[serde(default)]
    pub writable: bool,
}

type Storage = dyn ReadableStorageTraits;

/// What opening reads from storage (off the async runtime).
struct Opened {
    array: ZArray<Storage>,
    dtype: DType,
    own: NodeAttrs,
    ancestors: Vec<NodeAttrs>,
    document: Value,
    is_n5: bool,
}

impl Opened {
    fn read(storage: Arc<Storage>, path: &str, file_name: &str) -> Result<Self, String> {
        let is_n5 = n5::is_n5(storage.as_ref(), path);
        let storage = if is_n5 { n5::adapter(storage) } else { storage };
        let array = ZArray::open(storage.clone(), &format!("/{path}"))
            .map_err(|e| format!("no readable zarr array {path:?} in {file_name}: {e}"))?;
        let dtype = dtype_of(&array)?;
        let own = NodeAttrs {
            path: path.to_owned(),
            attrs: array.attributes().clone(),
        };
        let mut ancestors = Vec::new();
        let mut p = path;
        while let Some((parent, _)) = p.rsplit_once('/') {
            ancestors.push(node_attrs(storage.as_ref(), parent));
            p = parent;
        }
        if !path.is_empty() {
            ancestors.push(node_attrs(storage.as_ref(), ""));
        }
        let doc_key = match array.metadata() {
            zarrs::array::ArrayMetadata::V2(_) => format!("{path}/.zarray"),
            zarrs::array::ArrayMetadata::V3(_) => format!("{path}/zarr.json"),
        };
        let document =
            read_json(storage.as_ref(), doc_key.trim_start_matches('/')).unwrap_or(Value::Null);
        Ok(Self {
            array,
            dtype,
            own,
            ancestors,
            document,
            is_n5,
        })
    }
}

/// An opened zarr array.
pub struct Zarr {
    meta: Metadata,
    /// Shard index caches, for sharded arrays.
    shards: Option<ShardIndexes>,
    array: Arc<ZArray<Storage>>,
    /// World coordinate of stored voxel 0.
    origin: Coord,
    layout: Layout,
    /// The stored documents per view, when stored chunks can be served as they are.
    passthrough: PassThrough,
    zarr_format: u8,
    /// Dataset paths of the coarser levels of its OME-NGFF multiscale group.
    pub(crate) coarser: Vec<String>,
    /// The writer, when the array is open for writing.
    writer: Option<Arc<Writable>>,
}

fn read_json(storage: &Storage, key: &str) -> Option<Value> {
    let key = StoreKey::new(key).ok()?;
    let bytes = storage.get(&key).ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// Attributes of the node at `path` ("" = root), v2 or v3.
fn node_attrs(storage: &Storage, path: &str) -> NodeAttrs {
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let attrs = read_json(storage, &format!("{prefix}.zattrs"))
        .or_else(|| {
            read_json(storage, &format!("{prefix}zarr.json"))?
                .get("attributes")
                .cloned()
        })
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    NodeAttrs {
        path: path.to_owned(),
        attrs,
    }
}

/// Whether the served shape and chunk shape are the stored ones.
fn served_as_stored(meta: &Metadata, shape: &[u64], chunk: &[u64]) -> bool {
    let same = |served: Vec<usize>, stored: &[u64]| {
        served.iter().map(|&s| s as u64).eq(stored.iter().copied())
    };
    same(meta.shape(), shape) && same(meta.chunk_shape(), chunk)
}

/// The stored chunk shape and the unit of reading (a sharded array's inner chunk).
fn chunk_shapes(array: &ZArray<Storage>) -> Result<(Vec<u64>, Vec<u64>), String> {
    let chunk_all: Vec<u64> = array
        .chunk_shape(&vec![0; array.shape().len()])
        .map(|c| c.iter().map(|n| n.get()).collect())
        .map_err(|e| format!("the array does not have a regular chunk grid: {e}"))?;
    let read_chunk: Vec<u64> = array.effective_subchunk_shape().map_or_else(
        || chunk_all.clone(),
        |c| c.iter().map(|n| n.get()).collect(),
    );
    Ok((chunk_all, read_chunk))
}

/// The stored attributes, with `units` from the geometry; stored `units` of a reordered
/// array are in stored order, so they are replaced.
fn served_attrs(
    array: &ZArray<Storage>,
    units: Option<Vec<String>>,
    identity: bool,
) -> Map<String, Value> {
    let mut attrs: Map<String, Value> = array.attributes().clone();
    if let Some(units) = units {
        if identity {
            attrs.entry("units").or_insert_with(|| Value::from(units));
        } else {
            attrs.insert("units".into(), Value::from(units));
        }
    }
    attrs
}

fn dtype_of(array: &ZArray<Storage>) -> Result<DType, String> {
    let name = array
        .data_type()
        .name(zarrs::plugin::ZarrVersion::V3)
        .map(|n| n.to_string())
        .unwrap_or_default();
    name.parse().map_err(|_| {
        format!(
            "stored data type {} is not supported (bool, uint8..uint64, int8..int64, float32, float64 are)",
            array.data_type()
        )
    })
}

impl std::fmt::Debug for Zarr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zarr")
            .field("meta", &self.meta)
            .field("origin", &self.origin)
            .field("zarr_format", &self.zarr_format)
            .finish_non_exhaustive()
    }
}

/// The store `file_name` names: a remote URL (when allowed) or a directory under the
/// data root.
fn open_storage(file_name: &str, ctx: &NodeCtx<'_>) -> Result<Arc<Storage>, String> {
    Ok(if is_url(file_name) {
        Arc::new(ctx.env.remotes.open(file_name)?)
    } else {
        Arc::new(ctx.env.local_store(file_name)?)
    })
}

/// The stored ROI shrunk to `snap_to_grid` (world units, with the voxel size), if given.
fn snapped(stored: Roi, vs: &Coord, grid: Option<&[i64]>) -> Result<Roi, String> {
    match grid {
        None => Ok(stored),
        Some(g) if g.len() == vs.dims() && g.iter().all(|&v| v > 0) => {
            Ok(stored.snap_to_grid(&vs.lcm(&Coord::new(g.to_vec())), Snap::Shrink))
        }
        Some(_) => Err(format!(
            "must be {} positive integers (z,y,x world units)",
            vs.dims()
        )),
    }
}

/// The writer of an array opened with `writable` or `create` (then marked writable).
fn open_writer(
    cfg: &ZarrConfig,
    ctx: &NodeCtx<'_>,
    meta: &mut Metadata,
    plain: bool,
    stored: &ZArray<Storage>,
    origin: &Coord,
) -> Result<Option<Arc<Writable>>, Vec<FieldProblem>> {
    if !cfg.writable && cfg.create.is_none() {
        return Ok(None);
    }
    let bad = |field: &str, reason: &str| vec![ctx.problem(field, reason)];
    if cfg.create.is_some() && !ctx.path.is_empty() {
        return Err(bad(
            "create",
            "only the registered array itself can be created, not a source inside a chain",
        ));
    }
    if !plain {
        return Err(bad(
            "writable",
            "only unsharded zarr arrays stored as c?,z,y,x can be written",
        ));
    }
    let w = (ctx.env.writes)
        .open(
            ctx.env,
            &cfg.file_name,
            &cfg.dataset,
            stored.metadata(),
            meta,
            origin,
        )
        .map_err(|r| bad("writable", &r))?;
    meta.writable = true;
    meta.mutable = true;
    Ok(Some(w))
}

impl Zarr {
    /// Opens the array and reads its geometry.
    ///
    /// # Errors
    /// Path outside the data root, no array there, unsupported dtype, inconsistent
    /// geometry, or a bad `snap_to_grid`.
    pub async fn resolve(cfg: &ZarrConfig, ctx: &NodeCtx<'_>) -> Result<Self, Vec<FieldProblem>> {
        let bad = |field: &str, reason: String| vec![ctx.problem(field, reason)];
        let storage = open_storage(&cfg.file_name, ctx).map_err(|r| bad("file_name", r))?;
        let path = cfg.dataset.trim_matches('/').to_owned();
        let file_name = cfg.file_name.clone();
        // Metadata reads may go over the network: never on the async runtime.
        let Opened {
            array,
            dtype,
            own,
            ancestors,
            document,
            is_n5,
        } = tokio::task::spawn_blocking(move || Opened::read(storage, &path, &file_name))
            .await
            .map_err(|e| bad("dataset", format!("opening the array failed: {e}")))?
            .map_err(|r| bad("dataset", r))?;
        let shape = array.shape().to_vec();
        let mut found = find_geometry(&own, &ancestors);
        if found.axes.is_none() {
            // Zarr v3's own `dimension_names` (tensorstore, zarr-python) when every axis has one.
            found.axes = array
                .dimension_names()
                .as_ref()
                .and_then(|names| names.iter().cloned().collect::<Option<Vec<String>>>());
        }
        let axes = n5::stored_axes(is_n5, cfg.axes.as_deref(), &mut found, shape.len());
        let geo = validate_geometry(&found, axes.as_deref(), &shape).map_err(|r| {
            let field = if cfg.axes.is_some() {
                "axes"
            } else {
                "dataset"
            };
            bad(field, r)
        })?;
        let vs = geo.voxel_size.clone();
        let spatial_shape: Vec<i64> = (geo.layout.spatial_of(&shape).iter())
            .map(|&s| i64::try_from(s).unwrap_or(i64::MAX))
            .collect();
        let stored_roi = Roi::new(geo.offset.clone(), &Coord::new(spatial_shape) * &vs);
        let roi = snapped(stored_roi, &vs, cfg.snap_to_grid.as_deref())
            .map_err(|r| bad("snap_to_grid", r))?;
        let (chunk_all, read_chunk) = chunk_shapes(&array).map_err(|r| bad("dataset", r))?;
        let sharded = array.is_sharded();
        let chunk_spatial: Vec<i64> = (geo.layout.spatial_of(&read_chunk).iter())
            .map(|&c| i64::try_from(c).unwrap_or(i64::MAX))
            .collect();
        let grid = ChunkGrid::from_voxels(geo.offset.clone(), &Coord::new(chunk_spatial), &vs);
        let zarr_format = match array.metadata() {
            zarrs::array::ArrayMetadata::V2(_) => 2,
            zarrs::array::ArrayMetadata::V3(_) => 3,
        };
        let attrs = served_attrs(&array, geo.units, geo.layout.is_identity());
        let mut meta = ctx.metadata(MetaParts {
            dtype,
            num_channels: geo.num_channels,
            voxel_size: vs,
            roi,
            grid: Some(grid),
            attrs,
            labels: matches!(dtype, DType::U32 | DType::U64) && geo.num_channels.is_none(),
        })?;
        // Stored files can be rewritten in place: clients revalidate.
        meta.freshness = Freshness::Revalidate;
        // A sharded, permuted, reduced or N5 array has no stored chunks in the served
        // layout: its chunks are computed.
        let same_grid = geo.layout.is_identity()
            && !is_n5
            && !sharded
            && served_as_stored(&meta, &shape, &chunk_all);
        let plain = geo.layout.is_identity() && !is_n5 && !sharded;
        let writer = open_writer(cfg, ctx, &mut meta, plain, &array, &geo.offset)?;
        Ok(Self {
            writer,
            passthrough: PassThrough::decide(zarr_format, &document, dtype, same_grid),
            coarser: levels::coarser(&ancestors, cfg.dataset.trim_matches('/'), is_n5),
            meta,
            shards: sharded.then(|| ShardIndexes::new(&chunk_all)),
            array: Arc::new(array),
            origin: geo.offset,
            layout: geo.layout,
            zarr_format,
        })
    }
}

#[async_trait]
impl Array for Zarr {
    fn meta(&self) -> &Metadata {
        &self.meta
    }

    async fn read(&self, roi: &Roi, ctx: &ReadCtx) -> Result<Volume, EvalError> {
        let vs = &self.meta.voxel_size;
        let start = &(&roi.offset - &self.origin) / vs;
        let end = &start + &(&roi.shape / vs);
        let mut spatial = Vec::with_capacity(3);
        for d in 0..start.dims() {
            let (b, e) = (u64::try_from(start[d]), u64::try_from(end[d]));
            match (b, e) {
                (Ok(b), Ok(e)) => spatial.push(b..e),
                _ => {
                    return Err(EvalError::Internal(format!(
                        "zarr read {roi} before the stored origin"
                    )));
                }
            }
        }
        let channels = self.meta.num_channels.map(|c| 0..c as u64);
        let ranges = self.layout.stored_ranges(channels, &spatial);
        let array = self.array.clone();
        let layout = self.layout.clone();
        let dtype = self.meta.dtype;
        let shard = self.shards.as_ref().and_then(|s| s.of(&array, &ranges));
        ctx.compute(move || {
            let subset = ArraySubset::new_with_ranges(&ranges);
            if dtype == DType::U8 && shard.is_none() {
                return decoded_u8(&array, &subset).map(|a| Volume::from(layout.to_served(a)));
            }
            let options = CodecOptions::default();
            with_dtype!(dtype, T => match &shard {
                Some(cache) => array.retrieve_array_subset_sharded_opt::<ArrayD<T>>(cache, &subset, &options),
                None => array.retrieve_array_subset::<ArrayD<T>>(&subset),
            }
            .map(|a| Volume::from(layout.to_served(a)))
            .map_err(|e| EvalError::from_storage(&e)))
        })
        .await
    }

    fn generation(&self, roi: &Roi) -> u64 {
        self.writer.as_ref().map_or(0, |w| w.generation(roi))
    }

    fn writer(&self) -> Option<&Arc<Writable>> {
        self.writer.as_ref()
    }

    fn raw_chunks(&self) -> Option<&dyn RawChunks> {
        let p = &self.passthrough;
        (p.v2.is_some() || p.v3.is_some()).then_some(self as &dyn RawChunks)
    }
}

/// `subset` of a uint8 array (EM images, the common case) without the copy zarrs makes
/// into a typed `Vec`: the decoded bytes are the elements.
fn decoded_u8(array: &ZArray<Storage>, subset: &ArraySubset) -> Result<ArrayD<u8>, EvalError> {
    let bytes: ArrayBytes<'static> = array
        .retrieve_array_subset(subset)
        .map_err(|e| EvalError::from_storage(&e))?;
    let elements = bytes
        .into_fixed()
        .map_err(|e| EvalError::Internal(format!("uint8 chunk bytes: {e}")))?
        .into_owned();
    ArrayD::from_shape_vec(subset.shape_usize(), elements)
        .map_err(|e| EvalError::Internal(format!("uint8 chunk of {subset:?}: {e}")))
}

impl RawChunks for Zarr {
    fn view_document(&self, v3: bool) -> Option<&Value> {
        self.passthrough.document(v3)
    }

    fn chunk_bytes(&self, idx: &[u64]) -> Result<Option<Vec<u8>>, EvalError> {
        self.array
            .retrieve_encoded_chunk(idx)
            .map_err(|e| EvalError::from_storage(&e))
    }
}
