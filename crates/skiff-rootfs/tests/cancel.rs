//! Abandoning an unpack (Ctrl-C, `--command-timeout`: the future is dropped) stops the
//! writers first, then removes the staging tree: nothing is left beside the target, and
//! the target is never created.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use skiff_oci::{Digest, Manifest, Platform};
use skiff_rootfs::{unpack_image, Event, Reporter};
use skiff_testbed::image::{write_oci_layout, Compression, Format, ImageBuilder, LayerBuilder};
use skiff_transport::{open_source, BlobInfo, BlobStream, ImageName, ImageSource, OpenOptions};
use skiff_unpack::{UnpackEvent, UnpackOptions};
use tokio::sync::Notify;

/// A source that hands out layer blobs in small pieces, slowly: an unpack of it takes
/// far longer than the test waits.
struct Slow(Box<dyn ImageSource>);

#[async_trait]
impl ImageSource for Slow {
    fn describe(&self) -> String {
        self.0.describe()
    }
    async fn top_manifest(&self) -> Result<Manifest, skiff_transport::TransportError> {
        self.0.top_manifest().await
    }
    async fn manifest_by_digest(
        &self,
        digest: &Digest,
    ) -> Result<Manifest, skiff_transport::TransportError> {
        self.0.manifest_by_digest(digest).await
    }
    async fn blob(&self, blob: &BlobInfo) -> Result<BlobStream, skiff_transport::TransportError> {
        let inner = self.0.blob(blob).await?;
        let pieces = inner.flat_map(|chunk| {
            let pieces: Vec<std::io::Result<Bytes>> = match chunk {
                Ok(c) => (0..c.len())
                    .step_by(4096)
                    .map(|i| Ok(c.slice(i..(i + 4096).min(c.len()))))
                    .collect(),
                Err(e) => vec![Err(e)],
            };
            futures_util::stream::iter(pieces)
        });
        Ok(Box::pin(pieces.then(|piece| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            piece
        })))
    }
}

/// Wakes the test once the unpacker has applied entries of the first layer.
struct FirstEntries(Arc<Notify>);

impl Reporter for FirstEntries {
    fn report(&self, event: Event) {
        match event {
            Event::Unpack(UnpackEvent::Applying { .. }) => self.0.notify_one(),
            Event::StagingLeft { path, error } => panic!("{} left behind: {error}", path.display()),
            _ => {}
        }
    }
}

/// A gzip layer of many small, incompressible files: megabytes the slow source needs
/// minutes to deliver.
fn big_layer() -> Vec<u8> {
    let mut b = LayerBuilder::new().dir("data", 0o755);
    let mut seed = 1u64;
    for i in 0..2000 {
        let content: Vec<u8> = (0..2048)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 56) as u8
            })
            .collect();
        b = b.file(&format!("data/f{i}"), 0o644, &content);
    }
    b.build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_unpack_stops_the_writers_and_removes_the_staging_tree() {
    let img = ImageBuilder::new(Format::Oci)
        .layer(big_layer(), Compression::Gzip)
        .layer(
            LayerBuilder::new().file("late", 0o644, b"l").build(),
            Compression::Gzip,
        )
        .build();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, "t", &img).unwrap();
    let name: ImageName = format!("oci:{}:t", layout.display()).parse().unwrap();
    let source: Arc<dyn ImageSource> =
        Arc::new(Slow(open_source(&name, &OpenOptions::default()).unwrap()));
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let target = work.join("rootfs");

    let started = Arc::new(Notify::new());
    let options = UnpackOptions {
        rootless: true,
        ..UnpackOptions::default()
    };
    let platform = Platform::host_with_overrides(None, None, None);
    let mut unpack = Box::pin(unpack_image(
        source,
        &platform,
        &target,
        options,
        Arc::new(FirstEntries(started.clone())),
    ));
    tokio::select! {
        r = &mut unpack => panic!("the slow unpack finished before it was abandoned: {:?}", r.err()),
        () = started.notified() => {}
    }
    let staging: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        staging.len(),
        1,
        "one staging directory while unpacking: {staging:?}"
    );
    assert!(
        std::fs::read_dir(staging[0].join("data"))
            .unwrap()
            .next()
            .is_some(),
        "the writers had started"
    );
    // What Ctrl-C and --command-timeout do: the future is dropped.
    drop(unpack);
    let left: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        left.is_empty(),
        "no staging directory and no target: {left:?}"
    );
}
