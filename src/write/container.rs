//! A container (the root of a zarr hierarchy) open for writing: a directory under the
//! data root or an allowed object-store prefix, and the JSON documents and groups
//! `create` puts in it. Blocking I/O: call these off the async runtime.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use zarrs::storage::{ReadableWritableStorageTraits, StoreKey, StorePrefix};

use crate::array::resolve::{DEMO_PREFIX, ResolveEnv};
use crate::error::Error;
use crate::storage::remote::is_url;

/// A container (the root of a zarr hierarchy) open for writing.
pub struct Container {
    /// Its store; keys are relative to the container.
    pub store: Arc<dyn ReadableWritableStorageTraits>,
    /// Where it is (a path or a URL), for the write table and messages.
    pub id: String,
}

impl std::fmt::Debug for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Container")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Container {
    /// The container `file_name` names: a directory under the data root (created when
    /// `make`) or an `s3://`/`gs://` URL under an `--allow-remote` prefix.
    ///
    /// # Errors
    /// Why it cannot be written: demo data, an HTTP store, a path or URL not allowed.
    pub fn open(env: &ResolveEnv, file_name: &str, make: bool) -> Result<Self, String> {
        if file_name.starts_with(DEMO_PREFIX) {
            return Err("the --demo data is read-only".into());
        }
        if is_url(file_name) {
            let store = env.remotes.open(file_name)?;
            store.check_writable()?;
            return Ok(Self {
                store: Arc::new(store),
                id: file_name.trim_end_matches('/').to_owned(),
            });
        }
        if make {
            let (root, rel) = env.locate(file_name)?;
            root.create_dirs(&rel)
                .map_err(|e| format!("cannot create {file_name} under the data root: {e}"))?;
        }
        let store = env.local_store(file_name)?;
        Ok(Self {
            id: format!(
                "{}/{}",
                store.root().path().display(),
                store.prefix().display()
            ),
            store: Arc::new(store),
        })
    }
}

/// A container's store (keys relative to the container).
pub type Store = dyn ReadableWritableStorageTraits;

/// `a/b`, or `b` in the container itself.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

fn store_key(path: &str) -> Result<StoreKey, Error> {
    StoreKey::new(path).map_err(|e| Error::Internal(format!("{path}: {e}")))
}

fn read_json(store: &Store, path: &str) -> Result<Option<Value>, Error> {
    let bytes = store
        .get(&store_key(path)?)
        .map_err(|e| Error::Internal(format!("reading {path}: {e}")))?;
    Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
}

pub fn write_json(store: &Store, path: &str, value: &Value) -> Result<(), Error> {
    store
        .set(&store_key(path)?, value.to_string().into())
        .map_err(|e| Error::Internal(format!("writing {path}: {e}")))
}

/// Does the container hold an array at `dataset`?
///
/// # Errors
/// When the store cannot be read.
pub fn exists(store: &Store, dataset: &str) -> Result<bool, Error> {
    for name in [".zarray", "zarr.json"] {
        let key = store_key(&join(dataset, name))?;
        let found = store
            .size_key(&key)
            .map_err(|e| Error::Internal(format!("reading {key}: {e}")))?;
        if found.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Removes everything under `dir` in the container.
///
/// # Errors
/// When the store refuses.
pub fn remove(store: &Store, dir: &str) -> Result<(), Error> {
    let prefix = StorePrefix::new(format!("{}/", dir.trim_matches('/')))
        .map_err(|e| Error::Internal(format!("{dir}: {e}")))?;
    store
        .erase_prefix(&prefix)
        .map_err(|e| Error::Internal(format!("removing {dir}: {e}")))
}

/// Makes `dir` a group (keeping its attributes), merging `attrs` into them.
pub fn ensure_group(
    store: &Store,
    dir: &str,
    v3: bool,
    attrs: Map<String, Value>,
) -> Result<(), Error> {
    let meta_name = if v3 { "zarr.json" } else { ".zattrs" };
    let mut doc = read_json(store, &join(dir, meta_name))?.unwrap_or_else(|| json!({}));
    if v3 {
        if doc.get("node_type").and_then(Value::as_str) == Some("array") {
            return Err(Error::Conflict(format!("{dir:?} is an array, not a group")));
        }
        doc["zarr_format"] = json!(3);
        doc["node_type"] = json!("group");
        let own = doc["attributes"].as_object().cloned().unwrap_or_default();
        doc["attributes"] = Value::Object(own.into_iter().chain(attrs).collect());
    } else {
        write_json(store, &join(dir, ".zgroup"), &json!({"zarr_format": 2}))?;
        let own = doc.as_object().cloned().unwrap_or_default();
        doc = Value::Object(own.into_iter().chain(attrs).collect());
    }
    write_json(store, &join(dir, meta_name), &doc)
}
