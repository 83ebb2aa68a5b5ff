//! HTTP plumbing shared by every view: extractors with problem+json rejections,
//! middleware, and conditional/range responses.

pub mod budget;
pub mod cache_headers;
pub mod extract;
pub mod layers;
pub mod listener;
pub mod payload;
pub mod roi_query;
pub mod streamed;
