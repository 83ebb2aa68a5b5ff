//! One neuroglancer viewer state for one or more arrays: an image layer per image, a
//! segmentation layer per label array, each over this server's precomputed view;
//! dimensions in nm (the finest voxel size of the layers per axis), the position at the
//! centre of the union of their ROIs and zooms that show all of it.

use serde_json::{Map, Value, json};

use super::shaders::shading;
use crate::array::Metadata;
use crate::levels::Levels;

/// Screen pixels the cross sections fit the volume into.
const FIT_PIXELS: f64 = 320.0;

/// One layer to show.
#[derive(Debug, Clone, Copy)]
pub struct Layer<'a> {
    /// The registered name (the layer's name).
    pub name: &'a str,
    /// The array's metadata.
    pub meta: &'a Metadata,
    /// Its levels.
    pub levels: &'a Levels,
}

/// x,y,z of a z,y,x triple.
fn xyz<T: Copy>(v: [T; 3]) -> [T; 3] {
    [v[2], v[1], v[0]]
}

#[expect(
    clippy::cast_precision_loss,
    reason = "world coordinates are below 2^48"
)]
fn f(v: i64) -> f64 {
    v as f64
}

/// `dimensions` with scales `res` (nm, x,y,z).
fn dimensions(res: [i64; 3]) -> Value {
    let mut d = Map::new();
    for (axis, r) in ["x", "y", "z"].iter().zip(res) {
        d.insert((*axis).to_owned(), json!([f(r) * 1e-9, "m"]));
    }
    Value::Object(d)
}

/// The layer object of one array at `base`.
fn layer(base: &str, l: &Layer<'_>) -> Value {
    let url = format!("precomputed://{base}/v1/arrays/{}/precomputed", l.name);
    if l.levels.segmentation {
        return json!({"type": "segmentation", "source": url, "name": l.name});
    }
    // A precomputed source's channel axis is `c^`, a channel dimension the shader reads
    // with getDataValue(i) (a `c'` rename would make it a per-layer position instead).
    let s = shading(l.meta, l.levels);
    let mut obj = json!({"type": "image", "source": url, "name": l.name});
    if let Some(shader) = s.shader {
        obj["shader"] = json!(shader);
    }
    if !s.controls.is_null() {
        obj["shaderControls"] = s.controls;
    }
    if let Some(o) = s.opacity {
        obj["opacity"] = json!(o);
    }
    obj
}

/// The viewer state of `layers` (at least one) served at `base`.
#[must_use]
pub fn state(base: &str, layers: &[Layer<'_>]) -> Value {
    let mut res = [i64::MAX; 3];
    let (mut lo, mut hi) = ([i64::MAX; 3], [i64::MIN; 3]);
    for l in layers {
        let l0 = &l.levels.levels[0];
        let b = l0.bounds();
        for d in 0..3 {
            res[d] = res[d].min(l0.resolution[d]);
            lo[d] = lo[d].min(b.begin[d] * l0.resolution[d]);
            hi[d] = hi[d].max(b.end[d] * l0.resolution[d]);
        }
    }
    if layers.is_empty() {
        (res, lo, hi) = ([1; 3], [0; 3], [1; 3]);
    }
    let centre = [0, 1, 2].map(|d| f(lo[d] + hi[d]) / 2.0 / f(res[d]));
    let finest = f(*res.iter().min().unwrap_or(&1));
    let extent = (0..3)
        .map(|d| f(hi[d] - lo[d]) / finest)
        .fold(1.0, f64::max);
    let names: Vec<&str> = layers.iter().map(|l| l.name).collect();
    json!({
        "dimensions": dimensions(xyz(res)),
        "position": xyz(centre),
        "crossSectionScale": (extent / FIT_PIXELS).max(0.01),
        "projectionScale": extent * 2.0,
        "layers": layers.iter().map(|l| layer(base, l)).collect::<Vec<_>>(),
        "selectedLayer": {"layer": names.last().copied().unwrap_or_default(), "visible": true},
        "layout": "4panel",
    })
}
