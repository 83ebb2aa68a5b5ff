//! Writing to `s3://` and `gs://` stores: every key is replaced by one object PUT, which
//! both clouds (and MinIO, Ceph) make visible all at once, so a reader or a crash sees
//! the old object or the new one, never a part. Plain HTTP stores stay read-only.

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use zarrs::storage::{
    OffsetBytesIterator, StorageError, StoreKey, StorePrefix, WritableStorageTraits,
    store_set_partial_many,
};

use super::RemoteStore;

impl RemoteStore {
    /// Why this store cannot be written, if it cannot (only object stores can).
    ///
    /// # Errors
    /// The reason, naming the schemes that can be written.
    pub fn check_writable(&self) -> Result<(), String> {
        if self.id.starts_with("s3://") || self.id.starts_with("gs://") {
            Ok(())
        } else {
            Err(format!(
                "{} is an HTTP store, which is read-only; write to s3:// or gs:// (or under --data-root)",
                self.id
            ))
        }
    }
}

impl WritableStorageTraits for RemoteStore {
    fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        let store = self.opened.store.clone();
        let path = self.path(key.as_str());
        self.call(
            key,
            async move { store.put(&path, PutPayload::from(value)).await },
            |_| 0,
        )
        .map(|_| ())
    }

    fn set_partial_many(
        &self,
        key: &StoreKey,
        offset_values: OffsetBytesIterator,
    ) -> Result<(), StorageError> {
        store_set_partial_many(self, key, offset_values)
    }

    fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        let store = self.opened.store.clone();
        let path = self.path(key.as_str());
        // A missing object is already erased.
        self.call(key, async move { store.delete(&path).await }, |()| 0)
            .map(|_| ())
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        let store = self.opened.store.clone();
        let under = self.path(prefix.as_str());
        self.call(
            prefix,
            async move {
                let listed: Vec<_> = store.list(Some(&under)).try_collect().await?;
                for meta in listed {
                    match store.delete(&meta.location).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            },
            |()| 0,
        )
        .map(|_| ())
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}
