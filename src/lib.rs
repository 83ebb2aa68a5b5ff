//! arrayd: an HTTP service that evaluates DaCapo-style array configs (zarr sources and
//! wrappers composed into chains) over any region of interest, behind one shared chunk
//! cache, and serves them as ROI reads (`.npy`), Zarr and neuroglancer precomputed.
//!
//! The contract lives in `spec/` (`arrays.md`, `api.md`, `neuroglancer.md`, `dvid.md`).
//! Module map: [`geometry`] and [`grid`] (ROIs and chunk grids), [`dtype`] and
//! [`volume`] (typed voxel blocks), [`mod@array`] (the trait, one module per config type,
//! config parsing and resolution), [`dvid`] (the DVID upstream client and codecs),
//! [`eval`] + [`cache`] + [`compute`] (chunked, cached, bounded evaluation),
//! [`registry`] (named configs, persisted), [`views`] (HTTP routes), [`server`]
//! (state, router, serving).

#![cfg_attr(
    test,
    allow(
        clippy::cast_possible_truncation,
        clippy::cast_precision_loss,
        clippy::cast_sign_loss
    )
)]

pub mod array;
pub mod block;
pub mod cache;
pub mod compute;
pub mod demo;
pub mod dtype;
pub mod dvid;
pub mod encode;
pub mod error;
pub mod eval;
pub mod export;
pub mod geometry;
pub mod grid;
pub mod http;
pub mod kernels;
pub mod levels;
pub mod limits;
pub mod metrics;
pub mod preload;
pub mod recycle;
pub mod registry;
pub mod server;
pub mod settings;
pub mod storage;
pub mod views;
pub mod volume;
pub mod write;

/// Installs rustls' ring crypto provider (idempotent); HTTP clients need it.
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
