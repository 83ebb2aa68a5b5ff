//! After a write, the stored levels of the written array (`s1..sN` of its OME group)
//! are recomputed over the written region, finest first, each from the level before
//! with the reduction a computed level uses ([`Downsample`]: mean for images, mode for
//! labels), so the stored pyramid always equals the one arrayd would compute.

use std::sync::Arc;

use crate::array::ArrayRef;
use crate::array::downsample::{Downsample, pad3};
use crate::eval::{EvalError, ReadCtx, read_roi};
use crate::geometry::{Roi, Snap};
use crate::levels::reduction;

/// Recomputes the stored levels of `array` over `written` (world units); the number of
/// levels rewritten. A stored level that is not writable, or not a whole reduction
/// of the level before, ends the update there.
///
/// # Errors
/// Read or write failures.
pub async fn update(array: &ArrayRef, written: &Roi, ctx: &ReadCtx) -> Result<usize, EvalError> {
    let reduce = reduction(array.meta());
    let mut finer = array.clone();
    let mut region = written.clone();
    let mut done = 0;
    for level in array.stored_levels() {
        let (lm, fm) = (level.meta(), finer.meta());
        let Some(writer) = level.writer() else { break };
        let (res, fine) = (pad3(&lm.voxel_size, 1), pad3(&fm.voxel_size, 1));
        let factor = [0, 1, 2].map(|d| res[d] / fine[d]);
        if (0..3).any(|d| factor[d] < 1 || factor[d] * fine[d] != res[d]) || lm.dtype != fm.dtype {
            break;
        }
        let chunk = pad3(&lm.grid.chunk_voxels(&lm.voxel_size), 1);
        let reduced =
            Downsample::level(finer.clone(), factor, reduce, chunk).map_err(EvalError::Internal)?;
        region = region
            .snap_to_grid(&lm.voxel_size, Snap::Grow)
            .intersect(&lm.roi)
            .intersect(&reduced.meta().roi);
        if region.is_empty() {
            break;
        }
        let data = read_roi(ctx, &reduced, &region, None).await?;
        writer.write(&region, Arc::new(data), ctx).await?;
        done += 1;
        finer = level;
    }
    Ok(done)
}
