//! Zarr chunk encodings for computed arrays (`spec/api.md`, "Zarr view"): the bytes of a
//! full chunk (little-endian, C order) through one compressor, and how each zarr
//! version describes that compressor.

use std::borrow::Cow;
use std::io::Write;

use clap::ValueEnum;
use serde_json::{Value, json};
use zarrs::array::codec::BloscCodec;
use zarrs::array::{BytesToBytesCodecTraits, CodecOptions};

use crate::dtype::DType;

/// The compressor computed chunks are encoded with (`--zarr-codec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum ZarrCodec {
    /// Uncompressed.
    None,
    /// gzip, level 5.
    Gzip,
    /// zstd, level 3.
    Zstd,
    /// Blosc with zstd level 5 and byte shuffle.
    Blosc,
}

const GZIP_LEVEL: u32 = 5;
const ZSTD_LEVEL: i32 = 3;
const BLOSC_LEVEL: u8 = 5;

impl ZarrCodec {
    /// A short stable name (for cache keys and ETags).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ZarrCodec::None => "none",
            ZarrCodec::Gzip => "gzip",
            ZarrCodec::Zstd => "zstd",
            ZarrCodec::Blosc => "blosc",
        }
    }

    fn blosc_config(dtype: DType) -> Value {
        json!({"cname": "zstd", "clevel": BLOSC_LEVEL, "shuffle": "shuffle", "typesize": dtype.size(), "blocksize": 0})
    }

    /// The v3 `codecs` list.
    #[must_use]
    pub fn v3_codecs(self, dtype: DType) -> Value {
        let bytes = json!({"name": "bytes", "configuration": {"endian": "little"}});
        match self {
            ZarrCodec::None => json!([bytes]),
            ZarrCodec::Gzip => {
                json!([bytes, {"name": "gzip", "configuration": {"level": GZIP_LEVEL}}])
            }
            ZarrCodec::Zstd => {
                json!([bytes, {"name": "zstd", "configuration": {"level": ZSTD_LEVEL, "checksum": false}}])
            }
            ZarrCodec::Blosc => {
                json!([bytes, {"name": "blosc", "configuration": Self::blosc_config(dtype)}])
            }
        }
    }

    /// The v2 `compressor` (numcodecs).
    #[must_use]
    pub fn v2_compressor(self) -> Value {
        match self {
            ZarrCodec::None => Value::Null,
            ZarrCodec::Gzip => json!({"id": "gzip", "level": GZIP_LEVEL}),
            ZarrCodec::Zstd => json!({"id": "zstd", "level": ZSTD_LEVEL}),
            ZarrCodec::Blosc => {
                json!({"id": "blosc", "cname": "zstd", "clevel": BLOSC_LEVEL, "shuffle": 1, "blocksize": 0})
            }
        }
    }

    /// Compresses the raw bytes of a chunk of `dtype`.
    ///
    /// # Errors
    /// A compressor failure.
    pub fn encode(self, raw: Vec<u8>, dtype: DType) -> Result<Vec<u8>, String> {
        match self {
            ZarrCodec::None => Ok(raw),
            ZarrCodec::Gzip => {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(GZIP_LEVEL));
                enc.write_all(&raw).map_err(|e| e.to_string())?;
                enc.finish().map_err(|e| e.to_string())
            }
            ZarrCodec::Zstd => {
                zstd::encode_all(raw.as_slice(), ZSTD_LEVEL).map_err(|e| e.to_string())
            }
            ZarrCodec::Blosc => {
                let config =
                    serde_json::from_value(Self::blosc_config(dtype)).map_err(|e| e.to_string())?;
                let codec =
                    BloscCodec::new_with_configuration(&config).map_err(|e| e.to_string())?;
                codec
                    .encode(Cow::Owned(raw), &CodecOptions::default())
                    .map(Cow::into_owned)
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// The encoder of one computed zarr chunk: padded to the full chunk `shape` (all axes)
/// with zeros, then compressed.
#[derive(Debug, Clone)]
pub struct ZarrChunk {
    /// The compressor.
    pub codec: ZarrCodec,
    /// Full chunk shape, all axes.
    pub shape: Vec<usize>,
}

impl crate::eval::Encoder for ZarrChunk {
    fn id(&self) -> &'static str {
        match self.codec {
            ZarrCodec::None => "zarr-none",
            ZarrCodec::Gzip => "zarr-gzip",
            ZarrCodec::Zstd => "zarr-zstd",
            ZarrCodec::Blosc => "zarr-blosc",
        }
    }

    fn encode(&self, v: &crate::volume::Volume) -> Result<Vec<u8>, crate::eval::EvalError> {
        let dtype = v.dtype();
        let raw = if v.shape() == self.shape.as_slice() {
            v.to_le_bytes()
        } else {
            let mut padded = crate::volume::Volume::zeros(dtype, &self.shape);
            padded
                .paste(v, &vec![0; self.shape.len()])
                .map_err(crate::eval::EvalError::Internal)?;
            padded.to_le_bytes()
        };
        self.codec
            .encode(raw, dtype)
            .map_err(crate::eval::EvalError::Internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn every_codec_round_trips() {
        let raw: Vec<u8> = (0..4096u32).flat_map(|i| (i % 300).to_le_bytes()).collect();
        assert_eq!(
            ZarrCodec::None.encode(raw.clone(), DType::U32).unwrap(),
            raw
        );
        let gz = ZarrCodec::Gzip.encode(raw.clone(), DType::U32).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, raw);
        let zs = ZarrCodec::Zstd.encode(raw.clone(), DType::U32).unwrap();
        assert_eq!(zstd::decode_all(&zs[..]).unwrap(), raw);
        let bl = ZarrCodec::Blosc.encode(raw.clone(), DType::U32).unwrap();
        assert!(bl.len() < raw.len());
        let config = serde_json::from_value(ZarrCodec::blosc_config(DType::U32)).unwrap();
        let codec = BloscCodec::new_with_configuration(&config).unwrap();
        let repr = zarrs::array::BytesRepresentation::FixedSize(raw.len() as u64);
        let back = codec
            .decode(Cow::Owned(bl), &repr, &CodecOptions::default())
            .unwrap();
        assert_eq!(back.into_owned(), raw);
    }
}
