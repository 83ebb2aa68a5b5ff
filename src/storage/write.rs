//! Writing beneath a [`DataRoot`]: directories are created and files replaced only
//! through descriptors opened beneath the root, and every file is replaced atomically
//! (a temporary file in the same directory, `fsync`, `rename`, `fsync` of the
//! directory), so a crash leaves the old file or the new one, never a torn one.

use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use rustix::fs::{AtFlags, Mode, OFlags};
use zarrs::storage::{
    OffsetBytesIterator, StorageError, StoreKey, StorePrefix, WritableStorageTraits,
};

use super::DataRoot;
use super::local::ConfinedStore;

/// Distinguishes temporary files of concurrent writers in one process.
static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

fn split(rel: &Path) -> io::Result<(&Path, &std::ffi::OsStr)> {
    match (rel.parent(), rel.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, name)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", rel.display()),
        )),
    }
}

impl DataRoot {
    /// Opens (creating what is missing) the directory `rel` beneath the root.
    ///
    /// # Errors
    /// I/O errors, or `PermissionDenied` when a component leads outside the root.
    pub fn create_dirs(&self, rel: &Path) -> io::Result<OwnedFd> {
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY;
        let mut at = std::path::PathBuf::new();
        let mut fd = self.open_beneath(Path::new("."), dir_flags)?;
        for comp in rel.components() {
            let Component::Normal(name) = comp else {
                continue;
            };
            at.push(name);
            fd = match self.open_beneath(&at, dir_flags) {
                Ok(fd) => fd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    match rustix::fs::mkdirat(&fd, name, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    self.open_beneath(&at, dir_flags)?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(fd)
    }

    /// Replaces the file `rel` with `bytes`, atomically and durably.
    ///
    /// # Errors
    /// As [`DataRoot::create_dirs`], or a failed write, sync or rename.
    pub fn replace_file(&self, rel: &Path, bytes: &[u8]) -> io::Result<()> {
        let (parent, name) = split(rel)?;
        let dir = self.create_dirs(parent)?;
        let seq = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let temp = format!(
            ".{}.{}-{seq}.tmp",
            name.to_string_lossy(),
            std::process::id()
        );
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&dir, temp.as_str(), flags, Mode::from_raw_mode(0o644))?;
        let mut file = std::fs::File::from(fd);
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        if let Err(e) = written {
            let _ = rustix::fs::unlinkat(&dir, temp.as_str(), AtFlags::empty());
            return Err(e);
        }
        drop(file);
        if let Err(e) = rustix::fs::renameat(&dir, temp.as_str(), &dir, name) {
            let _ = rustix::fs::unlinkat(&dir, temp.as_str(), AtFlags::empty());
            return Err(e.into());
        }
        rustix::fs::fsync(&dir)?;
        Ok(())
    }

    /// Removes the file `rel`; a missing file is not an error.
    ///
    /// # Errors
    /// I/O errors, or `PermissionDenied` when the path leads outside the root.
    pub fn remove_file(&self, rel: &Path) -> io::Result<()> {
        let (parent, name) = split(rel)?;
        let dir = match self.open_beneath(parent, OFlags::RDONLY | OFlags::DIRECTORY) {
            Ok(dir) => dir,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => rustix::fs::fsync(&dir).map_err(Into::into),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the directory `rel` and everything in it (symlinks inside are removed,
    /// never followed); a missing directory is not an error.
    ///
    /// # Errors
    /// I/O errors, or `PermissionDenied` when the path leads outside the root.
    pub fn remove_tree(&self, rel: &Path) -> io::Result<()> {
        match self.check_dir(rel) {
            Ok(()) => std::fs::remove_dir_all(self.path().join(rel)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn storage_err(e: io::Error) -> StorageError {
    StorageError::IOError(std::sync::Arc::new(e))
}

impl WritableStorageTraits for ConfinedStore {
    fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        self.root()
            .replace_file(&self.prefix().join(key.as_str()), &value)
            .map_err(storage_err)
    }

    fn set_partial_many(
        &self,
        key: &StoreKey,
        offset_values: OffsetBytesIterator,
    ) -> Result<(), StorageError> {
        // Read, patch and replace as a whole: partial writes stay atomic.
        zarrs::storage::store_set_partial_many(self, key, offset_values)
    }

    fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        self.root()
            .remove_file(&self.prefix().join(key.as_str()))
            .map_err(storage_err)
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        self.root()
            .remove_tree(&self.prefix().join(prefix.as_str()))
            .map_err(storage_err)
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_creates_dirs_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = DataRoot::open(dir.path()).unwrap();
        root.replace_file(Path::new("a/b/c.bin"), b"one").unwrap();
        root.replace_file(Path::new("a/b/c.bin"), b"two").unwrap();
        assert_eq!(std::fs::read(dir.path().join("a/b/c.bin")).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("a/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("c.bin")]);
        root.remove_file(Path::new("a/b/c.bin")).unwrap();
        root.remove_file(Path::new("a/b/c.bin")).unwrap();
        assert!(!dir.path().join("a/b/c.bin").exists());
        root.remove_tree(Path::new("a")).unwrap();
        assert!(!dir.path().join("a").exists());
    }

    #[test]
    fn writes_never_leave_the_root() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).unwrap();
        let root = DataRoot::open(dir.path()).unwrap();
        let e = root.replace_file(Path::new("escape/x"), b"no").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        assert!(!outside.path().join("x").exists());
        assert!(root.remove_tree(Path::new("escape")).is_err());
        assert!(outside.path().exists());
    }
}
