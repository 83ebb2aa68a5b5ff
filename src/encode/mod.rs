//! Volume → bytes for each response format.

pub mod compressed_segmentation;
pub mod npy;
pub mod precomputed;
pub mod raw;
pub mod zarr_chunk;
