//! Reading and creating files inside an image's root filesystem without ever leaving it.
//!
//! The in-root resolution itself is skiff-unpack's [`Root`] (one implementation of
//! principle 6 for the whole project); this module only opens the root and names the
//! path in errors.

use std::path::Path;

use skiff_unpack::Root;

use crate::LxcError;

fn open(root: &Path) -> Result<Root, LxcError> {
    Root::open(root).map_err(|e| LxcError::Io {
        path: root.display().to_string(),
        source: std::io::Error::other(e),
    })
}

fn io(path: &str) -> impl FnOnce(std::io::Error) -> LxcError + '_ {
    move |source| LxcError::Io {
        path: path.to_string(),
        source,
    }
}

/// Reads a file of the image (`/etc/passwd`), or `None` when it does not exist.
pub fn read_file(root: &Path, path: &str) -> Result<Option<String>, LxcError> {
    let bytes = open(root)?.read_file(path).map_err(io(path))?;
    Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// Creates directory `path` and its missing parents inside the root (mode 0755, owned by
/// `owner` when given — the container's root on the host for unprivileged containers).
pub fn create_dir_all(root: &Path, path: &str, owner: Option<(u32, u32)>) -> Result<(), LxcError> {
    open(root)?.create_dir_all(path, owner).map_err(io(path))
}

/// Writes a small file with permission bits `mode` inside the root (replacing a regular
/// file, never following a symlink at the final component).
pub fn write_file(
    root: &Path,
    path: &str,
    content: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), LxcError> {
    open(root)?
        .write_file(path, content, mode, owner)
        .map_err(io(path))
}
