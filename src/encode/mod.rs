//! Volume → bytes for each response format.

pub mod npy;
pub mod compressed_segmentation;
