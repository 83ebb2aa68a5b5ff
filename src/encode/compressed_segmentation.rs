//! Neuroglancer `compressed_segmentation` chunk encoding (uint32 and uint64 labels, multi-channel).
//!
//! Format (neuroglancer `src/sliceview/compressed_segmentation/README.md`): the chunk starts with
//! `channels` little-endian u32 offsets (in u32 words from the start of the chunk) to each
//! channel's data. A channel is split into blocks of `block` voxels (x fastest); it begins with
//! one 64-bit header per block (grid order x, y, z): word 0 = lookup-table offset (low 24 bits)
//! | encoded bits (high 8 bits: 0, 1, 2, 4, 8, 16 or 32), word 1 = offset of the packed indices,
//! both in u32 words relative to the channel start. Indices are packed little-endian into u32
//! words at bit `bits * (x + bx * (y + by * z))`; tables hold the block's sorted distinct
//! values (1 word per u32 label, 2 words low-then-high per u64 label).
//!
//! The encoder reproduces the reference encoder (`compress_segmentation.cc` of neuroglancer /
//! the `compressed-segmentation` PyPI package, same as neuroglancer's `encode_common.ts`)
//! byte for byte: per block the packed indices come first, then the table unless an identical
//! table was already written in this channel (then the earlier one is shared); voxels that pad
//! an edge block up to a whole block get index 0, the block's lowest value.
//!
//! A block with more than 65536 distinct values (possible only when a block has more than 65536
//! voxels) is encoded with 32 bits, as the format allows; the reference encoders never produce
//! that (their bit-width loop computes `1 << 32` and never ends) and the reference C++ and
//! TypeScript decoders misread it (mask `(1 << 32) - 1`), so keep blocks at most 65536 voxels
//! (the usual 8×8×8) for interoperability.
//!
//! Voxel order of `data` (and of the decoder's output) is Fortran `[x, y, z, channel]`:
//! `x + sx * (y + sy * (z + sz * c))`.

use std::collections::HashMap;
use std::hash::Hash;

/// A label type storable in `compressed_segmentation`: `u32` or `u64`.
pub trait Label: Copy + Eq + Ord + Hash {
    /// Number of u32 words one value occupies in a lookup table.
    const WORDS: usize;
    /// The value widened to `u64`.
    fn to_u64(self) -> u64;
    /// The value from a `u64` (truncated for `u32`).
    fn from_u64(v: u64) -> Self;
}

impl Label for u32 {
    const WORDS: usize = 1;
    fn to_u64(self) -> u64 {
        u64::from(self)
    }
    #[allow(clippy::cast_possible_truncation)]
    fn from_u64(v: u64) -> Self {
        v as u32
    }
}

impl Label for u64 {
    const WORDS: usize = 2;
    fn to_u64(self) -> u64 {
        self
    }
    fn from_u64(v: u64) -> Self {
        v
    }
}

/// Checked product of the three extents.
fn volume(s: [usize; 3]) -> Result<usize, String> {
    s[0].checked_mul(s[1])
        .and_then(|v| v.checked_mul(s[2]))
        .ok_or_else(|| format!("size {s:?} overflows"))
}

/// Validated geometry shared by the encoder and the decoder.
struct Geometry {
    size: [usize; 3],
    block: [usize; 3],
    grid: [usize; 3],
    /// Voxels per channel.
    voxels: usize,
    /// Voxels per block.
    block_voxels: usize,
    /// Number of blocks per channel.
    blocks: usize,
}

impl Geometry {
    fn new(size: [usize; 3], channels: usize, block: [usize; 3]) -> Result<Self, String> {
        if block.contains(&0) {
            return Err(format!("block size {block:?} has a zero extent"));
        }
        let grid = [0, 1, 2].map(|i| size[i].div_ceil(block[i]));
        let voxels = volume(size)?;
        voxels
            .checked_mul(channels)
            .ok_or("voxel count overflows")?;
        let blocks = volume(grid)?;
        blocks.checked_mul(2).ok_or("block count overflows")?;
        Ok(Self {
            size,
            block,
            grid,
            voxels,
            block_voxels: volume(block)?,
            blocks,
        })
    }

    /// Origin and actual (edge-truncated) extent of block `(bx, by, bz)`, in grid order.
    fn blocks(&self) -> impl Iterator<Item = ([usize; 3], [usize; 3])> + '_ {
        let [gx, gy, gz] = self.grid;
        (0..gz)
            .flat_map(move |z| (0..gy).flat_map(move |y| (0..gx).map(move |x| [x, y, z])))
            .map(|g| {
                let o = [0, 1, 2].map(|i| g[i] * self.block[i]);
                (o, [0, 1, 2].map(|i| self.block[i].min(self.size[i] - o[i])))
            })
    }

    /// Index into one channel of `[x,y,z]` Fortran data of voxel `(x,y,z)` in a block at `o`.
    fn index(&self, o: [usize; 3], x: usize, y: usize, z: usize) -> usize {
        o[0] + x + self.size[0] * (o[1] + y + self.size[1] * (o[2] + z))
    }
}

/// Bits per index for `n` distinct values (0, 1, 2, 4, 8, 16, 32), or `None` if over 2^32.
fn encoded_bits(n: usize) -> Option<usize> {
    let mut bits = 0;
    if n > 1 {
        bits = 1;
        while (1u64 << bits) < n as u64 {
            bits *= 2;
            if bits > 32 {
                return None;
            }
        }
    }
    Some(bits)
}

/// The low and high 32-bit halves of `v`.
#[allow(clippy::cast_possible_truncation)]
fn halves(v: u64) -> [u32; 2] {
    [v as u32, (v >> 32) as u32]
}

/// A word offset as u32, or an error naming `what`.
fn word(v: usize, what: &str) -> Result<u32, String> {
    u32::try_from(v).map_err(|_| format!("{what} {v} does not fit in 32 bits"))
}

/// Encodes `data` (Fortran `[x,y,z,c]`, extent `size` × `channels`) with block size `block`.
pub fn encode<T: Label>(
    data: &[T],
    size: [usize; 3],
    channels: usize,
    block: [usize; 3],
) -> Result<Vec<u8>, String> {
    let g = Geometry::new(size, channels, block)?;
    if data.len() != g.voxels * channels {
        return Err(format!(
            "data has {} values, expected {} for size {size:?} × {channels} channels",
            data.len(),
            g.voxels * channels
        ));
    }
    let mut out: Vec<u32> = vec![0; channels];
    for c in 0..channels {
        out[c] = word(out.len(), "channel offset")?;
        encode_channel(&data[c * g.voxels..(c + 1) * g.voxels], &g, &mut out)?;
    }
    Ok(out.iter().flat_map(|w| w.to_le_bytes()).collect())
}

/// Appends one channel's encoding to `out`.
fn encode_channel<T: Label>(data: &[T], g: &Geometry, out: &mut Vec<u32>) -> Result<(), String> {
    let base = out.len();
    let mut cache: HashMap<Vec<T>, u32> = HashMap::new();
    let mut values: Vec<T> = Vec::with_capacity(g.block_voxels.min(1 << 16));
    out.resize(base + 2 * g.blocks, 0);
    for (header, (o, a)) in g.blocks().enumerate() {
        // Distinct values of the block, sorted (padding adds no value of its own).
        values.clear();
        for z in 0..a[2] {
            for y in 0..a[1] {
                let row = g.index(o, 0, y, z);
                values.extend_from_slice(&data[row..row + a[0]]);
            }
        }
        values.sort_unstable();
        values.dedup();
        let bits = encoded_bits(values.len()).ok_or("too many distinct values in a block")?;
        let packed_words = bits
            .checked_mul(g.block_voxels)
            .map(|b| b.div_ceil(32))
            .ok_or("block too large")?;
        let values_offset = out.len() - base;
        let cached = cache.get(&values).copied();
        let table_words = if cached.is_some() {
            0
        } else {
            values.len() * T::WORDS
        };
        out.try_reserve(packed_words + table_words)
            .map_err(|e| e.to_string())?;
        out.resize(out.len() + packed_words, 0);
        if bits > 0 {
            let packed = &mut out[base + values_offset..];
            let mut prev = (values[0], 0u32);
            for z in 0..a[2] {
                for y in 0..a[1] {
                    let row = g.index(o, 0, y, z);
                    for (x, &v) in data[row..row + a[0]].iter().enumerate() {
                        if v != prev.0 {
                            // `v` is in `values` by construction; the index fits since bits <= 32.
                            let i = values.binary_search(&v).unwrap_or(0);
                            prev = (v, u32::try_from(i).unwrap_or(0));
                        }
                        let bit = bits * (x + g.block[0] * (y + g.block[1] * z));
                        packed[bit / 32] |= prev.1 << (bit % 32);
                    }
                }
            }
        }
        let table_offset = match cached {
            Some(t) => t,
            None => {
                let t = word(out.len() - base, "table offset")?;
                for v in &values {
                    out.extend_from_slice(&halves(v.to_u64())[..T::WORDS]);
                }
                cache.insert(values.clone(), t);
                t
            }
        };
        if table_offset >= 1 << 24 {
            return Err(format!(
                "lookup table offset {table_offset} does not fit in 24 bits"
            ));
        }
        out[base + 2 * header] = table_offset | (word(bits, "bits")? << 24);
        out[base + 2 * header + 1] = word(values_offset, "encoded values offset")?;
    }
    Ok(())
}

/// Decodes a chunk of extent `size` × `channels` into Fortran `[x,y,z,c]` order.
pub fn decode<T: Label>(
    buf: &[u8],
    size: [usize; 3],
    channels: usize,
    block: [usize; 3],
) -> Result<Vec<T>, String> {
    let g = Geometry::new(size, channels, block)?;
    if !buf.len().is_multiple_of(4) {
        return Err(format!("length {} is not a multiple of 4", buf.len()));
    }
    let words: Vec<u32> = buf
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if words.len() < channels {
        return Err(format!(
            "{} words cannot hold {channels} channel offsets",
            words.len()
        ));
    }
    let mut out: Vec<T> = Vec::new();
    out.try_reserve_exact(g.voxels * channels)
        .map_err(|e| e.to_string())?;
    for c in 0..channels {
        let start = words[c] as usize;
        let ch = words
            .get(start..)
            .ok_or_else(|| format!("channel {c} offset {start} is past the end"))?;
        decode_channel(ch, &g, &mut out).map_err(|e| format!("channel {c}: {e}"))?;
    }
    Ok(out)
}

/// Appends one channel, decoded from `ch` (the words from the channel start), to `out`.
fn decode_channel<T: Label>(ch: &[u32], g: &Geometry, out: &mut Vec<T>) -> Result<(), String> {
    if ch.len() < 2 * g.blocks {
        return Err(format!(
            "{} words cannot hold {} block headers",
            ch.len(),
            g.blocks
        ));
    }
    let first = out.len();
    out.resize(first + g.voxels, T::from_u64(0));
    let dst = &mut out[first..];
    for (header, (o, a)) in g.blocks().enumerate() {
        let (h0, h1) = (ch[2 * header], ch[2 * header + 1]);
        let table = (h0 & 0xff_ffff) as usize;
        let bits = (h0 >> 24) as usize;
        if ![0, 1, 2, 4, 8, 16, 32].contains(&bits) {
            return Err(format!("block {header}: invalid encoded bits {bits}"));
        }
        let start = h1 as usize;
        let packed = bits
            .checked_mul(g.block_voxels)
            .and_then(|b| b.div_ceil(32).checked_add(start))
            .and_then(|end| ch.get(start..end))
            .ok_or_else(|| format!("block {header}: encoded values out of bounds"))?;
        let mask = if bits == 32 {
            u32::MAX
        } else {
            (1u32 << bits) - 1
        };
        for z in 0..a[2] {
            for y in 0..a[1] {
                for x in 0..a[0] {
                    let i = if bits == 0 {
                        0
                    } else {
                        let bit = bits * (x + g.block[0] * (y + g.block[1] * z));
                        ((packed[bit / 32] >> (bit % 32)) & mask) as usize
                    };
                    let t = i
                        .checked_mul(T::WORDS)
                        .and_then(|w| w.checked_add(table))
                        .and_then(|p| ch.get(p..)?.get(..T::WORDS))
                        .ok_or_else(|| format!("block {header}: table entry {i} out of bounds"))?;
                    let hi = t.get(1).map_or(0, |&w| u64::from(w) << 32);
                    dst[g.index(o, x, y, z)] = T::from_u64(u64::from(t[0]) | hi);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random stream (Knuth's MMIX LCG, high bits).
    fn lcg(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed;
        move || {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            s >> 16
        }
    }

    fn words(b: &[u8]) -> Vec<u32> {
        b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Encoded bit widths used by the blocks of channel 0.
    fn widths(b: &[u8], size: [usize; 3], block: [usize; 3]) -> Vec<u32> {
        let w = words(b);
        let n = (0..3)
            .map(|i| size[i].div_ceil(block[i]))
            .product::<usize>();
        let base = w[0] as usize;
        let mut v: Vec<u32> = (0..n).map(|i| w[base + 2 * i] >> 24).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    fn round_trip<T: Label + std::fmt::Debug>(
        data: &[T],
        size: [usize; 3],
        ch: usize,
        block: [usize; 3],
    ) -> Vec<u8> {
        let enc = encode(data, size, ch, block).unwrap();
        assert_eq!(
            decode::<T>(&enc, size, ch, block).unwrap(),
            data,
            "size {size:?} ch {ch}"
        );
        enc
    }

    #[test]
    fn hand_checked_bytes() {
        // Edge block padded with index 0 (the lowest value): indices 1,0,1,(0) -> 0b0101.
        let e = encode(&[5u32, 3, 5], [3, 1, 1], 1, [4, 1, 1]).unwrap();
        assert_eq!(words(&e), [1, 0x0100_0003, 2, 5, 3, 5]);
        // The second block reuses the first block's table at word 5.
        let e = encode(&[7u32, 9, 9, 7], [4, 1, 1], 1, [2, 1, 1]).unwrap();
        assert_eq!(words(&e), [1, 0x0100_0005, 4, 0x0100_0005, 7, 2, 7, 9, 1]);
        // One u64 value: 0 bits, table right after the header, low word first.
        let e = encode(&[0x1_0000_0002u64], [1, 1, 1], 1, [8, 8, 8]).unwrap();
        assert_eq!(words(&e), [1, 2, 2, 2, 1]);
        // Two channels: offsets 2 and 2 + 3.
        let e = encode(&[4u32, 6], [1, 1, 1], 2, [8, 8, 8]).unwrap();
        assert_eq!(words(&e), [2, 5, 2, 2, 4, 2, 2, 6]);
        assert_eq!(
            words(&encode::<u32>(&[], [0, 4, 4], 1, [8, 8, 8]).unwrap()),
            [1]
        );
    }

    #[test]
    fn matches_python_reference() {
        // compressed_segmentation 2.3.3: compress(a, block_size=..., order='F').
        let a: Vec<u64> = (0..60)
            .map(|i| (i % 5 * 7 + i / 5 % 4 * 3 + i / 20 * 5) % 5)
            .collect();
        let a: Vec<u64> = a.iter().map(|v| v * 0x1_0000_0001).collect();
        let want = "010000001900000218000000200000021f00000027000001260000002c0000022b0000001900000232000000340000013300000019000002380000002000000239000000270000013a0000002c0000023b000000190000023c000000340000013d0000002424000000000000000000000200000002000000030000000300000092920000010000000100000002000000020000000400000004000000110000000100000001000000030000000300000024240000010000000100000003000000030000000400000004000000242400001100000002000000020000000400000004000000240000009200000001000000240000002400000001000000";
        assert_eq!(round_trip(&a, [5, 4, 3], 1, [2, 2, 2]), unhex(want));
        let b: Vec<u32> = (0..126)
            .map(|i| (i % 9 / 3 + i / 9 % 7 / 4 * 2) % 3 + i / 63 * 10)
            .collect();
        let want = "01000000100000020c00000018000002140000001e0000011c000000240000022000000010000002280000002e0000012c00000040404040eaeaeaea000000000000000000000000010000000a0000000b00000050505050fafafafa000000000000000001000000020000000b0000000c0000000000111100000000020000000c00000015151500bfbfbf00000000000000000000000000020000000a0000000c00000050505000fafafa0000000000000000000000110100000000010000000b000000";
        assert_eq!(round_trip(&b, [9, 7, 2], 1, [4, 4, 4]), unhex(want));
    }

    #[test]
    fn round_trips_every_width() {
        let mut r = lcg(42);
        let b8 = [8, 8, 8];
        for size in [[36, 6, 14], [1, 1, 1], [64, 64, 64], [5, 4, 3], [9, 17, 1]] {
            let n = size.iter().product::<usize>();
            for ch in [1, 2] {
                // Distinct-value ranges giving 0, 1, 2, 4, 8 and 16 bits per full 8^3 block.
                for (m, bits) in [(1, 0), (2, 1), (4, 2), (10, 4), (100, 8), (u64::MAX, 16)] {
                    let d64: Vec<u64> = (0..n * ch)
                        .map(|_| (r() % m).wrapping_mul(0x9e37_79b9_7f4a_7c15))
                        .collect();
                    let e = round_trip(&d64, size, ch, b8);
                    let d32: Vec<u32> = d64.iter().map(|&v| (v >> 7) as u32).collect();
                    round_trip(&d32, size, ch, b8);
                    if size == [64, 64, 64] {
                        assert_eq!(widths(&e, size, b8), [bits]);
                    }
                }
            }
        }
        // 32 bits needs more than 65536 distinct values in a block.
        let (size, blk) = ([64, 64, 33], [64, 64, 32]);
        let d: Vec<u64> = (0..64 * 64 * 33).map(|_| r()).collect();
        assert_eq!(widths(&round_trip(&d, size, 1, blk), size, blk), [16, 32]);
        let d: Vec<u32> = d.iter().map(|&v| v as u32).collect();
        assert_eq!(widths(&round_trip(&d, size, 1, blk), size, blk), [16, 32]);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(encode(&[1u32; 7], [2, 2, 2], 1, [8, 8, 8]).is_err());
        assert!(encode(&[1u32; 8], [2, 2, 2], 1, [8, 0, 8]).is_err());
        assert!(encode(&[1u32; 8], [usize::MAX, 2, 2], 1, [8, 8, 8]).is_err());
        assert!(decode::<u32>(&[1, 0, 0, 0], [2, 2, 2], 1, [0, 8, 8]).is_err());
        assert!(decode::<u32>(&[], [1, 1, 1], 1, [8, 8, 8]).is_err());
        assert!(decode::<u64>(&[9, 0, 0, 0], [1, 1, 1], 1, [8, 8, 8]).is_err());
        // Encoded bits 3 are invalid.
        let bad: Vec<u8> = [1u32, 0x0300_0003, 3, 0, 7]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        assert!(decode::<u32>(&bad, [1, 1, 1], 1, [8, 8, 8]).is_err());
    }

    fn prefixes_fail<T: Label>(e: &[u8], size: [usize; 3], ch: usize) {
        for len in 0..e.len() {
            assert!(
                decode::<T>(&e[..len], size, ch, [4, 4, 4]).is_err(),
                "prefix {len}"
            );
        }
    }

    #[test]
    fn truncated_or_corrupt_never_panics() {
        let mut r = lcg(7);
        for (size, ch) in [([5, 4, 3], 1), ([9, 7, 2], 2), ([17, 3, 9], 1)] {
            let n = size.iter().product::<usize>() * ch;
            let d: Vec<u64> = (0..n).map(|_| r() % 6).collect();
            let e = encode(&d, size, ch, [4, 4, 4]).unwrap();
            let d32: Vec<u32> = d.iter().map(|&v| v as u32 * 0x0101_0101).collect();
            // Every word of the reference layout is needed, so every strict prefix fails.
            prefixes_fail::<u64>(&e, size, ch);
            prefixes_fail::<u32>(&encode(&d32, size, ch, [4, 4, 4]).unwrap(), size, ch);
            for _ in 0..2000 {
                let mut c = e.clone();
                for _ in 0..1 + r() % 4 {
                    let i = (r() as usize) % c.len();
                    c[i] = r() as u8;
                }
                let _ = decode::<u64>(&c, size, ch, [4, 4, 4]);
                let _ = decode::<u32>(&c, size, ch, [4, 4, 4]);
            }
        }
        for len in 0..300 {
            let g: Vec<u8> = (0..len).map(|_| r() as u8).collect();
            let _ = decode::<u64>(&g, [7, 5, 3], 2, [2, 2, 2]);
            let _ = decode::<u32>(&g, [1, 1, 1], 1, [8, 8, 8]);
        }
    }
}
