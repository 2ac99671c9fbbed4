//! Archives that arrive compressed as a whole (`docker save | xz > app.tar.xz`, a
//! gzipped `oci-archive`): skopeo reads them, so skiff does. Reading an archive in place
//! needs random access to an uncompressed tar, so a compressed one is first decoded into
//! an unlinked temporary file under `--tmpdir` (the system's temporary directory
//! otherwise): memory stays bounded whatever the size, the decoder's bomb limits apply,
//! and the space is given back when the archive is closed, however skiff ends.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use skiff_codec::{detect_archive, ArchiveCompression, Decoder, Limits, ARCHIVE_MAGIC_LEN};
use skiff_oci::local_file::open_regular;

use crate::error::{Result, TransportError};

/// Read buffer of the decoder.
const READ_BUFFER: usize = 1 << 20;

/// The archive at `path`, uncompressed, positioned at its start: the file itself when it
/// is a plain tar, else a temporary file under `tmpdir` holding its decoded bytes.
pub fn open_uncompressed(path: &Path, tmpdir: Option<&Path>) -> Result<File> {
    let io =
        |what: &str, e: std::io::Error| TransportError::io(format!("{what} {}", path.display()), e);
    // Only a regular file: a FIFO or device named as an archive would block or never end.
    let mut file = open_regular(path).map_err(|e| io("reading", e))?;
    let mut head = Vec::with_capacity(ARCHIVE_MAGIC_LEN);
    (&mut file)
        .take(ARCHIVE_MAGIC_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| io("reading", e))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| io("reading", e))?;
    let kind = detect_archive(&head);
    if kind == ArchiveCompression::None {
        return Ok(file);
    }
    let dir = tmpdir.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let mut plain = tempfile::tempfile_in(&dir).map_err(|e| {
        TransportError::io(
            format!(
                "creating a temporary file in {} (see --tmpdir)",
                dir.display()
            ),
            e,
        )
    })?;
    let mut decoder = Decoder::for_archive(
        BufReader::with_capacity(READ_BUFFER, file),
        kind,
        &Limits::default(),
    )
    .map_err(|e| io("decompressing", e))?;
    std::io::copy(&mut decoder, &mut plain).map_err(|e| io("decompressing", e))?;
    plain
        .seek(SeekFrom::Start(0))
        .map_err(|e| io("decompressing", e))?;
    Ok(plain)
}
