//! Rewriting the plan's manifests (and index) to name re-encoded layers.

use std::collections::HashMap;

use oci_spec::image::DescriptorBuilder;
use skiff_oci::{convert, Descriptor, Digest, Manifest};

use crate::blob::BlobInfo;
use crate::destination::{DocumentKind, WritePlan};
use crate::error::{Result, TransportError};

/// Points the plan's manifests at the re-encoded layers, then the index (if any) at the
/// rewritten manifests, and the plan's top at whichever document now comes first.
pub(super) fn rewrite_documents(
    plan: &mut WritePlan,
    replaced: &HashMap<Digest, BlobInfo>,
) -> Result<()> {
    // Each manifest document, parsed once, with its place in the plan.
    let mut manifests = Vec::new();
    for (i, doc) in plan.documents.iter().enumerate() {
        if doc.kind != DocumentKind::Config {
            manifests.push((i, Manifest::parse(doc.bytes.clone(), None)?));
        }
    }
    let index = manifests.iter().find(|(_, m)| m.is_index());
    let entries: Vec<Descriptor> = match index.map(|(_, m)| m.kind()) {
        Some(skiff_oci::ManifestKind::Index(idx)) => idx.manifests().clone(),
        _ => Vec::new(),
    };
    // Old manifest digest → the descriptor of its rewritten bytes.
    let mut rewritten: HashMap<Digest, Descriptor> = HashMap::new();
    for (i, manifest) in manifests.iter().filter(|(_, m)| !m.is_index()) {
        let image = manifest.as_image()?;
        let mut changed = false;
        let layers = image
            .layers()
            .iter()
            .map(|l| match replaced.get(&skiff_oci::descriptor_digest(l)?) {
                Some(new) => {
                    changed = true;
                    new_layer_descriptor(l, new)
                }
                None => Ok(l.clone()),
            })
            .collect::<Result<Vec<_>>>()?;
        if !changed {
            continue;
        }
        let template = entries
            .iter()
            .find(|e| skiff_oci::descriptor_digest(e).is_ok_and(|d| &d == manifest.digest()));
        let c = convert::replace_layers(manifest, layers, template)?;
        let doc = &mut plan.documents[*i];
        rewritten.insert(doc.digest.clone(), c.descriptor.clone());
        doc.digest = skiff_oci::descriptor_digest(&c.descriptor)?;
        doc.bytes = c.bytes;
        if doc.kind == DocumentKind::Top {
            plan.top = c.descriptor;
        }
    }
    if let Some((i, index)) = index {
        let manifests = entries
            .iter()
            .map(|e| {
                let old = skiff_oci::descriptor_digest(e)?;
                Ok(rewritten.get(&old).cloned().unwrap_or_else(|| e.clone()))
            })
            .collect::<Result<Vec<_>>>()?;
        let c = convert::replace_manifests(index, manifests)?;
        let doc = &mut plan.documents[*i];
        doc.digest = skiff_oci::descriptor_digest(&c.descriptor)?;
        doc.bytes = c.bytes;
        plan.top = c.descriptor;
    }
    Ok(())
}

/// The descriptor of a re-encoded layer: OCI media type for its new compression (a
/// Docker manifest maps it back), new digest and size; annotations kept, urls dropped
/// (they named the old blob).
fn new_layer_descriptor(old: &Descriptor, new: &BlobInfo) -> Result<Descriptor> {
    let mut b = DescriptorBuilder::default()
        .media_type(new.media_type.as_str())
        .digest(oci_spec::image::Digest::from(&new.digest))
        .size(new.size);
    if let Some(a) = old.annotations() {
        b = b.annotations(a.clone());
    }
    // Every field comes from descriptors already validated: failing here is a bug.
    b.build()
        .map_err(|e| TransportError::Internal(format!("re-encoded layer descriptor: {e}")))
}
