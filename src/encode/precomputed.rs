//! Chunks of the neuroglancer precomputed view (`spec/neuroglancer.md`): `raw` is C
//! order `[c, z, y, x]` (x fastest, channel slowest), little-endian;
//! `compressed_segmentation` is the same order, encoded in 8³ blocks; `jpeg` and `png`
//! are pictures of the chunk ([`crate::encode::image`]).

use crate::encode::{compressed_segmentation, image};
use crate::eval::{Encoder, EvalError};
use crate::volume::Volume;

/// Block size of `compressed_segmentation`, x,y,z.
pub const CSEG_BLOCK: [usize; 3] = [8, 8, 8];

/// The encoder of one chunk.
#[derive(Debug, Clone, Copy)]
pub enum PrecomputedChunk {
    /// Raw little-endian voxels.
    Raw,
    /// `compressed_segmentation` of a chunk of `size` voxels (z,y,x) and `channels`.
    Cseg {
        /// Chunk extent, z,y,x.
        size: [usize; 3],
        /// Channels.
        channels: usize,
    },
    /// JPEG at this quality (uint8, 1 or 3 channels).
    Jpeg(u8),
    /// Lossless PNG (uint8 or uint16, 1 to 4 channels).
    Png,
}

impl Encoder for PrecomputedChunk {
    fn id(&self) -> &'static str {
        match self {
            PrecomputedChunk::Raw => "precomputed-raw",
            PrecomputedChunk::Cseg { .. } => "precomputed-cseg",
            PrecomputedChunk::Jpeg(q) => image::jpeg_id(*q),
            PrecomputedChunk::Png => "precomputed-png",
        }
    }

    fn encode(&self, v: &Volume) -> Result<Vec<u8>, EvalError> {
        let (size, channels) = match *self {
            PrecomputedChunk::Raw => return Ok(v.to_le_bytes()),
            PrecomputedChunk::Jpeg(q) => return image::jpeg(v, q).map_err(EvalError::Internal),
            PrecomputedChunk::Png => return image::png(v).map_err(EvalError::Internal),
            PrecomputedChunk::Cseg { size, channels } => (size, channels),
        };
        let [z, y, x] = size;
        let size = [x, y, z];
        let out = match v {
            Volume::U32(a) => compressed_segmentation::encode(
                &a.iter().copied().collect::<Vec<_>>(),
                size,
                channels,
                CSEG_BLOCK,
            ),
            Volume::U64(a) => compressed_segmentation::encode(
                &a.iter().copied().collect::<Vec<_>>(),
                size,
                channels,
                CSEG_BLOCK,
            ),
            other => {
                return Err(EvalError::Internal(format!(
                    "compressed_segmentation of {}",
                    other.dtype()
                )));
            }
        };
        out.map_err(EvalError::Internal)
    }
}
