//! Chunks of the neuroglancer precomputed view (`spec/neuroglancer.md`): `raw` is C
//! order `[c, z, y, x]` (x fastest, channel slowest), little-endian;
//! `compressed_segmentation` is the same order, encoded in 8³ blocks.

use crate::encode::compressed_segmentation;
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
}

impl Encoder for PrecomputedChunk {
    fn id(&self) -> &'static str {
        match self {
            PrecomputedChunk::Raw => "precomputed-raw",
            PrecomputedChunk::Cseg { .. } => "precomputed-cseg",
        }
    }

    fn encode(&self, v: &Volume) -> Result<Vec<u8>, EvalError> {
        let &PrecomputedChunk::Cseg { size, channels } = self else {
            return Ok(v.to_le_bytes());
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
