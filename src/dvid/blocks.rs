//! DVID's compressed label Block and the framed `/blocks` stream (`spec/dvid.md` §3 and
//! §3.1): our own decoder (what `compression=blocks` payloads need after gunzip), the
//! matching encoder (used by the test fake), and the record framing
//! `int32 bx, by, bz, nbytes` + payload, in any order, missing blocks omitted.
//!
//! Block layout, little-endian: `u32 gx, gy, gz, N`; `N × u64` labels; when `N ≥ 2`,
//! `gx·gy·gz × u16` label counts per 8³ sub-block (z,y,x order, x fastest), then each
//! sub-block's `count × u32` indices into the label list, then per sub-block 512
//! voxel indices bit-packed MSB-first with `ceil(log2(count))` bits, padded to a byte.

use std::io::Read;

use flate2::read::GzDecoder;
use thiserror::Error;

/// Edge of a sub-block, voxels.
pub const SUB: usize = 8;
/// Voxels of a sub-block.
const SUB_VOXELS: usize = SUB * SUB * SUB;
/// Largest block we accept (voxels), so garbage cannot make us allocate without bound.
const MAX_BLOCK_VOXELS: usize = 256 * 256 * 256;

/// A payload that is not a valid block, stream or gzip member.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct CodecError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, CodecError> {
    Err(CodecError(msg.into()))
}

/// A little-endian reader over a byte slice that refuses to run past its end.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let Some(end) = end else {
            return err(format!(
                "block ends early: {what} needs {n} bytes at offset {}, {} left",
                self.pos,
                self.data.len() - self.pos
            ));
        };
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32, CodecError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

fn to_usize(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Bits per voxel index for a sub-block holding `n` labels: `ceil(log2(n))`, 0 for n < 2.
fn bits_for(n: usize) -> u32 {
    if n < 2 {
        0
    } else {
        usize::BITS - (n - 1).leading_zeros()
    }
}

/// A decoded block: its shape (z,y,x voxels) and labels (z,y,x order, x fastest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelBlock {
    /// Voxels per axis, z,y,x.
    pub shape: [usize; 3],
    /// One label per voxel, C order.
    pub labels: Vec<u64>,
}

/// A block's header: sub-blocks per axis and the size of its label list, checked.
#[derive(Debug, Clone, Copy)]
struct Header {
    /// Sub-blocks per axis, x,y,z (DVID order).
    grid: [usize; 3],
    /// Labels in the block's list.
    labels: usize,
}

impl Header {
    /// Reads `gx, gy, gz, N`, refusing an empty or oversized block and more labels
    /// than voxels.
    fn read(c: &mut Cursor<'_>) -> Result<Self, CodecError> {
        let gx = to_usize(c.u32("gx")?);
        let gy = to_usize(c.u32("gy")?);
        let gz = to_usize(c.u32("gz")?);
        let n = to_usize(c.u32("the label count")?);
        let nsb = gx.saturating_mul(gy).saturating_mul(gz);
        if nsb == 0 || nsb.saturating_mul(SUB_VOXELS) > MAX_BLOCK_VOXELS {
            return err(format!(
                "block of {gx}×{gy}×{gz} sub-blocks is empty or too large"
            ));
        }
        let h = Self {
            grid: [gx, gy, gz],
            labels: n,
        };
        if n > h.voxels() {
            return err(format!("block claims {n} labels for {} voxels", h.voxels()));
        }
        Ok(h)
    }

    fn sub_blocks(&self) -> usize {
        self.grid.iter().product()
    }

    fn voxels(&self) -> usize {
        self.sub_blocks() * SUB_VOXELS
    }

    /// Voxels per axis, z,y,x.
    fn shape(&self) -> [usize; 3] {
        let [gx, gy, gz] = self.grid;
        [gz * SUB, gy * SUB, gx * SUB]
    }
}

/// The block's label list.
fn read_labels(c: &mut Cursor<'_>, n: usize) -> Result<Vec<u64>, CodecError> {
    Ok(c.take(n * 8, "the label list")?
        .chunks_exact(8)
        .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect())
}

/// Per sub-block label counts and, concatenated, each sub-block's indices into the
/// label list.
fn read_sub_block_tables(
    c: &mut Cursor<'_>,
    h: &Header,
) -> Result<(Vec<usize>, Vec<usize>), CodecError> {
    let counts: Vec<usize> = c
        .take(h.sub_blocks() * 2, "the sub-block label counts")?
        .chunks_exact(2)
        .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
        .collect();
    if let Some(bad) = counts.iter().find(|&&k| k > SUB_VOXELS) {
        return err(format!(
            "a sub-block claims {bad} labels (at most {SUB_VOXELS})"
        ));
    }
    let total: usize = counts.iter().sum();
    let indices: Vec<usize> = c
        .take(total * 4, "the sub-block label indices")?
        .chunks_exact(4)
        .map(|b| to_usize(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .collect();
    let n = h.labels;
    if let Some(bad) = indices.iter().find(|&&i| i >= n) {
        return err(format!("label index {bad} is outside the {n} labels"));
    }
    Ok((counts, indices))
}

/// The 512 labels of one sub-block (z,y,x, x fastest) from its `local` labels and
/// its packed voxel indices.
fn unpack_sub_block(
    local: &[u64],
    packed: &[u8],
    bits: u32,
) -> Result<[u64; SUB_VOXELS], CodecError> {
    let mut out = [0u64; SUB_VOXELS];
    match local {
        [] => {}
        [solid] => out.fill(*solid),
        _ => {
            for (v, slot) in out.iter_mut().enumerate() {
                let idx = packed_value(packed, v * to_usize(bits), bits);
                let Some(&label) = local.get(idx) else {
                    return err(format!(
                        "voxel index {idx} exceeds the sub-block's {} labels",
                        local.len()
                    ));
                };
                *slot = label;
            }
        }
    }
    Ok(out)
}

/// Decodes one DVID compressed label Block (already gunzipped).
///
/// # Errors
/// A truncated or inconsistent block.
pub fn decode_block(data: &[u8]) -> Result<LabelBlock, CodecError> {
    let mut c = Cursor { data, pos: 0 };
    let h = Header::read(&mut c)?;
    let labels = read_labels(&mut c, h.labels)?;
    let shape = h.shape();
    if h.labels < 2 {
        let solid = labels.first().copied().unwrap_or(0);
        return Ok(LabelBlock {
            shape,
            labels: vec![solid; h.voxels()],
        });
    }
    let (counts, indices) = read_sub_block_tables(&mut c, &h)?;
    let values = &data[c.pos..];
    let [_, ny, nx] = shape;
    let [gx, gy, gz] = h.grid;
    let mut out = vec![0u64; h.voxels()];
    let (mut next_index, mut byte, mut sb) = (0usize, 0usize, 0usize);
    let mut local = Vec::with_capacity(SUB_VOXELS);
    for sz in 0..gz {
        for sy in 0..gy {
            for sx in 0..gx {
                let count = counts[sb];
                sb += 1;
                local.clear();
                local.extend(
                    indices[next_index..next_index + count]
                        .iter()
                        .map(|&i| labels[i]),
                );
                next_index += count;
                let bits = bits_for(count);
                let need = SUB_VOXELS * to_usize(bits) / 8;
                let Some(packed) = values.get(byte..byte + need) else {
                    return err("block ends early: the packed voxel indices are cut short");
                };
                byte += need;
                let sub = unpack_sub_block(&local, packed, bits)?;
                let base = (sz * SUB * ny + sy * SUB) * nx + sx * SUB;
                for (row, chunk) in sub.chunks_exact(SUB).enumerate() {
                    let (z, y) = (row / SUB, row % SUB);
                    let at = base + (z * ny + y) * nx;
                    out[at..at + SUB].copy_from_slice(chunk);
                }
            }
        }
    }
    Ok(LabelBlock { shape, labels: out })
}

/// The `bits`-wide (≤ 9) MSB-first value starting at bit `bitpos` of `bytes`.
fn packed_value(bytes: &[u8], bitpos: usize, bits: u32) -> usize {
    let p = bitpos / 8;
    let hi = u32::from(bytes.get(p).copied().unwrap_or(0));
    let lo = u32::from(bytes.get(p + 1).copied().unwrap_or(0));
    let window = (hi << 8) | lo;
    let shift = 16 - u32::try_from(bitpos % 8).unwrap_or(0) - bits;
    to_usize((window >> shift) & ((1 << bits) - 1))
}

/// Encodes labels (z,y,x order, x fastest, every axis a multiple of 8) as a DVID
/// compressed label Block.
///
/// # Errors
/// A shape that is not made of whole 8³ sub-blocks or does not match the labels.
pub fn encode_block(labels: &[u64], shape: [usize; 3]) -> Result<Vec<u8>, CodecError> {
    let [nz, ny, nx] = shape;
    if shape.iter().any(|&s| s == 0 || s % SUB != 0) || nz * ny * nx != labels.len() {
        return err(format!(
            "shape {shape:?} must be whole 8³ sub-blocks holding {} labels",
            labels.len()
        ));
    }
    let (gz, gy, gx) = (nz / SUB, ny / SUB, nx / SUB);
    let mut list: Vec<u64> = Vec::new();
    let mut position = std::collections::HashMap::new();
    let mut counts: Vec<u16> = Vec::with_capacity(gz * gy * gx);
    let mut indices: Vec<u32> = Vec::new();
    let mut values: Vec<u8> = Vec::new();
    for sz in 0..gz {
        for sy in 0..gy {
            for sx in 0..gx {
                let mut local: Vec<u64> = Vec::new();
                let mut voxel_idx = [0usize; SUB_VOXELS];
                for (v, slot) in voxel_idx.iter_mut().enumerate() {
                    let (z, y, x) = (v / (SUB * SUB), (v / SUB) % SUB, v % SUB);
                    let label = labels[((sz * SUB + z) * ny + sy * SUB + y) * nx + sx * SUB + x];
                    *slot = local.iter().position(|&l| l == label).unwrap_or_else(|| {
                        local.push(label);
                        local.len() - 1
                    });
                }
                counts.push(u16::try_from(local.len()).unwrap_or(u16::MAX));
                for &label in &local {
                    let at = *position.entry(label).or_insert_with(|| {
                        list.push(label);
                        list.len() - 1
                    });
                    indices.push(u32::try_from(at).unwrap_or(u32::MAX));
                }
                pack(&voxel_idx, bits_for(local.len()), &mut values);
            }
        }
    }
    let mut out = Vec::new();
    for g in [gx, gy, gz, list.len()] {
        out.extend_from_slice(&u32::try_from(g).unwrap_or(u32::MAX).to_le_bytes());
    }
    for l in &list {
        out.extend_from_slice(&l.to_le_bytes());
    }
    if list.len() >= 2 {
        for c in &counts {
            out.extend_from_slice(&c.to_le_bytes());
        }
        for i in &indices {
            out.extend_from_slice(&i.to_le_bytes());
        }
        out.extend_from_slice(&values);
    }
    Ok(out)
}

/// Appends `idx` bit-packed MSB-first with `bits` bits each, padded to a byte.
fn pack(idx: &[usize], bits: u32, out: &mut Vec<u8>) {
    if bits == 0 {
        return;
    }
    let (mut acc, mut nbits) = (0u32, 0u32);
    for &i in idx {
        acc = (acc << bits) | u32::try_from(i).unwrap_or(0);
        nbits += bits;
        while nbits >= 8 {
            nbits -= 8;
            out.push((acc >> nbits).to_le_bytes()[0]);
        }
        acc &= (1 << nbits) - 1;
    }
    if nbits > 0 {
        out.push((acc << (8 - nbits)).to_le_bytes()[0]);
    }
}

/// One record of a framed block stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Block coordinate, x,y,z (DVID order).
    pub coord_xyz: [i32; 3],
    /// The block's payload, in the requested compression.
    pub payload: &'a [u8],
}

/// Splits a framed `/blocks` response into its records (order as received).
///
/// # Errors
/// A header or payload cut short, or a negative length.
pub fn parse_stream(data: &[u8]) -> Result<Vec<Record<'_>>, CodecError> {
    let mut c = Cursor { data, pos: 0 };
    let mut out = Vec::new();
    while c.pos < data.len() {
        let mut head = [0i32; 4];
        for h in &mut head {
            let b = c.take(4, "a record header")?;
            *h = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        let Ok(n) = usize::try_from(head[3]) else {
            return err(format!("record claims a negative length {}", head[3]));
        };
        let payload = c.take(n, "a record payload")?;
        out.push(Record {
            coord_xyz: [head[0], head[1], head[2]],
            payload,
        });
    }
    Ok(out)
}

/// Appends one record to a framed stream.
pub fn write_record(out: &mut Vec<u8>, coord_xyz: [i32; 3], payload: &[u8]) {
    for v in coord_xyz {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let n = i32::try_from(payload.len()).unwrap_or(i32::MAX);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Gunzips `data`, refusing output larger than `limit` bytes.
///
/// # Errors
/// Not gzip, corrupt, or larger than the limit.
pub fn gunzip(data: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    GzDecoder::new(data)
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| CodecError(format!("not a valid gzip payload: {e}")))?;
    if out.len() > limit {
        return err(format!("gzip payload inflates beyond {limit} bytes"));
    }
    Ok(out)
}

/// Gunzips and decodes a `compression=blocks` payload of a block of `shape` (z,y,x).
///
/// # Errors
/// Bad gzip, a bad block, or a block of another shape.
pub fn decode_gzip_block(payload: &[u8], shape: [usize; 3]) -> Result<LabelBlock, CodecError> {
    let voxels = shape.iter().product::<usize>();
    // Labels (8 B), indices (4 B) and packed values (≤ 9 bits) per voxel at most.
    let block = decode_block(&gunzip(payload, 64 + voxels * 14)?)?;
    if block.shape == shape {
        Ok(block)
    } else {
        err(format!(
            "block has shape {:?} (z,y,x), the instance's BlockSize is {shape:?}",
            block.shape
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(shape: [usize; 3], f: impl Fn(usize, usize, usize) -> u64) -> Vec<u64> {
        let mut v = Vec::new();
        for z in 0..shape[0] {
            for y in 0..shape[1] {
                for x in 0..shape[2] {
                    v.push(f(z, y, x));
                }
            }
        }
        v
    }

    fn round_trip(shape: [usize; 3], labels: &[u64]) {
        let enc = encode_block(labels, shape).unwrap();
        let dec = decode_block(&enc).unwrap();
        assert_eq!(dec.shape, shape);
        assert_eq!(dec.labels, labels);
    }

    #[test]
    fn bits_are_ceil_log2() {
        let got: Vec<u32> = [0, 1, 2, 3, 4, 5, 8, 9, 256, 257, 512]
            .iter()
            .map(|&n| bits_for(n))
            .collect();
        assert_eq!(got, [0, 0, 1, 2, 2, 3, 3, 4, 8, 9, 9]);
    }

    #[test]
    fn solid_block_is_header_and_one_label() {
        let labels = vec![42u64; 16 * 8 * 24];
        let enc = encode_block(&labels, [16, 8, 24]).unwrap();
        assert_eq!(enc.len(), 16 + 8);
        assert_eq!(
            &enc[..16],
            &[3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0]
        );
        round_trip([16, 8, 24], &labels);
    }

    #[test]
    fn every_bit_width_round_trips() {
        // 2, 3, 5, 17, 300 and 512 labels per sub-block: widths 1, 2, 3, 5, 9, 9.
        for k in [2u64, 3, 5, 17, 300, 512] {
            let shape = [16, 16, 8];
            let labels = volume(shape, |z, y, x| {
                let i = u64::try_from(((z % 8) * 8 + y % 8) * 8 + x).unwrap();
                (i * 7 + u64::try_from(z / 8 + y / 8).unwrap()) % k + 1_000_000_000_000
            });
            round_trip(shape, &labels);
        }
    }

    #[test]
    fn mixed_solid_and_busy_sub_blocks() {
        let shape = [32, 32, 32];
        let labels = volume(shape, |z, y, x| {
            if z < 8 {
                7
            } else {
                u64::try_from(x / 3 + y / 5 * 11 + z / 7 * 101).unwrap()
            }
        });
        round_trip(shape, &labels);
    }

    #[test]
    fn zero_labels_decode_as_background() {
        let mut enc = Vec::new();
        for v in [1u32, 1, 1, 0] {
            enc.extend_from_slice(&v.to_le_bytes());
        }
        let dec = decode_block(&enc).unwrap();
        assert_eq!(dec.labels, vec![0; 512]);
    }

    #[test]
    fn corrupt_blocks_are_errors() {
        let shape = [8, 8, 16];
        let labels = volume(shape, |_, y, x| u64::try_from(x * 8 + y).unwrap());
        let enc = encode_block(&labels, shape).unwrap();
        for cut in [3, 15, 20, enc.len() - 1] {
            assert!(decode_block(&enc[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = enc.clone();
        huge[0..4].copy_from_slice(&1000u32.to_le_bytes());
        assert!(decode_block(&huge).is_err());
        let mut bad_index = enc;
        let idx_at = 16 + 8 * 128 + 2 * 2;
        bad_index[idx_at..idx_at + 4].copy_from_slice(&999u32.to_le_bytes());
        assert!(decode_block(&bad_index).is_err());
        assert!(encode_block(&[1, 2, 3], [1, 1, 3]).is_err());
    }

    #[test]
    fn stream_framing() {
        let mut s = Vec::new();
        write_record(&mut s, [1, -2, 3], b"abc");
        write_record(&mut s, [0, 0, 0], b"");
        let recs = parse_stream(&s).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].coord_xyz, [1, -2, 3]);
        assert_eq!(recs[0].payload, b"abc");
        assert!(recs[1].payload.is_empty());
        assert!(parse_stream(&s[..s.len() - 1]).is_err());
        assert_eq!(parse_stream(&s[..19]).unwrap().len(), 1);
        assert!(parse_stream(&s[..20]).is_err());
        assert!(parse_stream(&s[..18]).is_err());
        assert_eq!(parse_stream(&[]).unwrap(), Vec::new());
        let mut neg = Vec::new();
        for v in [0i32, 0, 0, -5] {
            neg.extend_from_slice(&v.to_le_bytes());
        }
        assert!(parse_stream(&neg).is_err());
    }

    #[test]
    fn gzip_limits() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(&[0u8; 1000]).unwrap();
        let gz = e.finish().unwrap();
        assert_eq!(gunzip(&gz, 1000).unwrap().len(), 1000);
        assert!(gunzip(&gz, 999).is_err());
        assert!(gunzip(b"not gzip", 1000).is_err());
    }
}
