//! `create` in a `zarr` config: a new, empty zarr array (v3 unless `zarr_format: 2`)
//! with funlib attributes (`voxel_size`, `offset`, `axis_names`, `units`) on the array
//! and OME-NGFF `multiscales` (0.5 for v3, 0.4 for v2) on its group, optionally with
//! `levels` stored levels `s0..s{levels-1}`, each the 2x reduction `downsample` computes
//! (the finest axes halved, `[floor(lo/2), ceil(hi/2))`).

use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::container::{Store, ensure_group, exists, join, remove, write_json};
use crate::array::FieldProblem;
use crate::array::downsample::pad3;
use crate::dtype::{DType, Kind};
use crate::encode::zarr_chunk::ZarrCodec;
use crate::error::Error;
use crate::geometry::Coord;
use crate::levels;
use crate::views::ome::transforms;

/// Most stored levels `create` makes.
const MAX_LEVELS: usize = 16;

/// The `create` object of a `zarr` config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSpec {
    /// Region in world units: `{"offset": [...], "shape": [...]}` (z,y,x).
    pub roi: RoiSpec,
    /// World units per voxel, z,y,x.
    pub voxel_size: Vec<i64>,
    /// numpy-style dtype name.
    pub dtype: String,
    /// Channels (a leading `c` axis), if any.
    #[serde(default)]
    pub num_channels: Option<usize>,
    /// Chunk extent in voxels (default 64 per axis).
    #[serde(default)]
    pub chunk_shape: Option<Vec<i64>>,
    /// DaCapo's write size, world units (an alternative to `chunk_shape`).
    #[serde(default)]
    pub write_size: Option<Vec<i64>>,
    /// `none`, `gzip`, `zstd` (default) or `blosc`.
    #[serde(default)]
    pub codec: Option<String>,
    /// Replace an existing array (refused with 409 otherwise).
    #[serde(default)]
    pub overwrite: bool,
    /// Stored levels, `s0` included (default 1).
    #[serde(default)]
    pub levels: Option<usize>,
    /// 2 or 3 (default).
    #[serde(default)]
    pub zarr_format: Option<u8>,
    /// Unit per spatial axis (default nanometer).
    #[serde(default)]
    pub units: Option<Vec<String>>,
}

/// A world-unit region as written in configs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoiSpec {
    /// First corner, world units.
    pub offset: Vec<i64>,
    /// Extent, world units.
    pub shape: Vec<i64>,
}

/// One stored level to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelPlan {
    /// Dataset path inside the container.
    pub path: String,
    /// World units per voxel.
    pub voxel_size: Coord,
    /// First voxel (world offset / voxel size).
    pub begin: Coord,
    /// Extent in voxels.
    pub shape: Coord,
}

/// A validated `create`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    dtype: DType,
    channels: Option<usize>,
    chunk: Vec<i64>,
    codec: ZarrCodec,
    v3: bool,
    units: Vec<String>,
    /// Replace an existing array.
    pub overwrite: bool,
    /// The levels, finest first.
    pub levels: Vec<LevelPlan>,
}

/// The factor `downsample` uses after a level of `shape` voxels of `vs` (1-3 axes).
fn halving(shape: &Coord, vs: &Coord) -> Coord {
    let f = levels::halving(pad3(shape, 1), pad3(vs, 1));
    Coord::new(f[3 - vs.dims()..].to_vec())
}

/// Collects problems at `create.<field>`.
type Bad<'a> = &'a mut dyn FnMut(&str, String);

impl CreateSpec {
    /// Checks every field; `dataset` must end in `s0` when more than one level is asked.
    ///
    /// # Errors
    /// Every problem, at `create.<field>`.
    pub fn plan(&self, dataset: &str) -> Result<Plan, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let mut push =
            |f: &str, r: String| problems.push(FieldProblem::new(format!("create.{f}"), r));
        let bad: Bad<'_> = &mut push;
        let dims = self.voxel_size.len();
        let vs = Coord::new(self.voxel_size.clone());
        self.check_geometry(&vs, bad);
        let dtype: Option<DType> = self.dtype.parse().map_err(|e| bad("dtype", e)).ok();
        if matches!(self.num_channels, Some(0 | 1)) {
            bad(
                "num_channels",
                "must be at least 2; a single channel is stored without a c axis (omit it)".into(),
            );
        }
        let chunk = self.chunk(&vs, bad);
        let (codec, v3) = self.format(bad);
        let count = self.levels.unwrap_or(1);
        let leaf = dataset.trim_matches('/').rsplit('/').next().unwrap_or("");
        if !(1..=MAX_LEVELS).contains(&count) {
            bad(
                "levels",
                format!("is {count}; allowed: 1 to {MAX_LEVELS} (s0 included)"),
            );
        } else if count > 1 && leaf != "s0" {
            bad(
                "levels",
                format!("with {count} levels the dataset must be GROUP/s0, not {dataset:?}"),
            );
        }
        let units = self
            .units
            .clone()
            .unwrap_or_else(|| vec!["nanometer".into(); dims]);
        if units.len() != dims {
            bad(
                "units",
                format!("must name {dims} units, one per spatial axis"),
            );
        }
        let (Some(dtype), Some(codec), true) = (dtype, codec, problems.is_empty()) else {
            return Err(problems);
        };
        Ok(Plan {
            dtype,
            channels: self.num_channels,
            chunk,
            codec,
            v3,
            units,
            overwrite: self.overwrite,
            levels: self.level_plans(dataset, vs, count),
        })
    }

    fn check_geometry(&self, vs: &Coord, bad: Bad<'_>) {
        let dims = vs.dims();
        if !(1..=3).contains(&dims) || vs.iter().any(|&v| v <= 0) {
            bad(
                "voxel_size",
                "must be 1-3 positive integers (z,y,x world units)".into(),
            );
        }
        if !on_grid(&self.roi.offset, vs) {
            bad(
                "roi.offset",
                format!("must be {dims} multiples of the voxel size {vs}"),
            );
        }
        if !on_grid(&self.roi.shape, vs) || self.roi.shape.iter().any(|&s| s <= 0) {
            bad(
                "roi.shape",
                format!("must be {dims} positive multiples of the voxel size {vs}"),
            );
        }
    }

    /// The chunk extent in voxels: `chunk_shape`, `write_size` / voxel size, or 64s.
    fn chunk(&self, vs: &Coord, bad: Bad<'_>) -> Vec<i64> {
        let dims = vs.dims();
        match (&self.chunk_shape, &self.write_size) {
            (Some(_), Some(_)) => {
                bad(
                    "write_size",
                    "give chunk_shape (voxels) or write_size (world units), not both".into(),
                );
                vec![]
            }
            (Some(c), None) if c.len() == dims && c.iter().all(|&v| v > 0) => c.clone(),
            (None, Some(w)) if on_grid(w, vs) && w.iter().all(|&v| v > 0) => {
                w.iter().zip(vs.iter()).map(|(a, b)| a / b).collect()
            }
            (Some(_), None) => {
                bad(
                    "chunk_shape",
                    format!("must be {dims} positive integers (voxels)"),
                );
                vec![]
            }
            (None, Some(_)) => {
                bad(
                    "write_size",
                    format!("must be {dims} positive multiples of the voxel size {vs}"),
                );
                vec![]
            }
            (None, None) => vec![64; dims],
        }
    }

    /// The codec and whether the format is zarr v3.
    fn format(&self, bad: Bad<'_>) -> (Option<ZarrCodec>, bool) {
        let codec = match self.codec.as_deref() {
            None => Some(ZarrCodec::Zstd),
            Some(name) => ZarrCodec::from_str(name, true)
                .map_err(|_| {
                    bad(
                        "codec",
                        format!("unknown codec {name:?}; allowed: none, gzip, zstd, blosc"),
                    );
                })
                .ok(),
        };
        let v3 = match self.zarr_format {
            None | Some(3) => true,
            Some(2) => false,
            Some(other) => {
                bad("zarr_format", format!("is {other}; allowed: 2, 3"));
                true
            }
        };
        (codec, v3)
    }

    /// `dataset` and its `count - 1` coarser siblings `s1..`, each halved as `downsample` does.
    fn level_plans(&self, dataset: &str, vs: Coord, count: usize) -> Vec<LevelPlan> {
        let path = dataset.trim_matches('/');
        let prefix = path
            .rsplit_once('/')
            .map_or(String::new(), |(p, _)| format!("{p}/"));
        let mut levels = vec![LevelPlan {
            path: path.to_owned(),
            begin: &Coord::new(self.roi.offset.clone()) / &vs,
            shape: &Coord::new(self.roi.shape.clone()) / &vs,
            voxel_size: vs,
        }];
        for k in 1..count {
            let last = &levels[k - 1];
            let f = halving(&last.shape, &last.voxel_size);
            let begin = last.begin.div_floor(&f);
            let end = (&last.begin + &last.shape).div_ceil(&f);
            levels.push(LevelPlan {
                path: format!("{prefix}s{k}"),
                voxel_size: &last.voxel_size * &f,
                shape: &end - &begin,
                begin,
            });
        }
        levels
    }
}

/// Are `v` whole multiples of `vs`, one per axis?
fn on_grid(v: &[i64], vs: &Coord) -> bool {
    v.len() == vs.dims() && v.iter().zip(vs.iter()).all(|(a, b)| *b > 0 && a % b == 0)
}

impl Plan {
    fn axis_names(&self) -> Vec<&'static str> {
        let dims = self.chunk.len();
        let spatial = &["z", "y", "x"][3 - dims..];
        self.channels
            .map(|_| "c^")
            .into_iter()
            .chain(spatial.iter().copied())
            .collect()
    }

    fn fill(&self) -> Value {
        match self.dtype.kind() {
            Kind::Bool => json!(false),
            Kind::Float => json!(0.0),
            _ => json!(0),
        }
    }

    fn array_document(&self, level: &LevelPlan) -> (Value, Map<String, Value>) {
        let lead = self.channels.map(|c| c as i64);
        let shape: Vec<i64> = lead
            .into_iter()
            .chain(level.shape.iter().copied())
            .collect();
        let chunk: Vec<i64> = lead.into_iter().chain(self.chunk.iter().copied()).collect();
        let mut attrs = Map::new();
        attrs.insert("voxel_size".into(), json!(level.voxel_size));
        attrs.insert("offset".into(), json!(&level.begin * &level.voxel_size));
        attrs.insert("axis_names".into(), json!(self.axis_names()));
        attrs.insert("units".into(), json!(self.units));
        let doc = if self.v3 {
            json!({
                "zarr_format": 3, "node_type": "array", "shape": shape, "data_type": self.dtype,
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk}},
                "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
                "fill_value": self.fill(), "codecs": self.codec.v3_codecs(self.dtype),
                "attributes": attrs, "dimension_names": self.axis_names(),
            })
        } else {
            json!({
                "zarr_format": 2, "shape": shape, "chunks": chunk, "dtype": self.dtype.npy_descr(),
                "compressor": self.codec.v2_compressor(), "fill_value": self.fill(), "order": "C",
                "filters": null, "dimension_separator": "/",
            })
        };
        (doc, attrs)
    }

    /// OME-NGFF `multiscales` for the group holding the levels.
    fn multiscales(&self, name: &str) -> Value {
        let channels = self.channels.is_some();
        let spatial = self.axis_names().into_iter().filter(|a| *a != "c^");
        let axes: Vec<Value> = channels
            .then(|| json!({"name": "c", "type": "channel"}))
            .into_iter()
            .chain(
                spatial
                    .zip(&self.units)
                    .map(|(a, unit)| json!({"name": a, "type": "space", "unit": unit})),
            )
            .collect();
        let datasets: Vec<Value> = self
            .levels
            .iter()
            .map(|l| {
                let origin = &l.begin * &l.voxel_size;
                json!({
                    "path": l.path.rsplit('/').next().unwrap_or(&l.path),
                    "coordinateTransformations": transforms(channels, &l.voxel_size, &origin),
                })
            })
            .collect();
        let version = if self.v3 { "0.5" } else { "0.4" };
        json!([{"version": version, "name": name, "axes": axes, "datasets": datasets}])
    }
}

/// Creates the planned array (its levels and groups) in the container `store`, named
/// `name` in its OME metadata. Blocking I/O: call it off the async runtime.
///
/// # Errors
/// [`Error::Conflict`] when it exists and `overwrite` is false; storage failures.
pub fn create(plan: &Plan, store: &Store, name: &str) -> Result<(), Error> {
    let s0 = &plan.levels[0].path;
    if exists(store, s0)? {
        if !plan.overwrite {
            return Err(Error::Conflict(format!(
                "an array already exists at {s0:?}; set create.overwrite to true to replace it, or drop create to open it"
            )));
        }
        for level in &plan.levels {
            remove(store, &level.path)?;
        }
    }
    ensure_group(store, "", plan.v3, Map::new())?;
    let parent = s0.rsplit_once('/').map_or("", |(p, _)| p);
    let mut group = String::new();
    for comp in parent.split('/').filter(|c| !c.is_empty()) {
        group = join(&group, comp);
        ensure_group(store, &group, plan.v3, Map::new())?;
    }
    let mut ome = Map::new();
    let multiscales = plan.multiscales(name);
    if plan.v3 {
        ome.insert(
            "ome".into(),
            json!({"version": "0.5", "multiscales": multiscales}),
        );
    } else {
        ome.insert("multiscales".into(), multiscales);
    }
    ensure_group(store, &group, plan.v3, ome)?;
    for level in &plan.levels {
        let (doc, attrs) = plan.array_document(level);
        if plan.v3 {
            write_json(store, &join(&level.path, "zarr.json"), &doc)?;
        } else {
            write_json(store, &join(&level.path, ".zarray"), &doc)?;
            write_json(store, &join(&level.path, ".zattrs"), &Value::Object(attrs))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::local::ConfinedStore;

    fn spec(v: Value) -> CreateSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn levels_follow_downsample() {
        let s = spec(json!({"roi": {"offset": [4, 8, 8], "shape": [20, 40, 40]},
            "voxel_size": [4, 4, 4], "dtype": "uint8", "levels": 3, "write_size": [32, 32, 32]}));
        let p = s.plan("pred/s0").unwrap();
        assert_eq!(p.chunk, vec![8, 8, 8]);
        let l: Vec<(String, Coord, Coord, Coord)> = p
            .levels
            .iter()
            .map(|l| {
                (
                    l.path.clone(),
                    l.voxel_size.clone(),
                    l.begin.clone(),
                    l.shape.clone(),
                )
            })
            .collect();
        assert_eq!(
            l[0],
            (
                "pred/s0".into(),
                Coord::from([4, 4, 4]),
                Coord::from([1, 2, 2]),
                Coord::from([5, 10, 10])
            )
        );
        // [1, 6) -> [0, 3); [2, 12) -> [1, 6)
        assert_eq!(
            l[1],
            (
                "pred/s1".into(),
                Coord::from([8, 8, 8]),
                Coord::from([0, 1, 1]),
                Coord::from([3, 5, 5])
            )
        );
        assert_eq!(l[2].1, Coord::from([16, 16, 16]));
    }

    #[test]
    fn every_bad_field_is_named() {
        let s = spec(json!({"roi": {"offset": [1, 0, 0], "shape": [0, 8, 8]},
            "voxel_size": [4, 4, 4], "dtype": "complex", "codec": "lz5", "levels": 2,
            "zarr_format": 4, "num_channels": 0}));
        let fields: Vec<String> = s
            .plan("pred")
            .unwrap_err()
            .into_iter()
            .map(|p| p.field)
            .collect();
        for f in [
            "roi.offset",
            "roi.shape",
            "dtype",
            "codec",
            "levels",
            "zarr_format",
            "num_channels",
        ] {
            assert!(fields.contains(&format!("create.{f}")), "{f} in {fields:?}");
        }
    }

    #[test]
    fn creates_v2_and_v3_with_groups_and_refuses_existing() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::sync::Arc::new(crate::storage::DataRoot::open(dir.path()).unwrap());
        let metrics = std::sync::Arc::new(crate::metrics::Metrics::new());
        for (fmt, meta) in [(3, "zarr.json"), (2, ".zarray")] {
            let s = spec(json!({"roi": {"offset": [0, 0, 0], "shape": [8, 8, 8]},
                "voxel_size": [1, 1, 1], "dtype": "uint16", "num_channels": 2, "levels": 2,
                "zarr_format": fmt}));
            let c = std::path::PathBuf::from(format!("v{fmt}.zarr"));
            let store = ConfinedStore::new(root.clone(), c.clone(), metrics.clone());
            let plan = s.plan("a/s0").unwrap();
            create(&plan, &store, "a").unwrap();
            assert!(exists(&store, "a/s1").unwrap());
            let doc: Value = serde_json::from_slice(
                &std::fs::read(dir.path().join(&c).join("a/s1").join(meta)).unwrap(),
            )
            .unwrap();
            assert_eq!(doc["shape"], json!([2, 4, 4, 4]), "{doc}");
            assert!(matches!(
                create(&plan, &store, "a"),
                Err(Error::Conflict(_))
            ));
            let again = CreateSpec {
                overwrite: true,
                ..s
            };
            create(&again.plan("a/s0").unwrap(), &store, "a").unwrap();
            remove(&store, "a/s1").unwrap();
            assert!(!exists(&store, "a/s1").unwrap());
            assert!(exists(&store, "a/s0").unwrap());
        }
        let group: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("v3.zarr/a/zarr.json")).unwrap())
                .unwrap();
        let ds = &group["attributes"]["ome"]["multiscales"][0]["datasets"];
        assert_eq!(ds[1]["path"], "s1");
        assert_eq!(
            ds[1]["coordinateTransformations"][0]["scale"],
            json!([1, 2, 2, 2])
        );
        let attrs: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("v2.zarr/a/.zattrs")).unwrap())
                .unwrap();
        assert_eq!(attrs["multiscales"][0]["version"], "0.4");
    }
}
