//! Reading a voxel box from a DVID instance (`spec/dvid.md` §2.1, §3.1, §3.4): the box
//! is widened to whole blocks and split into block-aligned requests of at most 256³
//! voxels (larger ones are serialised by DVID). Grayscale (`uint8blk`) uses
//! `raw/0_1_2`; labels use `/blocks?compression=blocks`, placed by each record's block
//! coordinate (any order; missing blocks stay 0) and decoded with our own codec, with
//! `raw/0_1_2?compression=lz4` as the fallback when the block path fails.

use futures::{StreamExt, TryStreamExt, stream};
use ndarray::{Array3, ArrayView3, Slice};

use super::blocks::{decode_gzip_block, parse_stream};
use super::client::{DvidClient, segment};
use super::error::DvidError;
use super::info::Kind;
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::Box3;
use crate::volume::Volume;

/// The largest request DVID serves without serialising it.
pub const MAX_REQUEST_VOXELS: i64 = 256 * 256 * 256;
/// Requests of one read in flight at once (the upstream's cap still applies).
const PIECES_IN_FLIGHT: usize = 4;

/// `{sx}_{sy}_{sz}/{ox}_{oy}_{oz}`: DVID's x,y,z order.
fn url_part(b: &Box3) -> String {
    let [sz, sy, sx] = b.extent();
    let [oz, oy, ox] = b.begin;
    format!("{sx}_{sy}_{sz}/{ox}_{oy}_{oz}")
}

/// Covers `b` with whole blocks and splits that into block-aligned pieces of at most
/// `max_voxels` voxels (at least one block each), x first, then y, then z.
#[must_use]
pub fn plan(b: &Box3, block: [i64; 3], max_voxels: i64) -> Vec<Box3> {
    let first = [0, 1, 2].map(|d| b.begin[d].div_euclid(block[d]));
    let last = [0, 1, 2].map(|d| (b.end[d] - 1).div_euclid(block[d]));
    let count = [0, 1, 2].map(|d| last[d] - first[d] + 1);
    let per_piece = (max_voxels / block.iter().product::<i64>()).max(1);
    let px = count[2].min(per_piece);
    let py = count[1].min((per_piece / px).max(1));
    let pz = count[0].min((per_piece / (px * py)).max(1));
    let step = [pz, py, px];
    let mut out = Vec::new();
    for z in (0..count[0]).step_by(usize::try_from(pz).unwrap_or(1)) {
        for y in (0..count[1]).step_by(usize::try_from(py).unwrap_or(1)) {
            for x in (0..count[2]).step_by(usize::try_from(px).unwrap_or(1)) {
                let at = [z, y, x];
                let n = [0, 1, 2].map(|d| step[d].min(count[d] - at[d]));
                out.push(Box3::sized(
                    [0, 1, 2].map(|d| (first[d] + at[d]) * block[d]),
                    [0, 1, 2].map(|d| n[d] * block[d]),
                ));
            }
        }
    }
    out
}

/// Copies the part of `piece` (at `at`) that lies inside `out` (at `out_at`).
fn paste<T: Copy>(out: &mut Array3<T>, out_at: [i64; 3], piece: ArrayView3<'_, T>, at: [i64; 3]) {
    let placed = |begin: [i64; 3], shape: &[usize]| {
        Box3::sized(
            begin,
            [0, 1, 2].map(|d| i64::try_from(shape[d]).unwrap_or(0)),
        )
    };
    let overlap = placed(out_at, out.shape()).intersect(&placed(at, piece.shape()));
    if overlap.is_empty() {
        return;
    }
    let range = |d: usize, base: &[i64; 3]| {
        let from = |v: i64| isize::try_from(v - base[d]).unwrap_or(0);
        Slice::from(from(overlap.begin[d])..from(overlap.end[d]))
    };
    let src = piece.slice_each_axis(|ax| range(ax.axis.index(), &at));
    out.slice_each_axis_mut(|ax| range(ax.axis.index(), &out_at))
        .assign(&src);
}

fn bad(url: &str, detail: impl Into<String>) -> EvalError {
    DvidError::Body {
        url: url.to_owned(),
        detail: detail.into(),
    }
    .into()
}

/// Places the records of a `compression=blocks` stream covering `piece`.
fn place_blocks(
    stream: &[u8],
    piece: Box3,
    block: [i64; 3],
    url: &str,
) -> Result<Array3<u64>, EvalError> {
    let mut out = Array3::<u64>::zeros(piece.shape());
    let dims = block.map(|b| usize::try_from(b).unwrap_or(0));
    let records = parse_stream(stream).map_err(|e| bad(url, e.0))?;
    for r in records {
        let [x, y, z] = r.coord_xyz.map(i64::from);
        let at = [z * block[0], y * block[1], x * block[2]];
        if !piece.contains_point(at) {
            return Err(bad(
                url,
                format!("block ({x},{y},{z}) lies outside the requested region"),
            ));
        }
        let decoded = decode_gzip_block(r.payload, dims)
            .map_err(|e| bad(url, format!("block ({x},{y},{z}): {e}")))?;
        let view = ArrayView3::from_shape(dims, &decoded.labels)
            .map_err(|e| EvalError::Internal(e.to_string()))?;
        paste(&mut out, piece.begin, view, at);
    }
    Ok(out)
}

/// Reads boxes of one instance at one scale.
#[derive(Debug, Clone)]
pub struct Reader {
    /// The server.
    pub client: DvidClient,
    /// The pinned node UUID.
    pub uuid: String,
    /// The data instance.
    pub instance: String,
    /// The read path.
    pub kind: Kind,
    /// Block size, z,y,x voxels.
    pub block: [i64; 3],
    /// Labelmap scale (0 = full resolution).
    pub scale: u32,
    /// Unmapped supervoxel ids instead of bodies (labelmap only).
    pub supervoxels: bool,
}

impl Reader {
    fn path(&self, endpoint: &str, b: &Box3, compression: Option<&str>) -> String {
        let mut q = String::from("?app=arrayd");
        if let Some(c) = compression {
            q.push_str("&compression=");
            q.push_str(c);
        }
        if self.kind.is_labels() && self.scale > 0 {
            q.push_str(&format!("&scale={}", self.scale));
        }
        if self.kind == Kind::Labelmap && self.supervoxels {
            q.push_str("&supervoxels=true");
        }
        format!(
            "/api/node/{}/{}/{endpoint}/{}{q}",
            segment(&self.uuid),
            segment(&self.instance),
            url_part(b)
        )
    }

    /// Reads `b` (this scale's voxels, z,y,x): a volume of `b.shape()`.
    ///
    /// # Errors
    /// Upstream failures ([`EvalError::UpstreamBad`], `UpstreamTimeout`,
    /// `UpstreamUnavailable`) or an overloaded compute pool.
    pub async fn read(&self, b: Box3, ctx: &ReadCtx) -> Result<Volume, EvalError> {
        let pieces = plan(&b, self.block, MAX_REQUEST_VOXELS);
        if self.kind == Kind::Grayscale {
            let out = self
                .assemble(b, pieces, |p| self.gray_piece(p, ctx))
                .await?;
            Ok(Volume::from(out.into_dyn()))
        } else {
            let out = self
                .assemble(b, pieces, |p| self.label_piece(p, ctx))
                .await?;
            Ok(Volume::from(out.into_dyn()))
        }
    }

    async fn assemble<T, F, Fut>(
        &self,
        b: Box3,
        pieces: Vec<Box3>,
        fetch: F,
    ) -> Result<Array3<T>, EvalError>
    where
        T: Copy + num_traits::Zero,
        F: Fn(Box3) -> Fut,
        Fut: Future<Output = Result<Array3<T>, EvalError>>,
    {
        let mut out = Array3::<T>::zeros(b.shape());
        let mut parts = stream::iter(pieces)
            .map(|p| {
                let f = fetch(p);
                async move { f.await.map(|a| (p, a)) }
            })
            .buffer_unordered(PIECES_IN_FLIGHT);
        while let Some((p, a)) = parts.try_next().await? {
            paste(&mut out, b.begin, a.view(), p.begin);
        }
        Ok(out)
    }

    async fn gray_piece(&self, p: Box3, ctx: &ReadCtx) -> Result<Array3<u8>, EvalError> {
        let path = self.path("raw/0_1_2", &p, None);
        let body = self.client.get(&path).await?;
        let url = self.client.url(&path);
        ctx.compute(move || {
            let n = usize::try_from(p.voxels()).unwrap_or(0);
            if body.len() != n {
                return Err(bad(
                    &url,
                    format!("expected {n} bytes of uint8 voxels, got {}", body.len()),
                ));
            }
            Array3::from_shape_vec(p.shape(), body.to_vec())
                .map_err(|e| EvalError::Internal(e.to_string()))
        })
        .await
    }

    async fn label_piece(&self, p: Box3, ctx: &ReadCtx) -> Result<Array3<u64>, EvalError> {
        let path = self.path("blocks", &p, Some("blocks"));
        let url = self.client.url(&path);
        let blocks = match self.client.get(&path).await {
            Ok(body) => {
                let block = self.block;
                let url = url.clone();
                ctx.compute(move || place_blocks(&body, p, block, &url))
                    .await
            }
            Err(e) => Err(e.into()),
        };
        match blocks {
            Err(EvalError::UpstreamBad { detail, .. }) => {
                tracing::warn!(%detail, "DVID /blocks failed; falling back to raw lz4");
                self.label_piece_raw(p, ctx).await
            }
            other => other,
        }
    }

    /// The fallback: `raw/0_1_2?compression=lz4`. A request of exactly one aligned
    /// block takes DVID's single-block fast path, which answers 400 for a block that
    /// was never stored (§2.1), so such a request is widened by one voxel in x.
    async fn label_piece_raw(&self, p: Box3, ctx: &ReadCtx) -> Result<Array3<u64>, EvalError> {
        let mut req = p;
        if req.extent() == self.block {
            req.end[2] += 1;
        }
        let path = self.path("raw/0_1_2", &req, Some("lz4"));
        let body = self.client.get(&path).await?;
        let url = self.client.url(&path);
        ctx.compute(move || {
            let n = usize::try_from(req.voxels()).unwrap_or(0);
            let raw = lz4_flex::block::decompress(&body, n * 8)
                .map_err(|e| bad(&url, format!("not an LZ4 block: {e}")))?;
            if raw.len() != n * 8 {
                return Err(bad(
                    &url,
                    format!("LZ4 block holds {} bytes, expected {}", raw.len(), n * 8),
                ));
            }
            let labels: Vec<u64> = raw
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect();
            let full = Array3::from_shape_vec(req.shape(), labels)
                .map_err(|e| EvalError::Internal(e.to_string()))?;
            let mut out = Array3::<u64>::zeros(p.shape());
            paste(&mut out, p.begin, full.view(), req.begin);
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_with_aligned_capped_pieces() {
        let b = Box3::sized([-3, 10, 70], [40, 100, 600]);
        let block = [32, 32, 64];
        let pieces = plan(&b, block, 32 * 64 * 256);
        let mut covered = 0;
        for p in &pieces {
            assert!(p.voxels() <= 32 * 64 * 256, "{p:?}");
            for ((b, s), k) in p.begin.iter().zip(&p.extent()).zip(&block) {
                assert_eq!((b.rem_euclid(*k), s % k), (0, 0));
            }
            covered += p.voxels();
        }
        // Blocks: z -1..=1 (3), y 0..=3 (4), x 1..=10 (10); a piece holds 8 blocks in x.
        assert_eq!(covered, 3 * 4 * 10 * 32 * 32 * 64);
        assert_eq!(pieces.len(), 3 * 4 * 2);
        assert_eq!(pieces[0].begin, [-32, 0, 64]);
        assert_eq!(pieces[0].extent(), [32, 32, 512]);
        assert_eq!(pieces[1].extent(), [32, 32, 128]);
        // One block larger than the cap is still one piece.
        assert_eq!(plan(&b, [64, 64, 64], 10).len(), 2 * 2 * 10);
        let one = Box3::sized([64, 64, 64], [64, 64, 64]);
        assert_eq!(plan(&one, [64, 64, 64], MAX_REQUEST_VOXELS), vec![one]);
    }

    #[test]
    fn paste_copies_only_the_overlap() {
        let mut out = Array3::<u64>::zeros([2, 3, 4]);
        let piece = Array3::from_shape_fn([4, 4, 4], |(z, y, x)| (z * 100 + y * 10 + x) as u64);
        paste(&mut out, [1, 1, 1], piece.view(), [0, 0, 0]);
        assert_eq!(out[[0, 0, 0]], 111);
        assert_eq!(out[[1, 2, 2]], 233);
        assert_eq!(out[[1, 2, 3]], 0);
        assert_eq!(url_part(&Box3::sized([1, 2, 3], [4, 5, 6])), "6_5_4/3_2_1");
    }

    #[test]
    fn records_outside_the_piece_and_bad_payloads_are_errors() {
        let piece = Box3::sized([0, 0, 0], [8, 8, 16]);
        let mut s = Vec::new();
        super::super::blocks::write_record(&mut s, [2, 0, 0], b"");
        let e = place_blocks(&s, piece, [8, 8, 8], "u").unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
        let mut s = Vec::new();
        super::super::blocks::write_record(&mut s, [1, 0, 0], b"garbage");
        assert!(matches!(
            place_blocks(&s, piece, [8, 8, 8], "u"),
            Err(EvalError::UpstreamBad { .. })
        ));
        assert_eq!(
            place_blocks(&[], piece, [8, 8, 8], "u").unwrap(),
            Array3::<u64>::zeros([8, 8, 16])
        );
    }
}
