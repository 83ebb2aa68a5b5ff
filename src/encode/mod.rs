//! Volume → bytes for each response format.

pub mod compressed_segmentation;
pub mod image;
pub mod npy;
pub mod precomputed;
pub mod preview;
pub mod raw;
pub mod zarr_chunk;
