//! Where a zarr array's geometry comes from (`spec/arrays.md`, "zarr"): OME-NGFF
//! `multiscales` on a parent group first, else per-key attributes on the array, then on
//! its parent group (`voxel_size` | `resolution` | `scale` | `pixelResolution`, `offset`,
//! `axis_names` | `axes`, `units`). An array with N5's `downsamplingFactors` and no voxel
//! size of its own gets its parent's voxel size times the factors. Lists are in stored
//! axis order (x first for N5).

use serde_json::{Map, Value};

/// Geometry found in the metadata, before validation against the array's shape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FoundGeometry {
    /// Axis names, all axes.
    pub axes: Option<Vec<String>>,
    /// Voxel size as found (may include non-spatial entries or floats).
    pub voxel_size: Option<Vec<f64>>,
    /// Offset in world units, as found.
    pub offset: Option<Vec<f64>>,
    /// Units per spatial axis.
    pub units: Option<Vec<String>>,
    /// Where the values came from (for logs and attrs).
    pub origin: &'static str,
}

/// The attributes of one group or array and its path relative to the container root.
#[derive(Debug, Clone)]
pub struct NodeAttrs {
    /// Path of the node, `/`-separated, no leading slash ("" for the root).
    pub path: String,
    /// Its attributes (empty when it has none).
    pub attrs: Map<String, Value>,
}

fn numbers(v: &Value) -> Option<Vec<f64>> {
    v.as_array()?.iter().map(Value::as_f64).collect()
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|a| match a {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get("name")?.as_str().map(str::to_owned),
            _ => None,
        })
        .collect()
}

/// Finds the geometry of the array at `array_path`, given its own attributes and those
/// of its ancestors, nearest first.
#[must_use]
pub fn find_geometry(array: &NodeAttrs, ancestors: &[NodeAttrs]) -> FoundGeometry {
    if let Some(found) = ancestors.iter().find_map(|g| ome_geometry(g, &array.path)) {
        return found;
    }
    let parent = ancestors.first();
    let lookup = |keys: &[&str]| -> Option<&Value> {
        let find =
            |attrs: &'_ Map<String, Value>| keys.iter().find_map(|k| attrs.get(*k)).is_some();
        let node = if find(&array.attrs) {
            Some(array)
        } else {
            parent.filter(|p| find(&p.attrs))
        }?;
        keys.iter().find_map(|k| node.attrs.get(*k))
    };
    let own_size = VOXEL_SIZE.iter().find_map(|k| array.attrs.get(*k));
    let mut voxel_size = lookup(&VOXEL_SIZE).and_then(resolution);
    if own_size.is_none()
        && let (Some(vs), Some(f)) = (
            &voxel_size,
            array.attrs.get("downsamplingFactors").and_then(numbers),
        )
        && vs.len() == f.len()
    {
        voxel_size = Some(vs.iter().zip(&f).map(|(a, b)| a * b).collect());
    }
    let pixel_unit = || {
        let p = lookup(&["pixelResolution"])?;
        let n = p.get("dimensions").and_then(Value::as_array)?.len();
        Some(vec![p.get("unit")?.as_str()?.to_owned(); n])
    };
    FoundGeometry {
        axes: lookup(&["axis_names", "axes"]).and_then(strings),
        voxel_size,
        offset: lookup(&["offset"]).and_then(numbers),
        units: lookup(&["units"]).and_then(strings).or_else(pixel_unit),
        origin: "attributes",
    }
}

const VOXEL_SIZE: [&str; 4] = ["voxel_size", "resolution", "scale", "pixelResolution"];

/// A voxel size: a list, or N5's `{"dimensions": [...], "unit": ...}`.
fn resolution(v: &Value) -> Option<Vec<f64>> {
    numbers(v).or_else(|| numbers(v.get("dimensions")?))
}

/// OME-NGFF 0.4 (`multiscales` at the top) or 0.5 (under `ome`), when a dataset entry's
/// path names the array.
fn ome_geometry(group: &NodeAttrs, array_path: &str) -> Option<FoundGeometry> {
    let multiscales = group
        .attrs
        .get("multiscales")
        .or_else(|| group.attrs.get("ome")?.get("multiscales"))?
        .as_array()?;
    let rel = if group.path.is_empty() {
        array_path.to_owned()
    } else {
        array_path
            .strip_prefix(&format!("{}/", group.path))?
            .to_owned()
    };
    for ms in multiscales {
        let Some(datasets) = ms.get("datasets").and_then(Value::as_array) else {
            continue;
        };
        let Some(ds) = datasets.iter().find(|d| {
            d.get("path")
                .and_then(Value::as_str)
                .map(|p| p.trim_matches('/'))
                == Some(rel.as_str())
        }) else {
            continue;
        };
        let (mut scale, mut translation) = transforms(ds.get("coordinateTransformations"));
        let (ms_scale, ms_translation) = transforms(ms.get("coordinateTransformations"));
        // The multiscale-level transform applies after the dataset's.
        if let Some(s2) = ms_scale {
            translation = translation.map(|t| t.iter().zip(&s2).map(|(a, b)| a * b).collect());
            scale = Some(match scale {
                Some(s) => s.iter().zip(&s2).map(|(a, b)| a * b).collect(),
                None => s2,
            });
        }
        if let Some(t2) = ms_translation {
            translation = Some(match translation {
                Some(t) => t.iter().zip(&t2).map(|(a, b)| a + b).collect(),
                None => t2,
            });
        }
        let axes_json = ms.get("axes").and_then(Value::as_array);
        let axes = ms.get("axes").and_then(strings);
        // One per axis; the axis layout keeps the spatial ones.
        let units = axes_json.map(|a| {
            a.iter()
                .map(|ax| {
                    ax.get("unit")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                })
                .collect()
        });
        return Some(FoundGeometry {
            axes,
            voxel_size: scale,
            offset: translation,
            units,
            origin: "ome-ngff",
        });
    }
    None
}

type Transforms = (Option<Vec<f64>>, Option<Vec<f64>>);

fn transforms(list: Option<&Value>) -> Transforms {
    let mut out: Transforms = (None, None);
    for t in list.and_then(Value::as_array).into_iter().flatten() {
        match t.get("type").and_then(Value::as_str) {
            Some("scale") => out.0 = t.get("scale").and_then(numbers),
            Some("translation") => out.1 = t.get("translation").and_then(numbers),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(path: &str, attrs: Value) -> NodeAttrs {
        NodeAttrs {
            path: path.into(),
            attrs: attrs.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn ome_on_parent_wins_and_composes() {
        let group = node(
            "seg",
            json!({"multiscales": [{"version": "0.4",
                "axes": [{"name": "z", "type": "space", "unit": "nanometer"},
                         {"name": "y", "type": "space", "unit": "nanometer"},
                         {"name": "x", "type": "space", "unit": "nanometer"}],
                "datasets": [{"path": "s0", "coordinateTransformations": [
                    {"type": "scale", "scale": [4, 4, 4]}, {"type": "translation", "translation": [16, 0, 8]}]},
                    {"path": "s1", "coordinateTransformations": [{"type": "scale", "scale": [8, 8, 8]}]}],
                "coordinateTransformations": [{"type": "scale", "scale": [1, 2, 1]}]}]}),
        );
        let arr = node("seg/s0", json!({"resolution": [1, 1, 1]}));
        let g = find_geometry(&arr, std::slice::from_ref(&group));
        assert_eq!(g.origin, "ome-ngff");
        assert_eq!(g.voxel_size, Some(vec![4.0, 8.0, 4.0]));
        assert_eq!(g.offset, Some(vec![16.0, 0.0, 8.0]));
        assert_eq!(g.axes, Some(vec!["z".into(), "y".into(), "x".into()]));
        // A dataset the multiscales do not list falls back to attributes.
        let other = node("seg/s9", json!({"resolution": [2, 2, 2]}));
        assert_eq!(
            find_geometry(&other, &[group]).voxel_size,
            Some(vec![2.0; 3])
        );
    }

    #[test]
    fn n5_pixel_resolution_and_downsampling_factors() {
        let group = node(
            "raw",
            json!({"resolution": [4, 8, 40], "downsamplingFactors": [[1, 1, 1], [2, 2, 1]]}),
        );
        let s1 = node("raw/s1", json!({"downsamplingFactors": [2, 2, 1]}));
        let g = find_geometry(&s1, std::slice::from_ref(&group));
        assert_eq!(g.voxel_size, Some(vec![8.0, 16.0, 40.0]));
        let own = node(
            "raw/s1",
            json!({"downsamplingFactors": [2, 2, 1],
            "pixelResolution": {"dimensions": [8, 16, 40], "unit": "nm"}}),
        );
        let g = find_geometry(&own, &[group]);
        assert_eq!(g.voxel_size, Some(vec![8.0, 16.0, 40.0]));
        assert_eq!(g.units, Some(vec!["nm".to_owned(); 3]));
    }

    #[test]
    fn keys_looked_up_one_by_one() {
        let arr = node("raw", json!({"resolution": [8, 4, 4]}));
        let parent = node(
            "",
            json!({"offset": [80, 40, 40], "resolution": [1, 1, 1], "axes": ["z", "y", "x"]}),
        );
        let g = find_geometry(&arr, &[parent]);
        assert_eq!(g.voxel_size, Some(vec![8.0, 4.0, 4.0]));
        assert_eq!(g.offset, Some(vec![80.0, 40.0, 40.0]));
        assert_eq!(g.axes.map(|a| a.len()), Some(3));
    }
}
