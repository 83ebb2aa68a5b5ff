//! Whether a bare zarr source's stored chunks can be served as they are, decided once
//! when it is opened (`spec/api.md`, "Zarr view"): its chunk grid must be the view's and
//! its codecs expressible in the view's zarr version. The stored metadata document is
//! rewritten for each view that can; the views add attributes and dimension names.

use serde_json::{Value, json};

use crate::dtype::DType;

/// The stored array metadata, rewritten per view version (`None`: cannot pass through).
#[derive(Debug, Clone, Default)]
pub struct PassThrough {
    /// The `.zarray` for the v2 view.
    pub v2: Option<Value>,
    /// The `zarr.json` for the v3 view (without `attributes` and `dimension_names`).
    pub v3: Option<Value>,
}

impl PassThrough {
    /// The documents for a stored array of `zarr_format` with `document`, when its
    /// stored shape and chunk shape (all axes) are the served ones.
    #[must_use]
    pub fn decide(zarr_format: u8, document: &Value, dtype: DType, same_grid: bool) -> Self {
        if !same_grid {
            return Self::default();
        }
        match zarr_format {
            3 => Self {
                v2: v3_as_v2(document, dtype),
                v3: v3_for_view(document.clone()),
            },
            2 => Self {
                v2: Some(v2_for_view(document.clone())),
                v3: v2_as_v3(document),
            },
            _ => Self::default(),
        }
    }

    /// The document for the v3 (`true`) or v2 view.
    #[must_use]
    pub fn document(&self, v3: bool) -> Option<&Value> {
        if v3 {
            self.v3.as_ref()
        } else {
            self.v2.as_ref()
        }
    }
}

/// A v3 document with the view's `/` chunk keys; `None` with storage transformers or an
/// irregular grid.
fn v3_for_view(mut d: Value) -> Option<Value> {
    let transformers = d
        .get("storage_transformers")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    if transformers || d["chunk_grid"]["name"] != "regular" {
        return None;
    }
    d["chunk_key_encoding"] = json!({"name": "default", "configuration": {"separator": "/"}});
    Some(d)
}

/// A v2 document with the view's `.` chunk keys.
fn v2_for_view(mut d: Value) -> Value {
    d["dimension_separator"] = json!(".");
    // numcodecs writes zstd's `checksum` (an encoder setting; decoders read frames with
    // or without one), and tensorstore rejects a zstd compressor with it.
    if let Some(c) = d.get_mut("compressor").and_then(Value::as_object_mut)
        && c.get("id").and_then(Value::as_str) == Some("zstd")
    {
        c.remove("checksum");
    }
    d
}

fn v2_as_v3(doc: &Value) -> Option<Value> {
    let v2: zarrs::array::ArrayMetadataV2 = serde_json::from_value(doc.clone()).ok()?;
    let converted = zarrs::convert::array_metadata_v2_to_v3(&v2).ok()?;
    v3_for_view(serde_json::to_value(converted).ok()?)
}

/// A v3 document as a v2 `.zarray`, when its codecs are `bytes` plus at most one of
/// zstd, gzip or blosc.
fn v3_as_v2(doc: &Value, dtype: DType) -> Option<Value> {
    let codecs = doc.get("codecs")?.as_array()?;
    let (first, rest) = codecs.split_first()?;
    let endian = first["configuration"]["endian"]
        .as_str()
        .unwrap_or("little");
    if first["name"] != "bytes"
        || endian != "little"
        || rest.len() > 1
        || doc["chunk_grid"]["name"] != "regular"
    {
        return None;
    }
    let compressor = match rest.first() {
        None => Value::Null,
        Some(c) => v2_compressor(c)?,
    };
    let fill = doc
        .get("fill_value")
        .filter(|f| f.is_number() || f.is_boolean())?;
    Some(json!({
        "zarr_format": 2,
        "shape": doc["shape"],
        "chunks": doc["chunk_grid"]["configuration"]["chunk_shape"],
        "dtype": dtype.npy_descr(),
        "compressor": compressor,
        "fill_value": fill,
        "order": "C",
        "filters": null,
        "dimension_separator": ".",
    }))
}

/// The numcodecs compressor of one v3 bytes-to-bytes codec, if it has one.
fn v2_compressor(c: &Value) -> Option<Value> {
    let cfg = &c["configuration"];
    Some(match c["name"].as_str()? {
        "zstd" if cfg["checksum"] != json!(true) => json!({"id": "zstd", "level": cfg["level"]}),
        "gzip" => json!({"id": "gzip", "level": cfg["level"]}),
        "blosc" => {
            let shuffle = match cfg["shuffle"].as_str()? {
                "noshuffle" => 0,
                "shuffle" => 1,
                "bitshuffle" => 2,
                _ => return None,
            };
            json!({"id": "blosc", "cname": cfg["cname"], "clevel": cfg["clevel"], "shuffle": shuffle, "blocksize": cfg["blocksize"]})
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_codecs_translate_to_v2() {
        let doc = json!({"shape": [4, 4], "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2, 2]}},
            "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "zstd", "configuration": {"level": 5, "checksum": false}}],
            "fill_value": 0});
        let v2 = v3_as_v2(&doc, DType::U16).unwrap();
        assert_eq!(v2["compressor"], json!({"id": "zstd", "level": 5}));
        assert_eq!(v2["dtype"], "<u2");
        let mut crc = doc.clone();
        crc["codecs"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "crc32c"}));
        assert!(v3_as_v2(&crc, DType::U16).is_none());
        let p = PassThrough::decide(3, &doc, DType::U16, false);
        assert!(p.document(true).is_none() && p.document(false).is_none());
        let p = PassThrough::decide(3, &doc, DType::U16, true);
        assert_eq!(
            p.document(true).unwrap()["chunk_key_encoding"]["configuration"]["separator"],
            "/"
        );
    }
}
