//! Manifest format conversion: Docker v2 schema 2 ⇄ OCI.
//!
//! This is the one place skiff re-serialises a manifest, index or config; everywhere else
//! documents keep their exact bytes. Both directions follow containers/image, so that a
//! converted image has the digest skopeo would give it:
//!
//! * [`to_oci`] — for OCI destinations (always) and `--format oci`.
//! * [`to_docker`] — for `--format v2s2`: media types change, the config blob is kept as
//!   it is, and what Docker cannot express (zstd layers, artifacts) is refused.
//!
//! Layer blobs never change. The digests of new documents are computed from the new bytes.

mod to_docker;
mod to_oci;

use oci_spec::image::{Descriptor, DescriptorBuilder, ImageConfiguration, MediaType};

use crate::{Digest, Error, Manifest, ManifestKind};

pub use to_docker::{index_to_docker, manifest_to_docker};
pub use to_oci::{config_to_oci, index_to_oci, manifest_to_oci};

/// Re-encodes an image manifest with new layer descriptors (recompressed layers), in the
/// manifest's own format. `layers` use OCI media types; a Docker manifest maps them back.
/// `template` is the descriptor that pointed at the original, if any.
pub fn replace_layers(
    manifest: &Manifest,
    layers: Vec<Descriptor>,
    template: Option<&Descriptor>,
) -> Result<Converted, Error> {
    let mut image = manifest.as_image()?.clone();
    image.set_layers(layers);
    if manifest.is_docker() {
        return manifest_to_docker(&image, template);
    }
    let bytes = serde_json::to_vec(&image).map_err(|e| Error::InvalidManifest(e.to_string()))?;
    let media = if manifest.media_type().is_empty() {
        crate::media_type::OCI_MANIFEST
    } else {
        manifest.media_type()
    };
    let descriptor = descriptor_for(media, &bytes, template)?;
    Ok(Converted { bytes, descriptor })
}

/// Re-encodes an index with new entries (manifests that were rewritten), in the index's
/// own format.
pub fn replace_manifests(index: &Manifest, manifests: Vec<Descriptor>) -> Result<Converted, Error> {
    let ManifestKind::Index(idx) = index.kind() else {
        return Err(Error::InvalidManifest("not an index".into()));
    };
    if index.is_docker() {
        index_to_docker(&manifests)
    } else {
        index_to_oci(idx, manifests)
    }
}

/// A converted document: its bytes and the descriptor that points at them.
#[derive(Debug, Clone)]
pub struct Converted {
    /// The new bytes.
    pub bytes: Vec<u8>,
    /// The descriptor of the new bytes (media type, digest, size).
    pub descriptor: Descriptor,
}

/// A descriptor for `bytes` of `media_type`, carrying over the platform and annotations of
/// `template` (the descriptor that pointed at the original document, if any).
pub fn descriptor_for(
    media_type: &str,
    bytes: &[u8],
    template: Option<&Descriptor>,
) -> Result<Descriptor, Error> {
    let digest = Digest::sha256(bytes);
    let mut b = DescriptorBuilder::default()
        .media_type(MediaType::from(media_type))
        .digest(oci_spec::image::Digest::from(&digest))
        .size(bytes.len() as u64);
    if let Some(t) = template {
        if let Some(p) = t.platform() {
            b = b.platform(p.clone());
        }
        if let Some(a) = t.annotations() {
            b = b.annotations(a.clone());
        }
    }
    b.build().map_err(|e| Error::InvalidManifest(e.to_string()))
}

/// Parses an image configuration blob (Docker or OCI) into oci-spec's model.
pub fn parse_config(raw: &[u8]) -> Result<ImageConfiguration, Error> {
    serde_json::from_slice(raw).map_err(|e| Error::InvalidConfig(e.to_string()))
}
