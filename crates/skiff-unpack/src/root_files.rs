//! The few files skiff adds to or reads from an unpacked root filesystem — `/etc/passwd`
//! to resolve the image's user, `/etc/hostname`, volume directories — through the same
//! in-root resolution as the unpacker ([`Root`]): the kernel resolves every path with
//! `openat2(RESOLVE_IN_ROOT)`, so an image's `etc -> /` or `/etc/passwd ->
//! /etc/shadow-of-the-host` symlink stays inside the root, and a final component is never
//! followed when written.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;

use rustix::fs::{self as rfs, Mode, OFlags};
use rustix::io::Errno;

use crate::metadata;
use crate::path::CleanPath;
use crate::root::{self, Dirs, Root};

/// `path` (absolute or relative to the root) cleaned; `..` above the root is refused.
fn clean(path: &str) -> io::Result<CleanPath> {
    CleanPath::new(path.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{path:?} climbs out of the root with '..'"),
        )
    })
}

impl Root {
    /// Reads a file of the image, or `None` when it does not exist.
    pub fn read_file(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        let fd = match root::open_in_root_with(self.fd(), clean(path)?.as_bytes(), OFlags::RDONLY) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut content = Vec::new();
        File::from(fd).read_to_end(&mut content)?;
        Ok(Some(content))
    }

    /// Creates directory `path` and its missing parents (mode 0755, owned by `owner`
    /// when given — the container's root on the host for unprivileged containers).
    pub fn create_dir_all(&self, path: &str, owner: Option<(u32, u32)>) -> io::Result<()> {
        Dirs::new(self, owner).open_or_create(&clean(path)?)?;
        Ok(())
    }

    /// Writes a small file with permission bits `mode` (owned by `owner` when given),
    /// creating missing parents; an existing regular file is replaced, a symlink at `path`
    /// is refused rather than followed.
    pub fn write_file(
        &self,
        path: &str,
        content: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> io::Result<()> {
        let path = clean(path)?;
        if path.is_root() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the root directory is not a file",
            ));
        }
        let (dir, _) = Dirs::new(self, owner).open_or_create(&path.parent().unwrap_or_default())?;
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rfs::openat(
            dir.as_fd(),
            path.split().1,
            flags,
            Mode::from_raw_mode(mode),
        )
        .map_err(|e| match e {
            Errno::LOOP => io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is a symlink in the image; not followed", path.display()),
            ),
            e => e.into(),
        })?;
        if let Some(owner) = owner {
            metadata::fchown(fd.as_fd(), owner).map_err(|(_, e)| e)?;
        }
        // The create mode is masked by the umask and ignored for an existing file.
        rfs::fchmod(fd.as_fd(), Mode::from_raw_mode(mode))?;
        File::from(fd).write_all(content)
    }
}
