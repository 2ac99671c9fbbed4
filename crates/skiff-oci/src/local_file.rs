//! Opening files named by outside input (layout blobs, `--authfile`, registries.conf,
//! policy.json, `manifest-digest FILE`) so that they cannot hang or exhaust skiff.
//!
//! A FIFO in place of a manifest blocks `open(2)` until a writer appears, and a device such
//! as `/dev/zero` never ends: either would hang or grow memory without bound. Files are
//! therefore opened with `O_NONBLOCK` (which makes opening a FIFO return at once), checked
//! with `fstat` to be regular, and whole-file reads are capped.

use std::fs::File;
use std::io::{Error, ErrorKind, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Opens `path` for reading, refusing anything that is not a regular file (after symlinks).
/// The open itself is non-blocking (a FIFO without a writer would block it forever); reads
/// of a regular file do not change with O_NONBLOCK, so the handle behaves as usual.
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        return Ok(file);
    }
    let what = if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(Error::new(
        ErrorKind::InvalidInput,
        format!("is {what}, not a regular file"),
    ))
}

/// Reads a whole regular file of at most `limit` bytes; a larger one is refused rather than
/// read (a configuration or manifest that big is a mistake or an attack).
pub fn read_capped(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

/// [`read_capped`] for text files.
pub fn read_capped_string(path: &Path, limit: u64) -> std::io::Result<String> {
    String::from_utf8(read_capped(path, limit)?)
        .map_err(|_| Error::new(ErrorKind::InvalidData, "is not valid UTF-8"))
}

/// The error for an input over its limit.
pub fn too_large(limit: u64) -> Error {
    Error::new(
        ErrorKind::InvalidData,
        format!("is larger than the {limit}-byte limit"),
    )
}

/// The largest configuration file skiff reads (auth.json, registries.conf, policy.json).
pub const MAX_CONFIG_FILE: u64 = 4 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_and_devices_are_refused_without_blocking() {
        let dir = std::env::temp_dir().join(format!("skiff-oci-fifo-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_capped(&fifo, 10).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        let e = read_capped(Path::new("/dev/zero"), 10).unwrap_err();
        assert!(e.to_string().contains("device"), "{e}");
        assert!(read_capped(&dir, 10).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn files_over_the_limit_are_refused() {
        let dir = std::env::temp_dir().join(format!("skiff-oci-cap-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let f = dir.join("f");
        std::fs::write(&f, b"0123456789").unwrap();
        assert_eq!(read_capped(&f, 10).unwrap(), b"0123456789");
        let e = read_capped(&f, 9).unwrap_err();
        assert!(e.to_string().contains("9-byte limit"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
