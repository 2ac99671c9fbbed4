//! index.json: finding an image by reference name and recording a new one.

use oci_spec::image::{Descriptor, ImageIndex};
use skiff_oci::media_type;

use super::REF_NAME;
use crate::error::{Result, TransportError};

/// The reference name of a descriptor, if it has one.
pub fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations()
        .as_ref()
        .and_then(|a| a.get(REF_NAME))
        .map(String::as_str)
}

/// Parses index.json.
pub fn parse(bytes: &[u8], where_: &str) -> Result<ImageIndex> {
    serde_json::from_slice(bytes)
        .map_err(|e| TransportError::Corrupt(format!("{where_}: invalid index.json: {e}")))
}

/// Selects the image named `reference`, or the only image when no name is given.
pub fn select<'a>(
    index: &'a ImageIndex,
    reference: Option<&str>,
    where_: &str,
) -> Result<&'a Descriptor> {
    let manifests = index.manifests();
    match reference {
        Some(r) => manifests
            .iter()
            .find(|d| ref_name(d) == Some(r))
            .ok_or_else(|| {
                TransportError::local_not_found(format!("no image named {r:?} in {where_}"))
            }),
        None => match manifests.as_slice() {
            [only] => Ok(only),
            [] => Err(TransportError::local_not_found(format!(
                "{where_} holds no image"
            ))),
            many => Err(TransportError::InvalidName(
                where_.to_string(),
                format!(
                    "the layout holds {} images; name one as PATH:REF",
                    many.len()
                ),
            )),
        },
    }
}

/// `top` with its reference-name annotation set (or left without one).
pub fn named(top: &Descriptor, reference: Option<&str>) -> Descriptor {
    let mut d = top.clone();
    if let Some(r) = reference {
        let mut a = d.annotations().clone().unwrap_or_default();
        a.insert(REF_NAME.to_string(), r.to_string());
        d.set_annotations(Some(a));
    }
    d
}

/// Adds `entry` to an index, replacing the image previously known by the same reference
/// name (or, for an unnamed entry, an unnamed entry with the same digest).
pub fn upsert(index: &mut ImageIndex, entry: Descriptor) {
    let name = ref_name(&entry).map(str::to_string);
    let mut manifests: Vec<Descriptor> = index
        .manifests()
        .iter()
        .filter(|d| match &name {
            Some(n) => ref_name(d) != Some(n.as_str()),
            None => !(ref_name(d).is_none() && d.digest() == entry.digest()),
        })
        .cloned()
        .collect();
    manifests.push(entry);
    index.set_manifests(manifests);
}

/// A fresh index holding just `entry`, serialised.
pub fn single(entry: Descriptor) -> Result<Vec<u8>> {
    let mut index = empty();
    index.set_manifests(vec![entry]);
    to_bytes(&index)
}

/// An empty index with the OCI media type.
pub fn empty() -> ImageIndex {
    let mut index: ImageIndex =
        serde_json::from_str(r#"{"schemaVersion":2,"manifests":[]}"#).unwrap_or_default();
    index.set_media_type(Some(oci_spec::image::MediaType::from(
        media_type::OCI_INDEX,
    )));
    index
}

/// Serialises an index.
pub fn to_bytes(index: &ImageIndex) -> Result<Vec<u8>> {
    serde_json::to_vec(index)
        .map_err(|e| TransportError::internal(format!("cannot serialise index.json: {e}")))
}
