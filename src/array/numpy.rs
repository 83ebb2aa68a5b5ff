//! `numpy`: a `.npy` file under the data root, or `.npy` bytes uploaded inline as
//! base64 in `data`, held in memory (`spec/arrays.md`, "Types").
//!
//! ```
//! # use arrayd::array::config::{parse, TypedConfig};
//! let node = parse(&serde_json::json!({"type": "numpy", "name": "gt",
//!     "file_name": "gt.npy", "voxel_size": [8, 4, 4], "offset": [0, 0, 0],
//!     "axes": ["z", "y", "x"]})).unwrap();
//! assert!(matches!(node.typed, TypedConfig::Numpy(_)));
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use serde::Deserialize;
use serde_json::Map;

use super::node::{Node, Resolved};
use super::resolve::{MetaParts, NodeCtx};
use super::zarr::geometry::validate_geometry;
use super::zarr::metadata::FoundGeometry;
use super::{Array, Freshness, Metadata};
use crate::block::Block;
use crate::dtype::DType;
use crate::encode::npy;
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::{Coord, Roi};
use crate::volume::Volume;
use crate::with_volume;

/// Config fields of `numpy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumpyConfig {
    /// A `.npy` file under the data root.
    #[serde(default)]
    pub file_name: Option<String>,
    /// The `.npy` file's bytes, base64 (instead of `file_name`).
    #[serde(default)]
    pub data: Option<String>,
    /// World units per voxel, z,y,x (default 1).
    #[serde(default)]
    pub voxel_size: Option<Vec<i64>>,
    /// World offset, z,y,x (default 0).
    #[serde(default)]
    pub offset: Option<Vec<i64>>,
    /// Axis names (default: `c,z,y,x` for 4-D, else spatial).
    #[serde(default)]
    pub axes: Option<Vec<String>>,
}

/// An in-memory array.
#[derive(Debug)]
pub struct Numpy {
    meta: Metadata,
    data: Arc<Volume>,
}

fn to_f64(v: Option<&Vec<i64>>) -> Option<Vec<f64>> {
    #[expect(clippy::cast_precision_loss, reason = "geometry values are small")]
    v.map(|v| v.iter().map(|&x| x as f64).collect())
}

impl Node for Numpy {
    type Config = NumpyConfig;
    type Sources = ();

    /// Loads the array.
    ///
    /// # Errors
    /// Neither or both of `file_name`/`data`, an unreadable or invalid `.npy`, or bad
    /// geometry.
    fn build(cfg: &Self::Config, (): (), ctx: &NodeCtx<'_>) -> Resolved<Self> {
        let bad = |field: &str, reason: String| vec![ctx.problem(field, reason)];
        let (field, bytes) = match (&cfg.file_name, &cfg.data) {
            (Some(f), None) => {
                let bytes = ctx.env.read_file(f).map_err(|r| bad("file_name", r))?;
                ("file_name", bytes)
            }
            (None, Some(d)) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(d.trim())
                    .map_err(|e| bad("data", format!("must be base64 of a .npy file: {e}")))?;
                ("data", bytes)
            }
            _ => {
                return Err(bad(
                    "file_name",
                    "give exactly one of file_name (a .npy under the data root) or data (base64 .npy bytes)".into(),
                ));
            }
        };
        let volume = npy::decode(&bytes).map_err(|r| bad(field, r))?;
        let shape: Vec<u64> = volume.shape().iter().map(|&s| s as u64).collect();
        let found = FoundGeometry {
            axes: None,
            voxel_size: to_f64(cfg.voxel_size.as_ref()),
            offset: to_f64(cfg.offset.as_ref()),
            units: None,
            origin: "config",
        };
        let geo =
            validate_geometry(&found, cfg.axes.as_deref(), &shape).map_err(|r| bad("axes", r))?;
        if let Some(offset) = &cfg.offset
            && Coord::new(offset.clone()) != geo.offset
        {
            return Err(bad(
                "offset",
                format!(
                    "{offset:?} must be a multiple of the voxel size {}",
                    geo.voxel_size
                ),
            ));
        }
        let volume = with_volume!(volume, a => Volume::from(geo.layout.to_served(a)));
        let extent = Coord::new(
            geo.layout
                .spatial_of(&shape)
                .iter()
                .map(|&s| i64::try_from(s).unwrap_or(i64::MAX))
                .collect(),
        );
        let dtype = volume.dtype();
        let mut meta = ctx.metadata(MetaParts {
            dtype,
            num_channels: geo.num_channels,
            roi: Roi::new(geo.offset.clone(), &extent * &geo.voxel_size),
            voxel_size: geo.voxel_size,
            grid: None,
            attrs: Map::new(),
            labels: matches!(dtype, DType::U32 | DType::U64) && geo.num_channels.is_none(),
        })?;
        if cfg.file_name.is_some() {
            // The file can be rewritten; the array is loaded once, but clients revalidate.
            meta.freshness = Freshness::Revalidate;
        }
        Ok(Self {
            meta,
            data: Arc::new(volume),
        })
    }
}

#[async_trait]
impl Array for Numpy {
    fn meta(&self) -> &Metadata {
        &self.meta
    }

    async fn read(&self, roi: &Roi, _ctx: &ReadCtx) -> Result<Volume, EvalError> {
        self.data
            .crop(&self.begin(roi), &self.meta.volume_shape(roi))
            .map_err(EvalError::Internal)
    }

    async fn read_block(&self, roi: &Roi, _ctx: &ReadCtx) -> Result<Block, EvalError> {
        Block::new(
            Arc::clone(&self.data),
            &self.begin(roi),
            &self.meta.volume_shape(roi),
        )
        .map_err(EvalError::Internal)
    }
}

impl Numpy {
    /// The first voxel of `roi` in the array's index space (channel 0 first).
    fn begin(&self, roi: &Roi) -> Vec<usize> {
        let m = &self.meta;
        let start = (&(&roi.offset - &m.roi.offset) / &m.voxel_size).to_usize();
        m.num_channels.map(|_| 0).into_iter().chain(start).collect()
    }
}
