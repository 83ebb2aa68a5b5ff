//! The stored levels of a zarr array inside an OME-NGFF (0.4, 0.5) multiscale group (the
//! datasets listed after it), or of an N5 dataset `sK` inside an N5 multiscale group
//! (`s{K+1}`, ...), opened with the same config (`spec/api.md`, "Levels").

use std::sync::Arc;

use serde_json::json;

use super::metadata::NodeAttrs;
use super::{Zarr, ZarrConfig};
use crate::array::leveled::Leveled;
use crate::array::resolve::NodeCtx;
use crate::array::{ArrayRef, FieldProblem};

/// Levels probed in an N5 group that says it is multiscale without saying how many.
const MAX_PROBED: usize = 24;

/// Paths of the datasets after `dataset` in the first multiscale list of the nearest
/// ancestor group that lists it; for N5 without such a list, its `s{K+1}`... siblings.
#[must_use]
pub fn coarser(ancestors: &[NodeAttrs], dataset: &str, n5: bool) -> Vec<String> {
    ancestors
        .iter()
        .find_map(|g| after_in_group(g, dataset))
        .or_else(|| n5.then(|| n5_siblings(ancestors.first()?, dataset))?)
        .unwrap_or_default()
}

/// N5's multiscale groups (n5-viewer, BigDataViewer, Paintera) hold datasets `s0..sN` and
/// say so with one `scales` or `downsamplingFactors` entry per level, or `multiScale: true`
/// (then siblings are probed until one is missing).
fn n5_siblings(group: &NodeAttrs, dataset: &str) -> Option<Vec<String>> {
    let (parent, name) = dataset.rsplit_once('/').unwrap_or(("", dataset));
    if parent != group.path {
        return None;
    }
    let k: usize = name.strip_prefix('s')?.parse().ok()?;
    let count = ["scales", "downsamplingFactors"]
        .iter()
        .find_map(|key| group.attrs.get(*key)?.as_array().map(Vec::len))
        .or_else(|| {
            group
                .attrs
                .get("multiScale")?
                .as_bool()?
                .then_some(MAX_PROBED)
        })?;
    let prefix = if parent.is_empty() {
        String::new()
    } else {
        format!("{parent}/")
    };
    Some((k + 1..count).map(|i| format!("{prefix}s{i}")).collect())
}

fn after_in_group(group: &NodeAttrs, dataset: &str) -> Option<Vec<String>> {
    let multiscales = group
        .attrs
        .get("multiscales")
        .or_else(|| group.attrs.get("ome")?.get("multiscales"))?
        .as_array()?;
    let prefix = if group.path.is_empty() {
        String::new()
    } else {
        format!("{}/", group.path)
    };
    let rel = dataset.strip_prefix(&prefix)?;
    multiscales.iter().find_map(|ms| {
        let paths: Vec<&str> = ms
            .get("datasets")?
            .as_array()?
            .iter()
            .filter_map(|d| Some(d.get("path")?.as_str()?.trim_matches('/')))
            .collect();
        let at = paths.iter().position(|p| *p == rel)?;
        Some(
            paths[at + 1..]
                .iter()
                .map(|p| format!("{prefix}{p}"))
                .collect(),
        )
    })
}

/// Opens the array `cfg` names with its stored coarser levels; a level that cannot be
/// opened ends the list there (logged).
///
/// # Errors
/// When the array itself cannot be opened.
pub async fn open(cfg: &ZarrConfig, ctx: &NodeCtx<'_>) -> Result<ArrayRef, Vec<FieldProblem>> {
    let base = Zarr::resolve(cfg, ctx).await?;
    let coarser = base.coarser.clone();
    let mut levels: Vec<ArrayRef> = Vec::new();
    for dataset in coarser {
        let level_cfg = ZarrConfig {
            dataset: dataset.clone(),
            ..cfg.clone()
        };
        let level_ctx = ctx.derived(json!({"dataset": dataset}));
        match Zarr::resolve(&level_cfg, &level_ctx).await {
            Ok(level) => levels.push(Arc::new(level)),
            Err(problems) => {
                let reason: Vec<String> = problems.iter().map(ToString::to_string).collect();
                tracing::info!(%dataset, reason = %reason.join("; "), "a stored level cannot be opened; coarser levels are computed");
                break;
            }
        }
    }
    Ok(Leveled::wrap(Arc::new(base), levels))
}
