//! What every image destination offers the pipeline.

use async_trait::async_trait;
use skiff_oci::{Descriptor, Digest};

use crate::blob::BlobInfo;
use crate::encoding::LayerEncoding;
use crate::error::{Result, TransportError};

/// Which manifest formats a destination stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestPolicy {
    /// OCI media types only: Docker manifests and configs are converted (oci:, oci-archive:).
    RequireOci,
    /// Docker v2 schema 2 only: OCI manifests are converted (`--format v2s2`).
    RequireDocker,
    /// Whatever the source has, byte for byte (dir:, docker://, docker-archive:).
    Keep,
}

/// A manifest format the user asks for (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestFormat {
    /// OCI image manifest and index (`oci`).
    Oci,
    /// Docker v2 schema 2 manifest and manifest list (`v2s2`).
    DockerV2Schema2,
}

impl ManifestPolicy {
    /// The policy of a copy to a destination with this policy when `--format` asks for
    /// `format`: a destination that keeps any format stores the requested one; a
    /// destination bound to OCI cannot store Docker manifests.
    pub fn with_format(self, format: Option<ManifestFormat>) -> Result<ManifestPolicy> {
        match (self, format) {
            (policy, None) => Ok(policy),
            (ManifestPolicy::RequireOci, Some(ManifestFormat::Oci)) => Ok(self),
            (ManifestPolicy::RequireOci, Some(ManifestFormat::DockerV2Schema2)) => {
                Err(TransportError::Unsupported(
                    "--format v2s2: this destination holds OCI images only (oci:, oci-archive:); use dir:, docker:// or docker-archive:".into(),
                ))
            }
            (_, Some(ManifestFormat::Oci)) => Ok(ManifestPolicy::RequireOci),
            (_, Some(ManifestFormat::DockerV2Schema2)) => Ok(ManifestPolicy::RequireDocker),
        }
    }

    /// Whether a document of `media_type` must be converted under this policy.
    pub fn converts(self, media_type: &str) -> bool {
        match self {
            ManifestPolicy::RequireOci => skiff_oci::media_type::is_docker(media_type),
            ManifestPolicy::RequireDocker => !skiff_oci::media_type::is_docker(media_type),
            ManifestPolicy::Keep => false,
        }
    }
}

/// Everything a copy will write, known before the first layer byte moves.
#[derive(Debug, Clone)]
pub struct WritePlan {
    /// Small documents written whole: manifests, indexes and configs, already verified or
    /// freshly converted, in the order they should appear (top manifest first).
    pub documents: Vec<Document>,
    /// Layer blobs to stream, deduplicated by digest.
    pub layers: Vec<BlobInfo>,
    /// The descriptor the destination must make the image name point at (the top
    /// manifest or index).
    pub top: Descriptor,
}

/// What a small document is, for destinations that store kinds differently (`dir:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// The manifest or index the image name points at.
    Top,
    /// A per-platform manifest below an index (`--all`).
    Instance,
    /// An image configuration blob.
    Config,
}

/// A small document of the plan: exact bytes and their digest.
#[derive(Debug, Clone)]
pub struct Document {
    /// Digest of `bytes`.
    pub digest: Digest,
    /// The bytes to store.
    pub bytes: Vec<u8>,
    /// Its role.
    pub kind: DocumentKind,
}

/// Receives one blob's bytes in order, from a blocking thread. Dropping it without
/// [`BlobSink::commit`] discards what was written.
pub trait BlobSink: Send {
    /// Appends bytes.
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// Appends bytes the sink may keep as they are (a queue feeding an upload takes them
    /// without a copy); sinks that write them out at once need not override it.
    fn write_bytes(&mut self, bytes: bytes::Bytes) -> std::io::Result<()> {
        self.write_all(&bytes)
    }
    /// Makes the blob part of the (still uncommitted) destination; called only after the
    /// pipeline verified size and digest.
    fn commit(self: Box<Self>) -> std::io::Result<()>;
}

/// A place images are written to.
#[async_trait]
pub trait ImageDestination: Send + Sync {
    /// How to name this destination in messages.
    fn describe(&self) -> String;

    /// Which manifest formats this destination stores.
    fn manifest_policy(&self) -> ManifestPolicy;

    /// How layers are encoded when the user does not say (`--dest-compress*`): `None`
    /// keeps every layer's bytes.
    fn default_layer_encoding(&self) -> Option<LayerEncoding> {
        None
    }

    /// Receives the plan before any data. Returns, for each entry of `plan.layers`,
    /// whether the destination already holds that blob (so it need not move).
    async fn begin(&mut self, plan: &WritePlan) -> Result<Vec<bool>>;

    /// Whether a layer whose transfer broke off with a transient error should be sent
    /// again from its start. Only destinations that cannot resume a partial write
    /// themselves need it: a registry upload whose `PUT` broke mid-body is discarded by
    /// the registry, and its one-shot body cannot be replayed by the HTTP client.
    fn restarts_failed_blobs(&self) -> bool {
        false
    }

    /// Whether the destination itself refuses a layer whose bytes do not hash to its
    /// digest, before the layer becomes visible: a registry completes an upload only when
    /// the bytes match the digest the client completes it with. The pipeline then checks
    /// only sizes, and spares hashing every byte a second time on the client (a push's
    /// largest cost there). A corrupt source still fails the copy and leaves nothing.
    fn verifies_digests(&self) -> bool {
        false
    }

    /// A sink for layer `index` of the plan. Called concurrently for different layers
    /// (and again for the same layer when [`Self::restarts_failed_blobs`] retries it).
    fn layer_sink(&self, index: usize) -> Result<Box<dyn BlobSink>>;

    /// Stores signature blobs (the encoding of `skiff_trust::Signature::to_blob`) of the
    /// manifest the image name points at (`instance` `None`), or of the per-platform
    /// manifest `instance` of a copied index, with the image: called after `begin`, before
    /// `commit`, so they appear together. Only `dir:` keeps signatures inside the image;
    /// a registry keeps them beside it (lookaside, attachments), which the caller writes.
    /// Every other destination refuses, as skopeo does, rather than drop them.
    fn put_signatures(
        &mut self,
        _instance: Option<&Digest>,
        _signatures: &[Vec<u8>],
    ) -> Result<()> {
        Err(TransportError::Unsupported(format!(
            "{}: this destination cannot store signatures",
            self.describe()
        )))
    }

    /// Makes the whole image visible atomically.
    async fn commit(self: Box<Self>) -> Result<()>;
}
