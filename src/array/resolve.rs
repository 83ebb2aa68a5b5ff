//! Config → opened array: the only constructor path. Sources are resolved first
//! (inline recursively, named through the registry), then the node's type checks its
//! fields against them and computes its metadata. Every problem is collected.

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::config::{NodeConfig, NodeOptions, SourceConfig, TypedConfig};
use super::leveled::Leveled;
use super::mapped::Mapped;
use super::node::build;
use super::{
    ArrayRef, ConfigHash, FieldProblem, Freshness, Metadata, binarize, concat, constant, crop,
    dummy, dvid, intensities, logical_or, merge_instances, missing_annotations_mask, numpy, ones,
    resampled, sum, zarr,
};
use crate::dtype::DType;
use crate::dvid::DvidPool;
use crate::geometry::{Coord, Roi};
use crate::grid::ChunkGrid;
use crate::limits::{Limits, volume_bytes};
use crate::metrics::Metrics;
use crate::storage::local::ConfinedStore;
use crate::storage::remote::Remotes;
use crate::storage::{DataRoot, check_relative};

/// Chunk extent (voxels per axis) for arrays without a natural grid.
pub const DEFAULT_CHUNK: i64 = 64;

/// `file_name` prefix that addresses the `--demo` data in the state dir.
pub const DEMO_PREFIX: &str = "@demo/";

/// What resolution needs from the server.
#[derive(Debug, Clone)]
pub struct ResolveEnv {
    /// Root that every `file_name` is confined to.
    pub data_root: Arc<DataRoot>,
    /// With `--demo`: the demo data, addressed as `@demo/...` in `file_name`.
    pub demo_root: Option<PathBuf>,
    /// The shared upstream (DVID) client pool.
    pub dvid: Arc<DvidPool>,
    /// Limits checked while resolving (chunk size, fan-in, depth).
    pub limits: Limits,
    /// Metrics sink for storage reads.
    pub metrics: Arc<Metrics>,
    /// The remote stores configs may open.
    pub remotes: Arc<Remotes>,
    /// The arrays open for writing.
    pub writes: Arc<crate::write::WriteTable>,
}

impl ResolveEnv {
    /// The root and relative path `file_name` names, refusing absolute paths, `..` and
    /// anything that resolves outside the root (checked again at every open).
    ///
    /// # Errors
    /// A human-readable reason.
    pub fn locate(&self, file_name: &str) -> Result<(Arc<DataRoot>, PathBuf), String> {
        let (root, rel_name) = match (file_name.strip_prefix(DEMO_PREFIX), &self.demo_root) {
            (Some(rest), Some(demo)) => (
                Arc::new(
                    DataRoot::open(demo).map_err(|e| format!("the demo data is missing ({e})"))?,
                ),
                rest,
            ),
            (Some(_), None) => {
                return Err("@demo/ paths exist only when the server runs with --demo".into());
            }
            (None, _) => (self.data_root.clone(), file_name),
        };
        let rel = check_relative(rel_name)?.to_path_buf();
        Ok((root, rel))
    }

    /// A zarr store of the directory `file_name`.
    ///
    /// # Errors
    /// As [`ResolveEnv::locate`], or when it is not a directory beneath the root.
    pub fn local_store(&self, file_name: &str) -> Result<ConfinedStore, String> {
        let (root, rel) = self.locate(file_name)?;
        root.check_dir(&rel)
            .map_err(|e| format!("{file_name} is not a directory under the data root ({e})"))?;
        Ok(ConfinedStore::new(root, rel, self.metrics.clone()))
    }

    /// The bytes of the file `file_name`.
    ///
    /// # Errors
    /// As [`ResolveEnv::locate`], or when it cannot be read.
    pub fn read_file(&self, file_name: &str) -> Result<Vec<u8>, String> {
        let (root, rel) = self.locate(file_name)?;
        let mut bytes = Vec::new();
        root.open_file(&rel)
            .and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut bytes))
            .map_err(|e| format!("cannot read {file_name} under the data root ({e})"))?;
        Ok(bytes)
    }
}

/// A resolved source of a node.
#[derive(Debug, Clone)]
pub struct Source {
    /// Dotted field path of the slot.
    pub field: String,
    /// The map key (concat channel), if any.
    pub key: Option<String>,
    /// The opened source.
    pub array: ArrayRef,
}

/// How named references are found (the registry implements it).
pub trait Lookup: Send + Sync {
    /// The array registered as `name`.
    ///
    /// # Errors
    /// Why the name cannot be used (unknown, a cycle, not loaded).
    fn lookup(&self, name: &str) -> Result<ArrayRef, String>;
}

/// The node being resolved: its path (for problems), options and identity (for the hash).
#[derive(Debug)]
pub struct NodeCtx<'a> {
    /// Dotted path of the node in the document ("" for the top).
    pub path: String,
    /// Server resources.
    pub env: &'a ResolveEnv,
    /// The node's `name`.
    pub name: String,
    type_name: &'static str,
    options: NodeOptions,
    identity: Value,
    freshness: Freshness,
    /// 1 for a source, one more than the deepest source for a wrapper.
    depth: usize,
    /// A source is writable.
    mutable: bool,
}

/// Parts of [`Metadata`] a type computes; the context adds hash, options and type.
#[derive(Debug, Clone)]
pub struct MetaParts {
    /// Output dtype.
    pub dtype: DType,
    /// Channels, `None` without a `c` axis.
    pub num_channels: Option<usize>,
    /// Voxel size.
    pub voxel_size: Coord,
    /// ROI (world).
    pub roi: Roi,
    /// Natural grid, `None` for the default 64³ grid at the ROI offset.
    pub grid: Option<ChunkGrid>,
    /// Attributes.
    pub attrs: Map<String, Value>,
    /// Output is a label volume.
    pub labels: bool,
}

impl MetaParts {
    /// What a wrapper keeps of its source's metadata unless it says otherwise: dtype,
    /// channels, voxel size, ROI and grid, with no attributes and not labels. Override
    /// with `MetaParts { dtype, ..MetaParts::like(m) }`.
    #[must_use]
    pub fn like(m: &Metadata) -> Self {
        Self {
            dtype: m.dtype,
            num_channels: m.num_channels,
            voxel_size: m.voxel_size.clone(),
            roi: m.roi.clone(),
            grid: Some(m.grid.clone()),
            attrs: Map::new(),
            labels: false,
        }
    }
}

impl<'a> NodeCtx<'a> {
    /// The dotted path of one of this node's fields.
    #[must_use]
    pub fn field(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// A problem with one of this node's fields.
    #[must_use]
    pub fn problem(&self, field: &str, reason: impl Into<String>) -> FieldProblem {
        FieldProblem::new(self.field(field), reason)
    }

    /// The context of an array derived from this node (a stored level), told apart
    /// from it in the hash by `tag`.
    #[must_use]
    pub fn derived(&self, tag: Value) -> NodeCtx<'a> {
        NodeCtx {
            path: self.path.clone(),
            env: self.env,
            name: self.name.clone(),
            type_name: self.type_name,
            options: self.options.clone(),
            identity: json!({"of": self.identity, "level": tag}),
            freshness: self.freshness,
            depth: self.depth,
            mutable: self.mutable,
        }
    }

    /// The array's chunk grid: `grid` (the natural one, else 64 voxels from the ROI's
    /// offset) unless the config's `chunk_shape` overrides it.
    fn grid(
        &self,
        grid: Option<ChunkGrid>,
        roi: &Roi,
        vs: &Coord,
    ) -> Result<ChunkGrid, Vec<FieldProblem>> {
        let natural = grid.unwrap_or_else(|| {
            ChunkGrid::from_voxels(
                roi.offset.clone(),
                &Coord::splat(DEFAULT_CHUNK, vs.dims()),
                vs,
            )
        });
        match &self.options.chunk_shape {
            None => Ok(natural),
            Some(shape) if shape.len() == vs.dims() => {
                let chunk = Coord::new(shape.clone())
                    .checked_mul(vs)
                    .filter(Coord::within_world)
                    .ok_or_else(|| {
                        vec![self.problem(
                            "chunk_shape",
                            format!("{shape:?} voxels of {vs} reach beyond 2^48 world units"),
                        )]
                    })?;
                Ok(ChunkGrid::new(natural.origin, chunk))
            }
            Some(shape) => Err(vec![self.problem(
                "chunk_shape",
                format!(
                    "has {} entries but the array has {} spatial axes",
                    shape.len(),
                    vs.dims()
                ),
            )]),
        }
    }

    /// Refuses chunks above `--max-chunk-bytes`.
    fn check_chunk_bytes(
        &self,
        grid: &ChunkGrid,
        parts: &MetaParts,
    ) -> Result<(), Vec<FieldProblem>> {
        let vs = &parts.voxel_size;
        let chunk_voxels: Vec<usize> = parts
            .num_channels
            .into_iter()
            .chain(grid.chunk_voxels(vs).to_usize())
            .collect();
        self.env
            .limits
            .chunk_bytes(volume_bytes(&chunk_voxels, parts.dtype.size()))
            .map_err(|e| {
                let at = if self.options.chunk_shape.is_some() {
                    self.field("chunk_shape")
                } else {
                    self.path.clone()
                };
                vec![FieldProblem::new(
                    at,
                    format!("chunks of {chunk_voxels:?} voxels: {e}"),
                )]
            })
    }

    /// Completes the metadata: grid override, cache flag, type name and hash.
    ///
    /// # Errors
    /// An empty ROI or a bad `chunk_shape`.
    pub fn metadata(&self, parts: MetaParts) -> Result<Metadata, Vec<FieldProblem>> {
        let vs = &parts.voxel_size;
        let whole = |reason: String| vec![FieldProblem::new(self.path.clone(), reason)];
        if parts.roi.is_empty() {
            return Err(whole(format!("the array's ROI {} is empty", parts.roi)));
        }
        parts.roi.check_world().map_err(whole)?;
        if !vs.within_world() || vs.iter().any(|&v| v <= 0) {
            return Err(whole(format!(
                "voxel size {vs} must be positive and at most 2^48 world units"
            )));
        }
        let grid = self.grid(parts.grid.clone(), &parts.roi, vs)?;
        self.check_chunk_bytes(&grid, &parts)?;
        self.env
            .limits
            .depth(self.depth)
            .map_err(|e| whole(e.to_string()))?;
        let hash = ConfigHash::of(&json!({
            "node": self.identity,
            "dtype": parts.dtype,
            "num_channels": parts.num_channels,
            "voxel_size": vs,
            "roi": [parts.roi.offset, parts.roi.shape],
            "grid": [grid.origin, grid.chunk],
            "attrs": parts.attrs,
        }));
        Ok(Metadata {
            type_name: self.type_name,
            dtype: parts.dtype,
            num_channels: parts.num_channels,
            voxel_size: parts.voxel_size,
            roi: parts.roi,
            grid,
            attrs: parts.attrs,
            hash,
            labels: parts.labels,
            cache: self.options.cache,
            freshness: self.freshness,
            depth: self.depth,
            writable: false,
            mutable: self.mutable,
        })
    }
}

/// Opens the array a parsed config describes.
///
/// # Errors
/// Every problem with this node and its sources.
pub fn resolve<'a>(
    node: &'a NodeConfig,
    path: &'a str,
    env: &'a ResolveEnv,
    lookup: &'a dyn Lookup,
) -> BoxFuture<'a, Result<ArrayRef, Vec<FieldProblem>>> {
    Box::pin(async move {
        let mut problems = Vec::new();
        let mut sources = Vec::new();
        for slot in &node.sources {
            let array = match &slot.config {
                SourceConfig::Named(name) => lookup
                    .lookup(name)
                    .map_err(|reason| vec![FieldProblem::new(slot.field.clone(), reason)]),
                SourceConfig::Inline(inner) => resolve(inner, &slot.field, env, lookup).await,
            };
            match array {
                Ok(array) => sources.push(Source {
                    field: slot.field.clone(),
                    key: slot.key.clone(),
                    array,
                }),
                Err(mut p) => problems.append(&mut p),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        if let Err(e) = env.limits.fan_in(sources.len()) {
            return Err(vec![FieldProblem::new(path.to_owned(), e.to_string())]);
        }
        let source_hashes: Vec<String> = sources
            .iter()
            .map(|s| format!("{}={}", s.field, s.array.meta().hash))
            .collect();
        let ctx = NodeCtx {
            path: path.to_owned(),
            env,
            name: node.name.clone(),
            type_name: node.typed.type_name(),
            options: node.options.clone(),
            identity: json!({"type": node.typed.type_name(), "own": node.own, "sources": source_hashes}),
            freshness: sources
                .iter()
                .map(|s| s.array.meta().freshness)
                .min()
                .unwrap_or(Freshness::Immutable),
            depth: 1 + sources
                .iter()
                .map(|s| s.array.meta().depth)
                .max()
                .unwrap_or(0),
            mutable: sources.iter().any(|s| s.array.meta().mutable),
        };
        let levels = if node.typed.value_wise() {
            wrapper_levels(&node.typed, &sources, &ctx).await
        } else {
            Vec::new()
        };
        let array = construct(&node.typed, sources, &ctx).await?;
        Ok(Leveled::wrap(array, levels))
    })
}

/// The node over its sources' stored levels, as far as every source stores them and the
/// node accepts them (a crop ROI off a coarser grid ends the list).
async fn wrapper_levels(
    typed: &TypedConfig,
    sources: &[Source],
    ctx: &NodeCtx<'_>,
) -> Vec<ArrayRef> {
    let stored: Vec<Vec<ArrayRef>> = sources.iter().map(|s| s.array.stored_levels()).collect();
    let depth = stored.iter().map(Vec::len).min().unwrap_or(0);
    let mut out = Vec::new();
    for k in 0..depth {
        let level_sources: Vec<Source> = sources
            .iter()
            .zip(&stored)
            .map(|(s, levels)| Source {
                array: levels[k].clone(),
                ..s.clone()
            })
            .collect();
        let hashes: Vec<String> = level_sources
            .iter()
            .map(|s| s.array.meta().hash.to_string())
            .collect();
        let level_ctx = ctx.derived(json!({"sources": hashes}));
        match construct(typed, level_sources, &level_ctx).await {
            Ok(level) => out.push(level),
            Err(problems) => {
                let reason: Vec<String> = problems.iter().map(ToString::to_string).collect();
                tracing::info!(level = k + 1, reason = %reason.join("; "), "the sources' stored level does not fit this node; it is computed");
                break;
            }
        }
    }
    out
}

async fn construct(
    typed: &TypedConfig,
    sources: Vec<Source>,
    ctx: &NodeCtx<'_>,
) -> Result<ArrayRef, Vec<FieldProblem>> {
    match typed {
        TypedConfig::Zarr(c) => zarr::levels::open(c, ctx).await,
        TypedConfig::Dvid(c) => Ok(Arc::new(dvid::Dvid::resolve(c, ctx).await?)),
        TypedConfig::Numpy(c) => build::<numpy::Numpy>(c, sources, ctx),
        TypedConfig::Dummy(c) => build::<dummy::Dummy>(c, sources, ctx),
        TypedConfig::Binarize(c) => build::<Mapped<binarize::Binarize>>(c, sources, ctx),
        TypedConfig::Resampled(c) => build::<resampled::Resampled>(c, sources, ctx),
        TypedConfig::Intensities(c) => build::<Mapped<intensities::Intensities>>(c, sources, ctx),
        TypedConfig::MissingAnnotationsMask(c) => {
            build::<Mapped<missing_annotations_mask::MissingAnnotationsMask>>(c, sources, ctx)
        }
        TypedConfig::Ones(c) => build::<ones::Ones>(c, sources, ctx),
        TypedConfig::Constant(c) => build::<constant::Constant>(c, sources, ctx),
        TypedConfig::Concat(c) => build::<concat::Concat>(c, sources, ctx),
        TypedConfig::LogicalOr(c) => build::<Mapped<logical_or::LogicalOr>>(c, sources, ctx),
        TypedConfig::Crop(c) => build::<crop::Crop>(c, sources, ctx),
        TypedConfig::MergeInstances(c) => build::<merge_instances::MergeInstances>(c, sources, ctx),
        TypedConfig::Sum(c) => build::<sum::Sum>(c, sources, ctx),
    }
}

/// Checks sources that are combined voxel by voxel (`sum`, `merge_instances`): no
/// channel axis, the first one's voxel size, and ROIs that cover the first one's.
///
/// # Errors
/// Every offending source, named by its field.
pub fn check_voxelwise_sources(
    sources: &[Source],
    integer_only: bool,
) -> Result<(), Vec<FieldProblem>> {
    let Some(first) = sources.first() else {
        return Err(vec![FieldProblem::new(
            "source_array_configs",
            "needs at least one source",
        )]);
    };
    let fm = first.array.meta();
    let mut problems = Vec::new();
    for s in sources {
        let m = s.array.meta();
        if let Some(c) = m.num_channels {
            problems.push(FieldProblem::new(
                s.field.clone(),
                format!("has a channel axis ({c} channels); sources must have axes z,y,x"),
            ));
        }
        if integer_only && !(m.dtype.is_integer() || m.dtype == DType::Bool) {
            problems.push(FieldProblem::new(
                s.field.clone(),
                format!("is {}; instance labels must be an integer dtype", m.dtype),
            ));
        }
        if m.voxel_size != fm.voxel_size {
            problems.push(FieldProblem::new(
                s.field.clone(),
                format!(
                    "voxel size {} differs from the first source's {}",
                    m.voxel_size, fm.voxel_size
                ),
            ));
        } else if !m.roi.contains(&fm.roi) {
            problems.push(FieldProblem::new(
                s.field.clone(),
                format!(
                    "ROI {} does not cover the first source's ROI {}",
                    m.roi, fm.roi
                ),
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
