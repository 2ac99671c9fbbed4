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
use skiff_oci::{Digest, ImageConfiguration, Platform};
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

/// How many chunks of a layer may wait between the fetching task and the unpacker.
const BLOB_CHANNEL_DEPTH: usize = 4;

/// A layer blob as a blocking reader for the unpacker. On first read a task starts that
/// fetches the blob, hashes it and checks digest and size at the end (a mismatch is a read
/// error, which fails the unpack of that layer); it runs beside the unpacker's
/// decompression thread, so hashing the compressed bytes costs no time on that thread.
/// Fetching starts lazily, so layers are requested one after another as the unpacker
/// asks for them.
struct VerifiedBlob {
    source: Arc<dyn ImageSource>,
    blob: BlobInfo,
    handle: tokio::runtime::Handle,
    rx: Option<tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>>,
    current: bytes::Bytes,
}

impl VerifiedBlob {
    fn new(source: Arc<dyn ImageSource>, blob: BlobInfo, handle: tokio::runtime::Handle) -> Self {
        VerifiedBlob {
            source,
            blob,
            handle,
            rx: None,
            current: bytes::Bytes::new(),
        }
    }

    fn start(&mut self) -> &mut tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>> {
        self.rx.get_or_insert_with(|| {
            let (tx, rx) = tokio::sync::mpsc::channel(BLOB_CHANNEL_DEPTH);
            let (source, blob) = (self.source.clone(), self.blob.clone());
            self.handle.spawn(async move {
                if let Err(e) = fetch_verified(source, &blob, &tx).await {
                    let _ = tx.send(Err(e)).await;
                }
            });
            rx
        })
    }
}

/// Streams one blob into `tx`, hashing it; fails on a wrong size or digest.
async fn fetch_verified(
    source: Arc<dyn ImageSource>,
    blob: &BlobInfo,
    tx: &tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
) -> std::io::Result<()> {
    use futures_util::StreamExt;
    let mut stream = source.blob(blob).await.map_err(std::io::Error::other)?;
    let mut hasher = blob.digest.hasher();
    let mut read = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        read += chunk.len() as u64;
        if read > blob.size {
            return Err(std::io::Error::other(format!(
                "{} is larger than its declared {} bytes",
                blob.digest, blob.size
            )));
        }
        hasher.update(&chunk);
        if tx.send(Ok(chunk)).await.is_err() {
            return Ok(()); // the unpacker stopped reading (it failed elsewhere)
        }
    }
    if read != blob.size {
        return Err(std::io::Error::other(format!(
            "size mismatch for {}: expected {} bytes, got {read}",
            blob.digest, blob.size
        )));
    }
    let actual = hasher.finish();
    if actual != blob.digest {
        return Err(std::io::Error::other(format!(
            "digest mismatch for {}: got {actual} (the source served wrong content)",
            blob.digest
        )));
    }
    Ok(())
}

impl Read for VerifiedBlob {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.start().blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}
