//! The source's signatures a copy carries to its destination, found before the copy starts,
//! as containers/image does: the signatures of the manifest the destination name will
//! point at and, with `--all`, those of every per-platform image of the index.

use skiff_oci::{Digest, ManifestKind, Platform};
use skiff_transport::{resolve_single, ImageName, ImageSource, OpenOptions, TransportError};
use skiff_trust::Signature;

use crate::policy::{source_signatures, Signed};

/// Signatures by the source manifest digest they sign.
#[derive(Debug, Default)]
pub struct Carried {
    /// The manifest the destination name will point at (the index with `--all`, else the
    /// image copied) and its signatures; `None` with `--remove-signatures`.
    pub top: Option<(Digest, Vec<Signature>)>,
    /// With `--all`, each per-platform image that has signatures, and those signatures.
    pub instances: Vec<(Digest, Vec<Signature>)>,
}

impl Carried {
    /// Whether there is nothing to carry.
    pub fn is_empty(&self) -> bool {
        self.top.as_ref().is_none_or(|(_, s)| s.is_empty()) && self.instances.is_empty()
    }
}

/// The signatures the source holds for the manifests a copy will write: the top manifest
/// (with `--all`, or when it is an image), else the one chosen for the platform, whose
/// signatures become the destination's top ones; and with `--all` those of each
/// per-platform image, stored again for the same image at the destination.
pub async fn carried_signatures(
    source: &dyn ImageSource,
    name: &ImageName,
    all: bool,
    platform: &Platform,
    registries_d: &std::path::Path,
    open: &OpenOptions,
) -> Result<Carried, TransportError> {
    let top = source.top_manifest().await?;
    match top.kind() {
        ManifestKind::Image(_) => Ok(Carried {
            top: Some((
                top.digest().clone(),
                source_signatures(name, Signed::Top(top.digest()), registries_d, open).await?,
            )),
            instances: Vec::new(),
        }),
        ManifestKind::Index(index) if all => {
            let mut instances = Vec::new();
            for d in index.manifests() {
                let digest = skiff_oci::descriptor_digest(d)?;
                let found =
                    source_signatures(name, Signed::Instance(&digest), registries_d, open).await?;
                if !found.is_empty() {
                    instances.push((digest, found));
                }
            }
            Ok(Carried {
                top: Some((
                    top.digest().clone(),
                    source_signatures(name, Signed::Top(top.digest()), registries_d, open).await?,
                )),
                instances,
            })
        }
        ManifestKind::Index(_) => {
            let instance = resolve_single(source, platform).await?;
            let found = source_signatures(
                name,
                Signed::Instance(instance.digest()),
                registries_d,
                open,
            )
            .await?;
            Ok(Carried {
                top: Some((instance.digest().clone(), found)),
                instances: Vec::new(),
            })
        }
    }
}
