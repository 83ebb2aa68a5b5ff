//! How a stored array's axes map onto arrayd's `[c,] z, y, x`: which stored axis is the
//! channel axis, which singleton axes are dropped, and the order of the spatial axes.

use std::ops::Range;

use ndarray::{ArrayD, Axis};

/// The most stored dimensions supported (OME-NGFF `t,c,z,y,x`).
pub const MAX_DIMS: usize = 5;

/// The stored axes of an array and how they become the served ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Stored dimension count.
    ndim: usize,
    /// Stored index of the channel axis (a non-spatial axis of size > 1).
    channel: Option<usize>,
    /// Stored indices of the spatial axes, in served z,y,x order.
    spatial: Vec<usize>,
    /// Stored indices of dropped singleton non-spatial axes, ascending.
    dropped: Vec<usize>,
}

fn spatial_rank(name: &str) -> Option<usize> {
    match name.to_ascii_lowercase().as_str() {
        "z" => Some(0),
        "y" => Some(1),
        "x" => Some(2),
        _ => None,
    }
}

fn is_time(name: &str) -> bool {
    matches!(name.to_ascii_lowercase().as_str(), "t" | "time")
}

impl Layout {
    /// Default axis names for an array of `ndim` dimensions without any: `z,y,x`
    /// suffixes, `c,z,y,x` for 4-D and `t,c,z,y,x` for 5-D.
    #[must_use]
    pub fn default_axes(ndim: usize) -> Vec<String> {
        let all = ["t", "c", "z", "y", "x"];
        let names: &[&str] = match ndim {
            4 => &all[1..],
            5 => &all,
            n => &all[2 + 3usize.saturating_sub(n).min(3)..],
        };
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Computes the layout of stored axes `axes` with stored shape `shape`.
    ///
    /// # Errors
    /// A reason naming the axes: more than 5 dimensions, a name count that does not
    /// match, duplicate names, a non-singleton `t`, two non-singleton non-spatial axes,
    /// or no spatial axis.
    pub fn new(axes: &[String], shape: &[u64]) -> Result<Self, String> {
        let ndim = shape.len();
        if ndim > MAX_DIMS {
            return Err(format!(
                "the array has {ndim} dimensions; at most {MAX_DIMS} are supported (t, c and 1-3 spatial axes)"
            ));
        }
        if axes.len() != ndim {
            return Err(format!(
                "axes {axes:?} name {} axes but the array has {ndim}",
                axes.len()
            ));
        }
        for (i, a) in axes.iter().enumerate() {
            if axes[..i].iter().any(|b| b.eq_ignore_ascii_case(a)) {
                return Err(format!("axes {axes:?}: axis {a:?} is named twice"));
            }
        }
        let mut channel = None;
        let mut dropped = Vec::new();
        let mut spatial: Vec<(usize, usize)> = Vec::new();
        for (i, (name, &size)) in axes.iter().zip(shape).enumerate() {
            if let Some(rank) = spatial_rank(name) {
                spatial.push((rank, i));
            } else if size == 1 {
                dropped.push(i);
            } else if is_time(name) {
                return Err(format!(
                    "axes {axes:?}: time axis {name:?} has {size} time points; only a singleton time axis is supported"
                ));
            } else if let Some(c) = channel {
                let first: &String = &axes[c];
                return Err(format!(
                    "axes {axes:?}: non-spatial axes {first:?} (size {}) and {name:?} (size {size}) both have more than one element; at most one channel axis is supported",
                    shape[c]
                ));
            } else {
                channel = Some(i);
            }
        }
        if spatial.is_empty() {
            return Err(format!(
                "axes {axes:?}: the array has no spatial axis (z, y or x)"
            ));
        }
        spatial.sort_unstable();
        Ok(Self {
            ndim,
            channel,
            spatial: spatial.into_iter().map(|(_, i)| i).collect(),
            dropped,
        })
    }

    /// Whether stored and served axes are the same (nothing dropped or moved).
    #[must_use]
    pub fn is_identity(&self) -> bool {
        self.dropped.is_empty() && self.served().into_iter().eq(0..self.ndim)
    }

    /// Stored axis indices in served order (`[c,] z, y, x`).
    fn served(&self) -> Vec<usize> {
        self.channel.iter().chain(&self.spatial).copied().collect()
    }

    /// Stored index of the channel axis.
    #[must_use]
    pub fn channel(&self) -> Option<usize> {
        self.channel
    }

    /// Number of spatial axes.
    #[must_use]
    pub fn spatial_dims(&self) -> usize {
        self.spatial.len()
    }

    /// The spatial entries of a per-stored-axis vector (all `ndim` entries), z,y,x.
    #[must_use]
    pub fn spatial_of<V: Clone>(&self, all: &[V]) -> Vec<V> {
        self.spatial.iter().map(|&i| all[i].clone()).collect()
    }

    /// Reorders a per-axis vector found in metadata into z,y,x: it may list all stored
    /// axes, the kept ones (channel and spatial) or only the spatial ones, in stored
    /// order.
    ///
    /// # Errors
    /// When its length matches none of these.
    pub fn reorder<V: Clone + std::fmt::Debug>(
        &self,
        v: &[V],
        what: &str,
    ) -> Result<Vec<V>, String> {
        let n = self.spatial.len();
        let kept: Vec<usize> = (0..self.ndim)
            .filter(|i| !self.dropped.contains(i))
            .collect();
        let listed: Vec<usize> = if v.len() == self.ndim {
            (0..self.ndim).collect()
        } else if v.len() == kept.len() {
            kept
        } else if v.len() == n {
            let mut s = self.spatial.clone();
            s.sort_unstable();
            s
        } else {
            return Err(format!(
                "{what} {v:?} has {} entries; the array has {n} spatial axes ({} in all)",
                v.len(),
                self.ndim
            ));
        };
        Ok(self
            .spatial
            .iter()
            .filter_map(|s| listed.iter().position(|l| l == s).map(|p| v[p].clone()))
            .collect())
    }

    /// Stored ranges for a read of `channels` (when there is a channel axis) and
    /// `spatial` (z,y,x); dropped axes get `0..1`.
    #[must_use]
    pub fn stored_ranges(
        &self,
        channels: Option<Range<u64>>,
        spatial: &[Range<u64>],
    ) -> Vec<Range<u64>> {
        (0..self.ndim)
            .map(|i| {
                if Some(i) == self.channel {
                    channels.clone().unwrap_or(0..1)
                } else if let Some(p) = self.spatial.iter().position(|&s| s == i) {
                    spatial[p].clone()
                } else {
                    0..1
                }
            })
            .collect()
    }

    /// Turns data retrieved in stored axis order into served order.
    #[must_use]
    pub fn to_served<T: Clone>(&self, stored: ArrayD<T>) -> ArrayD<T> {
        if self.is_identity() {
            return stored;
        }
        let mut a = stored;
        for &d in self.dropped.iter().rev() {
            a = a.index_axis_move(Axis(d), 0);
        }
        let shift = |i: usize| i - self.dropped.iter().filter(|&&d| d < i).count();
        let perm: Vec<usize> = self.served().into_iter().map(shift).collect();
        a.permuted_axes(perm).as_standard_layout().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    fn names(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn xyz_is_reversed() {
        let l = Layout::new(&names(&["x", "y", "z"]), &[4, 3, 2]).unwrap();
        assert!(!l.is_identity());
        assert_eq!(l.spatial_of(&[4, 3, 2]), vec![2, 3, 4]);
        assert_eq!(
            l.reorder(&[4.0, 8.0, 40.0], "vs").unwrap(),
            vec![40.0, 8.0, 4.0]
        );
        assert_eq!(
            l.stored_ranges(None, &[0..1, 1..2, 2..3]),
            vec![2..3, 1..2, 0..1]
        );
        let stored = ArrayD::from_shape_fn(IxDyn(&[4, 3, 2]), |i| i[0] * 100 + i[1] * 10 + i[2]);
        let served = l.to_served(stored);
        assert_eq!(served.shape(), &[2, 3, 4]);
        assert_eq!(served[[1, 2, 3]], 321);
        assert!(served.is_standard_layout());
    }

    #[test]
    fn ome_tczyx_drops_singletons() {
        let axes = names(&["t", "c", "z", "y", "x"]);
        let l = Layout::new(&axes, &[1, 1, 2, 3, 4]).unwrap();
        assert_eq!(l.channel(), None);
        assert!(!l.is_identity());
        assert_eq!(
            l.reorder(&[1.0, 1.0, 40.0, 8.0, 4.0], "scale").unwrap(),
            vec![40.0, 8.0, 4.0]
        );
        assert_eq!(
            l.stored_ranges(None, &[0..2, 0..3, 1..4]),
            vec![0..1, 0..1, 0..2, 0..3, 1..4]
        );
        let stored =
            ArrayD::from_shape_fn(IxDyn(&[1, 1, 2, 3, 4]), |i| i[2] * 100 + i[3] * 10 + i[4]);
        let served = l.to_served(stored);
        assert_eq!(served.shape(), &[2, 3, 4]);
        assert_eq!(served[[1, 2, 3]], 123);

        let l2 = Layout::new(&axes, &[1, 2, 2, 3, 4]).unwrap();
        assert_eq!(l2.channel(), Some(1));
        assert_eq!(
            l2.stored_ranges(Some(0..2), &[0..2, 0..3, 0..4]),
            vec![0..1, 0..2, 0..2, 0..3, 0..4]
        );
        // Four entries: the kept axes (c, z, y, x).
        assert_eq!(l2.reorder(&[1, 8, 4, 2], "vs").unwrap(), vec![8, 4, 2]);
        let served = l2.to_served(ArrayD::from_shape_fn(IxDyn(&[1, 2, 2, 3, 4]), |i| i[1]));
        assert_eq!(served.shape(), &[2, 2, 3, 4]);
    }

    #[test]
    fn channel_anywhere_and_two_d() {
        let l = Layout::new(&names(&["x", "y", "z", "c"]), &[4, 3, 2, 5]).unwrap();
        assert_eq!(l.channel(), Some(3));
        assert_eq!(
            l.stored_ranges(Some(0..5), &[0..2, 0..3, 0..4]),
            vec![0..4, 0..3, 0..2, 0..5]
        );
        let served = l.to_served(ArrayD::from_shape_fn(IxDyn(&[4, 3, 2, 5]), |i| {
            i[0] + 10 * i[1] + 100 * i[2] + 1000 * i[3]
        }));
        assert_eq!(served.shape(), &[5, 2, 3, 4]);
        assert_eq!(served[[4, 1, 2, 3]], 4123);
        let yx = Layout::new(&names(&["Y", "X"]), &[3, 4]).unwrap();
        assert!(yx.is_identity());
        assert_eq!(yx.spatial_dims(), 2);
        let xy = Layout::new(&names(&["x", "y"]), &[3, 4]).unwrap();
        assert_eq!(xy.spatial_of(&[3, 4]), vec![4, 3]);
        assert!(
            Layout::new(&names(&["c", "z", "y", "x"]), &[2, 3, 3, 3])
                .unwrap()
                .is_identity()
        );
        // A singleton channel is dropped.
        let c1 = Layout::new(&names(&["c", "z", "y", "x"]), &[1, 3, 3, 3]).unwrap();
        assert_eq!(c1.channel(), None);
        assert!(!c1.is_identity());
    }

    #[test]
    fn refusals_name_the_axes() {
        let e = Layout::new(&names(&["t", "c", "z", "y", "x"]), &[2, 1, 3, 3, 3]).unwrap_err();
        assert!(e.contains("\"t\"") && e.contains("2 time points"), "{e}");
        let e = Layout::new(&names(&["a", "c", "z", "y", "x"]), &[2, 3, 3, 3, 3]).unwrap_err();
        assert!(e.contains("\"a\"") && e.contains("\"c\""), "{e}");
        let e = Layout::new(&names(&["c", "t"]), &[3, 1]).unwrap_err();
        assert!(e.contains("no spatial axis"), "{e}");
        let e = Layout::new(&names(&["z", "y", "Z"]), &[3, 3, 3]).unwrap_err();
        assert!(e.contains("named twice"), "{e}");
        let six = names(&["a", "t", "c", "z", "y", "x"]);
        assert!(
            Layout::new(&six, &[1; 6])
                .unwrap_err()
                .contains("6 dimensions")
        );
        assert!(Layout::new(&names(&["z", "y"]), &[3, 3, 3]).is_err());
    }

    #[test]
    fn defaults() {
        assert_eq!(Layout::default_axes(1), names(&["x"]));
        assert_eq!(Layout::default_axes(3), names(&["z", "y", "x"]));
        assert_eq!(Layout::default_axes(4), names(&["c", "z", "y", "x"]));
        assert_eq!(Layout::default_axes(5).len(), 5);
    }
}
