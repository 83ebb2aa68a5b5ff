//! A slice of an array as a PNG thumbnail (`GET /v1/arrays/{name}/preview.png`): grey
//! for one channel (window from the dtype, or the data's own range), one palette colour
//! per channel summed for several, and a stable hash colour per id for labels (0 black).

use crate::dtype::DType;
use crate::encode::image::encode_png;
use crate::eval::{Encoder, EvalError};
use crate::views::neuroglancer::shaders::PALETTE;
use crate::volume::Volume;

/// Renders a slice (one spatial axis of length 1) as a PNG.
#[derive(Debug, Clone, Copy)]
pub struct Preview {
    /// The slice is across this axis (0 = z, 1 = y, 2 = x of `z, y, x`).
    pub axis: usize,
    /// Colour ids instead of windowing intensities.
    pub labels: bool,
}

/// A stable colour for label `id` (black for 0).
#[must_use]
pub fn label_color(id: u64) -> [u8; 3] {
    if id == 0 {
        return [0, 0, 0];
    }
    let h = xxhash_rust::xxh3::xxh3_64(&id.to_le_bytes());
    let [a, b, c, ..] = h.to_le_bytes();
    // Keep colours away from black so small segments stay visible.
    [a, b, c].map(|v| 64 + v / 4 * 3)
}

/// The window `[lo, hi]` of intensities: uint8 0..255 (0..1 for 0/1 masks), float
/// 0..1 when the data lies in it, otherwise the data's own range.
#[must_use]
pub fn window(dtype: DType, values: &[f64]) -> (f64, f64) {
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    match dtype {
        DType::U8 if hi <= 1.0 => (0.0, 1.0),
        DType::U8 => (0.0, 255.0),
        DType::F32 | DType::F64 if lo >= 0.0 && hi <= 1.0 => (0.0, 1.0),
        _ if hi > lo => (lo, hi),
        _ => (lo, lo + 1.0),
    }
}

#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "clamped to 0..=255"
)]
fn byte(v: f64) -> u8 {
    (v * 255.0).round().clamp(0.0, 255.0) as u8
}

impl Preview {
    /// `(height, width)` of the picture of a slice of spatial shape `zyx`.
    fn size(&self, zyx: [usize; 3]) -> (usize, usize) {
        let kept: Vec<usize> = (0..3).filter(|&d| d != self.axis).map(|d| zyx[d]).collect();
        (kept[0], kept[1])
    }

    /// RGB or grey pixels of the slice `v` (`[c,] z, y, x`).
    fn pixels(&self, v: &Volume) -> Result<(usize, Vec<u8>), String> {
        if self.labels {
            let Volume::U64(a) = v.cast(DType::U64) else {
                return Err("labels did not cast to uint64".into());
            };
            return Ok((3, a.iter().flat_map(|&id| label_color(id)).collect()));
        }
        let Volume::F64(a) = v.cast(DType::F64) else {
            return Err("intensities did not cast to float64".into());
        };
        let values: Vec<f64> = a.iter().copied().collect();
        let (lo, hi) = window(v.dtype(), &values);
        let norm = |x: f64| ((x - lo) / (hi - lo)).clamp(0.0, 1.0);
        let channels = if v.shape().len() == 4 {
            v.shape()[0]
        } else {
            1
        };
        if channels == 1 {
            return Ok((1, values.iter().map(|&x| byte(norm(x))).collect()));
        }
        let pixels = values.len() / channels;
        let rgb = (0..pixels)
            .flat_map(|p| {
                let mut sum = [0.0f64; 3];
                for c in 0..channels {
                    let color = hex(PALETTE[c % PALETTE.len()]);
                    let w = norm(values[c * pixels + p]);
                    for k in 0..3 {
                        sum[k] += w * f64::from(color[k]) / 255.0;
                    }
                }
                sum.map(byte)
            })
            .collect();
        Ok((3, rgb))
    }
}

/// `#rrggbb` to bytes (black if malformed).
fn hex(s: &str) -> [u8; 3] {
    let at = |i: usize| {
        s.get(1 + 2 * i..3 + 2 * i)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0)
    };
    [at(0), at(1), at(2)]
}

impl Encoder for Preview {
    fn id(&self) -> &'static str {
        const IDS: [[&str; 3]; 2] = [
            ["preview-z", "preview-y", "preview-x"],
            ["preview-labels-z", "preview-labels-y", "preview-labels-x"],
        ];
        IDS[usize::from(self.labels)][self.axis.min(2)]
    }

    fn encode(&self, v: &Volume) -> Result<Vec<u8>, EvalError> {
        let shape = v.shape();
        let zyx: [usize; 3] = shape[shape.len() - 3..]
            .try_into()
            .map_err(|_| EvalError::Internal(format!("a preview slice of shape {shape:?}")))?;
        let (h, w) = self.size(zyx);
        let (channels, px) = self.pixels(v).map_err(EvalError::Internal)?;
        let side = |n: usize| u32::try_from(n).map_err(|e| EvalError::Internal(e.to_string()));
        encode_png(side(w)?, side(h)?, channels, png::BitDepth::Eight, &px)
            .map_err(EvalError::Internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, IxDyn};

    #[test]
    fn windows_and_colours() {
        assert_eq!(window(DType::U8, &[0.0, 1.0]), (0.0, 1.0));
        assert_eq!(window(DType::U8, &[0.0, 7.0]), (0.0, 255.0));
        assert_eq!(window(DType::F32, &[0.25, 0.5]), (0.0, 1.0));
        assert_eq!(window(DType::F32, &[-2.0, 6.0]), (-2.0, 6.0));
        assert_eq!(window(DType::U16, &[5.0, 5.0]), (5.0, 6.0));
        assert_eq!(label_color(0), [0, 0, 0]);
        assert_eq!(label_color(7), label_color(7));
        assert_ne!(label_color(7), label_color(8));
        assert!(label_color(7).iter().all(|&c| c >= 64));
        assert_eq!(hex("#ff4080"), [255, 64, 128]);
    }

    #[test]
    fn slices_keep_the_other_two_axes() {
        let p = Preview {
            axis: 1,
            labels: false,
        };
        assert_eq!(p.size([4, 1, 6]), (4, 6));
        let a = Array::from_shape_vec(IxDyn(&[1, 1, 2]), vec![0u8, 255]).unwrap();
        let (c, px) = Preview {
            axis: 0,
            labels: false,
        }
        .pixels(&Volume::from(a))
        .unwrap();
        assert_eq!((c, px), (1, vec![0, 255]));
        let two = Array::from_shape_vec(IxDyn(&[2, 1, 1, 1]), vec![1u8, 1]).unwrap();
        let (c, px) = Preview {
            axis: 0,
            labels: false,
        }
        .pixels(&Volume::from(two))
        .unwrap();
        assert_eq!((c, px), (3, vec![255, 255, 128]));
    }
}
