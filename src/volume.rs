//! [`Volume`]: one typed n-d array (axes `c?,z,y,x`, C order) for every [`DType`],
//! with the `with_volume!` / `with_dtype!` macros that dispatch once to a generic body.

use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD, IxDyn, SliceInfoElem};

use crate::dtype::{CastInto, DType, Element};

/// [`crate::for_each_dtype!`]'s callback for this module: [`Volume`], its `From`
/// impls and [`VolumeElement`].
#[doc(hidden)]
#[macro_export]
macro_rules! __volume_items {
    (() $($variant:ident: $t:ident, $name:literal, $($_rest:tt),*;)*) => {
        /// A typed block of voxels; the first axis is `c` when the array has channels.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Volume {
            $(#[doc = concat!("`", $name, "`")] $variant(ArrayD<$t>),)*
        }

        $(
            impl From<ArrayD<$t>> for Volume {
                fn from(a: ArrayD<$t>) -> Self {
                    Volume::$variant(a)
                }
            }

            impl VolumeElement for $t {
                fn view_of(v: &Volume) -> Option<&ArrayD<Self>> {
                    match v {
                        Volume::$variant(a) => Some(a),
                        _ => None,
                    }
                }
                fn take_of(v: Volume) -> Result<ArrayD<Self>, Volume> {
                    match v {
                        Volume::$variant(a) => Ok(a),
                        other => Err(other),
                    }
                }
                fn wrap(a: ArrayD<Self>) -> Volume {
                    Volume::$variant(a)
                }
            }
        )*
    };
}

crate::for_each_dtype!(__volume_items);

/// Runs `$body` with `$a` bound to the concrete `ArrayD<T>` inside a [`Volume`]
/// (by value, reference or mutable reference, as `$vol` is given).
#[macro_export]
macro_rules! with_volume {
    ($vol:expr, $a:ident => $body:expr) => {
        $crate::for_each_dtype!(__dispatch(volume $vol, $a, $body))
    };
}

/// Runs `$body` with the type alias `$t` bound to the Rust type of a [`DType`].
#[macro_export]
macro_rules! with_dtype {
    ($dt:expr, $t:ident => $body:expr) => {
        $crate::for_each_dtype!(__dispatch(dtype $dt, $t, $body))
    };
}

/// The `match` of `with_volume!` and `with_dtype!`, one arm per dtype.
#[doc(hidden)]
#[macro_export]
macro_rules! __dispatch {
    ((volume $vol:expr, $a:ident, $body:expr) $($variant:ident: $($_rest:tt),*;)*) => {
        match $vol {
            $($crate::volume::Volume::$variant($a) => $body,)*
        }
    };
    ((dtype $dt:expr, $alias:ident, $body:expr) $($variant:ident: $t:ident, $($_rest:tt),*;)*) => {
        match $dt {
            $($crate::dtype::DType::$variant => {
                type $alias = $t;
                $body
            })*
        }
    };
}

/// Access to the concrete array of a [`Volume`] for one element type.
pub trait VolumeElement: Element {
    /// The array if `v` holds this type.
    fn view_of(v: &Volume) -> Option<&ArrayD<Self>>;
    /// The array if `v` holds this type, by value.
    fn take_of(v: Volume) -> Result<ArrayD<Self>, Volume>;
    /// Wraps an array of this type.
    fn wrap(a: ArrayD<Self>) -> Volume;
}

pub(crate) fn region(begin: &[usize], shape: &[usize]) -> Vec<SliceInfoElem> {
    begin
        .iter()
        .zip(shape)
        .map(|(&b, &s)| SliceInfoElem::from(b..b + s))
        .collect()
}

/// The offset of every row (last axis) of the block `at + shape` inside a C-order array of
/// shape `full`, in C order; nothing for an empty block. The block is checked by the caller.
pub(crate) fn row_starts(full: &[usize], at: &[usize], shape: &[usize]) -> Vec<usize> {
    let n = full.len();
    if n == 0 || shape.contains(&0) {
        return Vec::new();
    }
    let mut strides = vec![1usize; n];
    for d in (0..n - 1).rev() {
        strides[d] = strides[d + 1] * full[d + 1];
    }
    let rows = shape[..n - 1].iter().product();
    let mut starts = Vec::with_capacity(rows);
    // An odometer over the leading axes, with the offset `lead` kept in step.
    let mut idx = vec![0usize; n - 1];
    let mut lead: usize = at.iter().zip(&strides).map(|(a, s)| a * s).sum();
    for _ in 0..rows {
        starts.push(lead);
        for d in (0..n - 1).rev() {
            idx[d] += 1;
            lead += strides[d];
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
            lead -= shape[d] * strides[d];
        }
    }
    starts
}

/// The block `begin + shape` of a C-order array `src` of shape `full`, a row at a time.
fn crop_rows<T: Copy + Default>(
    src: &[T],
    full: &[usize],
    begin: &[usize],
    shape: &[usize],
) -> ArrayD<T> {
    let row = shape.last().copied().unwrap_or(0);
    let mut out = Vec::with_capacity(shape.iter().product());
    for at in row_starts(full, begin, shape) {
        out.extend_from_slice(&src[at..at + row]);
    }
    ArrayD::from_shape_vec(IxDyn(shape), out).unwrap_or_default()
}

/// A copy of `view` in C order, a row at a time (ndarray's `to_owned` of a strided
/// n-d view walks it element by element).
fn owned<T: Copy>(view: ArrayViewD<'_, T>) -> ArrayD<T> {
    if view.is_standard_layout() {
        return view.to_owned();
    }
    let mut out = Vec::with_capacity(view.len());
    for row in view.rows() {
        match row.as_slice() {
            Some(s) => out.extend_from_slice(s),
            None => out.extend(row.iter().copied()),
        }
    }
    match ArrayD::from_shape_vec(view.raw_dim(), out) {
        Ok(a) => a,
        Err(_) => view.to_owned(),
    }
}

impl Volume {
    /// Wraps a typed array.
    #[must_use]
    pub fn from_typed<T: VolumeElement>(a: ArrayD<T>) -> Volume {
        T::wrap(a)
    }

    /// A volume of `shape` filled with zeros (false for bool).
    #[must_use]
    pub fn zeros(dtype: DType, shape: &[usize]) -> Volume {
        with_dtype!(dtype, T => Volume::from(ArrayD::<T>::from_elem(IxDyn(shape), T::default())))
    }

    /// A volume of `shape` filled with `value`, parsed for `dtype`.
    ///
    /// # Errors
    /// When `value` is not a valid literal of `dtype`.
    pub fn full(dtype: DType, shape: &[usize], value: &str) -> Result<Volume, String> {
        with_dtype!(dtype, T => {
            let v = <T as Element>::parse(value)
                .ok_or_else(|| format!("fill value {value:?} is not a valid {dtype}"))?;
            Ok(Volume::from(ArrayD::<T>::from_elem(IxDyn(shape), v)))
        })
    }

    /// The element type.
    #[must_use]
    pub fn dtype(&self) -> DType {
        fn of<T: Element>(_: &ArrayD<T>) -> DType {
            T::DTYPE
        }
        with_volume!(self, a => of(a))
    }

    /// The shape, channel axis first when present.
    #[must_use]
    pub fn shape(&self) -> &[usize] {
        with_volume!(self, a => a.shape())
    }

    /// Number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        with_volume!(self, a => a.len())
    }

    /// True when the volume holds no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the data in bytes.
    #[must_use]
    pub fn nbytes(&self) -> usize {
        self.len() * self.dtype().size()
    }

    /// Converts every element to `dtype` (numpy `astype`: `as` casts, bool ⇔ 0/1).
    #[must_use]
    pub fn cast(&self, dtype: DType) -> Volume {
        if dtype == self.dtype() {
            return self.clone();
        }
        with_volume!(self, a => with_dtype!(dtype, U => Volume::from(a.mapv(CastInto::<U>::cast_into))))
    }

    /// Converts to `dtype`, reusing the allocation when it already has that type.
    #[must_use]
    pub fn into_dtype(self, dtype: DType) -> Volume {
        if dtype == self.dtype() {
            self
        } else {
            self.cast(dtype)
        }
    }

    /// The same elements in another shape of equal length (C order).
    ///
    /// # Errors
    /// When the lengths differ.
    pub fn reshaped(self, shape: &[usize]) -> Result<Volume, String> {
        with_volume!(self, a => a
            .into_shape_with_order(IxDyn(shape))
            .map(Volume::from)
            .map_err(|e| format!("cannot reshape to {shape:?}: {e}")))
    }

    /// Copies `src` into this volume with its first element at `at` (all axes).
    ///
    /// # Errors
    /// When the dtypes differ or `src` does not fit at `at`.
    pub fn paste(&mut self, src: &Volume, at: &[usize]) -> Result<(), String> {
        let zero = vec![0; at.len()];
        let shape = src.shape().to_vec();
        self.copy_region(src, &zero, at, &shape)
    }

    /// Copies the `shape` block at `src_at` of `src` to `dst_at` of this volume.
    ///
    /// # Errors
    /// When the dtypes differ or either block is out of range.
    pub fn copy_region(
        &mut self,
        src: &Volume,
        src_at: &[usize],
        dst_at: &[usize],
        shape: &[usize],
    ) -> Result<(), String> {
        let fits = |at: &[usize], own: &[usize]| {
            own.len() == shape.len()
                && at.len() == own.len()
                && (0..own.len()).all(|d| at[d] + shape[d] <= own[d])
        };
        if !fits(src_at, src.shape()) || !fits(dst_at, self.shape()) {
            return Err(format!(
                "cannot copy {shape:?} from {src_at:?} of {:?} to {dst_at:?} of {:?}",
                src.shape(),
                self.shape()
            ));
        }
        let (from, to) = (region(src_at, shape), region(dst_at, shape));
        let (src_dtype, dst_dtype) = (src.dtype(), self.dtype());
        let (src_shape, dst_shape) = (src.shape().to_vec(), self.shape().to_vec());
        with_volume!(self, d => match VolumeElement::view_of(src) {
            Some(s) => {
                let row = shape.last().copied().unwrap_or(0);
                match (s.as_slice(), d.as_slice_mut()) {
                    (Some(s), Some(d)) if !shape.is_empty() => {
                        let rows = row_starts(&src_shape, src_at, shape)
                            .into_iter()
                            .zip(row_starts(&dst_shape, dst_at, shape));
                        for (from, to) in rows {
                            d[to..to + row].copy_from_slice(&s[from..from + row]);
                        }
                    }
                    _ => d.slice_mut(to.as_slice()).assign(&s.slice(from.as_slice())),
                }
                Ok(())
            }
            None => Err(format!("cannot copy {src_dtype} into {dst_dtype}")),
        })
    }

    /// Checks that the block `[begin, begin + shape)` (all axes) lies inside the volume.
    ///
    /// # Errors
    /// When it does not (the message names both).
    pub fn check_region(&self, begin: &[usize], shape: &[usize]) -> Result<(), String> {
        let own = self.shape();
        let ok = begin.len() == own.len()
            && shape.len() == own.len()
            && (0..own.len()).all(|d| begin[d] + shape[d] <= own[d]);
        if ok {
            Ok(())
        } else {
            Err(format!(
                "region {begin:?}+{shape:?} is outside a volume of shape {own:?}"
            ))
        }
    }

    /// The volume itself, copied only when someone else still holds it.
    #[must_use]
    pub fn unshared(v: Arc<Volume>) -> Volume {
        Arc::try_unwrap(v).unwrap_or_else(|shared| (*shared).clone())
    }

    /// The sub-block `[begin, begin + shape)` (all axes) as a new volume.
    ///
    /// # Errors
    /// When the region is outside the volume.
    pub fn crop(&self, begin: &[usize], shape: &[usize]) -> Result<Volume, String> {
        let own = self.shape();
        self.check_region(begin, shape)?;
        let info = region(begin, shape);
        Ok(with_volume!(self, a => Volume::from(match a.as_slice() {
            Some(all) if !own.is_empty() => crop_rows(all, own, begin, shape),
            _ => owned(a.slice(info.as_slice())),
        })))
    }

    /// The elements as little-endian bytes in C order.
    #[must_use]
    pub fn to_le_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.nbytes());
        with_volume!(self, a => {
            match a.as_slice() {
                Some(s) => Element::extend_le_bytes(s, &mut out),
                None => Element::extend_le_bytes(&a.iter().copied().collect::<Vec<_>>(), &mut out),
            }
        });
        out
    }

    /// Builds a volume from little-endian C-order bytes.
    ///
    /// # Errors
    /// When the byte count does not match `shape` and `dtype`.
    pub fn from_le_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Result<Volume, String> {
        let want = shape.iter().product::<usize>() * dtype.size();
        if bytes.len() != want {
            return Err(format!(
                "expected {want} bytes for {dtype} {shape:?}, got {}",
                bytes.len()
            ));
        }
        with_dtype!(dtype, T => {
            let v = <T as Element>::from_le_bytes_vec(bytes);
            ArrayD::from_shape_vec(IxDyn(shape), v)
                .map(Volume::from)
                .map_err(|e| e.to_string())
        })
    }
}

/// A `fill=` value parsed for one dtype: the voxels of a ROI outside its array.
#[derive(Debug, Clone, PartialEq)]
pub struct Fill(Volume);

impl Fill {
    /// `text` as a value of `dtype`.
    ///
    /// # Errors
    /// When `text` is not a valid `dtype` value (the message names both).
    pub fn parse(dtype: DType, text: &str) -> Result<Self, String> {
        Volume::full(dtype, &[], text).map(Fill)
    }

    /// The value's dtype.
    #[must_use]
    pub fn dtype(&self) -> DType {
        self.0.dtype()
    }

    /// A volume of `shape` holding only the value.
    #[must_use]
    pub fn volume(&self, shape: &[usize]) -> Volume {
        with_volume!(&self.0, a => Volume::from(ArrayD::from_elem(
            IxDyn(shape),
            a.iter().next().copied().unwrap_or_default(),
        )))
    }

    /// The value as one canonical string (`1` and `1.0` are the same float).
    #[must_use]
    pub fn canonical(&self) -> String {
        with_volume!(&self.0, a => format!("{:?}", a.iter().next().copied().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn row_copies_equal_ndarray_slicing() {
        let src4 = Volume::from(
            ndarray::Array4::from_shape_fn((2, 5, 6, 7), |(c, z, y, x)| {
                u16::try_from(c * 1000 + z * 100 + y * 10 + x).unwrap()
            })
            .into_dyn(),
        );
        let (at, shape) = ([1, 1, 2, 3], [1, 3, 4, 2]);
        let want = with_volume!(&src4, a => {
            let info = region(&at, &shape);
            Volume::from(a.slice(info.as_slice()).to_owned())
        });
        assert_eq!(src4.crop(&at, &shape).unwrap(), want);
        let mut dst = Volume::zeros(DType::U16, &[2, 4, 5, 3]);
        dst.copy_region(&src4, &at, &[0, 1, 0, 1], &shape).unwrap();
        assert_eq!(dst.crop(&[0, 1, 0, 1], &shape).unwrap(), want);
        assert_eq!(
            dst.crop(&[1, 0, 0, 0], &[1, 4, 5, 3])
                .unwrap()
                .to_le_bytes(),
            vec![0; 120]
        );
    }

    #[test]
    fn paste_and_crop_round_trip() {
        let src = Volume::from(
            Array3::from_shape_fn((2, 3, 4), |(z, y, x)| (z * 100 + y * 10 + x) as u16).into_dyn(),
        );
        let mut dst = Volume::zeros(DType::U16, &[4, 5, 6]);
        dst.paste(&src, &[1, 2, 1]).unwrap();
        assert_eq!(dst.crop(&[1, 2, 1], &[2, 3, 4]).unwrap(), src);
        let Volume::U16(a) = &dst else { panic!() };
        assert_eq!(a[[2, 3, 2]], 111);
        assert_eq!(a[[0, 0, 0]], 0);
        assert!(dst.paste(&src, &[3, 0, 0]).is_err());
        assert!(dst.paste(&src.cast(DType::U8), &[0, 0, 0]).is_err());
    }

    #[test]
    fn bytes_round_trip_every_dtype() {
        for d in DType::ALL {
            let v = Volume::full(d, &[2, 3], "1").unwrap();
            let b = v.to_le_bytes();
            assert_eq!(b.len(), 6 * d.size());
            assert_eq!(Volume::from_le_bytes(d, &[2, 3], &b).unwrap(), v);
        }
        assert!(Volume::full(DType::U8, &[1], "300").is_err());
        assert!(Volume::from_le_bytes(DType::U16, &[2], &[0, 1, 2]).is_err());
    }

    #[test]
    fn cast_follows_astype() {
        let v = Volume::from(ndarray::arr1(&[0u8, 1, 255]).into_dyn());
        assert_eq!(
            v.cast(DType::Bool),
            Volume::from(ndarray::arr1(&[false, true, true]).into_dyn())
        );
        assert_eq!(
            v.cast(DType::I64),
            Volume::from(ndarray::arr1(&[0i64, 1, 255]).into_dyn())
        );
    }
}
