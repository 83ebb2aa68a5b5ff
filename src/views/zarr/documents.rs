//! The documents of an array's zarr view: node geometry, attributes (OME-NGFF
//! `multiscales`, `dimension_units`) and array metadata, stored (pass-through) or
//! computed (`--zarr-codec`).

use serde_json::{Map, Value, json};

use super::Version;
use super::keys::Node;
use crate::array::{ArrayRef, Metadata};
use crate::dtype::DType;
use crate::encode::zarr_chunk::ZarrCodec;
use crate::error::{Error, Result};
use crate::levels::Levels;
use crate::views::ome::multiscales;

/// Shape, chunk and dtype of a node, all axes.
#[derive(Debug, Clone)]
pub struct Geometry {
    /// Array shape.
    pub shape: Vec<u64>,
    /// Chunk shape.
    pub chunk: Vec<u64>,
    /// Element type.
    pub dtype: DType,
}

fn u64s(v: impl IntoIterator<Item = i64>) -> Vec<u64> {
    v.into_iter()
        .map(|x| u64::try_from(x).unwrap_or(0))
        .collect()
}

/// The geometry of `node` of the view of `array`.
///
/// # Errors
/// 404 for a level the array does not have (levels exist for three spatial axes).
pub fn geometry(array: &ArrayRef, levels: &Levels, node: Node) -> Result<Geometry> {
    let m = array.meta();
    match node {
        Node::Root => Ok(Geometry {
            shape: u64s(m.shape().into_iter().map(|x| x as i64)),
            chunk: u64s(m.chunk_shape().into_iter().map(|x| x as i64)),
            dtype: m.dtype,
        }),
        Node::Level(k) => {
            let level = levels.level(k).filter(|_| m.dims() == 3).ok_or_else(|| {
                Error::NotFound(format!(
                    "no level s{k}; levels are s1..s{}",
                    levels.levels.len() - 1
                ))
            })?;
            let lead: Vec<i64> = m.num_channels.map(|c| c as i64).into_iter().collect();
            Ok(Geometry {
                shape: u64s(lead.iter().copied().chain(level.size)),
                chunk: u64s(lead.iter().copied().chain(levels.chunk)),
                dtype: levels.served,
            })
        }
    }
}

/// The fill value of computed chunks.
fn fill_value(dtype: DType) -> Value {
    if dtype == DType::Bool {
        json!(false)
    } else {
        json!(0)
    }
}

/// Each axis' unit as `"8 nm"` (null for channels): the `dimension_units` attribute that
/// tensorstore and neuroglancer read. Neuroglancer reads OME-NGFF `multiscales` only on
/// groups, so without it an array node shows without its voxel size.
fn dimension_units(channels: bool, resolution: &[i64]) -> Value {
    let spatial = resolution.iter().map(|r| json!(format!("{r} nm")));
    Value::Array(
        channels
            .then_some(Value::Null)
            .into_iter()
            .chain(spatial)
            .collect(),
    )
}

/// The attributes of `node`: the array's own with its `multiscales` at the root, units
/// only at a level.
#[must_use]
pub fn attributes(
    m: &Metadata,
    levels: &Levels,
    name: &str,
    node: Node,
    version: Version,
) -> Map<String, Value> {
    let channels = m.num_channels.is_some();
    let mut attrs = match node {
        Node::Root => {
            let mut a = m.attrs.clone();
            a.insert(
                "dimension_units".into(),
                dimension_units(channels, &m.voxel_size),
            );
            let ms = multiscales(m, levels, name, version.ome_version(), ".");
            version.put_multiscales(&mut a, ms);
            a
        }
        Node::Level(k) => {
            let mut a = Map::new();
            if let Some(level) = levels.level(k) {
                a.insert(
                    "dimension_units".into(),
                    dimension_units(channels, &level.resolution),
                );
            }
            a
        }
    };
    if version == Version::V2 {
        attrs.insert("_ARRAY_DIMENSIONS".into(), json!(m.axes()));
    }
    attrs
}

/// Whether the root of this view serves the stored chunks (decided at open).
#[must_use]
pub fn passes_through(array: &ArrayRef, version: Version) -> bool {
    array
        .raw_chunks()
        .is_some_and(|raw| raw.view_document(version.is_v3()).is_some())
}

/// The metadata document of `node` (v3 `zarr.json` or v2 `.zarray`).
///
/// # Errors
/// 404 for a level the array does not have.
pub fn metadata_doc(
    array: &ArrayRef,
    levels: &Levels,
    name: &str,
    node: Node,
    version: Version,
    codec: ZarrCodec,
) -> Result<Value> {
    let m = array.meta();
    let attrs = attributes(m, levels, name, node, version);
    let stored = (node == Node::Root)
        .then(|| array.raw_chunks()?.view_document(version.is_v3()).cloned())
        .flatten();
    if let Some(mut doc) = stored {
        if version.is_v3() {
            doc["attributes"] = Value::Object(attrs);
            doc["dimension_names"] = json!(m.axes());
        }
        return Ok(doc);
    }
    let g = geometry(array, levels, node)?;
    Ok(version.array_document(&g, codec, fill_value(g.dtype), attrs, &m.axes()))
}
