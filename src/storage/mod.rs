//! Where stored bytes come from. Local data is opened only beneath a [`DataRoot`]:
//! every open resolves its path with `openat2(RESOLVE_BENEATH)`, so a symlink (or a
//! directory later swapped for one) that leads out of the root is refused at
//! registration and at every read, not only when a config is checked.

pub mod local;
pub mod n5;
pub mod remote;
pub mod write;

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// Text every refused escape carries, so read errors can be told apart from I/O errors.
pub const ESCAPE: &str = "leads outside the data root";

/// A directory that local paths are confined to.
#[derive(Debug)]
pub struct DataRoot {
    dir: OwnedFd,
    path: PathBuf,
}

/// Checks that `rel` is a non-empty relative path of plain components.
///
/// # Errors
/// A reason naming what is refused.
pub fn check_relative(rel: &str) -> Result<&Path, String> {
    let path = Path::new(rel);
    if rel.is_empty() {
        return Err("must name a path under the data root".into());
    }
    if path.is_absolute() {
        return Err("must be relative to the data root; absolute paths are refused".into());
    }
    if path
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err("must stay inside the data root; '..' components are refused".into());
    }
    Ok(path)
}

impl DataRoot {
    /// Opens `path` (a directory) as a root.
    ///
    /// # Errors
    /// When it is not an openable directory.
    pub fn open(path: &Path) -> io::Result<Self> {
        let path = path.canonicalize()?;
        let dir = rustix::fs::open(
            &path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self { dir, path })
    }

    /// The root's canonical path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_beneath(&self, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        let how = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(&self.dir, rel, flags | OFlags::CLOEXEC, Mode::empty(), how) {
            Err(rustix::io::Errno::XDEV) => Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{} {ESCAPE} (through a symlink); refused", rel.display()),
            )),
            other => other.map_err(io::Error::from),
        }
    }

    /// Opens a file beneath the root for reading.
    ///
    /// # Errors
    /// `NotFound`, an I/O error, or `PermissionDenied` (with [`ESCAPE`]) when the path
    /// resolves outside the root.
    pub fn open_file(&self, rel: &Path) -> io::Result<File> {
        self.open_beneath(rel, OFlags::RDONLY | OFlags::NOCTTY)
            .map(File::from)
    }

    /// Checks that `rel` is a directory beneath the root.
    ///
    /// # Errors
    /// As [`DataRoot::open_file`], or `NotADirectory`.
    pub fn check_dir(&self, rel: &Path) -> io::Result<()> {
        self.open_beneath(rel, OFlags::PATH | OFlags::DIRECTORY)
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_out_of_the_root_are_refused_inside_ones_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"outside").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("a")).unwrap();
        std::fs::write(root.path().join("a/data"), b"inside").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
        std::os::unix::fs::symlink("a", root.path().join("alias")).unwrap();
        let r = DataRoot::open(root.path()).unwrap();
        let e = r.open_file(Path::new("escape/secret")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains(ESCAPE), "{e}");
        assert!(r.open_file(Path::new("../x")).is_err());
        assert!(r.check_dir(Path::new("alias")).is_ok());
        let mut s = String::new();
        io::Read::read_to_string(&mut r.open_file(Path::new("alias/data")).unwrap(), &mut s)
            .unwrap();
        assert_eq!(s, "inside");
        assert_eq!(
            r.open_file(Path::new("a/missing")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn relative_paths_only() {
        assert!(check_relative("a/b.zarr").is_ok());
        assert!(check_relative("/etc").is_err());
        assert!(check_relative("a/../../b").is_err());
        assert!(check_relative("").is_err());
    }
}
