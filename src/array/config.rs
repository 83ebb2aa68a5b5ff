//! Parsing array configs (`spec/arrays.md`, "Config JSON"): one JSON object per node,
//! tagged by `type` (or DaCapo's `__type__`), DaCapo field names, sources inline or by
//! name. Parsing never stops at the first problem: every unknown field, missing field
//! and bad value in every node is reported with its dotted path.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::FieldProblem;
use super::{
    binarize, concat, constant, crop, dummy, dvid, intensities, logical_or, merge_instances,
    missing_annotations_mask, numpy, ones, resampled, sum, zarr,
};

/// A source field's value: another registered array's name, or an inline node.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// A reference to a registered array.
    Named(String),
    /// A node defined in place.
    Inline(Box<NodeConfig>),
}

/// One source slot of a node: the field it came from and, for maps, its key.
#[derive(Debug, Clone)]
pub struct SourceSlot {
    /// Dotted path of the slot (`source_array_configs.a`).
    pub field: String,
    /// The map key (concat channel) or `None`.
    pub key: Option<String>,
    /// The source.
    pub config: SourceConfig,
}

/// Options every node accepts besides its type's fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeOptions {
    /// Overrides the chunk grid's chunk shape (spatial, voxels).
    pub chunk_shape: Option<Vec<i64>>,
    /// Caches this node's chunks when it is read inside a chain.
    pub cache: bool,
    /// How the registered array is shown (top node only).
    pub view: super::view::ViewOptions,
}

/// A parsed node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node's `name`.
    pub name: String,
    /// Generic options.
    pub options: NodeOptions,
    /// The type-specific fields.
    pub typed: TypedConfig,
    /// Source slots in field order.
    pub sources: Vec<SourceSlot>,
    /// The node's own fields (normalized, sources removed), for hashing.
    pub own: Value,
}

/// How a source field holds its sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slots {
    /// Exactly one.
    One,
    /// Zero or one.
    Optional,
    /// A non-empty list.
    List,
    /// An object of key → source.
    Map,
}

/// Parses a type's own fields from the node object.
type ParseFn = fn(Map<String, Value>, &str, &mut Vec<FieldProblem>) -> Option<TypedConfig>;

/// One config type: its names and its source fields.
struct TypeSpec {
    name: &'static str,
    dacapo: &'static str,
    sources: &'static [(&'static str, Slots)],
    parse: ParseFn,
}

const ONE_SOURCE: &[(&str, Slots)] = &[("source_array_config", Slots::One)];

const NO_SOURCES: &[(&str, Slots)] = &[];
const SOURCE_LIST: &[(&str, Slots)] = &[("source_array_configs", Slots::List)];
const CONCAT_SOURCES: &[(&str, Slots)] = &[
    ("source_array_configs", Slots::Map),
    ("default_config", Slots::Optional),
];

/// The config types, stated once: the [`TypedConfig`] variant and its fields' type, the
/// `type` name, DaCapo's class, the source fields, and whether the type is value-wise
/// (an output voxel depends only on the source voxels at the same place, so level k of
/// the node is the node over level k of its sources).
macro_rules! config_types {
    ($($variant:ident($fields:ty): $name:literal, $dacapo:literal, $sources:expr, $value_wise:literal;)*) => {
        /// The type-specific fields of each config type.
        #[derive(Debug, Clone)]
        pub enum TypedConfig {
            $(#[doc = concat!("`", $name, "`")] $variant($fields),)*
        }

        impl TypedConfig {
            /// The config `type`.
            #[must_use]
            pub fn type_name(&self) -> &'static str {
                match self { $(Self::$variant(_) => $name,)* }
            }

            /// Whether level k of the node is the node over level k of its sources.
            #[must_use]
            pub fn value_wise(&self) -> bool {
                match self { $(Self::$variant(_) => $value_wise,)* }
            }
        }

        const TYPES: &[TypeSpec] = &[$(TypeSpec {
            name: $name,
            dacapo: $dacapo,
            sources: $sources,
            parse: |obj, path, problems| parse_fields(obj, path, problems).map(TypedConfig::$variant),
        },)*];
    };
}

config_types! {
    Zarr(zarr::ZarrConfig): "zarr", "ZarrArrayConfig", NO_SOURCES, false;
    Numpy(numpy::NumpyConfig): "numpy", "NumpyArrayConfig", NO_SOURCES, false;
    Dummy(dummy::DummyConfig): "dummy", "DummyArrayConfig", NO_SOURCES, false;
    Dvid(dvid::DvidConfig): "dvid", "DVIDArrayConfig", NO_SOURCES, false;
    Binarize(binarize::BinarizeConfig): "binarize", "BinarizeArrayConfig", ONE_SOURCE, true;
    Resampled(resampled::ResampledConfig): "resampled", "ResampledArrayConfig", ONE_SOURCE, false;
    Intensities(intensities::IntensitiesConfig): "intensities", "IntensitiesArrayConfig", ONE_SOURCE, true;
    MissingAnnotationsMask(missing_annotations_mask::MissingAnnotationsMaskConfig):
        "missing_annotations_mask", "MissingAnnotationsMaskConfig", ONE_SOURCE, true;
    Ones(ones::OnesConfig): "ones", "OnesArrayConfig", ONE_SOURCE, true;
    Constant(constant::ConstantConfig): "constant", "ConstantArrayConfig", ONE_SOURCE, true;
    Concat(concat::ConcatConfig): "concat", "ConcatArrayConfig", CONCAT_SOURCES, true;
    LogicalOr(logical_or::LogicalOrConfig): "logical_or", "LogicalOrArrayConfig", ONE_SOURCE, true;
    Crop(crop::CropConfig): "crop", "CropArrayConfig", ONE_SOURCE, true;
    MergeInstances(merge_instances::MergeInstancesConfig):
        "merge_instances", "MergeInstancesArrayConfig", SOURCE_LIST, true;
    Sum(sum::SumConfig): "sum", "SumArrayConfig", SOURCE_LIST, true;
}

/// Every accepted `type` name.
#[must_use]
pub fn type_names() -> Vec<&'static str> {
    TYPES.iter().map(|t| t.name).collect()
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else if field.starts_with('[') {
        format!("{path}{field}")
    } else {
        format!("{path}.{field}")
    }
}

/// Parses a config document (the top-level node).
///
/// # Errors
/// Every problem found, each with its field path.
pub fn parse(value: &Value) -> Result<NodeConfig, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let node = parse_node(value, "", &mut problems);
    match node {
        Some(node) if problems.is_empty() => Ok(node),
        _ => {
            if problems.is_empty() {
                problems.push(FieldProblem::new("", "the config could not be parsed"));
            }
            Err(problems)
        }
    }
}

fn parse_node(value: &Value, path: &str, problems: &mut Vec<FieldProblem>) -> Option<NodeConfig> {
    let Some(obj) = value.as_object() else {
        problems.push(FieldProblem::new(
            path,
            "a node must be a JSON object with a \"type\" (or a string naming a registered array)",
        ));
        return None;
    };
    let mut obj = obj.clone();
    let spec = take_type(&mut obj, path, problems)?;
    if let Some(axes) = obj.shift_remove("_axes") {
        obj.entry("axes").or_insert(axes);
    }
    let name = match obj.shift_remove("name") {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(_) => {
            problems.push(FieldProblem::new(
                join(path, "name"),
                "must be a non-empty string",
            ));
            None
        }
        None => {
            problems.push(FieldProblem::new(join(path, "name"), "is required"));
            None
        }
    };
    let options = take_options(&mut obj, path, problems);
    let mut sources = Vec::new();
    for &(field, slots) in spec.sources {
        take_sources(&mut obj, path, field, slots, &mut sources, problems);
    }
    let own = Value::Object(obj.clone());
    let typed = (spec.parse)(obj, path, problems);
    Some(NodeConfig {
        name: name?,
        options,
        typed: typed?,
        sources,
        own,
    })
}

fn take_type(
    obj: &mut Map<String, Value>,
    path: &str,
    problems: &mut Vec<FieldProblem>,
) -> Option<&'static TypeSpec> {
    let tag = obj.shift_remove("type");
    let dacapo = obj.shift_remove("__type__");
    let allowed = type_names().join(", ");
    let found = match (&tag, &dacapo) {
        (Some(Value::String(t)), _) => TYPES.iter().find(|s| s.name == t),
        (None, Some(Value::String(t))) => TYPES.iter().find(|s| s.dacapo == t || s.name == t),
        _ => None,
    };
    if found.is_none() {
        let what = match (tag, dacapo) {
            (Some(t), _) | (None, Some(t)) => format!("unknown type {t}"),
            (None, None) => "is required".to_owned(),
        };
        problems.push(FieldProblem::new(
            join(path, "type"),
            format!("{what}; allowed: {allowed} (or DaCapo's \"__type__\" class names)"),
        ));
    }
    found
}

fn take_options(
    obj: &mut Map<String, Value>,
    path: &str,
    problems: &mut Vec<FieldProblem>,
) -> NodeOptions {
    let mut options = NodeOptions::default();
    match obj.shift_remove("chunk_shape") {
        None | Some(Value::Null) => {}
        Some(v) => match serde_json::from_value::<Vec<i64>>(v) {
            Ok(shape) if shape.iter().all(|&s| s > 0) => options.chunk_shape = Some(shape),
            _ => problems.push(FieldProblem::new(
                join(path, "chunk_shape"),
                "must be a list of positive integers, one per spatial axis (z,y,x voxels)",
            )),
        },
    }
    match obj.shift_remove("cache") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => options.cache = b,
        Some(_) => problems.push(FieldProblem::new(
            join(path, "cache"),
            "must be true or false",
        )),
    }
    options.view = super::view::take(obj, path, problems);
    options
}

fn take_sources(
    obj: &mut Map<String, Value>,
    path: &str,
    field: &str,
    slots: Slots,
    out: &mut Vec<SourceSlot>,
    problems: &mut Vec<FieldProblem>,
) {
    let fpath = join(path, field);
    let value = obj.shift_remove(field);
    let mut one = |v: &Value, p: String, key: Option<String>, problems: &mut Vec<FieldProblem>| {
        if let Some(config) = parse_source(v, &p, problems) {
            out.push(SourceSlot {
                field: p,
                key,
                config,
            });
        }
    };
    match (slots, value) {
        (Slots::Optional, None | Some(Value::Null)) => {}
        (Slots::One | Slots::Optional, Some(v)) => one(&v, fpath, None, problems),
        (Slots::List, Some(Value::Array(items))) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                one(v, join(&fpath, &format!("[{i}]")), None, problems);
            }
        }
        (Slots::Map, Some(Value::Object(map))) => {
            for (k, v) in &map {
                one(v, join(&fpath, k), Some(k.clone()), problems);
            }
        }
        (_, v) => {
            let want = match slots {
                Slots::One | Slots::Optional => {
                    "a source: a registered array's name or an inline config object"
                }
                Slots::List => "a non-empty list of sources (names or inline config objects)",
                Slots::Map => {
                    "an object mapping each channel name to a source (name or inline config)"
                }
            };
            let got = if v.is_none() {
                "is required"
            } else {
                "has the wrong shape"
            };
            problems.push(FieldProblem::new(fpath, format!("{got}; expected {want}")));
        }
    }
}

fn parse_source(
    value: &Value,
    path: &str,
    problems: &mut Vec<FieldProblem>,
) -> Option<SourceConfig> {
    match value {
        Value::String(name) if !name.is_empty() => Some(SourceConfig::Named(name.clone())),
        Value::Object(_) => {
            parse_node(value, path, problems).map(|n| SourceConfig::Inline(Box::new(n)))
        }
        _ => {
            problems.push(FieldProblem::new(
                path,
                "a source must be a registered array's name or an inline config object",
            ));
            None
        }
    }
}

/// Deserializes a type's own fields, reporting every unknown field (serde stops at the
/// first one, so each is removed and parsing retried).
fn parse_fields<T: DeserializeOwned>(
    mut obj: Map<String, Value>,
    path: &str,
    problems: &mut Vec<FieldProblem>,
) -> Option<T> {
    let mut failed = false;
    loop {
        let de = Value::Object(obj.clone());
        match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(t) => return (!failed).then_some(t),
            Err(e) => {
                let inner = e.inner().to_string();
                let at = e.path().to_string();
                if let Some(field) = unknown_field(&inner)
                    && obj.shift_remove(&field).is_some()
                {
                    let allowed = inner.split_once(", expected").map_or("", |(_, rest)| rest);
                    problems.push(FieldProblem::new(
                        join(path, &field),
                        format!("unknown field; expected{allowed}"),
                    ));
                    continue;
                }
                if let Some(missing) = quoted_after(&inner, "missing field `") {
                    problems.push(FieldProblem::new(join(path, &missing), "is required"));
                    if obj.contains_key(&missing) {
                        return None;
                    }
                    obj.insert(missing, Value::Null);
                    failed = true;
                    continue;
                }
                let field = if at == "." || at.is_empty() {
                    String::new()
                } else {
                    at
                };
                let full = if field.is_empty() {
                    path.to_owned()
                } else {
                    join(path, &field)
                };
                problems.push(FieldProblem::new(full, inner));
                return None;
            }
        }
    }
}

fn unknown_field(msg: &str) -> Option<String> {
    quoted_after(msg, "unknown field `")
}

fn quoted_after(msg: &str, prefix: &str) -> Option<String> {
    let rest = msg.strip_prefix(prefix)?;
    Some(rest.split('`').next()?.to_owned())
}

/// A ROI field: `{"offset": [...], "shape": [...]}` or DaCapo's `[offset, shape]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoiField(pub crate::geometry::Roi);

impl<'de> Deserialize<'de> for RoiField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Object { offset: Vec<i64>, shape: Vec<i64> },
            Pair((Vec<i64>, Vec<i64>)),
        }
        let (offset, shape) = match Either::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected a ROI: {\"offset\": [z,y,x], \"shape\": [z,y,x]} or [[z,y,x], [z,y,x]]",
            )
        })? {
            Either::Object { offset, shape } | Either::Pair((offset, shape)) => (offset, shape),
        };
        if offset.len() != shape.len() || offset.is_empty() || offset.len() > 3 {
            return Err(serde::de::Error::custom(
                "ROI offset and shape must have the same 1-3 spatial components (z,y,x)",
            ));
        }
        Ok(RoiField(crate::geometry::Roi::new(offset, shape)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_problem_is_listed() {
        let err = parse(&json!({
            "type": "binarize",
            "bogus": 1,
            "also_bogus": 2,
            "source_array_config": {"type": "zarr", "name": "raw", "dataset": "x", "nope": true},
            "groupings": [["a", [1]]]
        }))
        .unwrap_err();
        let fields: Vec<_> = err.iter().map(|p| p.field.as_str()).collect();
        assert!(fields.contains(&"name"), "{err:?}");
        assert!(fields.contains(&"bogus"), "{err:?}");
        assert!(fields.contains(&"also_bogus"), "{err:?}");
        assert!(fields.contains(&"source_array_config.nope"), "{err:?}");
        assert!(fields.contains(&"source_array_config.file_name"), "{err:?}");
    }

    #[test]
    fn dacapo_native_aliases() {
        let node = parse(&json!({
            "__type__": "CropArrayConfig",
            "name": "c",
            "roi": [[4, 8, 12], [24, 40, 48]],
            "source_array_config": {"__type__": "ZarrArrayConfig", "name": "raw",
                "file_name": "raw.zarr", "dataset": "raw", "snap_to_grid": null, "_axes": null}
        }))
        .unwrap();
        assert!(matches!(node.typed, TypedConfig::Crop(_)));
        let SourceConfig::Inline(src) = &node.sources[0].config else {
            panic!("inline source expected")
        };
        assert!(matches!(src.typed, TypedConfig::Zarr(_)));
    }

    #[test]
    fn unknown_type_names_the_allowed_ones() {
        let err = parse(&json!({"type": "blur", "name": "b"})).unwrap_err();
        assert_eq!(err[0].field, "type");
        assert!(err[0].reason.contains("binarize"));
    }
}
