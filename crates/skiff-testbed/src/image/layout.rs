//! OCI image layouts on disk, as `oci:DIR:TAG` sources for skiff and skopeo.

use std::fs;
use std::io;
use std::path::Path;

use serde_json::{json, Value};

use super::{media, Blob, Image, MultiArch};

const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn write_blob(dir: &Path, digest: &str, data: &[u8]) -> io::Result<()> {
    let hex = digest.strip_prefix("sha256:").ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a sha256 digest: {digest}"),
        )
    })?;
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs)?;
    fs::write(blobs.join(hex), data)
}

fn write_image_blobs(dir: &Path, image: &Image) -> io::Result<()> {
    for Blob { digest, data, .. } in image.blobs() {
        write_blob(dir, digest, data)?;
    }
    write_blob(dir, &image.manifest_digest, &image.manifest)
}

/// Adds `descriptor` to DIR/index.json under `tag`, replacing an entry with
/// the same tag and keeping the others.
fn add_to_index(
    dir: &Path,
    tag: &str,
    media_type: &str,
    digest: &str,
    size: usize,
) -> io::Result<()> {
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let path = dir.join("index.json");
    let mut index: Value = match fs::read(&path) {
        Ok(b) => {
            serde_json::from_slice(&b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": []})
        }
        Err(e) => return Err(e),
    };
    let manifests = index
        .get_mut("manifests")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "index.json has no manifests array",
            )
        })?;
    manifests.retain(|m| {
        m.pointer("/annotations/org.opencontainers.image.ref.name")
            .and_then(Value::as_str)
            != Some(tag)
    });
    manifests.push(json!({
        "mediaType": media_type,
        "digest": digest,
        "size": size,
        "annotations": {REF_NAME: tag},
    }));
    fs::write(path, serde_json::to_vec(&index).expect("index serialises"))
}

/// Writes `image` into the OCI layout at `dir` (created if missing) under
/// `tag`: `oci-layout`, `blobs/sha256/<hex>` and an `index.json` entry with
/// the `org.opencontainers.image.ref.name` annotation. An existing index keeps
/// its other entries, so several tags can share one layout.
pub fn write_oci_layout(dir: &Path, tag: &str, image: &Image) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    write_image_blobs(dir, image)?;
    add_to_index(
        dir,
        tag,
        &image.manifest_media_type,
        &image.manifest_digest,
        image.manifest.len(),
    )
}

/// Like [`write_oci_layout`] for a multi-platform image: the tag points at the
/// nested index, whose images' blobs are all written.
pub fn write_oci_layout_index(dir: &Path, tag: &str, multi: &MultiArch) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    for image in &multi.images {
        write_image_blobs(dir, image)?;
    }
    write_blob(dir, &multi.digest, &multi.index)?;
    add_to_index(
        dir,
        tag,
        &multi.media_type,
        &multi.digest,
        multi.index.len(),
    )
}
