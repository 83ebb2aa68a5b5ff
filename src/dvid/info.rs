//! An instance's `/info` JSON → geometry (`spec/dvid.md` §1.3 and §1.4): DVID's x,y,z
//! vectors reversed to z,y,x, `MaxPoint` inclusive (end = max + 1), voxel size and units
//! from `Extended`, dtype from `Values[0].DataType`, the chunk grid from `BlockSize`,
//! and the read path from `Base.TypeName` (never the instance's name). `null` extents
//! (an instance never written) are a validation problem, not a crash.

use serde_json::Value;

use crate::dtype::DType;
use crate::geometry::Box3;

/// How an instance is read, chosen by its `Base.TypeName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `uint8blk`: `raw/0_1_2` reads.
    Grayscale,
    /// `labelmap`: `/blocks?compression=blocks`, scales, supervoxels.
    Labelmap,
    /// `labelarray`: like labelmap, without an agglomeration mapping.
    Labelarray,
}

impl Kind {
    /// The kind of a `TypeName`, `None` for types this server does not read.
    #[must_use]
    pub fn from_type_name(name: &str) -> Option<Self> {
        match name {
            "uint8blk" => Some(Kind::Grayscale),
            "labelmap" => Some(Kind::Labelmap),
            "labelarray" => Some(Kind::Labelarray),
            _ => None,
        }
    }

    /// True for label types (uint64 segmentation).
    #[must_use]
    pub fn is_labels(self) -> bool {
        !matches!(self, Kind::Grayscale)
    }

    /// The one dtype this kind stores.
    #[must_use]
    pub fn dtype(self) -> DType {
        if self.is_labels() {
            DType::U64
        } else {
            DType::U8
        }
    }
}

/// What `/info` says about an instance, in z,y,x order at scale 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    /// `Base.TypeName`.
    pub type_name: String,
    /// The read path.
    pub kind: Kind,
    /// `Extended.Values[0].DataType`.
    pub dtype: DType,
    /// `Extended.BlockSize`, z,y,x voxels.
    pub block_size: [i64; 3],
    /// `Extended.VoxelSize`, z,y,x.
    pub voxel_size: [i64; 3],
    /// `Extended.VoxelUnits`, z,y,x (empty when absent).
    pub units: Vec<String>,
    /// Voxels at scale 0, z,y,x: `MinPoint` reversed to `MaxPoint` reversed + 1.
    pub bounds: Box3,
    /// `Extended.MaxDownresLevel` (labelmap scales 0..=N exist), 0 if absent.
    pub max_downres_level: u32,
}

/// Geometry at one labelmap scale, in that scale's voxels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    /// Voxel size, z,y,x: scale 0's times 2^scale.
    pub voxel_size: [i64; 3],
    /// The scale's voxels, z,y,x.
    pub bounds: Box3,
}

impl InstanceInfo {
    /// The geometry at `scale`: DVID keeps only scale-0 extents, so they are divided
    /// by 2^scale (floor of the first and of the last voxel).
    #[must_use]
    pub fn level(&self, scale: u32) -> Level {
        let f = 1i64 << scale.min(40);
        Level {
            voxel_size: self.voxel_size.map(|v| v.saturating_mul(f)),
            bounds: Box3 {
                begin: self.bounds.begin.map(|b| b.div_euclid(f)),
                end: self.bounds.end.map(|e| (e - 1).div_euclid(f) + 1),
            },
        }
    }
}

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// Three numbers at `path`, reversed to z,y,x; `Err` names the field.
fn xyz(v: &Value, path: &str, integral: bool, problems: &mut Vec<String>) -> Option<[f64; 3]> {
    let found = at(v, path);
    let nums: Option<Vec<f64>> = found
        .and_then(Value::as_array)
        .map(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<_>>>())
        .unwrap_or(None);
    match (found, nums) {
        (Some(_), Some(n)) if n.len() == 3 && (!integral || n.iter().all(|x| x.fract() == 0.0)) => {
            Some([n[2], n[1], n[0]])
        }
        (None, _) => {
            problems.push(format!("{path} is missing from the instance's /info"));
            None
        }
        (Some(Value::Null), _) => {
            problems.push(format!(
                "{path} is null: the instance has never been written, so it has no extents; \
                 write data to it (or set them with POST .../extents) before registering"
            ));
            None
        }
        (Some(other), _) => {
            let what = if integral { "integers" } else { "numbers" };
            problems.push(format!("{path} is {other}; expected three {what} (x,y,z)"));
            None
        }
    }
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "values were checked integral; DVID coordinates are int32"
)]
fn ints(v: [f64; 3]) -> [i64; 3] {
    v.map(|x| x as i64)
}

/// `Base.TypeName` and its kind, `Extended.Values[0].DataType` and its dtype; a
/// problem for an unsupported type, an unknown dtype or one the type does not store.
fn type_and_dtype(v: &Value, problems: &mut Vec<String>) -> (String, Option<Kind>, Option<DType>) {
    let type_name = at(v, "Base.TypeName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let kind = Kind::from_type_name(&type_name);
    if kind.is_none() {
        problems.push(format!(
            "Base.TypeName {type_name:?} is not supported; uint8blk, labelmap and labelarray are"
        ));
    }
    let data_type = at(v, "Extended.Values")
        .and_then(|a| a.get(0))
        .and_then(|x| x.get("DataType"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let dtype = data_type.parse::<DType>().ok();
    match (kind, dtype) {
        (_, None) => problems.push(format!(
            "Extended.Values[0].DataType {data_type:?} is not a supported dtype"
        )),
        (Some(k), Some(d)) if k.dtype() != d => problems.push(format!(
            "Extended.Values[0].DataType is {d} but a {type_name} instance stores {}",
            k.dtype()
        )),
        _ => {}
    }
    (type_name, kind, dtype)
}

/// `Extended.BlockSize`, z,y,x: positive, and multiples of 8 for label types.
fn block_size(v: &Value, kind: Option<Kind>, problems: &mut Vec<String>) -> Option<[i64; 3]> {
    let block = xyz(v, "Extended.BlockSize", true, problems).map(ints);
    if let (Some(b), Some(k)) = (block, kind) {
        let unit = if k.is_labels() { 8 } else { 1 };
        if b.iter().any(|&s| s <= 0 || s % unit != 0) {
            problems.push(format!(
                "Extended.BlockSize {:?} must be positive{}",
                [b[2], b[1], b[0]],
                if unit > 1 { " multiples of 8" } else { "" }
            ));
        }
    }
    block
}

/// `Extended.VoxelSize`, z,y,x: positive whole numbers.
fn voxel_size(v: &Value, problems: &mut Vec<String>) -> Option<[i64; 3]> {
    let voxel = xyz(v, "Extended.VoxelSize", false, problems)?;
    if voxel
        .iter()
        .any(|&x| x <= 0.0 || x.fract() != 0.0 || x > 1e9)
    {
        problems.push(format!(
            "Extended.VoxelSize {:?} must be positive whole numbers; arrayd keeps integer voxel sizes",
            [voxel[2], voxel[1], voxel[0]]
        ));
        return None;
    }
    Some(ints(voxel))
}

/// `Extended.MinPoint` ..= `MaxPoint` as a half-open z,y,x box.
fn extents(v: &Value, problems: &mut Vec<String>) -> Option<Box3> {
    let min = xyz(v, "Extended.MinPoint", true, problems).map(ints);
    let max = xyz(v, "Extended.MaxPoint", true, problems).map(ints);
    let (lo, hi) = (min?, max?);
    if lo.iter().zip(&hi).any(|(a, b)| a > b) {
        problems.push(format!(
            "Extended.MinPoint {:?} lies beyond MaxPoint {:?}",
            [lo[2], lo[1], lo[0]],
            [hi[2], hi[1], hi[0]]
        ));
        return None;
    }
    Some(Box3 {
        begin: lo,
        end: hi.map(|h| h + 1),
    })
}

/// `Extended.VoxelUnits`, z,y,x; empty unless three strings.
fn units(v: &Value) -> Vec<String> {
    at(v, "Extended.VoxelUnits")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .rev()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .filter(|u| u.len() == 3)
        .unwrap_or_default()
}

/// `Extended.MaxDownresLevel` (capped at 30), 0 if absent.
fn max_downres_level(v: &Value) -> u32 {
    at(v, "Extended.MaxDownresLevel")
        .and_then(Value::as_u64)
        .map_or(0, |l| u32::try_from(l.min(30)).unwrap_or(30))
}

/// Parses an instance's `/info` JSON.
///
/// # Errors
/// Every problem found, each naming the DVID field (`Extended.MaxPoint`, ...).
pub fn parse_info(v: &Value) -> Result<InstanceInfo, Vec<String>> {
    let mut problems = Vec::new();
    let (type_name, kind, dtype) = type_and_dtype(v, &mut problems);
    let block = block_size(v, kind, &mut problems);
    let voxel = voxel_size(v, &mut problems);
    let bounds = extents(v, &mut problems);
    match (kind, dtype, block, voxel, bounds) {
        (Some(kind), Some(dtype), Some(block_size), Some(voxel_size), Some(bounds))
            if problems.is_empty() =>
        {
            Ok(InstanceInfo {
                type_name,
                kind,
                dtype,
                block_size,
                voxel_size,
                units: units(v),
                bounds,
                max_downres_level: if kind.is_labels() {
                    max_downres_level(v)
                } else {
                    0
                },
            })
        }
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labelmap() -> Value {
        json!({"Base":{"TypeName":"labelmap","TypeURL":"github.com/janelia-flyem/dvid/datatype/labelmap",
            "TypeVersion":"0.1","DataUUID":"9e1d","Name":"grayscale","RepoUUID":"a7b3c1d2e4f5a6b7c8d9e0f1a2b3c4d5",
            "Compression":"gzip compression, level -1","Checksum":"No checksum","Syncs":[],"Versioned":true,
            "KVStore":"badger","LogStore":"","Tags":{}},
         "Extended":{"Values":[{"DataType":"uint64","Label":"labelmap"}],"Interpolable":false,
            "BlockSize":[64,32,16],"VoxelSize":[4.0,6.0,8.0],"VoxelUnits":["nm-x","nm-y","nm-z"],
            "MinPoint":[10,20,30],"MaxPoint":[1023,767,511],"MinIndex":[0,0,1],"MaxIndex":[15,23,31],
            "Background":0,"GridStore":"","ScaleLevel":0,"MaxLabel":{"1":5},"MaxRepoLabel":5,
            "NextLabel":0,"IndexedLabels":true,"MaxDownresLevel":3},
         "Extents":{"MinPoint":[10,20,30],"MaxPoint":[1023,767,511]}})
    }

    #[test]
    fn reversed_inclusive_and_typed_by_type_name() {
        let info = parse_info(&labelmap()).unwrap();
        // The instance is named "grayscale" but its TypeName says labels.
        assert_eq!(info.kind, Kind::Labelmap);
        assert_eq!(info.dtype, DType::U64);
        assert_eq!(info.block_size, [16, 32, 64]);
        assert_eq!(info.voxel_size, [8, 6, 4]);
        assert_eq!(info.units, ["nm-z", "nm-y", "nm-x"]);
        assert_eq!(info.bounds.begin, [30, 20, 10]);
        assert_eq!(info.bounds.end, [512, 768, 1024]);
        assert_eq!(info.max_downres_level, 3);
        let l2 = info.level(2);
        assert_eq!(l2.voxel_size, [32, 24, 16]);
        assert_eq!(l2.bounds.begin, [7, 5, 2]);
        assert_eq!(l2.bounds.end, [128, 192, 256]);
        assert_eq!(info.level(0).bounds, info.bounds);
    }

    #[test]
    fn grayscale_from_the_spec_example() {
        let v = json!({"Base":{"TypeName":"uint8blk","Name":"segmentation"},
            "Extended":{"Values":[{"DataType":"uint8","Label":"uint8"}],"Interpolable":true,
            "BlockSize":[32,32,32],"VoxelSize":[8,8,8],"VoxelUnits":["nanometers","nanometers","nanometers"],
            "MinPoint":[0,0,0],"MaxPoint":[1023,767,511],"Background":0,"ScaleLevel":0},
            "Extents":{"MinPoint":[0,0,0],"MaxPoint":[1023,767,511]}});
        let info = parse_info(&v).unwrap();
        assert_eq!(info.kind, Kind::Grayscale);
        assert_eq!(info.dtype, DType::U8);
        assert_eq!(info.bounds.end, [512, 768, 1024]);
        assert_eq!(info.max_downres_level, 0);
    }

    #[test]
    fn null_extents_name_the_field() {
        let mut v = labelmap();
        v["Extended"]["MinPoint"] = Value::Null;
        v["Extended"]["MaxPoint"] = Value::Null;
        let problems = parse_info(&v).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("Extended.MinPoint is null"));
        assert!(problems[1].starts_with("Extended.MaxPoint is null"));
    }

    #[test]
    fn every_problem_is_listed() {
        let mut v = labelmap();
        v["Base"]["TypeName"] = json!("keyvalue");
        v["Extended"]["VoxelSize"] = json!([3.8, 4, 4]);
        v["Extended"]["BlockSize"] = json!([64, 64]);
        v["Extended"]["MinPoint"] = json!([2000, 0, 0]);
        let problems = parse_info(&v).unwrap_err();
        let joined = problems.join("\n");
        for needle in [
            "Base.TypeName \"keyvalue\"",
            "Extended.BlockSize",
            "Extended.VoxelSize",
            "beyond MaxPoint",
        ] {
            assert!(joined.contains(needle), "{needle} not in {joined}");
        }
        let mut w = labelmap();
        w["Extended"]["Values"][0]["DataType"] = json!("uint8");
        assert!(parse_info(&w).unwrap_err()[0].contains("stores uint64"));
        w["Extended"]["BlockSize"] = json!([12, 64, 64]);
        assert!(parse_info(&w).unwrap_err().len() == 2);
    }
}
