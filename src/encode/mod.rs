//! Volume → bytes for each response format.

pub mod npy;
