//! skopeo's `dir:` transport: `manifest.json`, one file per blob named by its hex digest,
//! `<hex>.manifest.json` for the per-platform manifests of a copied index, and a `version`
//! file. Manifests are stored byte for byte (no conversion). Signatures of the top manifest
//! are `signature-1`, `signature-2`, …, those of a per-platform manifest
//! `<hex>.signature-1`, … (read by the caller, written through
//! [`ImageDestination::put_signatures`]).

use std::path::PathBuf;

use async_trait::async_trait;
use skiff_oci::{Digest, Manifest};

use crate::atomic::{create_error, replace_dir, sibling, Cleanup, FileSink};
use crate::destination::{BlobSink, DocumentKind, ImageDestination, ManifestPolicy, WritePlan};
use crate::error::{Result, TransportError};
use crate::layout::files::LayoutFiles;
use crate::lock::PathLock;
use crate::plan_state::PlanState;
use crate::source::{BlobInfo, BlobStream, ImageSource};

const VERSION: &[u8] = b"Directory Transport Version: 1.1\n";

/// Reads a `dir:` image.
pub struct DirSource {
    files: LayoutFiles,
    name: String,
}

impl DirSource {
    /// Opens `path`.
    pub fn new(path: PathBuf) -> Result<DirSource> {
        let name = format!("dir:{}", path.display());
        let files = LayoutFiles::Dir(path);
        if !files.exists("manifest.json") {
            return Err(TransportError::local_not_found(format!(
                "{name}: no manifest.json"
            )));
        }
        Ok(DirSource { files, name })
    }
}

#[async_trait]
impl ImageSource for DirSource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    async fn top_manifest(&self) -> Result<Manifest> {
        Ok(Manifest::parse(
            self.files.read_small("manifest.json")?,
            None,
        )?)
    }

    async fn manifest_by_digest(&self, digest: &Digest) -> Result<Manifest> {
        let m = Manifest::parse(
            self.files
                .read_small(&format!("{}.manifest.json", digest.hex()))?,
            None,
        )?;
        m.verify(digest)?;
        Ok(m)
    }

    async fn blob(&self, blob: &BlobInfo) -> Result<BlobStream> {
        self.files.stream(blob.digest.hex())
    }
}

/// Writes a `dir:` image into a staged sibling directory, swapped in on commit.
pub struct DirDestination {
    target: PathBuf,
    /// The plan's layers and the staged directory.
    state: PlanState<Cleanup>,
}

impl DirDestination {
    /// A destination for directory `target`. An existing target must be empty or hold a
    /// previous `dir:` image (as skopeo requires), so nothing unrelated is ever replaced.
    pub fn new(target: PathBuf) -> Result<DirDestination> {
        if let Ok(m) = std::fs::symlink_metadata(&target) {
            let reusable = m.is_dir()
                && (target.join("version").is_file()
                    || std::fs::read_dir(&target)
                        .map(|mut d| d.next().is_none())
                        .unwrap_or(false));
            if !reusable {
                return Err(TransportError::Unsupported(format!(
                    "{} exists and is neither empty nor a dir: image; refusing to replace it",
                    target.display()
                )));
            }
        }
        Ok(DirDestination {
            target,
            state: PlanState::default(),
        })
    }
}

#[async_trait]
impl ImageDestination for DirDestination {
    fn describe(&self) -> String {
        format!("dir:{}", self.target.display())
    }

    fn manifest_policy(&self) -> ManifestPolicy {
        ManifestPolicy::Keep
    }

    async fn begin(&mut self, plan: &WritePlan) -> Result<Vec<bool>> {
        let staged = Cleanup::new(sibling(&self.target));
        std::fs::create_dir(staged.path()).map_err(|e| create_error(&self.target, e))?;
        let io = |e| TransportError::io(format!("writing {}", staged.path().display()), e);
        FileSink::write_whole(staged.path().join("version"), VERSION, None).map_err(io)?;
        for doc in &plan.documents {
            let name = match doc.kind {
                DocumentKind::Top => "manifest.json".to_string(),
                DocumentKind::Instance => format!("{}.manifest.json", doc.digest.hex()),
                DocumentKind::Config => doc.digest.hex().to_string(),
            };
            FileSink::write_whole(staged.path().join(name), &doc.bytes, None).map_err(io)?;
        }
        self.state.begin(plan, staged)?;
        Ok(vec![false; plan.layers.len()])
    }

    fn layer_sink(&self, index: usize) -> Result<Box<dyn BlobSink>> {
        let (blob, staged) = self.state.layer(index)?;
        let path = staged.path().join(blob.digest.hex());
        let sink = FileSink::create(path.clone(), None)
            .map_err(|e| TransportError::io(format!("creating {}", path.display()), e))?;
        Ok(Box::new(sink))
    }

    /// skopeo's layout: `signature-1`, `signature-2`, … beside `manifest.json`, and for a
    /// per-platform manifest `<hex>.signature-1`, … beside `<hex>.manifest.json`.
    fn put_signatures(&mut self, instance: Option<&Digest>, signatures: &[Vec<u8>]) -> Result<()> {
        let staged = self.state.state()?;
        let prefix = instance.map_or(String::new(), |d| format!("{}.", d.hex()));
        for (i, blob) in signatures.iter().enumerate() {
            let path = staged.path().join(format!("{prefix}signature-{}", i + 1));
            FileSink::write_whole(path.clone(), blob, None)
                .map_err(|e| TransportError::io(format!("writing {}", path.display()), e))?;
        }
        Ok(())
    }

    /// The swap holds the target's [`PathLock`]: two writers finishing at once would both
    /// find no target and the second rename would fail on the first's tree. Taking turns,
    /// the second exchanges its tree for the first's and both succeed (the last wins, as
    /// with skopeo).
    async fn commit(mut self: Box<Self>) -> Result<()> {
        let (_, mut staged) = self.state.take()?;
        let _lock = PathLock::acquire(&self.target)
            .await
            .map_err(|e| create_error(&self.target, e))?;
        replace_dir(staged.path(), &self.target).map_err(|e| {
            TransportError::io(format!("renaming into {}", self.target.display()), e)
        })?;
        staged.disarm();
        Ok(())
    }
}
