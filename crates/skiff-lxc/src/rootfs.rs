//! Reading and creating files inside an image's root filesystem without ever leaving it:
//! every path is resolved by the kernel with `openat2(RESOLVE_IN_ROOT)`, so an image's
//! `/etc/passwd -> /etc/shadow-of-the-host` or `data -> /` symlink stays inside the root.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path};

use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::LxcError;

fn io(path: &str) -> impl Fn(rustix::io::Errno) -> LxcError + '_ {
    move |e| LxcError::Io {
        path: path.to_string(),
        source: e.into(),
    }
}

fn open_root(root: &Path) -> Result<OwnedFd, LxcError> {
    rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| LxcError::Io {
        path: root.display().to_string(),
        source: e.into(),
    })
}

fn resolve(root: &OwnedFd, path: &str, flags: OFlags, mode: Mode) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat2(
        root,
        path.trim_start_matches('/'),
        flags | OFlags::CLOEXEC,
        mode,
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
}

/// Reads a file of the image (`/etc/passwd`), or `None` when it does not exist.
pub fn read_file(root: &Path, path: &str) -> Result<Option<String>, LxcError> {
    let r = open_root(root)?;
    let fd = match resolve(&r, path, OFlags::RDONLY, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    let mut text = String::new();
    File::from(fd)
        .read_to_string(&mut text)
        .map_err(|e| LxcError::Io {
            path: path.to_string(),
            source: e,
        })?;
    Ok(Some(text))
}

/// Creates directory `path` and its missing parents inside the root (mode 0755, owned by
/// `owner` when given — the container's root on the host for unprivileged containers).
pub fn create_dir_all(root: &Path, path: &str, owner: Option<(u32, u32)>) -> Result<(), LxcError> {
    let r = open_root(root)?;
    let mut so_far = String::new();
    for c in Path::new(path).components() {
        let Component::Normal(name) = c else { continue };
        let name = name.to_string_lossy();
        let parent = if so_far.is_empty() {
            ".".to_string()
        } else {
            so_far.clone()
        };
        so_far = if so_far.is_empty() {
            name.to_string()
        } else {
            format!("{so_far}/{name}")
        };
        match resolve(&r, &so_far, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()) {
            Ok(_) => continue,
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(io(path)(e)),
        }
        let pfd = resolve(&r, &parent, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
            .map_err(io(path))?;
        match rustix::fs::mkdirat(&pfd, name.as_ref(), Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(io(path)(e)),
        }
        if let Some((uid, gid)) = owner {
            rustix::fs::chownat(
                &pfd,
                name.as_ref(),
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
                rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(io(path))?;
        }
    }
    Ok(())
}

/// Writes a small file inside the root (replacing a regular file, never following a
/// symlink at the final component).
pub fn write_file(
    root: &Path,
    path: &str,
    content: &[u8],
    owner: Option<(u32, u32)>,
) -> Result<(), LxcError> {
    let p = Path::new(path.trim_start_matches('/'));
    let (Some(dir), Some(name)) = (p.parent(), p.file_name()) else {
        return Err(LxcError::Invalid(format!("{path}: not a file path")));
    };
    let dir_s = dir.to_string_lossy();
    create_dir_all(root, &dir_s, owner)?;
    let r = open_root(root)?;
    let dfd = resolve(
        &r,
        if dir_s.is_empty() { "." } else { &dir_s },
        OFlags::PATH | OFlags::DIRECTORY,
        Mode::empty(),
    )
    .map_err(io(path))?;
    let fd = rustix::fs::openat(
        &dfd,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )
    .map_err(io(path))?;
    if let Some((uid, gid)) = owner {
        rustix::fs::fchown(
            &fd,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        )
        .map_err(io(path))?;
    }
    File::from(fd).write_all(content).map_err(|e| LxcError::Io {
        path: path.to_string(),
        source: e,
    })
}
