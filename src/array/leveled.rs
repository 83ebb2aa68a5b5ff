//! An array together with the coarser levels its storage holds (an OME-NGFF multiscale
//! group's `s1..sN`, or a value-wise wrapper applied to its sources' stored levels).
//! Everything else is the array's own.

use async_trait::async_trait;

use super::{Array, ArrayRef, Metadata, RawChunks};
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::Roi;
use crate::volume::Volume;

/// `inner` with stored levels `levels`, finest first.
#[derive(Debug)]
pub struct Leveled {
    inner: ArrayRef,
    levels: Vec<ArrayRef>,
}

impl Leveled {
    /// `inner` itself when `levels` is empty.
    #[must_use]
    pub fn wrap(inner: ArrayRef, levels: Vec<ArrayRef>) -> ArrayRef {
        if levels.is_empty() {
            inner
        } else {
            std::sync::Arc::new(Self { inner, levels })
        }
    }
}

#[async_trait]
impl Array for Leveled {
    fn meta(&self) -> &Metadata {
        self.inner.meta()
    }

    fn sources(&self) -> Vec<ArrayRef> {
        self.inner.sources()
    }

    async fn read(&self, roi: &Roi, ctx: &ReadCtx) -> Result<Volume, EvalError> {
        self.inner.read(roi, ctx).await
    }

    fn raw_chunks(&self) -> Option<&dyn RawChunks> {
        self.inner.raw_chunks()
    }

    fn stored_levels(&self) -> Vec<ArrayRef> {
        self.levels.clone()
    }

    fn generation(&self, roi: &Roi) -> u64 {
        self.inner.generation(roi)
    }

    fn writer(&self) -> Option<&std::sync::Arc<crate::write::Writable>> {
        self.inner.writer()
    }
}
