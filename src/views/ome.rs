//! OME-NGFF `multiscales` metadata for the zarr views (0.4 for v2, 0.5 for v3), so
//! voxel size and offset survive in neuroglancer, napari and zarr clients.

use serde_json::{Value, json};

use crate::array::Metadata;
use crate::levels::Levels;

pub(crate) fn transforms(channels: bool, scale: &[i64], translation: &[i64]) -> Value {
    let lead = |v: i64| channels.then_some(v).into_iter();
    let s: Vec<i64> = lead(1).chain(scale.iter().copied()).collect();
    let t: Vec<i64> = lead(0).chain(translation.iter().copied()).collect();
    json!([{"type": "scale", "scale": s}, {"type": "translation", "translation": t}])
}

/// The `multiscales` list with level 0 at `root` (`.` inside the array's own
/// attributes, `s0` in a multiscale group) and pyramid levels `s1..sN` as further
/// datasets when the array has three spatial axes (levels are always 3-D).
#[must_use]
pub fn multiscales(m: &Metadata, pyr: &Levels, name: &str, version: &str, root: &str) -> Value {
    let channels = m.num_channels.is_some();
    let axes: Vec<Value> = m
        .axes()
        .iter()
        .map(|a| {
            if *a == "c" {
                json!({"name": "c", "type": "channel"})
            } else {
                json!({"name": a, "type": "space", "unit": "nanometer"})
            }
        })
        .collect();
    let mut datasets = vec![json!({
        "path": root,
        "coordinateTransformations": transforms(channels, &m.voxel_size, &m.roi.offset),
    })];
    if m.dims() == 3 {
        for (k, level) in pyr.levels.iter().enumerate().skip(1) {
            let origin: Vec<i64> = (0..3)
                .map(|d| level.offset[d] * level.resolution[d])
                .collect();
            datasets.push(json!({
                "path": format!("s{k}"),
                "coordinateTransformations": transforms(channels, &level.resolution, &origin),
            }));
        }
    }
    json!([{"version": version, "name": name, "axes": axes, "datasets": datasets}])
}
