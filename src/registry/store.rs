//! Durable registry state: one JSON file in the state dir, replaced atomically
//! (write to a temporary file, fsync, rename, fsync the directory), so a crash at any
//! point leaves either the old or the new registry, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;

/// One persisted config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredEntry {
    /// The registered name.
    pub name: String,
    /// The config as the client sent it.
    pub config: Value,
}

#[derive(Debug, Serialize, Deserialize)]
struct Document {
    version: u32,
    arrays: Vec<StoredEntry>,
}

/// The registry file in a state directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// A store in `dir` (created if missing).
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        // Temporary files of saves a crash interrupted: never the registry itself.
        for entry in fs::read_dir(dir)?.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".registry.json.")
                && name.ends_with(".tmp")
                && let Err(e) = fs::remove_file(entry.path())
            {
                tracing::warn!(file = %name, error = %e, "cannot remove a stale temporary file");
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn file(&self) -> PathBuf {
        self.dir.join("registry.json")
    }

    /// The persisted entries, in registration order (empty when nothing was saved).
    ///
    /// # Errors
    /// When the file exists but cannot be read or parsed.
    pub fn load(&self) -> Result<Vec<StoredEntry>, String> {
        let path = self.file();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let doc: Document = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is not a valid registry file: {e}", path.display()))?;
        Ok(doc.arrays)
    }

    /// Replaces the persisted entries; returns once the new file is durable.
    ///
    /// # Errors
    /// Any I/O failure (the previous file is then still in place).
    pub fn save(&self, entries: &[StoredEntry]) -> std::io::Result<()> {
        let doc = Document {
            version: 1,
            arrays: entries.to_vec(),
        };
        let body = serde_json::to_vec_pretty(&doc).map_err(std::io::Error::other)?;
        let tmp = self
            .dir
            .join(format!(".registry.json.{}.tmp", std::process::id()));
        let written = (|| {
            let mut options = OpenOptions::new();
            options.write(true).create(true).truncate(true);
            // Configs may hold upstream tokens: owner-only.
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            fs::rename(&tmp, self.file())
        })();
        if written.is_err() {
            // Best effort: a full disk must not also keep the partial copy.
            let _ = fs::remove_file(&tmp);
        }
        written?;
        File::open(&self.dir)?.sync_all()
    }
}

/// A failed save as the client sees it: nothing changed, and why.
fn persist_error(e: &std::io::Error) -> Error {
    use std::io::ErrorKind;
    let full = e.kind() == ErrorKind::StorageFull || e.kind() == ErrorKind::QuotaExceeded;
    let why = if full {
        "the state directory's disk is full"
    } else if matches!(
        e.kind(),
        ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied
    ) {
        "the state directory is not writable"
    } else {
        "the state directory cannot be written"
    };
    tracing::error!(error = %e, "persisting the registry failed");
    Error::Storage {
        full,
        detail: format!(
            "{why} ({e}); the change was not made. Retry once the operator has fixed --state-dir"
        ),
    }
}

pub(super) async fn persist(store: &Store, snap: &super::Snapshot) -> Result<(), Error> {
    let store = store.clone();
    let stored = snap.stored();
    tokio::task::spawn_blocking(move || store.save(&stored))
        .await
        .map_err(|e| Error::Internal(format!("persisting the registry panicked: {e}")))?
        .map_err(|e| persist_error(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn save_load_round_trip_and_no_temp_left() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.load().unwrap().is_empty());
        let entries = vec![StoredEntry {
            name: "a".into(),
            config: json!({"type": "dummy", "name": "a"}),
        }];
        store.save(&entries).unwrap();
        assert_eq!(store.load().unwrap(), entries);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["registry.json"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(store.file()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(store.file(), b"{torn").unwrap();
        assert!(store.load().is_err());
    }

    #[test]
    fn stale_temporary_files_are_removed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".registry.json.4242.tmp"), b"{partial").unwrap();
        fs::write(dir.path().join("other.tmp"), b"keep").unwrap();
        Store::open(dir.path()).unwrap();
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, vec!["other.tmp"]);
    }
}
