//! N5 containers read as zarr v3 through `zarrs_n5`: metadata keys (`zarr.json`) are
//! converted from `attributes.json` by [`zarrs_n5::N5Store`]; block keys go straight to
//! the inner store, so partial reads keep working (`N5Store` refuses them).
//!
//! The array zarrs_n5 opens has its axes in N5 order (x,y,z): dimensions, block size
//! and the N5 attributes (`resolution`, `pixelResolution`, `offset`, `axes`) all list
//! x first, so the array is an `x,y,z` array for the zarr source's axis layout.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use zarrs::storage::byte_range::{ByteRange, ByteRangeIterator};
use zarrs::storage::{
    MaybeBytes, MaybeBytesIterator, ReadableStorageTraits, StorageError, StoreKey,
};
use zarrs_n5::N5Store;

use crate::array::zarr::layout::Layout;
use crate::array::zarr::metadata::FoundGeometry;

type Storage = dyn ReadableStorageTraits;

fn attributes(storage: &Storage, prefix: &str) -> Option<serde_json::Map<String, Value>> {
    let key = if prefix.is_empty() {
        "attributes.json".to_owned()
    } else {
        format!("{prefix}/attributes.json")
    };
    let bytes = storage.get(&StoreKey::new(key).ok()?).ok()??;
    serde_json::from_slice::<Value>(&bytes)
        .ok()?
        .as_object()
        .cloned()
}

/// Whether `dataset` in `storage` is N5: its `attributes.json` has `dimensions` and
/// `dataType`, or the container root's `attributes.json` has an `n5` version.
#[must_use]
pub fn is_n5(storage: &Storage, dataset: &str) -> bool {
    let dataset = dataset.trim_matches('/');
    let is_array = attributes(storage, dataset)
        .is_some_and(|a| a.contains_key("dimensions") && a.contains_key("dataType"));
    is_array || attributes(storage, "").is_some_and(|a| a.contains_key("n5"))
}

/// `inner` (an N5 container) presented as zarr v3.
#[must_use]
pub fn adapter(inner: Arc<Storage>) -> Arc<Storage> {
    Arc::new(N5Adapter {
        n5: N5Store::new(inner.clone()),
        inner,
    })
}

/// Axis names in the order zarrs_n5 presents the array (N5 order). Config `axes`, like
/// DaCapo's (zarr-python's N5 view), are in C order and get reversed; without axes in
/// config or attributes the N5 default is the reversed zarr default (`x,y,z`, `x,y,z,c`).
#[must_use]
pub fn stored_axes(
    is_n5: bool,
    config_axes: Option<&[String]>,
    found: &mut FoundGeometry,
    ndim: usize,
) -> Option<Vec<String>> {
    let config = config_axes.map(<[String]>::to_vec);
    if !is_n5 {
        return config;
    }
    if found.axes.is_none() {
        let mut default = Layout::default_axes(ndim);
        default.reverse();
        found.axes = Some(default);
    }
    config.map(|mut a| {
        a.reverse();
        a
    })
}

struct N5Adapter {
    inner: Arc<Storage>,
    n5: N5Store<Arc<Storage>>,
}

impl fmt::Debug for N5Adapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("N5Adapter").finish_non_exhaustive()
    }
}

fn is_metadata(key: &StoreKey) -> bool {
    key.as_str().rsplit('/').next() == Some("zarr.json")
}

impl ReadableStorageTraits for N5Adapter {
    fn get(&self, key: &StoreKey) -> Result<MaybeBytes, StorageError> {
        if is_metadata(key) {
            self.n5.get(key)
        } else {
            self.inner.get(key)
        }
    }

    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        if is_metadata(key) {
            self.n5.get_partial_many(key, byte_ranges)
        } else {
            self.inner.get_partial_many(key, byte_ranges)
        }
    }

    fn get_partial(
        &self,
        key: &StoreKey,
        byte_range: ByteRange,
    ) -> Result<MaybeBytes, StorageError> {
        if is_metadata(key) {
            self.n5.get_partial(key, byte_range)
        } else {
            self.inner.get_partial(key, byte_range)
        }
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        if is_metadata(key) {
            Ok(self.n5.get(key)?.map(|b| b.len() as u64))
        } else {
            self.inner.size_key(key)
        }
    }

    fn supports_get_partial(&self) -> bool {
        self.inner.supports_get_partial()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn n5_axes_are_n5_ordered() {
        let mut found = FoundGeometry::default();
        assert_eq!(stored_axes(true, None, &mut found, 4), None);
        assert_eq!(found.axes, Some(names(&["x", "y", "z", "c"])));
        let config = names(&["c", "z", "y", "x"]);
        assert_eq!(
            stored_axes(true, Some(&config), &mut found, 4),
            Some(names(&["x", "y", "z", "c"]))
        );
        let mut zarr = FoundGeometry::default();
        assert_eq!(
            stored_axes(false, Some(&config), &mut zarr, 4),
            Some(config)
        );
        assert_eq!(zarr.axes, None);
    }
}
