//! The integration tests: one binary (one build of `support`), one module per concern.
//! Each module starts real arrayd servers on loopback ports (`support::TestServer`) and
//! talks to them over HTTP; `soak`, `connections` and `process` drive the real binary
//! and stay separate binaries so that their timing is not shared with these.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "test code: small voxel counts and label values"
)]

mod axes;
mod conformance;
mod deviations;
mod dvid;
mod golden;
mod hardening;
mod http_api;
mod n5;
mod openapi;
mod precomputed;
mod real_writers;
mod remote;
mod remote_writes;
mod robustness;
mod stored_levels;
mod streamed_roi;
mod support;
mod tiling;
mod validation;
mod viewer;
mod viewer_pages;
mod writes;
mod zarr_views;
