//! `GET /v1/arrays/{name}/precomputed/segment_properties/info`: neuroglancer's
//! `neuroglancer_segment_properties` of a segmentation array (`spec/neuroglancer.md`,
//! "segment_properties"), inline: the ids present in the coarsest level, largest first,
//! with their voxel counts there; `label` and `description` from the config's
//! `segment_names` or the cellmap `labels` attribute (`name.short`, `name.long`).
//! The counting is one read of the coarsest level, cached like a chunk.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::eval::{Encoder, EvalError, encoded_level_chunk};
use crate::http::cache_headers::{Cacheable, for_array, respond};
use crate::http::extract::OpenArray;
use crate::levels::Levels;
use crate::server::AppState;
use crate::volume::Volume;

/// Most ids listed (the largest ones); the rest are left out.
pub const MAX_SEGMENT_IDS: usize = 10_000;

/// Most voxels of the coarsest level counted; a bigger one lists named ids only.
pub const MAX_COUNTED_VOXELS: u64 = 1 << 24;

/// Counts the ids of a label volume: `(id, count)` pairs as little-endian u64s,
/// largest count first, id 0 (background) left out, at most [`MAX_SEGMENT_IDS`].
#[derive(Debug, Clone, Copy)]
struct Counts;

impl Encoder for Counts {
    fn id(&self) -> &'static str {
        "segment-counts"
    }

    fn encode(&self, v: &Volume) -> std::result::Result<Vec<u8>, EvalError> {
        let Volume::U64(a) = v.cast(DType::U64) else {
            return Err(EvalError::Internal("labels did not cast to uint64".into()));
        };
        let mut counts: HashMap<u64, u64> = HashMap::new();
        for &id in a.iter().filter(|&&id| id != 0) {
            *counts.entry(id).or_default() += 1;
        }
        let mut pairs: Vec<(u64, u64)> = counts.into_iter().collect();
        pairs.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        pairs.truncate(MAX_SEGMENT_IDS);
        Ok(pairs
            .iter()
            .flat_map(|&(id, n)| id.to_le_bytes().into_iter().chain(n.to_le_bytes()))
            .collect())
    }
}

/// A segment's `name.short` and `name.long`.
type Names = BTreeMap<u64, (String, String)>;

/// Names from a cellmap `labels` attribute (`[{"value": id, "name": {"short", "long"}}]`)
/// overlaid with the config's `segment_names`.
fn names(attrs: &Map<String, Value>, configured: &BTreeMap<u64, String>) -> Names {
    let mut out = Names::new();
    for entry in attrs
        .get("labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(id) = entry.get("value").and_then(Value::as_u64) else {
            continue;
        };
        let name = entry.get("name");
        let text = |k: &str| {
            name.and_then(|n| n.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let short = name
            .and_then(Value::as_str)
            .map_or_else(|| text("short"), ToOwned::to_owned);
        out.insert(id, (short, text("long")));
    }
    for (&id, name) in configured {
        out.entry(id).or_default().0.clone_from(name);
    }
    out
}

/// The `info` document: `counts` (id, voxels at scale `key`) and the names, named ids
/// absent from the counts listed after them with 0 voxels.
#[must_use]
pub fn properties(
    counts: &[(u64, u64)],
    names: &BTreeMap<u64, (String, String)>,
    key: &str,
) -> Value {
    let mut ids: Vec<(u64, u64)> = counts.to_vec();
    let counted: std::collections::HashSet<u64> = ids.iter().map(|p| p.0).collect();
    ids.extend(
        names
            .keys()
            .filter(|id| !counted.contains(id))
            .map(|&id| (id, 0)),
    );
    ids.truncate(MAX_SEGMENT_IDS);
    let column = |f: fn(&(String, String)) -> &String| -> Vec<String> {
        ids.iter()
            .map(|(id, _)| names.get(id).map(f).cloned().unwrap_or_default())
            .collect()
    };
    let mut props = Vec::new();
    let labels = column(|n| &n.0);
    if labels.iter().any(|l| !l.is_empty()) {
        props.push(json!({"id": "label", "type": "label", "values": labels}));
    }
    let descriptions = column(|n| &n.1);
    if descriptions.iter().any(|l| !l.is_empty()) {
        props.push(json!({"id": "description", "type": "description", "values": descriptions}));
    }
    props.push(json!({
        "id": "voxels",
        "type": "number",
        "data_type": "uint32",
        "description": format!("voxels at scale {key}"),
        "values": ids.iter().map(|p| u32::try_from(p.1).unwrap_or(u32::MAX)).collect::<Vec<_>>(),
    }));
    json!({
        "@type": "neuroglancer_segment_properties",
        "inline": {
            "ids": ids.iter().map(|p| p.0.to_string()).collect::<Vec<_>>(),
            "properties": props,
        }
    })
}

/// The `(id, count)` pairs of the coarsest level (empty when it is too big to count).
async fn coarsest_counts(state: &AppState, levels: &Levels) -> Result<Vec<(u64, u64)>> {
    let k = levels.levels.len() - 1;
    let level = &levels.levels[k];
    let voxels: i64 = level.size.iter().product();
    if u64::try_from(voxels).unwrap_or(u64::MAX) > MAX_COUNTED_VOXELS {
        return Ok(Vec::new());
    }
    let bytes = encoded_level_chunk(&state.ctx, levels, k, level.bounds(), Counts).await?;
    Ok(bytes
        .chunks_exact(16)
        .map(|c| {
            let (a, b) = c.split_at(8);
            let word = |s: &[u8]| s.try_into().map_or(0, u64::from_le_bytes);
            (word(a), word(b))
        })
        .collect())
}

/// `GET /v1/arrays/{name}/precomputed/segment_properties/info`
///
/// # Errors
/// 404 unknown array or an image array; read failures.
pub async fn get_info(
    State(state): State<AppState>,
    open: OpenArray,
    headers: HeaderMap,
) -> Result<Response> {
    let (levels, m) = (&open.levels, open.array.meta());
    if !levels.segmentation {
        return Err(Error::NotFound(format!(
            "array {:?} is an image; segment properties exist for segmentation arrays",
            open.name()
        )));
    }
    let counts = coarsest_counts(&state, levels).await?;
    let names = names(&m.attrs, &levels.view.segment_names);
    let key = format!("s{}", levels.levels.len() - 1);
    let body = serde_json::to_vec(&properties(&counts, &names, &key))
        .map_err(|e| Error::Internal(e.to_string()))?;
    let digest = xxhash_rust::xxh3::xxh3_64(format!("{names:?}").as_bytes());
    respond(
        &headers,
        Cacheable {
            body: body.into(),
            content_type: "application/json",
            etag: format!("{}-segments-{digest:x}", m.hash),
            cache_control: for_array(m.freshness),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, IxDyn};

    #[test]
    fn counts_largest_first_without_background() {
        let a = Array::from_shape_vec(IxDyn(&[1, 2, 4]), vec![0u32, 5, 5, 9, 5, 0, 9, 3]).unwrap();
        let bytes = Counts.encode(&Volume::from(a)).unwrap();
        let pairs: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(pairs, [5, 3, 9, 2, 3, 1]);
    }

    #[test]
    fn names_from_labels_and_config() {
        let attrs = json!({"labels": [
            {"value": 3, "name": {"short": "mito", "long": "mitochondria"}},
            {"value": 4, "name": "er"}
        ]});
        let configured = BTreeMap::from([(4, "ER".to_owned()), (8, "nucleus".to_owned())]);
        let n = names(attrs.as_object().unwrap(), &configured);
        assert_eq!(n[&3], ("mito".into(), "mitochondria".into()));
        assert_eq!(n[&4].0, "ER");
        let doc = properties(&[(4, 10), (9, 2)], &n, "s3");
        assert_eq!(doc["inline"]["ids"], json!(["4", "9", "3", "8"]));
        let props = doc["inline"]["properties"].as_array().unwrap();
        assert_eq!(props[0]["values"], json!(["ER", "", "mito", "nucleus"]));
        assert_eq!(props[1]["values"], json!(["", "", "mitochondria", ""]));
        assert_eq!(props[2]["values"], json!([10, 2, 0, 0]));
        assert_eq!(props[2]["data_type"], "uint32");
    }
}
