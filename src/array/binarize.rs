//! `binarize`: one uint8 0/1 channel per group of label ids (`spec/arrays.md`).
//! A group with no ids means "every label except `background`"; `background` is never
//! 1, and a repeated id still gives 1 (deviation 2).
//!
//! ```
//! # use arrayd::array::config::{parse, TypedConfig};
//! let node = parse(&serde_json::json!({"type": "binarize", "name": "mito",
//!     "source_array_config": "labels", "groupings": [["mito", [3, 4, 5]]], "background": 0})).unwrap();
//! assert!(matches!(node.typed, TypedConfig::Binarize(_)));
//! ```

use serde::Deserialize;
use serde_json::{Map, json};

use super::mapped::{Kernel, Mapped};
use super::node::{Node, Resolved};
use super::resolve::{MetaParts, NodeCtx};
use super::{ArrayRef, FieldProblem, Metadata};
use crate::block::Block;
use crate::dtype::DType;
use crate::eval::EvalError;
use crate::kernels::labels::{LabelSet, label_kernel};
use crate::volume::Volume;

/// Config fields of `binarize`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinarizeConfig {
    /// `[name, [ids]]` per output channel.
    pub groupings: Vec<(String, Vec<i128>)>,
    /// The id that is never 1.
    #[serde(default)]
    pub background: i128,
}

/// Label groups → 0/1 channels.
#[derive(Debug)]
pub struct Binarize {
    groups: Vec<LabelSet>,
}

/// Checks a label source for the mask wrappers: integer or bool, no channel axis.
///
/// # Errors
/// A problem at `source_array_config`.
fn check_label_source(source: &ArrayRef, ctx: &NodeCtx<'_>) -> Result<(), Vec<FieldProblem>> {
    let m = source.meta();
    let mut problems = Vec::new();
    if let Some(c) = m.num_channels {
        problems.push(ctx.problem(
            "source_array_config",
            format!(
                "the source has a channel axis ({c} channels); a label source must have axes z,y,x"
            ),
        ));
    }
    if !(m.dtype.is_integer() || m.dtype == DType::Bool) {
        problems.push(ctx.problem(
            "source_array_config",
            format!(
                "the source is {}; label ids must be an integer dtype",
                m.dtype
            ),
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The metadata of a mask wrapper: one uint8 channel per named group of label ids, over
/// a label source (checked).
///
/// # Errors
/// No groups, or a source with channels or a non-integer dtype.
pub fn group_channels(
    groupings: &[(String, Vec<i128>)],
    source: &ArrayRef,
    ctx: &NodeCtx<'_>,
) -> Result<Metadata, Vec<FieldProblem>> {
    let mut problems = check_label_source(source, ctx).err().unwrap_or_default();
    if groupings.is_empty() {
        problems.push(ctx.problem("groupings", "needs at least one [name, [ids]] group"));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let names: Vec<&str> = groupings.iter().map(|(n, _)| n.as_str()).collect();
    ctx.metadata(MetaParts {
        dtype: DType::U8,
        num_channels: Some(groupings.len()),
        attrs: Map::from_iter([("channel_names".to_owned(), json!(names))]),
        ..MetaParts::like(source.meta())
    })
}

impl Node for Mapped<Binarize> {
    type Config = BinarizeConfig;
    type Sources = ArrayRef;

    /// Validates the groups and the source.
    ///
    /// # Errors
    /// No groups, or a source with channels or a non-integer dtype.
    fn build(cfg: &Self::Config, source: Self::Sources, ctx: &NodeCtx<'_>) -> Resolved<Self> {
        let meta = group_channels(&cfg.groupings, &source, ctx)?;
        let groups = cfg
            .groupings
            .iter()
            .map(|(_, ids)| LabelSet::new(ids, Some(cfg.background)))
            .collect();
        Ok(Mapped::new(meta, source, Binarize { groups }))
    }
}

impl Kernel for Binarize {
    fn apply(&self, labels: &Block) -> Result<Volume, EvalError> {
        label_kernel(labels, &self.groups)
    }
}
