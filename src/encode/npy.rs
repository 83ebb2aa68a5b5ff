//! The `.npy` format (NEP 1), version 1.0 for writing; 1.0-3.0 for reading.

use ndarray::IxDyn;

use crate::dtype::DType;
use crate::volume::Volume;
use crate::with_volume;

const MAGIC: &[u8] = b"\x93NUMPY";

/// The `.npy` header for `dtype` and `shape` (C order), padded to 64 bytes.
#[must_use]
pub fn header(dtype: DType, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    let shape_txt = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_txt}, }}",
        dtype.npy_descr()
    );
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');
    let mut out = Vec::with_capacity(10 + dict.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&u16::try_from(dict.len()).unwrap_or(u16::MAX).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Encodes a volume as a complete `.npy` file.
#[must_use]
pub fn encode(volume: &Volume) -> Vec<u8> {
    let mut out = header(volume.dtype(), volume.shape());
    out.extend_from_slice(&volume.to_le_bytes());
    out
}

/// Decodes a `.npy` file (little-endian or byte-sized dtypes, C or Fortran order).
///
/// # Errors
/// A reason when the bytes are not a supported `.npy` file.
pub fn decode(bytes: &[u8]) -> Result<Volume, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a .npy file (bad magic)".into());
    }
    let (len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            usize::try_from(u32::from_le_bytes([
                bytes[8], bytes[9], bytes[10], bytes[11],
            ]))
            .map_err(|e| e.to_string())?,
            12,
        ),
        v => return Err(format!(".npy version {v} is not supported")),
    };
    let header = bytes
        .get(start..start + len)
        .ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(header).map_err(|_| "the .npy header is not text")?;
    let descr = dict_value(header, "descr").ok_or("the .npy header has no 'descr'")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let dtype = DType::from_npy_descr(descr).ok_or_else(|| {
        format!(".npy dtype {descr:?} is not supported (little-endian numeric or bool only)")
    })?;
    let fortran = dict_value(header, "fortran_order").is_some_and(|v| v.starts_with("True"));
    let shape_txt = dict_value(header, "shape").ok_or("the .npy header has no 'shape'")?;
    let inner = shape_txt
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("bad .npy shape")?;
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad .npy shape entry {s:?}"))
        })
        .collect::<Result<_, _>>()?;
    let data = &bytes[start + len..];
    if !fortran {
        return Volume::from_le_bytes(dtype, &shape, data);
    }
    let reversed: Vec<usize> = shape.iter().rev().copied().collect();
    let v = Volume::from_le_bytes(dtype, &reversed, data)?;
    Ok(
        with_volume!(v, a => Volume::from(a.reversed_axes().as_standard_layout().into_owned().into_shape_with_order(IxDyn(&shape)).map_err(|e| e.to_string())?)),
    )
}

/// The text after `'key':` in a Python dict literal, up to the next top-level comma.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pos = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = header[pos + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let mut depth = 0i32;
    for (i, ch) in rest.char_indices() {
        match ch {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    Some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn round_trip_and_header_alignment() {
        let v = Volume::from(
            Array3::from_shape_fn((2, 3, 4), |(z, y, x)| (z * 12 + y * 4 + x) as i16).into_dyn(),
        );
        let bytes = encode(&v);
        assert_eq!(header(DType::I16, &[2, 3, 4]).len() % 64, 0);
        assert_eq!(decode(&bytes).unwrap(), v);
        let one = Volume::zeros(DType::Bool, &[5]);
        assert_eq!(decode(&encode(&one)).unwrap(), one);
    }

    #[test]
    fn fortran_order_is_transposed() {
        // numpy: np.asfortranarray(np.arange(6, dtype='<u1').reshape(2, 3))
        let mut bytes = Vec::from(MAGIC);
        let dict = "{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3), }";
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&u16::try_from(dict.len()).unwrap().to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        bytes.extend_from_slice(&[0, 3, 1, 4, 2, 5]);
        let v = decode(&bytes).unwrap();
        assert_eq!(v.to_le_bytes(), vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(v.shape(), &[2, 3]);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode(b"hello").is_err());
        assert!(decode(b"\x93NUMPY\x01\x00\xff\x00{").is_err());
    }
}
