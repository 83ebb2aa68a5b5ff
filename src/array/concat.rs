//! `concat`: stacks single-channel sources as channels, in `channels` order; a channel
//! without a source takes `default_config`'s data, or zeros (`spec/arrays.md`). The ROI
//! is the intersection of all parts and the dtype their numpy promotion (deviation 6).
//!
//! ```
//! # use arrayd::array::config::{parse, TypedConfig};
//! let node = parse(&serde_json::json!({"type": "concat", "name": "cat",
//!     "channels": ["a", "b"], "source_array_configs": {"a": "mask_a"}})).unwrap();
//! assert!(matches!(node.typed, TypedConfig::Concat(_)));
//! ```

use std::collections::HashMap;

use async_trait::async_trait;
use futures::future::try_join_all;
use ndarray::Axis;
use serde::Deserialize;
use serde_json::{Map, json};

use super::node::{Node, Resolved};
use super::resolve::{MetaParts, NodeCtx, Source};
use super::{Array, ArrayRef, FieldProblem, Metadata};
use crate::dtype::DType;
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::Roi;
use crate::volume::Volume;
use crate::with_volume;

/// Config fields of `concat` (sources are `source_array_configs` and `default_config`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcatConfig {
    /// Output channel names, in order.
    pub channels: Vec<String>,
}

/// Channel stacking.
#[derive(Debug)]
pub struct Concat {
    meta: Metadata,
    /// Per output channel: its own source, the default, or `None` for zeros.
    parts: Vec<Option<ArrayRef>>,
    /// Every source, config order.
    sources: Vec<ArrayRef>,
}

/// Checks that every part shares the first one's voxel size and spatial axes.
fn check_parts(parts: &[(String, ArrayRef)], problems: &mut Vec<FieldProblem>) {
    let Some((_, first)) = parts.first() else {
        return;
    };
    let vs = &first.meta().voxel_size;
    for (field, a) in parts {
        let m = a.meta();
        if m.dims() != first.meta().dims() {
            problems.push(FieldProblem::new(
                field.clone(),
                format!(
                    "has {} spatial axes but the first part has {}",
                    m.dims(),
                    first.meta().dims()
                ),
            ));
        } else if &m.voxel_size != vs {
            problems.push(FieldProblem::new(
                field.clone(),
                format!(
                    "voxel size {} differs from the first part's {vs}; resample it first",
                    m.voxel_size
                ),
            ));
        }
        if let Some(c) = m.num_channels.filter(|&c| c != 1) {
            problems.push(FieldProblem::new(
                field.clone(),
                format!("has {c} channels; every concat part must be a single channel"),
            ));
        }
    }
}

impl Node for Concat {
    type Config = ConcatConfig;
    type Sources = Vec<Source>;

    /// Matches sources to channels and checks they stack.
    ///
    /// # Errors
    /// Unknown channel keys, mismatched voxel sizes or axes, multi-channel parts,
    /// no parts at all, or an empty ROI intersection.
    fn build(cfg: &Self::Config, sources: Self::Sources, ctx: &NodeCtx<'_>) -> Resolved<Self> {
        let mut problems = Vec::new();
        if cfg.channels.is_empty() {
            problems.push(ctx.problem("channels", "needs at least one channel name"));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &cfg.channels {
            if !seen.insert(c) {
                problems.push(ctx.problem("channels", format!("channel {c:?} is listed twice")));
            }
        }
        let mut by_key: HashMap<String, (String, ArrayRef)> = HashMap::new();
        let mut default = None;
        for s in sources {
            match s.key {
                Some(k) if !cfg.channels.contains(&k) => problems.push(FieldProblem::new(
                    s.field.clone(),
                    format!("{k:?} is not one of the channels {:?}", cfg.channels),
                )),
                Some(k) => {
                    by_key.insert(k, (s.field, s.array));
                }
                None => default = Some((s.field, s.array)),
            }
        }
        // Parts in channel order, then the default: the first part decides the grid.
        let checked: Vec<(String, ArrayRef)> = cfg
            .channels
            .iter()
            .filter_map(|c| by_key.get(c).cloned())
            .chain(default.clone())
            .collect();
        if checked.is_empty() {
            problems.push(ctx.problem(
                "source_array_configs",
                "needs at least one source (or a default_config) to define the geometry",
            ));
        }
        check_parts(&checked, &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        let first = checked[0].1.meta();
        let roi = checked.iter().fold(first.roi.clone(), |acc, (_, a)| {
            acc.intersect(&a.meta().roi)
        });
        let dtype =
            DType::promote_all(checked.iter().map(|(_, a)| a.meta().dtype)).unwrap_or(DType::U8);
        let meta = ctx.metadata(MetaParts {
            dtype,
            num_channels: Some(cfg.channels.len()),
            roi,
            attrs: Map::from_iter([("channel_names".to_owned(), json!(cfg.channels))]),
            ..MetaParts::like(first)
        })?;
        let parts = cfg
            .channels
            .iter()
            .map(|c| {
                by_key
                    .get(c)
                    .map(|(_, a)| a.clone())
                    .or_else(|| default.as_ref().map(|(_, a)| a.clone()))
            })
            .collect();
        Ok(Self {
            meta,
            parts,
            sources: checked.into_iter().map(|(_, a)| a).collect(),
        })
    }
}

#[async_trait]
impl Array for Concat {
    wrapper_accessors!(sources);

    async fn read(&self, roi: &Roi, ctx: &ReadCtx) -> Result<Volume, EvalError> {
        let dtype = self.meta.dtype;
        // Each distinct source is read once, even when several channels use it.
        let mut distinct: Vec<ArrayRef> = Vec::new();
        for p in self.parts.iter().flatten() {
            if !distinct.iter().any(|d| std::sync::Arc::ptr_eq(d, p)) {
                distinct.push(p.clone());
            }
        }
        let reads = try_join_all(distinct.iter().map(|a| ctx.read(a, roi))).await?;
        let parts: Vec<Option<usize>> = self
            .parts
            .iter()
            .map(|p| {
                p.as_ref()
                    .and_then(|p| distinct.iter().position(|d| std::sync::Arc::ptr_eq(d, p)))
            })
            .collect();
        let shape = self.meta.volume_shape(roi);
        ctx.compute(move || {
            let mut out = Volume::zeros(dtype, &shape);
            let single: Vec<Volume> = reads
                .into_iter()
                .map(|v| {
                    let v = v.into_dtype(dtype);
                    if v.shape().len() == shape.len() {
                        v
                    } else {
                        with_volume!(v, a => Volume::from(a.insert_axis(Axis(0))))
                    }
                })
                .collect();
            for (c, part) in parts.iter().enumerate() {
                if let Some(i) = part {
                    let mut at = vec![0; shape.len()];
                    at[0] = c;
                    out.paste(&single[*i], &at).map_err(EvalError::Internal)?;
                }
            }
            Ok(out)
        })
        .await
    }
}
