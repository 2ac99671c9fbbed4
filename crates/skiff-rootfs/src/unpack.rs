//! Source → verified root filesystem.

use std::path::Path;
use std::sync::Arc;

use skiff_oci::media_type::layer_compression;
use skiff_oci::{Digest, ImageConfiguration, Platform};
use skiff_transport::{config_bytes, resolve_single, BlobInfo, ImageSource};
use skiff_unpack::{
    unpack_layers_with, Hooks, LayerSource, Observer, UnpackEvent, UnpackOptions, UnpackReport,
};

use crate::fetch::{Stop, VerifiedBlob};
use crate::progress::{Event, Reporter};
use crate::staging::{check_target, Staging};
use crate::RootfsError;

/// What an unpack produced.
pub struct Unpacked {
    /// The image configuration (entrypoint, env, user, …) for the container config.
    pub config: ImageConfiguration,
    /// What was applied.
    pub report: UnpackReport,
}

/// Passes the unpacker's events on as [`Event::Unpack`].
struct Forward(Arc<dyn Reporter>);

impl Observer for Forward {
    fn event(&self, event: UnpackEvent) {
        self.0.report(Event::Unpack(event));
    }
}

/// Unpacks the image `source` names into `rootfs`, which must not exist or be empty.
///
/// Dropping the returned future stops the fetches and the unpacking threads, waits for
/// them, and removes the staging tree (see the crate docs).
pub async fn unpack_image(
    source: Arc<dyn ImageSource>,
    platform: &Platform,
    rootfs: &Path,
    options: UnpackOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<Unpacked, RootfsError> {
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
        return Err(RootfsError::DiffIdCount {
            diff_ids: diff_ids.len(),
            layers: layers.len(),
        });
    }
    reporter.report(Event::Resolved {
        layers: layers.len(),
        bytes: layers.iter().map(|l| l.size).sum(),
    });
    let stop = Stop::new();
    let mut staging = Staging::create(check_target(rootfs)?, stop.clone(), reporter.clone())?;
    let staged_path = staging.path().to_path_buf();
    // The root directory belongs to the container's root, so that an unprivileged
    // container can create /dev, /proc mount points and the like in it.
    if let (Some(uid), Some(gid), false) = (
        options.id_map.uid(0),
        options.id_map.gid(0),
        options.rootless,
    ) {
        std::os::unix::fs::chown(&staged_path, Some(uid), Some(gid))
            .map_err(RootfsError::io("chown", &staged_path))?;
    }
    let hooks = Hooks {
        cancel: stop.unpack_flag(),
        observer: Some(Arc::new(Forward(reporter.clone()))),
    };
    let handle = tokio::runtime::Handle::current();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    // A thread of our own rather than spawn_blocking: it is joined before the staging
    // tree is removed (see `staging`).
    let thread = std::thread::Builder::new()
        .name("skiff-unpack".into())
        .spawn(move || {
            let sources =
                layers
                    .into_iter()
                    .enumerate()
                    .zip(diff_ids)
                    .map(|((index, blob), diff_id)| LayerSource {
                        name: blob.digest.to_string(),
                        compression: layer_compression(&blob.media_type),
                        expected_diff_id: Some(diff_id),
                        reader: Box::new(VerifiedBlob::new(
                            source.clone(),
                            (index, blob),
                            handle.clone(),
                            reporter.clone(),
                            stop.clone(),
                        )),
                    });
            let _ = done_tx.send(unpack_layers_with(&staged_path, sources, &options, &hooks));
        })
        .map_err(|e| RootfsError::Internal(format!("cannot start the unpacking thread: {e}")))?;
    staging.set_writer(thread);
    let report = done_rx.await.map_err(|_| {
        RootfsError::Internal("the unpacking thread ended without a result".into())
    })??;
    staging.commit(rootfs)?;
    Ok(Unpacked { config, report })
}
