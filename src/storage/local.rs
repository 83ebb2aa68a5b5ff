//! A zarr store over a directory beneath a [`DataRoot`]: every key is opened with the
//! root's confined open, so nothing outside the root is ever read.

use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use zarrs::storage::byte_range::{ByteRange, ByteRangeIterator};
use zarrs::storage::{
    MaybeBytes, MaybeBytesIterator, ReadableStorageTraits, StorageError, StoreKey,
};

use super::DataRoot;
use crate::metrics::Metrics;

/// Read-only store of the directory `prefix` beneath `root`.
#[derive(Debug)]
pub struct ConfinedStore {
    root: Arc<DataRoot>,
    prefix: PathBuf,
    metrics: Arc<Metrics>,
}

impl ConfinedStore {
    /// A store of `prefix` (relative, already checked) beneath `root`.
    #[must_use]
    pub fn new(root: Arc<DataRoot>, prefix: PathBuf, metrics: Arc<Metrics>) -> Self {
        Self {
            root,
            prefix,
            metrics,
        }
    }

    /// The root the store is confined to.
    #[must_use]
    pub fn root(&self) -> &DataRoot {
        &self.root
    }

    /// The store's directory, relative to the root.
    #[must_use]
    pub fn prefix(&self) -> &std::path::Path {
        &self.prefix
    }

    fn open(&self, key: &StoreKey) -> Result<Option<std::fs::File>, StorageError> {
        match self.root.open_file(&self.prefix.join(key.as_str())) {
            Ok(f) => Ok(Some(f)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(StorageError::Other(e.to_string())),
        }
    }

    fn counted(&self, bytes: Vec<u8>) -> Bytes {
        self.metrics
            .storage_read_bytes
            .inc_by(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
        Bytes::from(bytes)
    }
}

fn io_err(e: io::Error) -> StorageError {
    StorageError::IOError(Arc::new(e))
}

impl ReadableStorageTraits for ConfinedStore {
    fn get(&self, key: &StoreKey) -> Result<MaybeBytes, StorageError> {
        let Some(mut file) = self.open(key)? else {
            return Ok(None);
        };
        let mut buf = Vec::new();
        file.read_to_end(&mut buf).map_err(io_err)?;
        Ok(Some(self.counted(buf)))
    }

    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        let Some(file) = self.open(key)? else {
            return Ok(None);
        };
        let size = file.metadata().map_err(io_err)?.len();
        let mut out = Vec::new();
        for range in byte_ranges {
            let (start, end) = (range.start(size), range.end(size));
            if start > end || end > size {
                return Err(StorageError::Other(format!(
                    "byte range {range} is outside the {size}-byte object {key}"
                )));
            }
            let len =
                usize::try_from(end - start).map_err(|e| StorageError::Other(e.to_string()))?;
            let mut buf = vec![0; len];
            file.read_exact_at(&mut buf, start).map_err(io_err)?;
            out.push(Ok(self.counted(buf)));
        }
        Ok(Some(Box::new(out.into_iter())))
    }

    fn get_partial(
        &self,
        key: &StoreKey,
        byte_range: ByteRange,
    ) -> Result<MaybeBytes, StorageError> {
        let mut it = self.get_partial_many(key, Box::new([byte_range].into_iter()))?;
        it.as_mut().and_then(Iterator::next).transpose()
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        self.open(key)?
            .map(|f| f.metadata().map(|m| m.len()).map_err(io_err))
            .transpose()
    }

    fn supports_get_partial(&self) -> bool {
        true
    }
}
