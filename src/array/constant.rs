//! `constant`: one value everywhere, shaped like the source (channels kept)
//! (`spec/arrays.md`). Output dtype: `dtype` if given, else bool for true/false, uint8
//! for an integer in 0..=255, int64 for other integers, float64 otherwise; metadata
//! and reads agree (deviation 8).
//!
//! ```
//! # use arrayd::array::config::{parse, TypedConfig};
//! let node = parse(&serde_json::json!({"type": "constant", "name": "c",
//!     "source_array_config": "labels", "constant": 7, "dtype": "uint64"})).unwrap();
//! assert!(matches!(node.typed, TypedConfig::Constant(_)));
//! ```

use async_trait::async_trait;
use ndarray::{ArrayD, IxDyn};
use serde::Deserialize;
use serde_json::Value;

use super::node::{Node, Resolved};
use super::resolve::{MetaParts, NodeCtx};
use super::{Array, ArrayRef, Metadata};
use crate::dtype::{CastInto, DType};
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::Roi;
use crate::volume::Volume;
use crate::{with_dtype, with_volume};

fn one() -> Value {
    Value::from(1)
}

/// Config fields of `constant`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstantConfig {
    /// The value (number or bool).
    #[serde(default = "one")]
    pub constant: Value,
    /// Output dtype (numpy name); inferred from the value when absent.
    #[serde(default)]
    pub dtype: Option<DType>,
}

/// A constant volume.
#[derive(Debug)]
pub struct Constant {
    meta: Metadata,
    source: ArrayRef,
    /// The value as a one-element volume of the output dtype.
    value: Volume,
}

/// The dtype numpy-style inference gives `value`.
fn inferred(value: &Value) -> Option<DType> {
    match value {
        Value::Bool(_) => Some(DType::Bool),
        Value::Number(n) if n.as_u64().is_some_and(|v| v <= 255) => Some(DType::U8),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(DType::I64),
        Value::Number(_) => Some(DType::F64),
        _ => None,
    }
}

/// `value` as a one-element volume of `dtype`.
fn scalar(value: &Value, dtype: DType) -> Result<Volume, String> {
    let text = match value {
        Value::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return Err("must be a number or true/false".into()),
    };
    if let Ok(v) = Volume::full(dtype, &[1], &text) {
        return Ok(v);
    }
    if dtype == DType::Bool {
        return Volume::full(
            dtype,
            &[1],
            if value.as_f64() == Some(0.0) {
                "0"
            } else {
                "1"
            },
        );
    }
    match value.as_f64() {
        Some(f) if f.fract() != 0.0 || dtype.kind() == crate::dtype::Kind::Float => Ok(
            with_dtype!(dtype, T => Volume::from(ArrayD::from_elem(IxDyn(&[1]), CastInto::<T>::cast_into(f)))),
        ),
        _ => Err(format!("{text} does not fit in {dtype}")),
    }
}

impl Node for Constant {
    type Config = ConstantConfig;
    type Sources = ArrayRef;

    /// Works out the output dtype and value.
    ///
    /// # Errors
    /// A non-numeric constant, or one that does not fit the given dtype.
    fn build(cfg: &Self::Config, source: Self::Sources, ctx: &NodeCtx<'_>) -> Resolved<Self> {
        let dtype = cfg
            .dtype
            .or_else(|| inferred(&cfg.constant))
            .ok_or_else(|| vec![ctx.problem("constant", "must be a number or true/false")])?;
        let value = scalar(&cfg.constant, dtype).map_err(|r| vec![ctx.problem("constant", r)])?;
        let m = source.meta();
        let meta = ctx.metadata(MetaParts {
            dtype,
            labels: m.labels && dtype.is_integer() && m.num_channels.is_none(),
            ..MetaParts::like(m)
        })?;
        Ok(Self {
            meta,
            source,
            value,
        })
    }
}

#[async_trait]
impl Array for Constant {
    wrapper_accessors!(source);

    async fn read(&self, roi: &Roi, _ctx: &ReadCtx) -> Result<Volume, EvalError> {
        let shape = self.meta.volume_shape(roi);
        Ok(with_volume!(&self.value, a => Volume::from(ArrayD::from_elem(IxDyn(&shape), a[0]))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dtype_rule() {
        assert_eq!(inferred(&json!(0)), Some(DType::U8));
        assert_eq!(inferred(&json!(255)), Some(DType::U8));
        assert_eq!(inferred(&json!(300)), Some(DType::I64));
        assert_eq!(inferred(&json!(-1)), Some(DType::I64));
        assert_eq!(inferred(&json!(0.5)), Some(DType::F64));
        assert_eq!(inferred(&json!(true)), Some(DType::Bool));
        assert!(scalar(&json!(300), DType::U8).is_err());
        assert_eq!(
            scalar(&json!(1.5), DType::U8).unwrap().to_le_bytes(),
            vec![1]
        );
        assert_eq!(
            scalar(&json!(true), DType::U64).unwrap().to_le_bytes(),
            1u64.to_le_bytes()
        );
    }
}
