//! Writing `oci-archive:` — the format Proxmox VE's `pct create` consumes.
//!
//! Because the plan names every blob and its size before any data moves, the whole tar is
//! laid out up front: each entry's header offset and data offset are computed, the file is
//! sized once (sparse), headers and small documents are written immediately, and every
//! layer is written by its own writer straight into its slot with positioned writes — in
//! parallel and in a single pass. skopeo instead writes a temporary layout directory and
//! tars it afterwards, touching every byte twice.
//!
//! What Proxmox's extractor requires, and this writer guarantees: a plain uncompressed tar;
//! entries named exactly `oci-layout`, `index.json`, `blobs/…` (no `./` prefix); the
//! selected manifest as the first (here: only) entry of index.json; OCI media types (the
//! pipeline converts Docker documents for this destination).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use super::{index, OCI_LAYOUT_CONTENT};
use crate::atomic::{create_error, sibling, Cleanup};
use crate::destination::{BlobSink, ImageDestination, ManifestPolicy, WritePlan};
use crate::encoding::LayerEncoding;
use crate::error::{Result, TransportError};
use crate::plan_state::PlanState;

const BLOCK: u64 = 512;

/// An `oci-archive:PATH[:REF]` being written.
pub struct ArchiveDestination {
    target: PathBuf,
    reference: Option<String>,
    /// Keep uncompressed layers as they are (`--dest-oci-accept-uncompressed-layers`).
    accept_uncompressed: bool,
    /// The plan's layers, and the archive being written.
    state: PlanState<Staged>,
}

enum Content<'a> {
    Dir,
    Bytes(&'a [u8]),
    Layer(usize, u64),
}

impl ArchiveDestination {
    /// A destination that will become `target` on commit.
    pub fn new(target: PathBuf, reference: Option<String>) -> ArchiveDestination {
        ArchiveDestination {
            target,
            reference,
            accept_uncompressed: false,
            state: PlanState::default(),
        }
    }

    /// Keeps uncompressed layers uncompressed instead of gzipping them.
    pub fn accept_uncompressed_layers(mut self, accept: bool) -> Self {
        self.accept_uncompressed = accept;
        self
    }

    fn header(name: &str, content: &Content<'_>) -> Result<tar::Header> {
        let mut h = tar::Header::new_ustar();
        let (kind, mode, size) = match content {
            Content::Dir => (tar::EntryType::Directory, 0o755, 0),
            Content::Bytes(b) => (tar::EntryType::Regular, 0o644, b.len() as u64),
            Content::Layer(_, size) => (tar::EntryType::Regular, 0o644, *size),
        };
        h.set_entry_type(kind);
        h.set_path(name)
            .map_err(|e| TransportError::io(format!("tar entry name {name}"), e))?;
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        Ok(h)
    }
}

fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK) * BLOCK
}

#[async_trait]
impl ImageDestination for ArchiveDestination {
    fn describe(&self) -> String {
        format!("oci-archive:{}", self.target.display())
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
        let index_json = index::single(index::named(&plan.top, self.reference.as_deref()))?;
        let mut entries: Vec<(String, Content<'_>)> = vec![
            ("oci-layout".into(), Content::Bytes(OCI_LAYOUT_CONTENT)),
            ("index.json".into(), Content::Bytes(&index_json)),
            ("blobs/".into(), Content::Dir),
        ];
        let mut algorithms: Vec<&str> = plan
            .documents
            .iter()
            .map(|d| d.digest.algorithm().name())
            .chain(plan.layers.iter().map(|l| l.digest.algorithm().name()))
            .collect();
        algorithms.sort();
        algorithms.dedup();
        for a in algorithms {
            entries.push((format!("blobs/{a}/"), Content::Dir));
        }
        let mut seen = std::collections::HashSet::new();
        for d in &plan.documents {
            if seen.insert(d.digest.clone()) {
                entries.push((d.digest.layout_path(), Content::Bytes(&d.bytes)));
            }
        }
        for (i, l) in plan.layers.iter().enumerate() {
            if seen.insert(l.digest.clone()) {
                entries.push((l.digest.layout_path(), Content::Layer(i, l.size)));
            }
        }

        let temp = Cleanup::new(sibling(&self.target));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(temp.path())
            .map_err(|e| create_error(&self.target, e))?;
        let io = |e| TransportError::io(format!("writing {}", temp.path().display()), e);
        let mut slots = vec![(0, 0); plan.layers.len()];
        let mut offset = 0u64;
        for (name, content) in &entries {
            let header = Self::header(name, content)?;
            file.write_all_at(header.as_bytes(), offset).map_err(io)?;
            let data = offset + BLOCK;
            let size = match content {
                Content::Dir => 0,
                Content::Bytes(b) => {
                    file.write_all_at(b, data).map_err(io)?;
                    b.len() as u64
                }
                Content::Layer(i, size) => {
                    slots[*i] = (data, *size);
                    *size
                }
            };
            offset = data + padded(size);
        }
        // Two zero blocks end the archive; set_len leaves them (and all padding) zero.
        file.set_len(offset + 2 * BLOCK).map_err(io)?;
        self.state.begin(
            plan,
            Staged {
                temp,
                file: Arc::new(file),
                slots,
            },
        )?;
        Ok(vec![false; plan.layers.len()])
    }

    fn layer_sink(&self, index: usize) -> Result<Box<dyn BlobSink>> {
        let (_, staged) = self.state.layer(index)?;
        let &(offset, size) = staged.slots.get(index).ok_or_else(|| {
            TransportError::internal(format!("no archive slot for layer {index}"))
        })?;
        Ok(Box::new(SlotSink {
            file: staged.file.clone(),
            offset,
            size,
            written: 0,
        }))
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        let (_, staged) = self.state.take()?;
        let Staged { mut temp, file, .. } = staged;
        drop(file);
        std::fs::rename(temp.path(), &self.target).map_err(|e| {
            TransportError::io(format!("renaming into {}", self.target.display()), e)
        })?;
        temp.disarm();
        Ok(())
    }
}

/// The archive of one copy: its temporary file, and where each layer's data goes.
struct Staged {
    temp: Cleanup,
    file: Arc<File>,
    /// (data offset, size) of each layer of the plan, by index.
    slots: Vec<(u64, u64)>,
}

struct SlotSink {
    file: Arc<File>,
    offset: u64,
    size: u64,
    written: u64,
}

impl BlobSink for SlotSink {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let end = self.written + bytes.len() as u64;
        if end > self.size {
            return Err(std::io::Error::other(format!(
                "blob larger than its declared {} bytes",
                self.size
            )));
        }
        self.file.write_all_at(bytes, self.offset + self.written)?;
        self.written = end;
        Ok(())
    }

    fn commit(self: Box<Self>) -> std::io::Result<()> {
        if self.written == self.size {
            Ok(())
        } else {
            Err(std::io::Error::other("blob shorter than declared"))
        }
    }
}
