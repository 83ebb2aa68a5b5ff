//! Writable arrays (`spec/api.md`, "Writes"): zarr arrays created by a config's `create`
//! or opened with `"writable": true`, written ROI by ROI through
//! `PUT /v1/arrays/{name}/roi`. A write is acknowledged only once every chunk it
//! touched is durable; then the chunks' [`generations`] move on, so no cached chunk of
//! the array, of a chain over it or of a level computed from it is served again, and
//! the stored levels of the array are recomputed over the written region ([`pyramid`]).

pub mod chunks;
pub mod container;
pub mod create;
pub mod generations;
pub mod peers;
pub mod pyramid;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use serde_json::{Map, Value, json};
use zarrs::array::{Array as ZArray, ArrayMetadata};
use zarrs::storage::{
    ReadableStorageTraits, ReadableWritableStorageTraits, StoreKey, WritableStorageTraits,
};

use self::chunks::{ChunkLocks, parts, store_part};
pub use self::container::Container;
use self::generations::Generations;
use self::peers::Announcer;
use crate::array::Metadata;
use crate::array::resolve::ResolveEnv;
use crate::error::Error;
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::{Coord, Roi};
use crate::metrics::Metrics;
use crate::volume::Volume;

/// What one acknowledged write did.
#[derive(Debug, Clone, Serialize)]
pub struct WriteReport {
    /// Stored chunks replaced.
    pub chunks: usize,
    /// Bytes of voxels those chunks hold.
    pub bytes: u64,
    /// The written chunks' new generation.
    pub generation: u64,
}

/// A stored zarr array open for writing.
pub struct Writable {
    array: ZArray<dyn ReadableWritableStorageTraits>,
    generations: Generations,
    locks: ChunkLocks,
    /// World coordinate of stored voxel 0.
    origin: Coord,
    voxel_size: Coord,
    channels: Option<usize>,
    metrics: Arc<Metrics>,
    /// The container's store and the array's path in it (for attribute updates).
    store: Arc<dyn ReadableWritableStorageTraits>,
    path: String,
    /// Serializes attribute updates.
    attrs: Mutex<()>,
    /// Its key in the write table (container and path), as announced to other replicas.
    key: String,
    announcer: Arc<Announcer>,
}

impl std::fmt::Debug for Writable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writable")
            .field("path", &self.array.path().as_str())
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// The arrays open for writing, by location: every config naming the same stored array
/// shares its generations and locks.
#[derive(Debug, Default)]
pub struct WriteTable {
    open: Mutex<HashMap<String, Weak<Writable>>>,
    announcer: Arc<Announcer>,
}

impl WriteTable {
    /// Where this replica announces its writes and hears of the others'.
    #[must_use]
    pub fn announcer(&self) -> &Announcer {
        &self.announcer
    }

    fn get(&self, key: &str) -> Option<Arc<Writable>> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(key).and_then(Weak::upgrade)
    }

    /// Applies another replica's write notice ([`peers`]).
    pub fn receive(&self, notice: &str) {
        self.announcer.receive(notice, |key| self.get(key));
    }

    /// Notices may have been missed: every chunk of every open array moves on.
    pub fn missed_some(&self) {
        let open: Vec<Arc<Writable>> = {
            let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            open.values().filter_map(Weak::upgrade).collect()
        };
        for w in open {
            w.generations.bump_all();
        }
    }

    /// The writer of `dataset` (described by `stored`) in the container `file_name`,
    /// opened once. Sends nothing to storage.
    ///
    /// # Errors
    /// Why the array cannot be written (demo data, an HTTP store, not allowed).
    pub fn open(
        &self,
        env: &ResolveEnv,
        file_name: &str,
        dataset: &str,
        stored: &ArrayMetadata,
        meta: &Metadata,
        origin: &Coord,
    ) -> Result<Arc<Writable>, String> {
        let container = Container::open(env, file_name, false)?;
        let path = dataset.trim_matches('/').to_owned();
        let key = format!("{}/{path}", container.id);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = open.get(&key).and_then(Weak::upgrade) {
            return Ok(w);
        }
        let array =
            ZArray::new_with_metadata(container.store.clone(), &format!("/{path}"), stored.clone())
                .map_err(|e| format!("cannot open {dataset:?} for writing: {e}"))?;
        let w = Arc::new(Writable {
            array,
            generations: Generations::new(meta.grid.clone()),
            locks: ChunkLocks::default(),
            origin: origin.clone(),
            voxel_size: meta.voxel_size.clone(),
            channels: meta.num_channels,
            metrics: env.metrics.clone(),
            store: container.store,
            path,
            attrs: Mutex::new(()),
            key: key.clone(),
            announcer: self.announcer.clone(),
        });
        open.retain(|_, w| w.strong_count() > 0);
        open.insert(key, Arc::downgrade(&w));
        Ok(w)
    }
}

impl Writable {
    /// Merges `patch` into the stored attributes (a `null` removes a key), replacing the
    /// metadata document atomically; the merged attributes. Blocking I/O: call it off
    /// the async runtime.
    ///
    /// # Errors
    /// When the document cannot be read or replaced.
    pub fn merge_attrs(&self, patch: Map<String, Value>) -> Result<Map<String, Value>, Error> {
        let _one = self.attrs.lock().unwrap_or_else(|p| p.into_inner());
        let v3 = matches!(self.array.metadata(), ArrayMetadata::V3(_));
        let name = if v3 { "zarr.json" } else { ".zattrs" };
        let key = StoreKey::new(format!("{}/{name}", self.path))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let failed = |e: &dyn std::fmt::Display| Error::Internal(format!("updating {key}: {e}"));
        let mut doc: Value = match self.store.get(&key).map_err(|e| failed(&e))? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| failed(&e))?,
            None => json!({}),
        };
        let attrs = if v3 { &mut doc["attributes"] } else { &mut doc };
        let mut merged = attrs.as_object().cloned().unwrap_or_default();
        for (k, v) in patch {
            if v.is_null() {
                merged.shift_remove(&k);
            } else {
                merged.insert(k, v);
            }
        }
        *attrs = Value::Object(merged.clone());
        self.store
            .set(&key, doc.to_string().into())
            .map_err(|e| failed(&e))?;
        Ok(merged)
    }

    /// Another replica wrote `roi` (world units): the chunks under it move on.
    fn written_elsewhere(&self, roi: &Roi) {
        self.generations.bump_roi(roi);
    }

    /// A stored index (`c?,z,y,x`, channel 0) from spatial indices.
    fn stored_index(&self, spatial: &Coord) -> Vec<u64> {
        self.channels
            .map(|_| 0)
            .into_iter()
            .chain(spatial.iter().map(|&i| u64::try_from(i).unwrap_or(0)))
            .collect()
    }

    /// Is the stored chunk of grid cell `cell` (the grid's spatial indices) present?
    /// Blocking I/O: call it off the async runtime.
    ///
    /// # Errors
    /// When the store cannot be asked.
    pub fn has_chunk(&self, cell: &Coord) -> Result<bool, Error> {
        let key = self.array.chunk_key(&self.stored_index(cell));
        self.store
            .size_key(&key)
            .map(|s| s.is_some())
            .map_err(|e| Error::Internal(format!("asking for {key}: {e}")))
    }

    /// The generation of the data in `roi` (world units).
    #[must_use]
    pub fn generation(&self, roi: &Roi) -> u64 {
        self.generations.of(roi)
    }

    /// Writes `data` (the array's dtype, the ROI's shape) at `roi` (world units, on the
    /// voxel grid, inside the array; checked by the caller). Returns once every touched
    /// chunk is durable and its generation has moved on, here and (announced) on the
    /// other replicas.
    ///
    /// # Errors
    /// Storage or codec failures; chunks written before a failure stay written.
    pub async fn write(
        self: &Arc<Self>,
        roi: &Roi,
        data: Arc<Volume>,
        ctx: &ReadCtx,
    ) -> Result<WriteReport, EvalError> {
        let start = Instant::now();
        let begin = self.stored_index(&(&(&roi.offset - &self.origin) / &self.voxel_size));
        let shape: Vec<u64> = data.shape().iter().map(|&s| s as u64).collect();
        let zeros = vec![0; begin.len()];
        let chunk: Vec<u64> = self
            .array
            .chunk_shape(&zeros)
            .map_err(|e| EvalError::Internal(e.to_string()))?
            .iter()
            .map(|n| n.get())
            .collect();
        let todo = parts(&begin, &shape, self.array.shape(), &chunk);
        let count = todo.len();
        let bytes: u64 = stream::iter(todo)
            .map(|part| {
                let (w, data) = (self.clone(), data.clone());
                ctx.compute(move || store_part(&w.array, &w.locks, &w.metrics, &data, &part))
            })
            .buffer_unordered(ctx.fanout.max(1))
            .try_fold(0, |acc, b| async move { Ok(acc + b) })
            .await?;
        let generation = self.generations.bump_roi(roi);
        self.announcer.announce(&self.key, roi).await;
        let m = &self.metrics;
        m.write_bytes.inc_by(bytes);
        m.write_chunks.inc_by(count as u64);
        m.write_seconds.observe(start.elapsed().as_secs_f64());
        Ok(WriteReport {
            chunks: count,
            bytes,
            generation,
        })
    }
}
