//! Element types as numpy names them, numpy's promotion rules, and the sealed
//! [`Element`] bridge from a runtime [`DType`] to a compile-time Rust type.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The broad class of a dtype, for promotion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `bool`
    Bool,
    /// unsigned integers
    Unsigned,
    /// signed integers
    Signed,
    /// floating point
    Float,
}

/// The dtypes, stated once: variant, Rust type, numpy name, numpy type string
/// (little-endian), bytes per element and class. Calls `$crate::$callback!` with the
/// rows, after the tokens given in parentheses; [`DType`], [`Element`], the casts,
/// [`crate::volume::Volume`], `with_volume!` and `with_dtype!` are all built from it.
#[doc(hidden)]
#[macro_export]
macro_rules! for_each_dtype {
    ($callback:ident $(($($extra:tt)*))?) => {
        $crate::$callback! { ($($($extra)*)?)
            Bool: bool, "bool", "|b1", 1, Bool;
            U8: u8, "uint8", "|u1", 1, Unsigned;
            U16: u16, "uint16", "<u2", 2, Unsigned;
            U32: u32, "uint32", "<u4", 4, Unsigned;
            U64: u64, "uint64", "<u8", 8, Unsigned;
            I8: i8, "int8", "|i1", 1, Signed;
            I16: i16, "int16", "<i2", 2, Signed;
            I32: i32, "int32", "<i4", 4, Signed;
            I64: i64, "int64", "<i8", 8, Signed;
            F32: f32, "float32", "<f4", 4, Float;
            F64: f64, "float64", "<f8", 8, Float;
        }
    };
}

/// [`for_each_dtype!`]'s callback for this module: the enum, its tables, the casts and
/// the numeric [`Element`]s.
#[doc(hidden)]
#[macro_export]
macro_rules! __dtype_items {
    (() $($variant:ident: $t:ident, $name:literal, $descr:literal, $size:literal, $kind:ident;)*) => {
        /// The element types an array can hold (numpy spelling).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum DType {
            $(#[doc = concat!("`", $name, "`")] $variant,)*
        }

        impl DType {
            /// Every dtype, in a fixed order.
            pub const ALL: [DType; [$($name),*].len()] = [$(DType::$variant),*];

            /// numpy's name (`uint8`, `float32`, ...).
            #[must_use]
            pub fn name(self) -> &'static str {
                match self { $(DType::$variant => $name,)* }
            }

            /// Bytes per element.
            #[must_use]
            pub fn size(self) -> usize {
                match self { $(DType::$variant => $size,)* }
            }

            /// The dtype's class.
            #[must_use]
            pub fn kind(self) -> Kind {
                match self { $(DType::$variant => Kind::$kind,)* }
            }

            /// The numpy array-protocol type string, little-endian (`<u2`, `|b1`).
            #[must_use]
            pub fn npy_descr(self) -> &'static str {
                match self { $(DType::$variant => $descr,)* }
            }
        }

        /// Every [`CastInto`] an [`Element`] has.
        pub trait CastAll: Copy $(+ CastInto<$t>)* {}
        impl<T: Copy $(+ CastInto<$t>)*> CastAll for T {}

        numeric!(@collect [] $($t $variant),*);
    };
}

/// Splits the numeric rows from `bool`, then implements their casts and [`Element`].
macro_rules! numeric {
    (@collect [$($num:ident $v:ident),*]) => {
        numeric!(@pairs [$($num),*] $($num),*);
        $( impl_element!($num => $v); )*
    };
    (@collect [$($num:ident $v:ident),*] bool Bool $(, $t:ident $tv:ident)*) => {
        numeric!(@collect [$($num $v),*] $($t $tv),*);
    };
    (@collect [$($num:ident $v:ident),*] $n:ident $nv:ident $(, $t:ident $tv:ident)*) => {
        numeric!(@collect [$($num $v,)* $n $nv] $($t $tv),*);
    };
    (@pairs $tos:tt $($from:ident),*) => {
        $( numeric!(@one $from $tos); )*
    };
    (@one $from:ident [$($to:ident),*]) => {
        $(
            impl CastInto<$to> for $from {
                #[inline]
                #[allow(clippy::cast_lossless, clippy::cast_possible_truncation, clippy::cast_sign_loss,
                        clippy::cast_precision_loss, clippy::cast_possible_wrap, trivial_numeric_casts,
                        clippy::unnecessary_cast)]
                fn cast_into(self) -> $to { self as $to }
            }
        )*
        impl CastInto<bool> for $from {
            #[inline]
            #[allow(clippy::float_cmp)]
            fn cast_into(self) -> bool { self != <$from>::default() }
        }
        impl CastInto<$from> for bool {
            #[inline]
            fn cast_into(self) -> $from { u8::from(self) as $from }
        }
    };
}
impl DType {
    /// True for signed and unsigned integers (not bool).
    #[must_use]
    pub fn is_integer(self) -> bool {
        matches!(self.kind(), Kind::Unsigned | Kind::Signed)
    }

    /// Parses a numpy type string (`<u2`, `|b1`, `u1`); big-endian is refused.
    #[must_use]
    pub fn from_npy_descr(descr: &str) -> Option<DType> {
        let body = descr.strip_prefix(['<', '|', '=']).unwrap_or(descr);
        DType::ALL.into_iter().find(|d| &d.npy_descr()[1..] == body)
    }

    /// numpy's `result_type` for two array dtypes.
    #[must_use]
    pub fn promote(a: DType, b: DType) -> DType {
        use Kind::{Bool, Float, Signed, Unsigned};
        let (sa, sb) = (a.size(), b.size());
        match (a.kind(), b.kind()) {
            (Bool, _) => b,
            (_, Bool) => a,
            (Unsigned, Unsigned) | (Signed, Signed) | (Float, Float) => {
                if sa >= sb {
                    a
                } else {
                    b
                }
            }
            (Unsigned, Signed) => signed_for(sa, sb),
            (Signed, Unsigned) => signed_for(sb, sa),
            (Float, _) => float_for(a, sb),
            (_, Float) => float_for(b, sa),
        }
    }

    /// `promote` folded over a list (`None` for an empty list).
    #[must_use]
    pub fn promote_all(dtypes: impl IntoIterator<Item = DType>) -> Option<DType> {
        dtypes.into_iter().reduce(DType::promote)
    }

    /// The dtype numpy's `sum` accumulates in: unsigned → uint64, signed/bool → int64,
    /// floats unchanged.
    #[must_use]
    pub fn sum_dtype(self) -> DType {
        match self.kind() {
            Kind::Unsigned => DType::U64,
            Kind::Signed | Kind::Bool => DType::I64,
            Kind::Float => self,
        }
    }
}

fn signed_for(unsigned_size: usize, signed_size: usize) -> DType {
    if signed_size > unsigned_size {
        return int_of(signed_size);
    }
    match unsigned_size {
        1 => DType::I16,
        2 => DType::I32,
        4 => DType::I64,
        _ => DType::F64,
    }
}

fn int_of(size: usize) -> DType {
    match size {
        1 => DType::I8,
        2 => DType::I16,
        4 => DType::I32,
        _ => DType::I64,
    }
}

fn float_for(float: DType, int_size: usize) -> DType {
    if float == DType::F64 || int_size >= 4 {
        DType::F64
    } else {
        DType::F32
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        DType::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = DType::ALL.iter().map(|d| d.name()).collect();
                format!("unknown dtype {s:?}; expected one of {}", names.join(", "))
            })
    }
}

impl Serialize for DType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for DType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Lossy numeric conversion between element types with `as` semantics (bool ⇔ 0/1).
pub trait CastInto<U>: Copy {
    /// Converts one element.
    fn cast_into(self) -> U;
}

impl CastInto<bool> for bool {
    #[inline]
    fn cast_into(self) -> bool {
        self
    }
}

/// A Rust type that is one of the [`DType`]s.
pub trait Element:
    sealed::Sealed
    + Copy
    + Send
    + Sync
    + Default
    + PartialEq
    + PartialOrd
    + fmt::Debug
    + 'static
    + CastAll
{
    /// The runtime dtype of this type.
    const DTYPE: DType;
    /// Parses a value of this type (`true`/`false`/`0`/`1` for bool).
    fn parse(s: &str) -> Option<Self>;
    /// Appends the little-endian bytes of `values` to `out`.
    fn extend_le_bytes(values: &[Self], out: &mut Vec<u8>);
    /// Decodes little-endian bytes (length must be a multiple of the size).
    fn from_le_bytes_vec(bytes: &[u8]) -> Vec<Self>;
}

/// A numeric [`Element`].
macro_rules! impl_element {
    ($($t:ty => $d:ident),*) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            fn parse(s: &str) -> Option<Self> {
                s.trim().parse().ok()
            }
            fn extend_le_bytes(values: &[Self], out: &mut Vec<u8>) {
                // Fixed-size copies into place: on little-endian targets a plain memcpy.
                const N: usize = std::mem::size_of::<$t>();
                let start = out.len();
                out.resize(start + values.len() * N, 0);
                for (dst, v) in out[start..].chunks_exact_mut(N).zip(values) {
                    dst.copy_from_slice(&v.to_le_bytes());
                }
            }
            fn from_le_bytes_vec(bytes: &[u8]) -> Vec<Self> {
                bytes
                    .chunks_exact(std::mem::size_of::<$t>())
                    .map(|c| {
                        let mut a = [0u8; std::mem::size_of::<$t>()];
                        a.copy_from_slice(c);
                        <$t>::from_le_bytes(a)
                    })
                    .collect()
            }
        }
    )*};
}
crate::for_each_dtype!(__dtype_items);

impl sealed::Sealed for bool {}
impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "true" | "True" | "1" => Some(true),
            "false" | "False" | "0" => Some(false),
            _ => None,
        }
    }
    fn extend_le_bytes(values: &[Self], out: &mut Vec<u8>) {
        out.extend(values.iter().map(|&b| u8::from(b)));
    }
    fn from_le_bytes_vec(bytes: &[u8]) -> Vec<Self> {
        bytes.iter().map(|&b| b != 0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_promotion_table() {
        // a, b, np.result_type(a, b): values checked against numpy 1.26.
        const CASES: &str = "
            uint8   uint8    uint8
            uint8   int8     int16
            uint16  int8     int32
            uint32  int32    int64
            uint64  int64    float64
            uint8   int32    int32
            bool    uint8    uint8
            bool    bool     bool
            uint8   float32  float32
            int16   float32  float32
            int32   float32  float64
            uint64  float32  float64
            float32 float64  float64";
        for line in CASES.trim().lines() {
            let [a, b, want]: [DType; 3] = line
                .split_whitespace()
                .map(|n| n.parse().unwrap())
                .collect::<Vec<_>>()
                .try_into()
                .unwrap();
            assert_eq!(DType::promote(a, b), want, "{a} + {b}");
            assert_eq!(DType::promote(b, a), want, "{b} + {a}");
        }
    }

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(d.name().parse::<DType>(), Ok(d));
            assert_eq!(DType::from_npy_descr(d.npy_descr()), Some(d));
        }
        assert_eq!(DType::from_npy_descr(">u2"), None);
        assert!("uint128".parse::<DType>().is_err());
    }

    #[test]
    fn casts_follow_numpy_astype_for_safe_values() {
        assert_eq!(CastInto::<u8>::cast_into(true), 1);
        assert!(CastInto::<bool>::cast_into(0.5f32));
        assert!(!CastInto::<bool>::cast_into(0u64));
        assert_eq!(
            CastInto::<f64>::cast_into(u64::MAX >> 12),
            (u64::MAX >> 12) as f64
        );
    }
}
