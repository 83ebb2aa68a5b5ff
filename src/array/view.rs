//! How a registered array is shown (`spec/api.md`, "Viewer"): the config's optional
//! `"encoding"` (`raw` | `jpeg` | `png`) and `"jpeg_quality"` of its precomputed chunks,
//! and `"segment_names"` (`{"id": "name"}`) for its segment properties. They belong to
//! the registered (top) node only, do not change the voxels and so are not hashed.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::FieldProblem;
use crate::encode::image::{ChunkEncoding, DEFAULT_JPEG_QUALITY};
use crate::levels::Levels;

/// The viewer options of one config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewOptions {
    /// The config's `encoding`, if given.
    pub encoding: Option<ChunkEncoding>,
    /// The config's `jpeg_quality` (1..=100), if given.
    pub jpeg_quality: Option<u8>,
    /// Names of segment ids.
    pub segment_names: BTreeMap<u64, String>,
}

const FIELDS: [&str; 3] = ["encoding", "jpeg_quality", "segment_names"];

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// Removes the viewer fields from a node object; `path` is the node's (`""` for the
/// registered node, the only one they may appear on).
pub fn take(
    obj: &mut Map<String, Value>,
    path: &str,
    problems: &mut Vec<FieldProblem>,
) -> ViewOptions {
    let mut view = ViewOptions::default();
    for field in FIELDS {
        let Some(v) = obj.shift_remove(field).filter(|v| !v.is_null()) else {
            continue;
        };
        let at = join(path, field);
        if !path.is_empty() {
            problems.push(FieldProblem::new(
                at,
                "applies to the registered array only; set it on the top-level config",
            ));
            continue;
        }
        if let Err(reason) = view.set(field, v) {
            problems.push(FieldProblem::new(at, reason));
        }
    }
    view
}

impl ViewOptions {
    fn set(&mut self, field: &str, v: Value) -> Result<(), String> {
        match field {
            "encoding" => {
                self.encoding = Some(
                    serde_json::from_value(v)
                        .map_err(|_| "must be \"raw\", \"jpeg\" or \"png\"".to_owned())?,
                );
            }
            "jpeg_quality" => {
                let q = v
                    .as_u64()
                    .and_then(|q| u8::try_from(q).ok())
                    .filter(|q| (1..=100).contains(q))
                    .ok_or("must be an integer from 1 to 100")?;
                self.jpeg_quality = Some(q);
            }
            _ => {
                let Value::Object(map) = v else {
                    return Err(
                        "must be an object mapping segment ids (decimal strings) to names".into(),
                    );
                };
                for (id, name) in map {
                    let id = id.parse::<u64>().map_err(|_| {
                        format!("key {id:?} is not a segment id (a decimal uint64)")
                    })?;
                    let Value::String(name) = name else {
                        return Err(format!("the name of segment {id} must be a string"));
                    };
                    self.segment_names.insert(id, name);
                }
            }
        }
        Ok(())
    }

    /// Problems with these options for an array of `levels`: an encoding its served
    /// dtype or channels cannot take, segment names on an image.
    #[must_use]
    pub fn check(&self, levels: &Levels) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if let Some(e) = self.encoding {
            let channels = levels.num_channels.unwrap_or(1);
            if let Some(why) = e.refusal(levels.served, channels, levels.segmentation) {
                problems.push(FieldProblem::new("encoding", why));
            }
        }
        if !self.segment_names.is_empty() && !levels.segmentation {
            problems.push(FieldProblem::new(
                "segment_names",
                "applies to segmentation arrays (unsigned labels without channels); this one is an image",
            ));
        }
        problems
    }

    /// The encoding chunks are served in: the config's, else `default` where the array
    /// can take it, else raw.
    #[must_use]
    pub fn encoding(&self, levels: &Levels, default: ChunkEncoding) -> ChunkEncoding {
        self.encoding.unwrap_or_else(|| {
            let channels = levels.num_channels.unwrap_or(1);
            match default.refusal(levels.served, channels, levels.segmentation) {
                None => default,
                Some(_) => ChunkEncoding::Raw,
            }
        })
    }

    /// The JPEG quality.
    #[must_use]
    pub fn quality(&self) -> u8 {
        self.jpeg_quality.unwrap_or(DEFAULT_JPEG_QUALITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value, path: &str) -> (ViewOptions, Vec<FieldProblem>) {
        let mut obj = v.as_object().cloned().unwrap();
        let mut problems = Vec::new();
        let view = take(&mut obj, path, &mut problems);
        assert!(FIELDS.iter().all(|f| !obj.contains_key(*f)));
        (view, problems)
    }

    #[test]
    fn parses_and_names_bad_values() {
        let (v, p) = parse(
            json!({"encoding": "jpeg", "jpeg_quality": 70, "segment_names": {"7": "mito"}}),
            "",
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(v.encoding, Some(ChunkEncoding::Jpeg));
        assert_eq!(v.quality(), 70);
        assert_eq!(v.segment_names[&7], "mito");
        let (_, p) = parse(
            json!({"encoding": "webp", "jpeg_quality": 0, "segment_names": {"x": "a"}}),
            "",
        );
        let fields: Vec<_> = p.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["encoding", "jpeg_quality", "segment_names"]);
        assert!(p[0].reason.contains("\"png\""));
        let (_, p) = parse(json!({"encoding": "png"}), "source_array_config");
        assert_eq!(p[0].field, "source_array_config.encoding");
        assert_eq!(ViewOptions::default().quality(), DEFAULT_JPEG_QUALITY);
    }
}
