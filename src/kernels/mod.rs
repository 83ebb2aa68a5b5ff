//! Pure, generic kernels on ndarray blocks: dispatched once per chunk, monomorphic
//! loops inside (no per-voxel dynamic dispatch).

pub mod downsample;
pub mod labels;
pub mod resize;
