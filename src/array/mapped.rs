//! The one [`Array`] of the node types whose output at a voxel depends only on the
//! source there (`binarize`, `intensities`, `logical_or`, `missing_annotations_mask`):
//! it reads the source over the ROI and maps it with the type's [`Kernel`] on a
//! compute thread. The source is only read, so a cached chunk is used in place.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use super::{Array, ArrayRef, Metadata};
use crate::block::Block;
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::Roi;
use crate::volume::Volume;

/// What a value-wise node does to a block of its source.
pub trait Kernel: fmt::Debug + Send + Sync + 'static {
    /// The output over the ROI that `data` (the source there) covers.
    ///
    /// # Errors
    /// A source dtype the kernel does not take (registration refuses those).
    fn apply(&self, data: &Block) -> Result<Volume, EvalError>;
}

/// A value-wise node over one source.
#[derive(Debug)]
pub struct Mapped<K> {
    meta: Metadata,
    source: ArrayRef,
    kernel: Arc<K>,
}

impl<K> Mapped<K> {
    /// The node `kernel` over `source`, with its own metadata.
    #[must_use]
    pub fn new(meta: Metadata, source: ArrayRef, kernel: K) -> Self {
        let kernel = Arc::new(kernel);
        Self {
            meta,
            source,
            kernel,
        }
    }
}

#[async_trait]
impl<K: Kernel> Array for Mapped<K> {
    wrapper_accessors!(source);

    async fn read(&self, roi: &Roi, ctx: &ReadCtx) -> Result<Volume, EvalError> {
        let data = ctx.read_shared(&self.source, roi).await?;
        let kernel = Arc::clone(&self.kernel);
        ctx.compute(move || kernel.apply(&data)).await
    }
}
