//! The array trait every config type implements, and the metadata it reports
//! (`spec/arrays.md`, "Geometry" and "Types").
//!
//! An array is opened once, at registration, by [`resolve::resolve`]; its [`Metadata`] is
//! computed then and never changes, so "metadata equals what a read returns" holds by
//! construction. Reads go through [`crate::eval::ReadCtx`], which owns the cache and the
//! bounded compute pool.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::block::Block;
use crate::dtype::DType;
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::{Coord, Roi};
use crate::grid::ChunkGrid;
use crate::volume::Volume;
use crate::write::Writable;

/// The two [`Array`] accessors a wrapper shares: for a struct with a `meta: Metadata`
/// field and one `source: ArrayRef` (`wrapper_accessors!(source)`) or a
/// `sources: Vec<ArrayRef>` field (`wrapper_accessors!(sources)`).
macro_rules! wrapper_accessors {
    (source) => {
        fn meta(&self) -> &$crate::array::Metadata {
            &self.meta
        }

        fn sources(&self) -> Vec<$crate::array::ArrayRef> {
            vec![self.source.clone()]
        }
    };
    (sources) => {
        fn meta(&self) -> &$crate::array::Metadata {
            &self.meta
        }

        fn sources(&self) -> Vec<$crate::array::ArrayRef> {
            self.sources.clone()
        }
    };
}

pub mod binarize;
pub mod cast;
pub mod concat;
pub mod config;
pub mod constant;
pub mod crop;
pub mod downsample;
pub mod dummy;
pub mod dvid;
pub mod intensities;
pub mod leveled;
pub mod logical_or;
pub mod mapped;
pub mod merge_instances;
pub mod missing_annotations_mask;
pub mod node;
pub mod numpy;
pub mod ones;
pub mod resampled;
pub mod resolve;
pub mod sum;
pub mod view;
pub mod zarr;

/// A shared handle to an opened array.
pub type ArrayRef = Arc<dyn Array>;

/// A stable 128-bit hash of a fully resolved config; keys the cache and ETags.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigHash(pub [u8; 16]);

impl ConfigHash {
    /// Hashes a canonical JSON value (object keys sorted).
    #[must_use]
    pub fn of(value: &Value) -> Self {
        let digest = Sha256::digest(canonical_json(value).as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        Self(out)
    }
}

impl fmt::Display for ConfigHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ConfigHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfigHash({self})")
    }
}

/// JSON text with object keys sorted at every level.
fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<_> = map.keys().collect();
            keys.sort();
            let body: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&map[k])))
                .collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(items) => {
            let body: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", body.join(","))
        }
        other => other.to_string(),
    }
}

/// How long clients may reuse a response without revalidating; a chain is as fresh as
/// its least stable source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Freshness {
    /// The data can change in place (a file on disk): clients revalidate with the ETag.
    Revalidate,
    /// The data may change after this many seconds (an open DVID node).
    MaxAge(u32),
    /// The data never changes under this ETag (a locked DVID node, synthetic data).
    Immutable,
}

/// What an array is: computed once when it is resolved.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// The config `type` that produced the array (`zarr`, `binarize`, ...).
    pub type_name: &'static str,
    /// Element type of every read.
    pub dtype: DType,
    /// Number of channels, `None` without a `c` axis.
    pub num_channels: Option<usize>,
    /// World units per voxel, z,y,x.
    pub voxel_size: Coord,
    /// The readable region, world units.
    pub roi: Roi,
    /// The chunk grid (world units) reads are split into.
    pub grid: ChunkGrid,
    /// Free-form attributes (passed through only by value-keeping wrappers).
    pub attrs: Map<String, Value>,
    /// Hash of the fully resolved config.
    pub hash: ConfigHash,
    /// True when the output is a label volume (a neuroglancer segmentation).
    pub labels: bool,
    /// Cache this node's chunks when it is read as part of a chain.
    pub cache: bool,
    /// How long responses stay valid without revalidation.
    pub freshness: Freshness,
    /// Chain depth: 1 for a source, one more than its deepest source for a wrapper.
    pub depth: usize,
    /// A stored array open for writing (`PUT .../roi`).
    pub writable: bool,
    /// The array or a source is writable: its data has write generations.
    pub mutable: bool,
}

impl Metadata {
    /// Number of spatial dimensions.
    #[must_use]
    pub fn dims(&self) -> usize {
        self.voxel_size.dims()
    }

    /// Axis names, `c` first when present.
    #[must_use]
    pub fn axes(&self) -> Vec<&'static str> {
        let spatial = &["z", "y", "x"][3 - self.dims().min(3)..];
        self.num_channels
            .map(|_| "c")
            .into_iter()
            .chain(spatial.iter().copied())
            .collect()
    }

    /// Shape in voxels of a world ROI, channel axis first when present.
    #[must_use]
    pub fn volume_shape(&self, roi: &Roi) -> Vec<usize> {
        let spatial = roi.shape.div_floor(&self.voxel_size).to_usize();
        self.num_channels.into_iter().chain(spatial).collect()
    }

    /// Shape of the whole array in voxels, channels included.
    #[must_use]
    pub fn shape(&self) -> Vec<usize> {
        self.volume_shape(&self.roi)
    }

    /// Chunk shape in voxels, channels included.
    #[must_use]
    pub fn chunk_shape(&self) -> Vec<usize> {
        let spatial = self.grid.chunk_voxels(&self.voxel_size).to_usize();
        self.num_channels.into_iter().chain(spatial).collect()
    }

    /// The metadata object of `spec/api.md` ("Registry").
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "dtype": self.dtype,
            "axes": self.axes(),
            "num_channels": self.num_channels,
            "voxel_size": self.voxel_size,
            "roi": {"offset": self.roi.offset, "shape": self.roi.shape},
            "shape": self.shape(),
            "chunk_shape": self.chunk_shape(),
            "attrs": self.attrs,
            "writable": self.writable,
        })
    }
}

/// Stored, still-encoded chunks of a bare zarr source, for pass-through serving.
pub trait RawChunks: Send + Sync + fmt::Debug {
    /// The stored array metadata rewritten for the v3 (`true`) or v2 zarr view, when
    /// that view can serve the stored chunks (decided when the array was opened).
    fn view_document(&self, v3: bool) -> Option<&Value>;
    /// The stored bytes of the chunk at grid indices `idx` (all axes), `None` if absent.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn chunk_bytes(&self, idx: &[u64]) -> Result<Option<Vec<u8>>, EvalError>;
}

/// An array: metadata plus a read of any voxel-aligned ROI inside it.
#[async_trait]
pub trait Array: Send + Sync + fmt::Debug {
    /// The metadata, computed once at resolution.
    fn meta(&self) -> &Metadata;

    /// The arrays this one reads from, in config order.
    fn sources(&self) -> Vec<ArrayRef> {
        Vec::new()
    }

    /// Reads `roi` (voxel-aligned, inside `meta().roi`): a volume of
    /// `meta().volume_shape(roi)` and `meta().dtype`.
    ///
    /// # Errors
    /// Storage, upstream or compute failures.
    async fn read(&self, roi: &Roi, ctx: &ReadCtx) -> Result<Volume, EvalError>;

    /// [`Array::read`] for a reader that only reads the voxels: an array that holds them
    /// already (in memory) gives its own block instead of a copy.
    ///
    /// # Errors
    /// As [`Array::read`].
    async fn read_block(&self, roi: &Roi, ctx: &ReadCtx) -> Result<Block, EvalError> {
        Ok(Block::whole(Arc::new(self.read(roi, ctx).await?)))
    }

    /// Stored chunks for pass-through, when this is a bare zarr source.
    fn raw_chunks(&self) -> Option<&dyn RawChunks> {
        None
    }

    /// Coarser levels the storage holds (DVID labelmap scales, an OME-NGFF group's
    /// `s1..sN`, a value-wise wrapper over its sources' stored levels), finest first,
    /// each a whole factor coarser than the one before; [`crate::levels::Levels`] uses
    /// them instead of computing those levels. Empty for most arrays.
    fn stored_levels(&self) -> Vec<ArrayRef> {
        Vec::new()
    }

    /// The write generation of the data a read of `roi` (world units) returns
    /// ([`crate::write::generations`]); 0 unless a writable array is below.
    fn generation(&self, roi: &Roi) -> u64 {
        if !self.meta().mutable {
            return 0;
        }
        let footprint = self.footprint(roi);
        self.sources()
            .iter()
            .map(|s| s.generation(&footprint))
            .max()
            .unwrap_or(0)
    }

    /// The region of the sources (world units) a read of `roi` depends on.
    fn footprint(&self, roi: &Roi) -> Roi {
        roi.clone()
    }

    /// The writer of a zarr array opened for writing.
    fn writer(&self) -> Option<&Arc<Writable>> {
        None
    }
}

/// One validation problem: the config field (a dotted path) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    /// Dotted path to the field, e.g. `source_array_config.max`.
    pub field: String,
    /// What was wrong and what would be right.
    pub reason: String,
}

impl FieldProblem {
    /// A problem at `field`.
    #[must_use]
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.field, self.reason)
        }
    }
}

/// The chain below an array as a tree (for `GET /v1/arrays/{name}`).
#[must_use]
pub fn chain_tree(array: &ArrayRef) -> Value {
    let m = array.meta();
    json!({
        "type": m.type_name,
        "dtype": m.dtype,
        "axes": m.axes(),
        "roi": {"offset": m.roi.offset, "shape": m.roi.shape},
        "voxel_size": m.voxel_size,
        "sources": array.sources().iter().map(chain_tree).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_ignores_key_order() {
        let a = json!({"type": "zarr", "name": "raw", "x": [1, {"b": 1, "a": 2}]});
        let b = json!({"x": [1, {"a": 2, "b": 1}], "name": "raw", "type": "zarr"});
        assert_eq!(ConfigHash::of(&a), ConfigHash::of(&b));
        assert_ne!(ConfigHash::of(&a), ConfigHash::of(&json!({"type": "zarr"})));
        assert_eq!(ConfigHash::of(&a).to_string().len(), 32);
    }
}
