//! Evaluating a ROI through a chain: split it into the array's grid chunks, get each
//! chunk from the shared cache (computing it once on a miss), and assemble the result
//! (`spec/api.md`, "Evaluation and the cache").

use std::sync::Arc;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt, stream};
use thiserror::Error;

use crate::array::ArrayRef;
use bytes::Bytes;

use crate::block::Block;
use crate::cache::{ChunkCache, DataKey, Encoded, EncodedKey, EncodingId};
use crate::compute::Compute;
use crate::geometry::{Box3, Coord, Roi};
use crate::levels::Levels;
use crate::limits::{Limits, volume_bytes};
use crate::metrics::Metrics;
use crate::recycle::Recycler;
use crate::volume::{Fill, Volume};

/// Why a read failed.
#[derive(Debug, Clone, Error)]
pub enum EvalError {
    /// The ROI is not on the voxel grid.
    #[error(
        "ROI {roi} is not aligned to the voxel size {voxel_size}: offset and shape must be multiples of it"
    )]
    Misaligned {
        /// The requested ROI.
        roi: Roi,
        /// The array's voxel size.
        voxel_size: Coord,
    },
    /// The ROI reaches outside the array and no fill value was given.
    #[error(
        "ROI {requested} is not inside the array ROI {array}; read inside it, or pass fill=VALUE to pad"
    )]
    OutOfBounds {
        /// The requested ROI.
        requested: Roi,
        /// The array's ROI.
        array: Roi,
    },
    /// A request parameter is invalid (message says which and why).
    #[error("{0}")]
    BadRequest(String),
    /// A chunk the store does not hold (its voxels are the fill value).
    #[error("{0}")]
    NotStored(String),
    /// Stored data could not be read or decoded.
    #[error("reading stored data failed: {0}")]
    Storage(String),
    /// An upstream server answered with an error or garbage.
    #[error("upstream {url} gave a bad answer: {detail}")]
    UpstreamBad {
        /// The upstream URL (never with credentials).
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// An upstream server did not answer in time.
    #[error("upstream {url} did not answer within {timeout_ms} ms")]
    UpstreamTimeout {
        /// The upstream URL.
        url: String,
        /// The timeout that expired.
        timeout_ms: u64,
    },
    /// An upstream server is known to be down; failing fast.
    #[error("upstream {url} is unavailable: {detail}")]
    UpstreamUnavailable {
        /// The upstream server.
        url: String,
        /// Why it is considered down.
        detail: String,
    },
    /// A stored path now leads outside the data root (e.g. swapped for a symlink).
    #[error("{0}")]
    Confined(String),
    /// A named limit would be exceeded.
    #[error(transparent)]
    Limit(#[from] crate::limits::Exceeded),
    /// The compute pool stayed saturated.
    #[error(
        "the server is busy evaluating other requests (--compute-queue jobs are waiting, or none got a slot within --compute-wait); retry shortly"
    )]
    Overloaded,
    /// A bug or invariant violation.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EvalError {
    /// A storage failure: [`EvalError::Confined`] when a path led outside the data root.
    #[must_use]
    pub fn from_storage(e: &dyn std::fmt::Display) -> Self {
        use crate::storage::remote::{GIVE_UP, TAG_BAD, TAG_TIMEOUT, TAG_UNAVAILABLE};
        let text = e.to_string();
        if text.contains(crate::storage::ESCAPE) {
            return EvalError::Confined(format!("stored data {text}"));
        }
        let tagged = [TAG_TIMEOUT, TAG_UNAVAILABLE, TAG_BAD]
            .into_iter()
            .find_map(|tag| Some((tag, text.split_once(tag)?.1.trim())));
        let Some((tag, rest)) = tagged else {
            return EvalError::Storage(text);
        };
        let (url, detail) = rest.split_once(' ').unwrap_or((rest, ""));
        let (url, detail) = (url.to_owned(), detail.to_owned());
        match tag {
            TAG_TIMEOUT => EvalError::UpstreamTimeout {
                url,
                timeout_ms: u64::try_from(GIVE_UP.as_millis()).unwrap_or(u64::MAX),
            },
            TAG_UNAVAILABLE => EvalError::UpstreamUnavailable { url, detail },
            _ => EvalError::UpstreamBad { url, detail },
        }
    }
}

/// Everything a read needs: the cache, the compute pool and the metrics.
#[derive(Debug, Clone)]
pub struct ReadCtx {
    /// The shared chunk cache.
    pub cache: ChunkCache,
    /// The bounded blocking pool.
    pub compute: Compute,
    /// Metrics sink.
    pub metrics: Arc<Metrics>,
    /// How many chunks of one request are evaluated concurrently.
    pub fanout: usize,
    /// Size limits every read is checked against.
    pub limits: Limits,
    /// Buffers of big reads, reused once sent.
    pub recycle: Recycler,
}

impl ReadCtx {
    /// Reads `roi` of `source` on behalf of a wrapper: through the cache when the
    /// source's config asks for it, else evaluated directly.
    ///
    /// # Errors
    /// Whatever the source's read returns.
    pub async fn read(&self, source: &ArrayRef, roi: &Roi) -> Result<Volume, EvalError> {
        self.read_shared(source, roi).await.map(Block::into_volume)
    }

    /// [`ReadCtx::read`] for a wrapper that only reads its source: a ROI that is one
    /// cached chunk, or part of an in-memory array, is read in place, not copied.
    ///
    /// # Errors
    /// Whatever the source's read returns.
    pub async fn read_shared(&self, source: &ArrayRef, roi: &Roi) -> Result<Block, EvalError> {
        let m = source.meta();
        self.limits
            .roi_bytes(volume_bytes(&m.volume_shape(roi), m.dtype.size()))?;
        if m.cache {
            assemble(self, source, roi).await.map(Block::whole)
        } else {
            let start = Instant::now();
            let out = source.read_block(roi, self).await;
            self.metrics
                .observe_evaluation(m.type_name, start.elapsed().as_secs_f64());
            out
        }
    }

    /// Runs CPU-bound work on the bounded blocking pool.
    ///
    /// # Errors
    /// The job's error, or [`EvalError::Overloaded`].
    pub async fn compute<R, F>(&self, job: F) -> Result<R, EvalError>
    where
        R: Send + 'static,
        F: FnOnce() -> Result<R, EvalError> + Send + 'static,
    {
        let result = self.compute.run(job).await;
        if matches!(result, Err(EvalError::Overloaded)) {
            self.metrics.overloaded.inc();
        }
        result
    }

    /// One uncached evaluation of `array` over `roi`, timed per type.
    async fn evaluate(&self, array: &ArrayRef, roi: &Roi) -> Result<Volume, EvalError> {
        let start = Instant::now();
        let out = array.read(roi, self).await;
        self.metrics
            .observe_evaluation(array.meta().type_name, start.elapsed().as_secs_f64());
        out
    }

    /// The decoded chunk at grid cell `idx` of `array` (clipped to its ROI), cached.
    ///
    /// # Errors
    /// Whatever the array's read returns.
    pub async fn chunk(&self, array: &ArrayRef, idx: &Coord) -> Result<Arc<Volume>, EvalError> {
        let m = array.meta();
        let roi = m.grid.chunk_roi(idx).intersect(&m.roi);
        let key = DataKey::of(m, idx.clone(), array.generation(&roi));
        self.limits
            .chunk_bytes(volume_bytes(&m.volume_shape(&roi), m.dtype.size()))?;
        self.cache
            .volume(key, async {
                if roi.is_empty() {
                    return Err(EvalError::BadRequest(format!(
                        "chunk {idx} lies outside the array ROI {}",
                        m.roi
                    )));
                }
                Ok(Arc::new(self.evaluate(array, &roi).await?))
            })
            .await
    }
}

/// Turns the voxels of one chunk into the bytes a view serves.
pub trait Encoder: Send + Sync + 'static {
    /// Names the encoding, with every parameter that changes the bytes (a cache key).
    fn id(&self) -> &'static str;

    /// The bytes of `v`, a chunk of the view.
    ///
    /// # Errors
    /// When `v` cannot be encoded this way.
    fn encode(&self, v: &Volume) -> Result<Vec<u8>, EvalError>;
}

/// The chunk `roi` (world units, inside the array) of `array`, encoded by `encoder`
/// on the compute pool and cached.
///
/// # Errors
/// Read, compute or encoding failures.
pub async fn encoded_chunk<E: Encoder + Clone>(
    ctx: &ReadCtx,
    array: &ArrayRef,
    roi: &Roi,
    encoder: E,
) -> Result<Bytes, EvalError> {
    let at = Coord::new(roi.offset.iter().chain(roi.shape.iter()).copied().collect());
    let key = EncodedKey::of(
        array.meta(),
        EncodingId(encoder.id()),
        at,
        array.generation(roi),
    );
    ctx.cache
        .bytes(key, async {
            let v = read_roi_shared(ctx, array, roi, None).await?;
            let bytes = ctx.compute(move || encoder.encode(&v)).await?;
            Ok(Bytes::from(bytes))
        })
        .await
        .map(Encoded::into_body)
}

/// The chunk `b` (voxels) of level `k`, encoded as [`encoded_chunk`].
///
/// # Errors
/// An unknown level, or as [`encoded_chunk`].
pub async fn encoded_level_chunk<E: Encoder + Clone>(
    ctx: &ReadCtx,
    levels: &Levels,
    k: usize,
    b: Box3,
    encoder: E,
) -> Result<Bytes, EvalError> {
    let level = levels
        .level(k)
        .ok_or_else(|| EvalError::BadRequest(format!("no level s{k}")))?;
    encoded_chunk(ctx, &level.array, &levels.world_roi(level, b), encoder).await
}

/// The stored bytes of chunk `idx` (all axes) of a bare zarr source, untouched, kept
/// in the chunk cache with their digest (a hot chunk costs no upstream request, no file
/// read and no hash).
///
/// # Errors
/// [`EvalError::NotStored`] for a chunk the store does not hold; read failures.
pub async fn stored_chunk(
    ctx: &ReadCtx,
    array: &ArrayRef,
    idx: &[u64],
) -> Result<Encoded, EvalError> {
    let at = Coord::new(
        idx.iter()
            .map(|&i| i64::try_from(i).unwrap_or(i64::MAX))
            .collect(),
    );
    let m = array.meta();
    let spatial = Coord::new(
        at.iter()
            .skip(usize::from(m.num_channels.is_some()))
            .copied()
            .collect(),
    );
    let generation = array.generation(&m.grid.chunk_roi(&spatial).intersect(&m.roi));
    let key = EncodedKey::of(m, EncodingId("stored"), at, generation);
    let (array, idx) = (array.clone(), idx.to_vec());
    ctx.cache
        .bytes(key, async move {
            let shown = idx.clone();
            let stored = tokio::task::spawn_blocking(move || match array.raw_chunks() {
                Some(raw) => raw.chunk_bytes(&idx),
                None => Err(EvalError::Internal(
                    "pass-through without stored chunks".into(),
                )),
            })
            .await
            .map_err(|e| EvalError::Internal(format!("chunk read task failed: {e}")))??;
            stored.map(Bytes::from).ok_or_else(|| {
                EvalError::NotStored(format!(
                    "chunk {shown:?} is not stored; its voxels are the fill value"
                ))
            })
        })
        .await
}

/// Checks that `roi` is on the voxel grid of `array`.
///
/// # Errors
/// [`EvalError::Misaligned`].
pub fn check_aligned(array: &ArrayRef, roi: &Roi) -> Result<(), EvalError> {
    let vs = &array.meta().voxel_size;
    if roi.dims() != vs.dims() {
        return Err(EvalError::BadRequest(format!(
            "ROI has {} dimensions but the array has {} (z,y,x order)",
            roi.dims(),
            vs.dims()
        )));
    }
    if roi.is_aligned(vs) {
        Ok(())
    } else {
        Err(EvalError::Misaligned {
            roi: roi.clone(),
            voxel_size: vs.clone(),
        })
    }
}

/// Reads `roi` (world units) of `array`: through the cache, chunk by chunk. Outside
/// voxels take `fill` (of the array's dtype) when given; without it a ROI outside the
/// array is an error.
///
/// # Errors
/// [`EvalError::Misaligned`], [`EvalError::OutOfBounds`], a bad fill value, or a read
/// failure.
pub async fn read_roi(
    ctx: &ReadCtx,
    array: &ArrayRef,
    roi: &Roi,
    fill: Option<&Fill>,
) -> Result<Volume, EvalError> {
    read_roi_shared(ctx, array, roi, fill)
        .await
        .map(Volume::unshared)
}

/// [`read_roi`], without copying when the ROI is exactly one cached chunk (the cache's
/// own copy is returned).
///
/// # Errors
/// As [`read_roi`].
pub async fn read_roi_shared(
    ctx: &ReadCtx,
    array: &ArrayRef,
    roi: &Roi,
    fill: Option<&Fill>,
) -> Result<Arc<Volume>, EvalError> {
    check_aligned(array, roi)?;
    let m = array.meta();
    if m.roi.contains(roi) {
        return assemble(ctx, array, roi).await;
    }
    let Some(fill) = fill else {
        return Err(EvalError::OutOfBounds {
            requested: roi.clone(),
            array: m.roi.clone(),
        });
    };
    if fill.dtype() != m.dtype {
        return Err(EvalError::Internal(format!(
            "a {} fill for a {} array",
            fill.dtype(),
            m.dtype
        )));
    }
    let mut out = fill.volume(&m.volume_shape(roi));
    let inner = roi.intersect(&m.roi);
    if !inner.is_empty() {
        let part = assemble(ctx, array, &inner).await?;
        let at = voxel_index(
            m.num_channels,
            &(&(&inner.offset - &roi.offset) / &m.voxel_size),
        );
        out.paste(&part, &at).map_err(EvalError::Internal)?;
    }
    Ok(Arc::new(out))
}

/// One cut of a big ROI ([`slabs`]): the part of one row of chunks inside the ROI, of
/// one channel when the array has channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slab {
    /// The cut (world units).
    pub roi: Roi,
    /// The one channel read, for arrays with channels.
    pub channel: Option<usize>,
}

/// The largest [`Slab`]: a row of chunks with more bytes is cut into several, so that
/// slab buffers stay small enough to be reused (`src/recycle.rs`).
pub const MAX_SLAB_BYTES: u128 = 8 << 20;

/// A big ROI cut into [`Slab`]s, in the order of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slabs {
    /// The cuts.
    pub cuts: Vec<Slab>,
    /// How many cuts a whole row of chunks makes.
    pub per_row: usize,
}

/// `roi` (inside the array, aligned) cut across its first spatial axis where the chunk
/// grid is, and rows of chunks over [`MAX_SLAB_BYTES`] cut again, in order: each cut's
/// C-order bytes are one run of `roi`'s, so a big ROI can be read and sent a cut at a
/// time. With channels (first in C order) every channel is cut in turn, so each chunk is
/// read once per channel: only when the whole ROI fits in half the cache, which keeps
/// every chunk between its channels' reads. `None` for a ROI within one row of chunks.
#[must_use]
pub fn slabs(ctx: &ReadCtx, array: &ArrayRef, roi: &Roi) -> Option<Slabs> {
    let m = array.meta();
    if roi.dims() == 0 || roi.is_empty() {
        return None;
    }
    let (begin, end) = m.grid.index_bounds(roi);
    if end[0] - begin[0] < 2 {
        return None;
    }
    if m.num_channels.is_some() {
        let bytes = volume_bytes(&m.volume_shape(roi), m.dtype.size());
        if bytes.saturating_mul(2) > u128::from(ctx.cache.capacity()) {
            return None;
        }
    }
    let (origin, step, stop) = (m.grid.origin[0], m.grid.chunk[0], roi.end()[0]);
    // Bytes of one plane (one voxel deep along the first axis) of one channel.
    let mut plane = m.volume_shape(roi);
    if m.num_channels.is_some() {
        plane.remove(0);
    }
    plane[0] = 1;
    let planes = (MAX_SLAB_BYTES / volume_bytes(&plane, m.dtype.size()).max(1)).max(1);
    let piece = i64::try_from(planes)
        .unwrap_or(i64::MAX)
        .saturating_mul(m.voxel_size[0])
        .min(step);
    let rows: Vec<Roi> = (begin[0]..end[0])
        .flat_map(|i| {
            let lo = (origin + i * step).max(roi.offset[0]);
            let hi = (origin + (i + 1) * step).min(stop);
            (lo..hi)
                .step_by(usize::try_from(piece).unwrap_or(usize::MAX))
                .map(move |at| {
                    let mut offset = roi.offset.to_vec();
                    let mut shape = roi.shape.to_vec();
                    (offset[0], shape[0]) = (at, (at + piece).min(hi) - at);
                    Roi::new(offset, shape)
                })
        })
        .collect();
    let channels: Vec<Option<usize>> = match m.num_channels {
        Some(n) => (0..n).map(Some).collect(),
        None => vec![None],
    };
    let cuts = channels.into_iter().flat_map(|channel| {
        rows.iter().map(move |roi| Slab {
            roi: roi.clone(),
            channel,
        })
    });
    Some(Slabs {
        cuts: cuts.collect(),
        per_row: usize::try_from((step + piece - 1) / piece).unwrap_or(1),
    })
}

/// Reads one [`Slab`] of [`slabs`] through the cache (aligned and inside the array, as
/// the ROI it was cut from).
///
/// # Errors
/// As [`read_roi`].
pub async fn read_slab(
    ctx: &ReadCtx,
    array: &ArrayRef,
    slab: &Slab,
) -> Result<Arc<Volume>, EvalError> {
    assemble_channel(ctx, array, &slab.roi, slab.channel).await
}

/// Position of a spatial voxel offset in a volume's index space (channel 0 first).
fn voxel_index(num_channels: Option<usize>, spatial: &Coord) -> Vec<usize> {
    num_channels
        .map(|_| 0)
        .into_iter()
        .chain(spatial.to_usize())
        .collect()
}

/// Reads `roi` (inside the array, aligned) from cached grid chunks.
async fn assemble(ctx: &ReadCtx, array: &ArrayRef, roi: &Roi) -> Result<Arc<Volume>, EvalError> {
    assemble_channel(ctx, array, roi, None).await
}

/// [`assemble`], of one channel only when `channel` is given.
async fn assemble_channel(
    ctx: &ReadCtx,
    array: &ArrayRef,
    roi: &Roi,
    channel: Option<usize>,
) -> Result<Arc<Volume>, EvalError> {
    let m = array.meta();
    ctx.limits.chunk_count(m.grid.count_overlapping(roi))?;
    let cells = m.grid.chunks_overlapping(roi);
    if let [only] = cells.as_slice()
        && channel.is_none()
        && m.grid.chunk_roi(only).intersect(&m.roi) == *roi
    {
        return ctx.chunk(array, only).await;
    }
    let mut out_shape = m.volume_shape(roi);
    if channel.is_some() {
        out_shape[0] = 1;
    }
    // Where each chunk's part goes: (cell, first voxel in the chunk, in the output, shape).
    let placed: Vec<_> = cells
        .into_iter()
        .map(|idx| {
            let chunk_roi = m.grid.chunk_roi(&idx).intersect(&m.roi);
            let part = chunk_roi.intersect(roi);
            let mut src = voxel_index(
                m.num_channels,
                &(&(&part.offset - &chunk_roi.offset) / &m.voxel_size),
            );
            let dst = voxel_index(
                m.num_channels,
                &(&(&part.offset - &roi.offset) / &m.voxel_size),
            );
            let mut shape = m.volume_shape(&part);
            if let Some(c) = channel {
                (src[0], shape[0]) = (c, 1);
            }
            (idx, src, dst, shape)
        })
        .collect();
    // The parts are disjoint: when their sizes add up to the output's, every voxel is
    // written and a reused buffer need not be zeroed first.
    let written: usize = placed.iter().map(|p| p.3.iter().product::<usize>()).sum();
    let covered = written == out_shape.iter().product::<usize>();
    let mut out = ctx.recycle.take(m.dtype, &out_shape, covered);
    let mut parts = stream::iter(placed)
        .map(|(idx, src, dst, shape)| async move {
            let chunk = ctx.chunk(array, &idx).await?;
            Ok::<_, EvalError>((chunk, src, dst, shape))
        })
        .buffer_unordered(ctx.fanout.max(1));
    while let Some((chunk, src, dst, shape)) = parts.try_next().await? {
        out.copy_region(&chunk, &src, &dst, &shape)
            .map_err(EvalError::Internal)?;
    }
    Ok(Arc::new(out))
}
