//! Zarr keys of an array's view: the node (the array, or level `sK`) and what the key
//! names there (metadata, v2 attributes, or a chunk's grid indices); [`ZarrKey`] is the
//! one extractor every zarr route parses its `{*key}` with.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::Version;
use crate::error::{Error, Result};
use crate::http::extract::segment;

/// A key type of a zarr route: which segment holds it and how a version reads it.
pub trait KeyKind: Sized {
    /// The route's catch-all segment (`key` in `{*key}`).
    const SEGMENT: &'static str;

    /// Parses the segment's value.
    ///
    /// # Errors
    /// 404 for a key the view does not have; 400 for a malformed chunk key.
    fn parse(version: Version, key: &str) -> Result<Self>;
}

/// A zarr route's catch-all segment parsed as `K` for Zarr v3 (`V3`) or v2.
#[derive(Debug)]
pub struct ZarrKey<K, const V3: bool>(pub K);

impl<S: Send + Sync, K: KeyKind, const V3: bool> FromRequestParts<S> for ZarrKey<K, V3> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let raw = segment(parts, state, K::SEGMENT).await?;
        K::parse(Version::of(V3), &raw).map(ZarrKey)
    }
}

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

/// A key of an array's view: the node and what the key names there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayKey {
    /// The array or one of its levels.
    pub node: Node,
    /// What the key names in that node.
    pub key: Key,
}

impl KeyKind for ArrayKey {
    const SEGMENT: &'static str = "key";

    fn parse(version: Version, key: &str) -> Result<Self> {
        parse_key(version, key)
    }
}

/// Parses `[sK/]rest` into node and key.
///
/// # Errors
/// 404 for a key the view does not have; 400 for a malformed chunk key.
pub fn parse_key(version: Version, key: &str) -> Result<ArrayKey> {
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
    Ok(ArrayKey { node, key: k })
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
        for (v, k, node, key) in [
            (Version::V3, "zarr.json", Node::Root, Key::Meta),
            (
                Version::V3,
                "c/0/1/2",
                Node::Root,
                Key::Chunk(vec![0, 1, 2]),
            ),
            (
                Version::V3,
                "s2/c/0/1/2",
                Node::Level(2),
                Key::Chunk(vec![0, 1, 2]),
            ),
            (Version::V3, "s0/zarr.json", Node::Root, Key::Meta),
            (Version::V2, "1.2.3", Node::Root, Key::Chunk(vec![1, 2, 3])),
            (Version::V2, ".zattrs", Node::Root, Key::Attrs),
        ] {
            assert_eq!(parse_key(v, k).unwrap(), ArrayKey { node, key }, "{k}");
        }
        for (v, k, bad_request) in [
            (Version::V3, "c/x/1/2", true),
            (Version::V2, "1.-2.3", true),
            (Version::V2, "1,2,3", true),
            (Version::V3, ".zarray", false),
            (Version::V2, "zarr.json", false),
        ] {
            let e = parse_key(v, k).unwrap_err();
            let want = if bad_request { 400 } else { 404 };
            assert_eq!(e.status().as_u16(), want, "{k}: {e}");
        }
    }

    #[test]
    fn chunk_keys_against_the_grid() {
        assert!(check_chunk(&[0, 1], &[4, 4], &[2, 2]).is_ok());
        for (idx, want) in [(&[0, 2][..], 404), (&[0][..], 400)] {
            let e = check_chunk(idx, &[4, 4], &[2, 2]).unwrap_err();
            assert_eq!(e.status().as_u16(), want, "{idx:?}: {e}");
        }
    }
}
