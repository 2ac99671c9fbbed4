//! `docker://` as a destination: pushing to a registry.
//!
//! Layers stream to the registry while they are read (a channel feeds the upload's body),
//! so pushing needs no temporary files. The registry verifies each blob against the digest
//! given when the upload completes, and skiff verifies it too before committing; a blob
//! cut short by a failed copy is never completed, so the registry discards it. Manifests
//! are put last — per-platform manifests by digest, then the top one under its tag — so a
//! failed push never changes what the tag names.
//!
//! Before anything is uploaded, every blob is looked for at the registry (`HEAD`, several
//! at once): what it has is skipped. When the image comes from another repository of the
//! same registry, a missing blob is mounted from there (`POST …?mount=D&from=REPO`), so
//! no byte moves; only what neither finds is uploaded.

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use skiff_oci::{Manifest, Reference};
use skiff_registry::{RegistryClient, UploadBody};

use crate::destination::{BlobSink, DocumentKind, ImageDestination, ManifestPolicy, WritePlan};
use crate::encoding::LayerEncoding;
use crate::error::{Result, TransportError};
use crate::plan_state::PlanState;

/// How many chunks may wait for the upload of one blob. Local sources read 256 KiB
/// chunks and several layers upload at once: a deep queue here was most of a push's
/// memory (32 deep with 1 MiB chunks: 210 MiB peak for a 330 MB push).
const UPLOAD_DEPTH: usize = 4;
/// How many blobs are looked for (or mounted) at the registry at once.
const CHECK_PARALLEL: usize = 8;

/// A registry repository being pushed to.
pub struct RegistryDestination {
    client: RegistryClient,
    reference: Reference,
    /// A repository of the same registry the image comes from: blobs missing here are
    /// mounted from it.
    mount_from: Option<String>,
    /// The plan's layers, and the manifests to put at commit, in order:
    /// (reference, bytes, media type).
    state: PlanState<Vec<(String, Vec<u8>, String)>>,
}

impl RegistryDestination {
    /// Pushes to `reference` (tag or digest) through `client`.
    pub fn new(client: RegistryClient, reference: Reference) -> RegistryDestination {
        RegistryDestination {
            client,
            reference,
            mount_from: None,
            state: PlanState::default(),
        }
    }

    /// Mounts blobs the registry lacks here from repository `from` of the same registry.
    pub fn mount_from(mut self, from: Option<String>) -> RegistryDestination {
        self.mount_from = from.filter(|f| f != self.reference.repository());
        self
    }

    fn repo(&self) -> &str {
        self.reference.repository()
    }
}

#[async_trait]
impl ImageDestination for RegistryDestination {
    fn describe(&self) -> String {
        format!("docker://{}", self.reference)
    }

    fn manifest_policy(&self) -> ManifestPolicy {
        ManifestPolicy::Keep
    }

    /// A layer's upload streams from the source as it is read, so the client cannot send
    /// it again after its `PUT` broke: the pipeline restarts the layer from the source.
    fn restarts_failed_blobs(&self) -> bool {
        true
    }

    /// A registry completes an upload only when its bytes hash to the digest the `PUT`
    /// names (`DIGEST_INVALID` otherwise), so hashing them here too would only cost time.
    fn verifies_digests(&self) -> bool {
        true
    }

    /// Uncompressed layers (from `docker save` archives, say) are pushed gzip-compressed,
    /// as skopeo pushes them: registries and their clients expect compressed layers.
    fn default_layer_encoding(&self) -> Option<LayerEncoding> {
        Some(LayerEncoding::gzip_uncompressed())
    }

    async fn begin(&mut self, plan: &WritePlan) -> Result<Vec<bool>> {
        let (client, repo, from) = (
            self.client.clone(),
            self.repo().to_string(),
            self.mount_from.clone(),
        );
        let digests: Vec<skiff_oci::Digest> =
            plan.layers.iter().map(|l| l.digest.clone()).collect();
        let present: Vec<bool> = futures_util::stream::iter(digests)
            .map(|d| has_or_mounts(client.clone(), repo.clone(), from.clone(), d))
            .buffered(CHECK_PARALLEL)
            .try_collect()
            .await?;
        let mut instances = Vec::new();
        let mut top = None;
        for doc in &plan.documents {
            match doc.kind {
                DocumentKind::Config => {
                    if !has_or_mounts(
                        client.clone(),
                        repo.clone(),
                        from.clone(),
                        doc.digest.clone(),
                    )
                    .await?
                    {
                        // In memory, so the client can send it again on any failure.
                        let body = UploadBody::bytes(doc.bytes.clone());
                        self.client
                            .upload_blob(self.repo(), &doc.digest, doc.bytes.len() as u64, body)
                            .await?;
                    }
                }
                DocumentKind::Instance => instances.push(doc),
                DocumentKind::Top => top = Some(doc),
            }
        }
        let media_type = |bytes: &[u8]| -> Result<String> {
            Ok(Manifest::parse(bytes.to_vec(), None)?
                .media_type()
                .to_string())
        };
        let mut manifests = Vec::new();
        for doc in instances {
            manifests.push((
                doc.digest.to_string(),
                doc.bytes.clone(),
                media_type(&doc.bytes)?,
            ));
        }
        let top = top.ok_or_else(|| TransportError::internal("a plan without a top manifest"))?;
        manifests.push((
            self.reference.manifest_reference(),
            top.bytes.clone(),
            media_type(&top.bytes)?,
        ));
        self.state.begin(plan, manifests)?;
        Ok(present)
    }

    fn layer_sink(&self, index: usize) -> Result<Box<dyn BlobSink>> {
        let blob = self.state.layer(index)?.0.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(UPLOAD_DEPTH);
        let client = self.client.clone();
        let repo = self.repo().to_string();
        let body = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let handle = tokio::runtime::Handle::current();
        let upload = handle
            .spawn(async move { client.push_blob(&repo, &blob.digest, blob.size, body).await });
        Ok(Box::new(PushSink {
            tx: Some(tx),
            upload: Some(upload),
            handle,
        }))
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        let (_, manifests) = self.state.take()?;
        for (reference, bytes, media_type) in &manifests {
            self.client
                .put_manifest(self.repo(), reference, bytes.clone(), media_type)
                .await?;
        }
        Ok(())
    }
}

/// Whether `repo` has the blob, or now has it because it was mounted from `from` (or
/// from where the client put it before). Owned arguments, so that several run at once
/// from within the destination's `begin`.
async fn has_or_mounts(
    client: RegistryClient,
    repo: String,
    from: Option<String>,
    digest: skiff_oci::Digest,
) -> Result<bool> {
    if client.blob_exists(&repo, &digest).await?.is_some() {
        return Ok(true);
    }
    // Else the repository this client put it into earlier in the run.
    let from = from.or_else(|| client.landed_in(&digest).filter(|r| *r != repo));
    match from {
        Some(from) => Ok(client.mount_blob(&repo, &digest, &from).await?),
        None => Ok(false),
    }
}

/// Feeds one blob's upload from the pipeline's writer thread.
struct PushSink {
    tx: Option<tokio::sync::mpsc::Sender<std::io::Result<Bytes>>>,
    upload: Option<tokio::task::JoinHandle<std::result::Result<(), skiff_registry::RegistryError>>>,
    handle: tokio::runtime::Handle,
}

impl BlobSink for PushSink {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write_bytes(Bytes::copy_from_slice(bytes))
    }

    fn write_bytes(&mut self, bytes: Bytes) -> std::io::Result<()> {
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| std::io::Error::other("upload already finished"))?;
        if tx.blocking_send(Ok(bytes)).is_err() {
            return Err(self.upload_failure());
        }
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> std::io::Result<()> {
        drop(self.tx.take());
        let upload = self
            .upload
            .take()
            .ok_or_else(|| std::io::Error::other("upload missing"))?;
        self.handle
            .block_on(upload)
            .map_err(std::io::Error::other)?
            .map_err(std::io::Error::other)
    }
}

impl PushSink {
    /// Why the upload stopped taking the body: its own error (a [`RegistryError`] inside
    /// the `io::Error`, so the pipeline can tell a broken connection from a refusal).
    ///
    /// [`RegistryError`]: skiff_registry::RegistryError
    fn upload_failure(&mut self) -> std::io::Error {
        drop(self.tx.take());
        match self.upload.take().map(|u| self.handle.block_on(u)) {
            Some(Ok(Err(e))) => std::io::Error::other(e),
            Some(Err(join)) => std::io::Error::other(join),
            Some(Ok(Ok(()))) | None => std::io::Error::other("the registry upload stopped"),
        }
    }
}

impl Drop for PushSink {
    fn drop(&mut self) {
        // Abandoned (the pipeline found the blob bad): end the body with an error so the
        // registry never completes the upload.
        if let Some(tx) = self.tx.take() {
            let _ = tx.try_send(Err(std::io::Error::other("blob rejected by verification")));
        }
        if let Some(upload) = self.upload.take() {
            upload.abort();
        }
    }
}
