//! The files of a `docker save` archive: `manifest.json`, and the tar entries a
//! destination writes.

use std::io::Read;

use serde::Deserialize;
use skiff_oci::media_type::Compression;
use skiff_oci::Digest;

use crate::error::{Result, TransportError};
use crate::layout::files::LayoutFiles;

/// One entry of `manifest.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ArchiveItem {
    /// Path of the config file inside the archive.
    pub config: String,
    /// Tags the image was saved under.
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    /// Paths of the layer files, bottom first.
    pub layers: Vec<String>,
}

/// Reads the list of images in an archive's manifest.json.
pub(super) fn read_items(files: &LayoutFiles) -> Result<Vec<ArchiveItem>> {
    let bytes = files.read_small("manifest.json")?;
    serde_json::from_slice(&bytes).map_err(|e| {
        TransportError::Corrupt(format!("{}: invalid manifest.json: {e}", files.describe()))
    })
}

impl LayoutFiles {
    /// A file's size and whether it starts with a gzip or zstd magic number.
    pub(super) fn probe(&self, name: &str) -> Result<(u64, bool)> {
        let size = self.size(name)?;
        let mut head = [0u8; 4];
        let n = self.read_head(name, &mut head)?;
        let compressed = skiff_codec::detect(&head[..n]) != Compression::None;
        Ok((size, compressed))
    }

    /// The sha256 of a file (for compressed layers, whose digest no config records).
    pub(super) fn digest_of(&self, name: &str) -> Result<Digest> {
        sha256_of(self.reader(name)?).map_err(|e| TransportError::io(format!("reading {name}"), e))
    }
}

/// A tar header of a regular file as `docker save` writes it.
pub(super) fn header(name: &str, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    let _ = h.set_path(name);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    h
}

pub(super) fn append_bytes<W: std::io::Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let h = header(name, bytes.len() as u64);
    builder.append(&h, bytes)
}

/// The sha256 of everything `reader` yields (a compressed layer's digest, which no config
/// records).
pub(super) fn sha256_of(mut reader: impl Read) -> std::io::Result<Digest> {
    let mut hasher = skiff_oci::DigestHasher::new(skiff_oci::Algorithm::Sha256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
    }
}
