//! Image → root filesystem: the unpack end of the pipeline.
//!
//! The image is resolved like a copy (platform choice, verified manifest and config);
//! then the layers stream from the source straight into skiff-unpack — no temporary
//! layout, no temporary layer files. Each layer's compressed bytes are hashed on the way
//! and checked against the manifest digest when the stream ends; skiff-unpack checks the
//! uncompressed bytes against the config's diff_ids. The root filesystem is built in a
//! sibling directory and renamed into place only when every layer applied and verified.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use skiff_oci::media_type::layer_compression;
use skiff_oci::{Digest, DigestHasher, ImageConfiguration, Platform};
use skiff_transport::atomic::{sibling, Cleanup};
use skiff_transport::{config_bytes, resolve_single, BlobInfo, ImageSource};
use skiff_unpack::{unpack_layers, LayerSource, UnpackOptions, UnpackReport};

use crate::failure::Failure;

/// What an unpack produced.
pub struct Unpacked {
    /// The image configuration (entrypoint, env, user, …) for the container config.
    pub config: ImageConfiguration,
    /// What was applied.
    pub report: UnpackReport,
}

/// Unpacks the image `source` names into `rootfs`, which must not exist or be empty.
pub async fn unpack_image(
    source: Arc<dyn ImageSource>,
    platform: &Platform,
    rootfs: &Path,
    options: UnpackOptions,
) -> Result<Unpacked, Failure> {
    let manifest = resolve_single(source.as_ref(), platform).await?;
    let config_raw = config_bytes(source.as_ref(), &manifest).await?;
    let config = skiff_oci::convert::parse_config(&config_raw)?;
    let layers = manifest
        .as_image()?
        .layers()
        .iter()
        .map(BlobInfo::from_descriptor)
        .collect::<Result<Vec<_>, _>>()?;
    let diff_ids = config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| d.parse::<Digest>())
        .collect::<Result<Vec<_>, _>>()?;
    if diff_ids.len() != layers.len() {
        return Err(Failure::new(format!(
            "the image config lists {} diff_ids for {} layers; the image is corrupt",
            diff_ids.len(),
            layers.len()
        )));
    }
    let mut staged = prepare_target(rootfs)?;
    let staged_path = staged.path().to_path_buf();
    // The root directory belongs to the container's root, so that an unprivileged
    // container can create /dev, /proc mount points and the like in it.
    if let (Some(uid), Some(gid), false) = (
        options.id_map.uid(0),
        options.id_map.gid(0),
        options.rootless,
    ) {
        std::os::unix::fs::chown(&staged_path, Some(uid), Some(gid))
            .map_err(|e| Failure::new(format!("chown {}: {e}", staged_path.display())))?;
    }
    let handle = tokio::runtime::Handle::current();
    let report = tokio::task::spawn_blocking(move || {
        let sources = layers
            .into_iter()
            .zip(diff_ids)
            .map(|(blob, diff_id)| LayerSource {
                name: blob.digest.to_string(),
                compression: layer_compression(&blob.media_type),
                expected_diff_id: Some(diff_id),
                reader: Box::new(VerifiedBlob::new(source.clone(), blob, handle.clone())),
            });
        unpack_layers(&staged_path, sources, &options)
    })
    .await
    .map_err(|e| Failure::new(format!("unpack thread failed: {e}")))?
    .map_err(|e| Failure::new(e.to_string()))?;
    if rootfs.exists() {
        std::fs::remove_dir(rootfs)
            .map_err(|e| Failure::new(format!("replacing empty {}: {e}", rootfs.display())))?;
    }
    std::fs::rename(staged.path(), rootfs)
        .map_err(|e| Failure::new(format!("renaming into {}: {e}", rootfs.display())))?;
    staged.disarm();
    Ok(Unpacked { config, report })
}

/// Refuses a non-empty target (never mix an image into an existing tree) and creates the
/// staging directory beside it.
fn prepare_target(rootfs: &Path) -> Result<Cleanup, Failure> {
    if let Ok(mut entries) = std::fs::read_dir(rootfs) {
        if entries.next().is_some() {
            return Err(
                Failure::new(format!("{} exists and is not empty", rootfs.display()))
                    .hint("unpack into a new directory, or remove the old root filesystem first"),
            );
        }
    } else if rootfs.exists() {
        return Err(Failure::new(format!(
            "{} exists and is not a directory",
            rootfs.display()
        )));
    }
    let parent = rootfs
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    if !parent.is_dir() {
        return Err(Failure::new(format!("{} does not exist", parent.display())));
    }
    let staged = Cleanup::new(sibling(rootfs));
    std::fs::create_dir(staged.path())
        .map_err(|e| Failure::new(format!("creating {}: {e}", staged.path().display())))?;
    Ok(staged)
}

/// A layer blob as a blocking reader: opened on first read (so layers are fetched one
/// after another as the unpacker asks for them), hashed while read, and checked against
/// the manifest's digest and size at the end — a mismatch is a read error, which fails
/// the unpack of that layer.
struct VerifiedBlob {
    source: Arc<dyn ImageSource>,
    blob: BlobInfo,
    handle: tokio::runtime::Handle,
    reader: Option<Box<dyn Read + Send>>,
    hasher: DigestHasher,
    read: u64,
    checked: bool,
}

impl VerifiedBlob {
    fn new(source: Arc<dyn ImageSource>, blob: BlobInfo, handle: tokio::runtime::Handle) -> Self {
        let hasher = blob.digest.hasher();
        VerifiedBlob {
            source,
            blob,
            handle,
            reader: None,
            hasher,
            read: 0,
            checked: false,
        }
    }

    fn open(&mut self) -> std::io::Result<&mut Box<dyn Read + Send>> {
        if self.reader.is_none() {
            let stream = self
                .handle
                .block_on(self.source.blob(&self.blob))
                .map_err(std::io::Error::other)?;
            let reader = tokio_util::io::StreamReader::new(stream);
            self.reader = Some(Box::new(tokio_util::io::SyncIoBridge::new_with_handle(
                reader,
                self.handle.clone(),
            )));
        }
        self.reader
            .as_mut()
            .ok_or_else(|| std::io::Error::other("blob reader unavailable"))
    }

    fn verify(&mut self) -> std::io::Result<()> {
        self.checked = true;
        if self.read != self.blob.size {
            return Err(std::io::Error::other(format!(
                "size mismatch for {}: expected {} bytes, got {}",
                self.blob.digest, self.blob.size, self.read
            )));
        }
        let actual = std::mem::replace(&mut self.hasher, self.blob.digest.hasher()).finish();
        if actual != self.blob.digest {
            return Err(std::io::Error::other(format!(
                "digest mismatch for {}: got {actual} (the source served wrong content)",
                self.blob.digest
            )));
        }
        Ok(())
    }
}

impl Read for VerifiedBlob {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.open()?.read(buf)?;
        if n == 0 {
            if !self.checked {
                self.verify()?;
            }
            return Ok(0);
        }
        self.read += n as u64;
        if self.read > self.blob.size {
            return Err(std::io::Error::other(format!(
                "{} is larger than its declared {} bytes",
                self.blob.digest, self.blob.size
            )));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
