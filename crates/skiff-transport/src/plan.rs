//! Stages 1 and 2 of a copy: resolve the image name to manifests, fetch and verify
//! configs, convert documents to the format the destination stores, and collect the
//! layers — so the destination learns every blob and size before any layer byte moves.

use skiff_oci::convert;
use skiff_oci::media_type;
use skiff_oci::{Descriptor, Manifest, ManifestKind, Platform};

use crate::blob::BlobInfo;
use crate::destination::{Document, DocumentKind, ManifestPolicy, WritePlan};
use crate::error::{Result, TransportError};
use crate::options::CopyOptions;
use crate::source::ImageSource;

/// One image below the top: its manifest, the descriptor that pointed at it (from an
/// index, if any) and its verified config bytes.
struct Resolved {
    manifest: Manifest,
    from: Option<Descriptor>,
    config: Vec<u8>,
}

/// Resolves the image name to one image manifest: the top manifest itself, or the entry
/// for `platform` when the top is an index (fetched by digest and verified).
pub async fn resolve_single(source: &dyn ImageSource, platform: &Platform) -> Result<Manifest> {
    let top = source.top_manifest().await?;
    match top.kind() {
        ManifestKind::Image(_) => Ok(top),
        ManifestKind::Index(idx) => {
            let d = platform.choose(idx)?;
            let m = source
                .manifest_by_digest(&skiff_oci::descriptor_digest(d)?)
                .await?;
            if let ManifestKind::Index(_) = m.kind() {
                return Err(nested_index(d));
            }
            Ok(m)
        }
    }
}

fn nested_index(d: &Descriptor) -> TransportError {
    TransportError::Unsupported(format!(
        "{} is a nested index, which skiff does not copy",
        d.digest()
    ))
}

/// An image's verified configuration bytes.
pub async fn config_bytes(source: &dyn ImageSource, manifest: &Manifest) -> Result<Vec<u8>> {
    let info = BlobInfo::from_descriptor(manifest.as_image()?.config())?;
    source.small_blob(&info).await
}

/// Resolves the image(s) and builds the write plan (stages 1 and 2).
pub async fn plan(
    source: &dyn ImageSource,
    policy: ManifestPolicy,
    options: &CopyOptions,
) -> Result<WritePlan> {
    let (mut images, index) = if options.all {
        let top = source.top_manifest().await?;
        match top.kind() {
            ManifestKind::Image(_) => (vec![top], None),
            ManifestKind::Index(idx) => {
                let mut children = Vec::new();
                for d in idx.manifests() {
                    let m = source
                        .manifest_by_digest(&skiff_oci::descriptor_digest(d)?)
                        .await?;
                    if let ManifestKind::Index(_) = m.kind() {
                        return Err(nested_index(d));
                    }
                    children.push((m, d.clone()));
                }
                (Vec::new(), Some((top.clone(), children)))
            }
        }
    } else {
        (vec![resolve_single(source, &options.platform).await?], None)
    };
    let resolve = |manifest: Manifest, from: Option<Descriptor>| async move {
        let config = config_bytes(source, &manifest).await?;
        Ok::<_, TransportError>(Resolved {
            manifest,
            from,
            config,
        })
    };

    let mut documents = Vec::new();
    let mut layers: Vec<BlobInfo> = Vec::new();
    let mut add_layers = |m: &Manifest| -> Result<()> {
        for l in m.as_image()?.layers() {
            let info = BlobInfo::from_descriptor(l)?;
            if !layers.iter().any(|b| b.digest == info.digest) {
                layers.push(info);
            }
        }
        Ok(())
    };

    let top_descriptor = match index {
        None => {
            let image = images
                .pop()
                .ok_or_else(|| TransportError::internal("planning resolved no image"))?;
            add_layers(&image)?;
            let r = resolve(image, None).await?;
            let (manifest_doc, config_doc, descriptor) = store_image(r, policy, options)?;
            documents.push(manifest_doc);
            documents.push(config_doc);
            descriptor
        }
        Some((index_manifest, children)) => {
            let mut descriptors = Vec::new();
            let mut configs = Vec::new();
            let mut converted_any = false;
            for (m, d) in children {
                add_layers(&m)?;
                let r = resolve(m, Some(d)).await?;
                converted_any |= policy.converts(r.manifest.media_type());
                let (mut manifest_doc, config_doc, descriptor) = store_image(r, policy, options)?;
                manifest_doc.kind = DocumentKind::Instance;
                documents.push(manifest_doc);
                configs.push(config_doc);
                descriptors.push(descriptor);
            }
            documents.extend(configs);
            let ManifestKind::Index(idx) = index_manifest.kind() else {
                return Err(TransportError::internal(
                    "the index changed kind while planning",
                ));
            };
            let (bytes, descriptor) =
                if converted_any || policy.converts(index_manifest.media_type()) {
                    refuse_conversion(options, &index_manifest, policy)?;
                    let c = if policy == ManifestPolicy::RequireDocker {
                        convert::index_to_docker(&descriptors)?
                    } else {
                        convert::index_to_oci(idx, descriptors)?
                    };
                    (c.bytes, c.descriptor)
                } else {
                    let d = convert::descriptor_for(
                        index_manifest.media_type(),
                        index_manifest.raw(),
                        None,
                    )?;
                    (index_manifest.raw().to_vec(), d)
                };
            documents.insert(
                0,
                Document {
                    digest: skiff_oci::descriptor_digest(&descriptor)?,
                    bytes,
                    kind: DocumentKind::Top,
                },
            );
            descriptor
        }
    };
    Ok(WritePlan {
        documents,
        layers,
        top: top_descriptor,
    })
}

fn refuse_conversion(options: &CopyOptions, m: &Manifest, policy: ManifestPolicy) -> Result<()> {
    if options.preserve_digests {
        let wanted = if policy == ManifestPolicy::RequireDocker {
            "Docker v2s2"
        } else {
            "OCI"
        };
        return Err(TransportError::Unsupported(format!(
            "--preserve-digests: the destination needs {wanted} media types, but {} is {}; converting would change its digest",
            m.digest(),
            m.media_type()
        )));
    }
    Ok(())
}

/// Decides the stored form of one image: verbatim, or converted to the format `policy`
/// requires.
fn store_image(
    r: Resolved,
    policy: ManifestPolicy,
    options: &CopyOptions,
) -> Result<(Document, Document, Descriptor)> {
    let image = r.manifest.as_image()?;
    let manifest_doc = |bytes, digest| Document {
        digest,
        bytes,
        kind: DocumentKind::Top,
    };
    let config_doc = |bytes, digest| Document {
        digest,
        bytes,
        kind: DocumentKind::Config,
    };
    let config_digest = skiff_oci::descriptor_digest(image.config())?;
    if !policy.converts(r.manifest.media_type()) {
        let media = if r.manifest.media_type().is_empty() {
            media_type::OCI_MANIFEST
        } else {
            r.manifest.media_type()
        };
        let descriptor = convert::descriptor_for(media, r.manifest.raw(), r.from.as_ref())?;
        return Ok((
            manifest_doc(r.manifest.raw().to_vec(), r.manifest.digest().clone()),
            config_doc(r.config, config_digest),
            descriptor,
        ));
    }
    refuse_conversion(options, &r.manifest, policy)?;
    let (manifest, config) = if policy == ManifestPolicy::RequireDocker {
        // Docker keeps the config blob as it is; only its media type changes.
        let mut image = image.clone();
        if let Some(encoding) = &options.layer_encoding {
            encoding.anticipate(&mut image);
        }
        let manifest = convert::manifest_to_docker(&image, r.from.as_ref())?;
        (manifest, config_doc(r.config, config_digest))
    } else {
        let config = convert::config_to_oci(&r.config)?;
        let manifest = convert::manifest_to_oci(image, &config.descriptor, r.from.as_ref())?;
        let digest = skiff_oci::descriptor_digest(&config.descriptor)?;
        (manifest, config_doc(config.bytes, digest))
    };
    Ok((
        manifest_doc(
            manifest.bytes,
            skiff_oci::descriptor_digest(&manifest.descriptor)?,
        ),
        config,
        manifest.descriptor,
    ))
}
