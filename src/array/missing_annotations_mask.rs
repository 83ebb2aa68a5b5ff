//! `missing_annotations_mask`: per group, uint8 1 where the label is > 0; the whole
//! channel is 0 when any id of the group is marked present but not annotated
//! (`"annotated": "empty"`) in the source's cellmap `labels` attribute
//! (`spec/arrays.md`, deviation 4).
//!
//! ```
//! # use arrayd::array::config::{parse, TypedConfig};
//! let node = parse(&serde_json::json!({"type": "missing_annotations_mask", "name": "m",
//!     "source_array_config": "labels", "groupings": [["mito", [3, 4]]]})).unwrap();
//! assert!(matches!(node.typed, TypedConfig::MissingAnnotationsMask(_)));
//! ```

use serde::Deserialize;
use serde_json::{Map, Value};

use super::ArrayRef;
use super::binarize::group_channels;
use super::mapped::{Kernel, Mapped};
use super::node::{Node, Resolved};
use super::resolve::NodeCtx;
use crate::block::Block;
use crate::eval::EvalError;
use crate::kernels::labels::{LabelSet, label_kernel};
use crate::volume::Volume;

/// Config fields of `missing_annotations_mask`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MissingAnnotationsMaskConfig {
    /// `[name, [ids]]` per output channel.
    pub groupings: Vec<(String, Vec<i128>)>,
}

/// Annotated-foreground mask per group.
#[derive(Debug)]
pub struct MissingAnnotationsMask {
    /// Per channel: the empty set when the channel is zeroed, else "label > 0".
    sets: Vec<LabelSet>,
}

/// Ids marked present but with `annotated: "empty"` in a cellmap `labels` attribute.
#[must_use]
pub fn unannotated_ids(attrs: &Map<String, Value>) -> Vec<i128> {
    let Some(list) = attrs.get("labels").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|entry| {
            let state = entry.get("annotationState")?;
            let present = state.get("present")?.as_bool()?;
            let empty = state.get("annotated")?.as_str()? == "empty";
            let id = entry.get("value")?;
            let id = id
                .as_i64()
                .map(i128::from)
                .or_else(|| id.as_u64().map(i128::from))?;
            (present && empty).then_some(id)
        })
        .collect()
}

impl Node for Mapped<MissingAnnotationsMask> {
    type Config = MissingAnnotationsMaskConfig;
    type Sources = ArrayRef;

    /// Reads the annotation states once.
    ///
    /// # Errors
    /// No groups, or a source with channels or a non-integer dtype.
    fn build(cfg: &Self::Config, source: Self::Sources, ctx: &NodeCtx<'_>) -> Resolved<Self> {
        let meta = group_channels(&cfg.groupings, &source, ctx)?;
        let missing = unannotated_ids(&source.meta().attrs);
        let sets = cfg
            .groupings
            .iter()
            .map(|(_, ids)| {
                if ids.iter().any(|id| missing.contains(id)) {
                    LabelSet::Nothing
                } else {
                    LabelSet::Positive
                }
            })
            .collect();
        Ok(Mapped::new(meta, source, MissingAnnotationsMask { sets }))
    }
}

impl Kernel for MissingAnnotationsMask {
    fn apply(&self, labels: &Block) -> Result<Volume, EvalError> {
        label_kernel(labels, &self.sets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_cellmap_states() {
        let attrs = json!({"labels": [
            {"value": 3, "annotationState": {"present": true, "annotated": "empty"}},
            {"value": 4, "annotationState": {"present": true, "annotated": "sparse"}},
            {"value": 1007, "annotationState": {"present": false, "annotated": "empty"}}
        ]});
        assert_eq!(unannotated_ids(attrs.as_object().unwrap()), vec![3]);
        assert!(unannotated_ids(&Map::new()).is_empty());
    }
}
