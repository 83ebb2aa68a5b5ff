//! Image encodings of precomputed chunks (`spec/neuroglancer.md`, "jpeg encoding"):
//! one picture per chunk, `x` across and `y·z` down (its rows, concatenated, are the
//! Fortran-order `[x, y, z]` voxels), channels interleaved per pixel. `jpeg` is uint8
//! with 1 or 3 channels and lossy; `png` is uint8 or uint16 (big-endian, as PNG stores
//! it) with 1 to 4 channels and lossless. Also used for `preview.png`.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::dtype::DType;
use crate::volume::Volume;

/// The precomputed encoding of an image array's chunks (a config's `"encoding"`,
/// `--image-encoding` for the server default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ChunkEncoding {
    /// Little-endian voxels, no header.
    #[default]
    Raw,
    /// Lossy JPEG (uint8, 1 or 3 channels).
    Jpeg,
    /// Lossless PNG (uint8 or uint16, 1 to 4 channels).
    Png,
}

impl ChunkEncoding {
    /// The name in `info` and in configs.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Jpeg => "jpeg",
            Self::Png => "png",
        }
    }

    /// Why chunks of `dtype` (the served dtype) with `channels` cannot be encoded this
    /// way, if they cannot; segmentations never take an image encoding.
    #[must_use]
    pub fn refusal(self, dtype: DType, channels: usize, segmentation: bool) -> Option<String> {
        let ok = match self {
            Self::Raw => return None,
            Self::Jpeg => dtype == DType::U8 && matches!(channels, 1 | 3),
            Self::Png => matches!(dtype, DType::U8 | DType::U16) && (1..=4).contains(&channels),
        };
        if segmentation {
            return Some(format!(
                "{} is for images; a segmentation (label) array is served raw or compressed_segmentation",
                self.name()
            ));
        }
        (!ok).then(|| {
            let allowed = match self {
                Self::Jpeg => "uint8 with 1 or 3 channels",
                _ => "uint8 or uint16 with 1 to 4 channels",
            };
            format!(
                "{} takes {allowed}; this array serves {dtype} with {channels} channel(s); use \"raw\"",
                self.name()
            )
        })
    }
}

/// Default JPEG quality (1..=100).
pub const DEFAULT_JPEG_QUALITY: u8 = 85;

/// The encoder id of JPEG at `quality` (a cache key that names the quality).
#[must_use]
pub fn jpeg_id(quality: u8) -> &'static str {
    static IDS: OnceLock<Vec<String>> = OnceLock::new();
    let ids = IDS.get_or_init(|| {
        (0..=100)
            .map(|q| format!("precomputed-jpeg-q{q}"))
            .collect()
    });
    ids.get(usize::from(quality))
        .map_or("precomputed-jpeg", String::as_str)
}

/// A chunk as one picture: width = x, height = y·z, channels, and its samples with
/// channels interleaved per pixel (uint8 or uint16).
struct Picture {
    width: u32,
    height: u32,
    channels: usize,
    samples: Samples,
}

enum Samples {
    U8(Vec<u8>),
    U16(Vec<u16>),
}

/// Channel-planar samples (`c` slowest) to channels interleaved per pixel.
fn interleave<T: Copy>(planar: Vec<T>, channels: usize, pixels: usize) -> Vec<T> {
    if channels == 1 {
        return planar;
    }
    (0..pixels)
        .flat_map(|p| (0..channels).map(move |c| c * pixels + p))
        .map(|i| planar[i])
        .collect()
}

/// Lays a `[c,] z, y, x` volume out as neuroglancer's picture.
fn picture(v: &Volume) -> Result<Picture, String> {
    let shape = v.shape();
    let (channels, zyx) = match shape {
        [z, y, x] => (1, [*z, *y, *x]),
        [c, z, y, x] => (*c, [*z, *y, *x]),
        other => return Err(format!("an image chunk has 3 or 4 axes, not {other:?}")),
    };
    let [z, y, x] = zyx;
    let width = u32::try_from(x).map_err(|e| e.to_string())?;
    let height = u32::try_from(y * z).map_err(|e| e.to_string())?;
    let pixels = x * y * z;
    let samples = match v {
        Volume::U8(a) => Samples::U8(interleave(a.iter().copied().collect(), channels, pixels)),
        Volume::U16(a) => Samples::U16(interleave(a.iter().copied().collect(), channels, pixels)),
        other => {
            return Err(format!(
                "an image chunk is uint8 or uint16, not {}",
                other.dtype()
            ));
        }
    };
    Ok(Picture {
        width,
        height,
        channels,
        samples,
    })
}

/// JPEG of a uint8 chunk with 1 or 3 channels.
///
/// # Errors
/// Another dtype or channel count, or a picture beyond 65 535 pixels a side.
pub fn jpeg(v: &Volume, quality: u8) -> Result<Vec<u8>, String> {
    let p = picture(v)?;
    let Samples::U8(data) = p.samples else {
        return Err("jpeg takes uint8 chunks".into());
    };
    let color = match p.channels {
        1 => jpeg_encoder::ColorType::Luma,
        3 => jpeg_encoder::ColorType::Rgb,
        c => return Err(format!("jpeg takes 1 or 3 channels, not {c}")),
    };
    let side = |n: u32| {
        u16::try_from(n).map_err(|_| format!("a jpeg side is at most 65535 pixels, not {n}"))
    };
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100))
        .encode(&data, side(p.width)?, side(p.height)?, color)
        .map_err(|e| e.to_string())?;
    Ok(tables_first(&out))
}

/// The JPEG with its quantization tables (DQT) moved before the frame header (SOF).
/// `jpeg-encoder` writes SOF first, which the standard allows, but the decoder in
/// neuroglancer's web client (pdf.js's) looks the tables up when it reads the SOF and
/// fails on every chunk ("Cannot read properties of undefined"). Found in Chromium.
fn tables_first(jpeg: &[u8]) -> Vec<u8> {
    let mut segments: Vec<&[u8]> = Vec::new();
    let mut at = 2;
    while at + 4 <= jpeg.len() && jpeg[at] == 0xFF && jpeg[at + 1] != 0xDA {
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        let end = (at + 2 + len).min(jpeg.len());
        segments.push(&jpeg[at..end]);
        at = end;
    }
    let (dqt, rest): (Vec<&[u8]>, Vec<&[u8]>) = segments.iter().partition(|s| s[1] == 0xDB);
    let mut out = Vec::with_capacity(jpeg.len());
    out.extend_from_slice(&jpeg[..2.min(jpeg.len())]);
    // APP segments stay first, then the tables, then the rest in their order.
    let (app, rest): (Vec<&[u8]>, Vec<&[u8]>) = rest
        .into_iter()
        .partition(|s| (0xE0..=0xEF).contains(&s[1]));
    for s in app.into_iter().chain(dqt).chain(rest) {
        out.extend_from_slice(s);
    }
    out.extend_from_slice(&jpeg[at..]);
    out
}

/// Lossless PNG of a uint8 or uint16 chunk (any channel count from 1 to 4).
///
/// # Errors
/// Another dtype, or more than 4 channels.
pub fn png(v: &Volume) -> Result<Vec<u8>, String> {
    let p = picture(v)?;
    let (depth, bytes) = match p.samples {
        Samples::U8(d) => (png::BitDepth::Eight, d),
        Samples::U16(d) => (
            png::BitDepth::Sixteen,
            d.iter().flat_map(|s| s.to_be_bytes()).collect(),
        ),
    };
    encode_png(p.width, p.height, p.channels, depth, &bytes)
}

/// A PNG of `width × height` pixels of `channels` (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA)
/// samples each of `depth`, rows top to bottom.
///
/// # Errors
/// A channel count PNG has no colour type for, or a size that does not match.
pub fn encode_png(
    width: u32,
    height: u32,
    channels: usize,
    depth: png::BitDepth,
    bytes: &[u8],
) -> Result<Vec<u8>, String> {
    let color = match channels {
        1 => png::ColorType::Grayscale,
        2 => png::ColorType::GrayscaleAlpha,
        3 => png::ColorType::Rgb,
        4 => png::ColorType::Rgba,
        c => return Err(format!("png takes 1 to 4 channels, not {c}")),
    };
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(color);
        enc.set_depth(depth);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(bytes).map_err(|e| e.to_string())?;
        w.finish().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, IxDyn};

    #[test]
    fn layout_is_x_across_and_y_z_down() {
        // 2 channels would be refused by refusal(); picture() itself interleaves them.
        let a = Array::from_shape_fn(IxDyn(&[2, 2, 3, 4]), |i| {
            u8::try_from(i[0] * 100 + i[1] * 12 + i[2] * 4 + i[3]).unwrap()
        });
        let p = picture(&Volume::from(a)).unwrap();
        assert_eq!((p.width, p.height, p.channels), (4, 6, 2));
        let Samples::U8(d) = p.samples else { panic!() };
        // Pixel (x=1, row y=2 of z=1) is row 5: channels 0 and 1 side by side.
        let at = (5 * 4 + 1) * 2;
        assert_eq!(&d[at..at + 2], &[12 + 8 + 1, 100 + 12 + 8 + 1]);
    }

    #[test]
    fn jpeg_tables_come_before_the_frame() {
        let a = Array::from_shape_fn(IxDyn(&[2, 8, 16]), |i| {
            u8::try_from(i[1] * 16 + i[2]).unwrap()
        });
        let bytes = jpeg(&Volume::from(a), 85).unwrap();
        let find = |m: u8| bytes.windows(2).position(|w| w == [0xFF, m]).unwrap();
        assert!(find(0xE0) < find(0xDB) && find(0xDB) < find(0xC0) && find(0xC0) < find(0xDA));
        assert_eq!(&bytes[..2], &[0xFF, 0xD8]);
        assert_eq!(&bytes[bytes.len() - 2..], &[0xFF, 0xD9]);
    }

    #[test]
    fn png_keeps_uint16_exactly_big_endian() {
        let a = Array::from_shape_fn(IxDyn(&[2, 3, 5]), |i| {
            u16::try_from(i[0] * 20_000 + i[1] * 300 + i[2] * 7).unwrap()
        });
        let want: Vec<u16> = a.iter().copied().collect();
        let bytes = png(&Volume::from(a)).unwrap();
        let mut r = ::png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!(
            (info.width, info.height, info.bit_depth),
            (5, 6, ::png::BitDepth::Sixteen)
        );
        let got: Vec<u16> = buf[..info.buffer_size()]
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn refusals_name_what_is_allowed() {
        assert_eq!(ChunkEncoding::Jpeg.refusal(DType::U8, 3, false), None);
        assert_eq!(ChunkEncoding::Png.refusal(DType::U16, 1, false), None);
        let f32 = ChunkEncoding::Jpeg.refusal(DType::F32, 1, false).unwrap();
        assert!(
            f32.contains("uint8 with 1 or 3 channels") && f32.contains("float32"),
            "{f32}"
        );
        assert!(ChunkEncoding::Png.refusal(DType::U8, 5, false).is_some());
        assert_eq!(ChunkEncoding::Png.refusal(DType::U8, 2, false), None);
        let seg = ChunkEncoding::Png.refusal(DType::U8, 1, true).unwrap();
        assert!(seg.contains("segmentation"), "{seg}");
        assert_eq!(ChunkEncoding::Raw.refusal(DType::F64, 7, true), None);
        assert_eq!(jpeg_id(85), "precomputed-jpeg-q85");
    }
}
