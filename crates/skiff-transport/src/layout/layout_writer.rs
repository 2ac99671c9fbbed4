//! Writing `oci:DIR[:REF]` — a new layout, or a tag added to an existing one.
//!
//! A new layout is assembled in a sibling directory and renamed into place on commit. An
//! existing layout is updated in place the only way that cannot damage it: blobs are
//! content-addressed and land by rename after verification, already present blobs are
//! reused, and index.json is replaced by rename as the very last step. If the copy fails,
//! the blobs it added are removed again and index.json is untouched.
//!
//! With a shared blob directory (`--dest-shared-blob-dir DIR`, as skopeo and LXC's
//! lxc-oci template use it) every blob — layers, configs and manifests — goes to
//! `DIR/ALG/HEX` instead, and the layout keeps an empty `blobs/`. Blobs already in DIR are
//! reused, which is the point: several layouts share one copy of each layer. Blobs this
//! copy added to DIR stay even if it fails, because another copy sharing the directory may
//! already count on them; they are complete and verified, so they are never wrong.
//!
//! Two writers of the same layout take turns: each holds the layout's [`PathLock`] from
//! `begin` until it has committed or cleaned up, so no index.json update is lost and no
//! writer removes a blob another has just found present.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use skiff_oci::Digest;

use super::files::MAX_DOCUMENT;
use super::{index, OCI_LAYOUT_CONTENT};
use crate::atomic::{create_error, replace_dir, sibling, Cleanup, FileSink};
use crate::destination::{BlobSink, ImageDestination, ManifestPolicy, WritePlan};
use crate::encoding::LayerEncoding;
use crate::error::{Result, TransportError};
use crate::lock::PathLock;
use crate::plan_state::PlanState;

/// An `oci:` destination.
pub struct LayoutDestination {
    target: PathBuf,
    reference: Option<String>,
    /// Keep uncompressed layers as they are (`--dest-oci-accept-uncompressed-layers`).
    accept_uncompressed: bool,
    /// `--dest-shared-blob-dir`: where blobs go instead of the layout's `blobs/`.
    shared_blobs: Option<PathBuf>,
    /// Set when a new layout is staged beside the target.
    staged: Option<Cleanup>,
    /// Blobs this copy added to an existing layout (removed again unless committed).
    added: Arc<Mutex<Vec<PathBuf>>>,
    /// The plan's layers and the index.json to write at commit.
    state: PlanState<Vec<u8>>,
    committed: bool,
    /// Held from `begin` until the destination is dropped (after its cleanup).
    lock: Option<PathLock>,
}

impl LayoutDestination {
    /// A destination for layout directory `target`.
    pub fn new(target: PathBuf, reference: Option<String>) -> LayoutDestination {
        LayoutDestination {
            target,
            reference,
            accept_uncompressed: false,
            shared_blobs: None,
            staged: None,
            added: Arc::default(),
            state: PlanState::default(),
            committed: false,
            lock: None,
        }
    }

    /// Keeps uncompressed layers uncompressed instead of gzipping them.
    pub fn accept_uncompressed_layers(mut self, accept: bool) -> Self {
        self.accept_uncompressed = accept;
        self
    }

    /// Writes every blob into `dir` (`ALG/HEX`) instead of the layout's `blobs/`.
    pub fn shared_blob_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.shared_blobs = dir;
        self
    }

    fn root(&self) -> &Path {
        self.staged
            .as_ref()
            .map_or(self.target.as_path(), |s| s.path())
    }

    /// Where blobs of `algorithm` are kept.
    fn blob_dir(&self, algorithm: &str) -> PathBuf {
        match &self.shared_blobs {
            Some(shared) => shared.join(algorithm),
            None => self.root().join("blobs").join(algorithm),
        }
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blob_dir(digest.algorithm().name()).join(digest.hex())
    }

    /// The list that records blobs this copy adds, to remove them if it fails: none for a
    /// new layout (its staging directory goes as a whole) or a shared blob directory
    /// (other copies may count on what is there, see the module doc).
    fn adding(&self) -> Option<Arc<Mutex<Vec<PathBuf>>>> {
        (self.staged.is_none() && self.shared_blobs.is_none()).then(|| self.added.clone())
    }
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> TransportError {
    move |e| TransportError::io(context, e)
}

#[async_trait]
impl ImageDestination for LayoutDestination {
    fn describe(&self) -> String {
        format!("oci:{}", self.target.display())
    }

    fn manifest_policy(&self) -> ManifestPolicy {
        ManifestPolicy::RequireOci
    }

    /// Uncompressed layers are written gzip-compressed, as skopeo writes them, unless
    /// `--dest-oci-accept-uncompressed-layers` (docker save → oci-archive for Proxmox then
    /// gives small templates).
    fn default_layer_encoding(&self) -> Option<LayerEncoding> {
        (!self.accept_uncompressed).then(LayerEncoding::gzip_uncompressed)
    }

    async fn begin(&mut self, plan: &WritePlan) -> Result<Vec<bool>> {
        let lock = PathLock::acquire(&self.target)
            .await
            .map_err(|e| create_error(&self.target, e))?;
        self.lock = Some(lock);
        let existing_index = match std::fs::symlink_metadata(&self.target) {
            Ok(m) if m.is_dir() => {
                let has_layout = self.target.join("oci-layout").is_file();
                let empty = std::fs::read_dir(&self.target)
                    .map_err(io(format!("reading {}", self.target.display())))?
                    .next()
                    .is_none();
                if !has_layout && !empty {
                    return Err(TransportError::Unsupported(format!(
                        "{} exists and is not an OCI image layout; refusing to write into it",
                        self.target.display()
                    )));
                }
                let index_path = self.target.join("index.json");
                if index_path.is_file() {
                    let bytes = skiff_oci::local_file::read_capped(&index_path, MAX_DOCUMENT)
                        .map_err(io(format!("reading {}", index_path.display())))?;
                    Some(index::parse(&bytes, &self.describe())?)
                } else {
                    None
                }
            }
            Ok(_) => {
                return Err(TransportError::Unsupported(format!(
                    "{} exists and is not a directory",
                    self.target.display()
                )))
            }
            Err(_) => {
                let staged = Cleanup::new(sibling(&self.target));
                std::fs::create_dir(staged.path()).map_err(|e| create_error(&self.target, e))?;
                self.staged = Some(staged);
                None
            }
        };
        let root = self.root().to_path_buf();
        let layout_file = root.join("oci-layout");
        if !layout_file.exists() {
            FileSink::write_whole(layout_file, OCI_LAYOUT_CONTENT, None)
                .map_err(io(format!("writing oci-layout in {}", root.display())))?;
        }
        let mut dirs: Vec<&str> = plan
            .layers
            .iter()
            .map(|l| l.digest.algorithm().name())
            .collect();
        dirs.extend(plan.documents.iter().map(|d| d.digest.algorithm().name()));
        dirs.sort();
        dirs.dedup();
        // The spec wants `blobs/` in every layout, even when empty (a shared blob
        // directory holds them); lxc-oci links `blobs/sha256` to the shared one itself.
        let blobs = root.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(io(format!("creating {}", blobs.display())))?;
        for a in dirs {
            let d = self.blob_dir(a);
            std::fs::create_dir_all(&d).map_err(io(format!("creating {}", d.display())))?;
        }
        let adding = self.adding();
        for doc in &plan.documents {
            let path = self.blob_path(&doc.digest);
            if !path.exists() {
                FileSink::write_whole(path.clone(), &doc.bytes, adding.clone())
                    .map_err(io(format!("writing {}", path.display())))?;
            }
        }
        let present = plan
            .layers
            .iter()
            .map(|l| {
                std::fs::metadata(self.blob_path(&l.digest))
                    .is_ok_and(|m| m.is_file() && m.len() == l.size)
            })
            .collect();
        let entry = index::named(&plan.top, self.reference.as_deref());
        let index_json = match existing_index {
            Some(mut idx) => {
                index::upsert(&mut idx, entry);
                index::to_bytes(&idx)?
            }
            None => index::single(entry)?,
        };
        self.state.begin(plan, index_json)?;
        Ok(present)
    }

    fn layer_sink(&self, index: usize) -> Result<Box<dyn BlobSink>> {
        let (blob, _) = self.state.layer(index)?;
        let path = self.blob_path(&blob.digest);
        let sink = FileSink::create(path.clone(), self.adding())
            .map_err(io(format!("creating {}", path.display())))?;
        Ok(Box::new(sink))
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        let (_, index_json) = self.state.take()?;
        let index_path = self.root().join("index.json");
        FileSink::write_whole(index_path.clone(), &index_json, None)
            .map_err(io(format!("writing {}", index_path.display())))?;
        if let Some(mut staged) = self.staged.take() {
            replace_dir(staged.path(), &self.target)
                .map_err(io(format!("renaming into {}", self.target.display())))?;
            staged.disarm();
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for LayoutDestination {
    fn drop(&mut self) {
        if !self.committed {
            if let Ok(added) = self.added.lock() {
                for p in added.iter() {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
    }
}
