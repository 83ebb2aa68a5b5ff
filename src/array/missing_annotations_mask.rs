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

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::binarize::group_channels;
use super::resolve::NodeCtx;
use super::{Array, ArrayRef, FieldProblem, Metadata};
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::Roi;
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
    meta: Metadata,
    source: ArrayRef,
    /// Per channel: `true` when the channel is zeroed.
    zeroed: Vec<bool>,
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

impl MissingAnnotationsMask {
    /// Reads the annotation states once.
    ///
    /// # Errors
    /// No groups, or a source with channels or a non-integer dtype.
    pub fn resolve(
        cfg: &MissingAnnotationsMaskConfig,
        source: ArrayRef,
        ctx: &NodeCtx<'_>,
    ) -> Result<Self, Vec<FieldProblem>> {
        let meta = group_channels(&cfg.groupings, &source, ctx)?;
        let missing = unannotated_ids(&source.meta().attrs);
        let zeroed = cfg
            .groupings
            .iter()
            .map(|(_, ids)| ids.iter().any(|id| missing.contains(id)))
            .collect();
        Ok(Self {
            meta,
            source,
            zeroed,
        })
    }
}

#[async_trait]
impl Array for MissingAnnotationsMask {
    wrapper_accessors!(source);

    async fn read(&self, roi: &Roi, ctx: &ReadCtx) -> Result<Volume, EvalError> {
        let labels = ctx.read(&self.source, roi).await?;
        // A channel that is zeroed gets the empty set; every other is "label > 0".
        let sets: Vec<LabelSet> = self
            .zeroed
            .iter()
            .map(|&z| {
                if z {
                    LabelSet::new(&[], None)
                } else {
                    LabelSet::new(&[], Some(0))
                }
            })
            .collect();
        ctx.compute(move || {
            label_kernel(&labels, &sets, |set, l| u8::from(l > 0 && set.contains(l)))
        })
        .await
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
