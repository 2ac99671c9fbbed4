//! Test doubles around real transports: a source that lies about its blobs and a
//! destination that fails at a chosen step, plus images written as `oci:` layouts and a
//! snapshot of a directory tree to prove an output untouched.

#![allow(dead_code)] // each test binary uses a part

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use skiff_oci::{Digest, Manifest};
use skiff_testbed::{Compression, Format, Image, ImageBuilder, LayerBuilder};
use skiff_transport::progress::Silent;
use skiff_transport::{
    copy_image, open_destination, open_source, BlobInfo, BlobSink, BlobStream, CopyOptions,
    CopyReport, ImageDestination, ImageName, ImageSource, LayerEncoding, ManifestPolicy,
    OpenOptions, TransportError, WritePlan,
};

/// A one-layer OCI image whose layer spans several stream chunks; `seed` varies it.
pub fn sample_image(seed: u32) -> Image {
    // Incompressible, so that the gzip layer too spans several chunks and writes.
    let mut x: u32 = 0x9e37_79b9 ^ seed.wrapping_mul(0x85eb_ca6b);
    let content: Vec<u8> = (0..600_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let tar = LayerBuilder::new()
        .dir("etc", 0o755)
        .file("etc/data", 0o644, &content)
        .build();
    ImageBuilder::new(Format::Oci)
        .layer(tar, Compression::Gzip)
        .build()
}

/// Writes `image` as `oci:DIR:latest` and returns the image name.
pub fn layout_with(dir: &Path, image: &Image) -> ImageName {
    skiff_testbed::write_oci_layout(dir, "latest", image).expect("writing the test layout");
    format!("oci:{}:latest", dir.display())
        .parse()
        .expect("a valid name")
}

/// Opens a source by name.
pub fn source(name: &ImageName) -> Box<dyn ImageSource> {
    open_source(name, &OpenOptions::default()).expect("opening the test source")
}

/// Opens a destination by name.
pub fn destination(name: &str) -> Box<dyn ImageDestination> {
    let name: ImageName = name.parse().expect("a valid destination name");
    open_destination(&name, &OpenOptions::default()).expect("opening the destination")
}

/// Copies with default options and no progress output.
pub async fn copy(
    source: &dyn ImageSource,
    destination: Box<dyn ImageDestination>,
    options: &CopyOptions,
) -> Result<CopyReport, TransportError> {
    copy_image(source, destination, options, Arc::new(Silent)).await
}

/// Options that decompress every layer (`--dest-decompress`) into `scratch`.
pub fn decompressing(scratch: &Path) -> CopyOptions {
    CopyOptions {
        layer_encoding: Some(LayerEncoding {
            format: skiff_oci::media_type::Compression::None,
            only_uncompressed: false,
            level: None,
        }),
        scratch_dir: Some(scratch.to_path_buf()),
        ..CopyOptions::default()
    }
}

/// Every file under `dir` (relative path → content; directories as empty entries).
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let e = e.expect("reading a directory entry");
            let path = e.path();
            let rel = path.strip_prefix(dir).expect("below dir").to_path_buf();
            if e.file_type().expect("file type").is_dir() {
                out.insert(rel, Vec::new());
                todo.push(path);
            } else {
                out.insert(rel, std::fs::read(&path).expect("reading a file"));
            }
        }
    }
    out
}

/// Names in `dir` that are skiff's temporary siblings.
pub fn temp_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("listing the output directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("skiff-tmp"))
        .collect()
}

/// How a [`LyingSource`] falsifies the layer blobs it serves (configs and manifests are
/// served true unless `config` is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lie {
    /// One byte changed: right size, wrong digest.
    WrongDigest,
    /// The last byte missing.
    Truncated,
    /// One byte more than announced.
    Longer,
    /// The connection breaks halfway.
    Broken,
}

/// A real source whose blobs are falsified as `lie` says.
pub struct LyingSource {
    pub inner: Box<dyn ImageSource>,
    pub lie: Lie,
    /// Lie about the config instead of the layers.
    pub config: bool,
}

/// Collects a stream and applies `lie` to its bytes.
async fn falsify(mut stream: BlobStream, lie: Lie) -> BlobStream {
    let mut all = Vec::new();
    while let Some(chunk) = stream.next().await {
        all.extend_from_slice(&chunk.expect("the true source reads"));
    }
    let half = all.len() / 2;
    match lie {
        Lie::WrongDigest => all[half] ^= 0xff,
        Lie::Truncated => {
            all.pop();
        }
        Lie::Longer => all.push(0),
        Lie::Broken => {
            let first = Bytes::copy_from_slice(&all[..half]);
            return Box::pin(futures_util::stream::iter([
                Ok(first),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "connection reset by the test",
                )),
            ]));
        }
    }
    // In several chunks, as a network would deliver them.
    let chunks: Vec<std::io::Result<Bytes>> = all
        .chunks(64 << 10)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures_util::stream::iter(chunks))
}

#[async_trait]
impl ImageSource for LyingSource {
    fn describe(&self) -> String {
        format!("lying {}", self.inner.describe())
    }

    async fn top_manifest(&self) -> Result<Manifest, TransportError> {
        self.inner.top_manifest().await
    }

    async fn manifest_by_digest(&self, digest: &Digest) -> Result<Manifest, TransportError> {
        self.inner.manifest_by_digest(digest).await
    }

    async fn blob(&self, blob: &BlobInfo) -> Result<BlobStream, TransportError> {
        let stream = self.inner.blob(blob).await?;
        let is_config = blob.media_type.contains("config");
        if is_config == self.config {
            Ok(falsify(stream, self.lie).await)
        } else {
            Ok(stream)
        }
    }
}

/// The step at which a [`FailingDestination`] fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// After the real destination began (staged its manifests and configs).
    Begin,
    /// Asked for a layer's sink.
    Sink,
    /// Writing a layer's bytes, after some were written.
    Write,
    /// Instead of committing.
    Commit,
}

/// A real destination that fails at `step`; the real one is then dropped uncommitted.
pub struct FailingDestination {
    pub inner: Box<dyn ImageDestination>,
    pub step: Step,
}

fn refused(step: Step) -> TransportError {
    TransportError::io(
        format!("test destination at {step:?}"),
        std::io::Error::other("refused by the test"),
    )
}

#[async_trait]
impl ImageDestination for FailingDestination {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn manifest_policy(&self) -> ManifestPolicy {
        self.inner.manifest_policy()
    }

    fn default_layer_encoding(&self) -> Option<LayerEncoding> {
        self.inner.default_layer_encoding()
    }

    async fn begin(&mut self, plan: &WritePlan) -> Result<Vec<bool>, TransportError> {
        let present = self.inner.begin(plan).await?;
        if self.step == Step::Begin {
            return Err(refused(Step::Begin));
        }
        Ok(present)
    }

    fn layer_sink(&self, index: usize) -> Result<Box<dyn BlobSink>, TransportError> {
        let sink = self.inner.layer_sink(index)?;
        match self.step {
            Step::Sink => Err(refused(Step::Sink)),
            Step::Write => Ok(Box::new(FailingSink { inner: sink })),
            _ => Ok(sink),
        }
    }

    async fn commit(self: Box<Self>) -> Result<(), TransportError> {
        if self.step == Step::Commit {
            return Err(refused(Step::Commit));
        }
        self.inner.commit().await
    }
}

/// Writes half of what it is given first, then fails (a disk filling up).
struct FailingSink {
    inner: Box<dyn BlobSink>,
}

impl BlobSink for FailingSink {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(&bytes[..bytes.len() / 2])?;
        Err(std::io::Error::other("disk full (the test)"))
    }

    fn commit(self: Box<Self>) -> std::io::Result<()> {
        self.inner.commit()
    }
}
