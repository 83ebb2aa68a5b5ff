//! Zarr keys of an array's view: the node (the array, or level `sK`) and what the key
//! names there (metadata, v2 attributes, or a chunk's grid indices).

use super::Version;
use crate::error::{Error, Result};

/// One node of an array's view: the array itself or a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// The array (also `s0`).
    Root,
    /// Level `k ≥ 1`.
    Level(usize),
}

/// What a key names inside a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// `zarr.json` / `.zarray`.
    Meta,
    /// `.zattrs` (v2 only).
    Attrs,
    /// A chunk's grid indices, all axes.
    Chunk(Vec<u64>),
}

/// Parses `[sK/]rest` into node and key.
///
/// # Errors
/// 404 for a key the view does not have; 400 for a malformed chunk key.
pub fn parse_key(version: Version, key: &str) -> Result<(Node, Key)> {
    let not_found = || Error::NotFound(format!("no zarr key {key:?} here"));
    let (node, rest) = match key.split_once('/') {
        Some((first, rest))
            if first.len() > 1
                && first.starts_with('s')
                && first[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            let k: usize = first[1..].parse().map_err(|_| not_found())?;
            (if k == 0 { Node::Root } else { Node::Level(k) }, rest)
        }
        _ => (Node::Root, key),
    };
    let leaf = version.parse_leaf(rest).ok_or_else(not_found)?;
    let k = match leaf {
        Leaf::Meta => Key::Meta,
        Leaf::Attrs => Key::Attrs,
        Leaf::Chunk(parts) => Key::Chunk(
            parts
                .iter()
                .map(|p| p.parse::<u64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| {
                    Error::BadRequest(format!(
                        "chunk key {key:?} must consist of non-negative integers"
                    ))
                })?,
        ),
        Leaf::BadChunk(form) => {
            return Err(Error::BadRequest(format!(
                "chunk key {key:?} must be {form}"
            )));
        }
    };
    Ok((node, k))
}

/// A key's last part as a version reads it.
#[derive(Debug)]
pub enum Leaf<'a> {
    /// The metadata document.
    Meta,
    /// The attributes document.
    Attrs,
    /// Chunk index parts (not yet numbers).
    Chunk(Vec<&'a str>),
    /// Looks like a chunk key but is not of the version's form (named).
    BadChunk(&'static str),
}

/// Checks a chunk key against a grid: 400 for the wrong arity, 404 outside.
///
/// # Errors
/// As above.
pub fn check_chunk(idx: &[u64], shape: &[u64], chunk: &[u64]) -> Result<()> {
    if idx.len() != shape.len() {
        return Err(Error::BadRequest(format!(
            "chunk key has {} indices; the array has {} axes",
            idx.len(),
            shape.len()
        )));
    }
    if (0..idx.len()).any(|d| idx[d] >= shape[d].div_ceil(chunk[d].max(1))) {
        return Err(Error::NotFound(format!(
            "chunk {idx:?} is outside the chunk grid"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let ok = |v, k| parse_key(v, k).unwrap();
        assert_eq!(ok(Version::V3, "zarr.json"), (Node::Root, Key::Meta));
        assert_eq!(
            ok(Version::V3, "c/0/1/2"),
            (Node::Root, Key::Chunk(vec![0, 1, 2]))
        );
        assert_eq!(
            ok(Version::V3, "s2/c/0/1/2"),
            (Node::Level(2), Key::Chunk(vec![0, 1, 2]))
        );
        assert_eq!(ok(Version::V3, "s0/zarr.json"), (Node::Root, Key::Meta));
        assert_eq!(
            ok(Version::V2, "1.2.3"),
            (Node::Root, Key::Chunk(vec![1, 2, 3]))
        );
        assert_eq!(ok(Version::V2, ".zattrs"), (Node::Root, Key::Attrs));
        assert!(matches!(
            parse_key(Version::V3, "c/x/1/2"),
            Err(Error::BadRequest(_))
        ));
        assert!(matches!(
            parse_key(Version::V2, "1.-2.3"),
            Err(Error::BadRequest(_))
        ));
        assert!(matches!(
            parse_key(Version::V3, ".zarray"),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            parse_key(Version::V2, "zarr.json"),
            Err(Error::NotFound(_))
        ));
        assert!(check_chunk(&[0, 1], &[4, 4], &[2, 2]).is_ok());
        assert!(matches!(
            check_chunk(&[0, 2], &[4, 4], &[2, 2]),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            check_chunk(&[0], &[4, 4], &[2, 2]),
            Err(Error::BadRequest(_))
        ));
    }
}
