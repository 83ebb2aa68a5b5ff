//! DVID as an upstream source (`spec/dvid.md`): the pooled, retrying HTTP [`client`]
//! with a circuit [`breaker`] per server and its [`error`]s, instance geometry from
//! `/info` ([`info`]), version references pinned to node UUIDs ([`uuid`]), the
//! label-block codec and framed stream ([`blocks`]), and voxel-box reads over `raw` and
//! `/blocks` ([`read`]). The `dvid` array type in [`crate::array::dvid`] puts these
//! behind the `Array` trait.

pub mod blocks;
pub mod breaker;
pub mod client;
pub mod error;
pub mod info;
pub mod read;
pub mod uuid;

pub use blocks::{CodecError, LabelBlock, decode_block, encode_block};
pub use client::{DvidClient, DvidPool, PoolOptions, Secret, TOKEN_ENV};
pub use error::DvidError;
pub use info::{InstanceInfo, Kind, parse_info};
pub use read::Reader;
