//! Sigstore signatures as registry attachments (`use-sigstore-attachments`): next to the
//! image with manifest `sha256:HEX`, an OCI manifest tagged `sha256-HEX.sig` whose layers
//! are the signature payloads, their annotations carrying the signatures. Reading uses
//! skiff-trust's checks of that manifest and each payload; writing adds new layers to the
//! manifest already there (signatures accumulate, as with cosign and skopeo).

use futures_util::TryStreamExt as _;
use skiff_oci::{Digest, Reference};
use skiff_registry::{RegistryClient, UploadBody};
use skiff_trust::attachments::{attachment_layers, MAX_SIGNATURE_LAYER};
use skiff_trust::registries_d::sigstore_attachment_tag;
use skiff_trust::SigstoreSignature;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// The attachment manifest of `digest` in `reference`'s repository, `None` when absent.
async fn current(
    client: &RegistryClient,
    reference: &Reference,
    digest: &Digest,
) -> Result<Option<Vec<u8>>, String> {
    let tag = sigstore_attachment_tag(digest);
    match client.get_manifest(reference.repository(), &tag).await {
        Ok(m) => Ok(Some(m.bytes)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(format!("reading sigstore attachments {tag}: {e}")),
    }
}

/// The sigstore signatures attached to manifest `digest`, each payload checked against
/// its descriptor.
pub async fn read(
    client: &RegistryClient,
    reference: &Reference,
    digest: &Digest,
) -> Result<Vec<SigstoreSignature>, String> {
    let Some(manifest) = current(client, reference, digest).await? else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for layer in attachment_layers(&manifest).map_err(|e| e.to_string())? {
        let stream = client
            .get_blob(reference.repository(), &layer.digest, Some(layer.size))
            .await
            .map_err(|e| format!("reading signature payload {}: {e}", layer.digest))?;
        let mut payload = Vec::new();
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = stream
            .try_next()
            .await
            .map_err(|e| format!("reading signature payload {}: {e}", layer.digest))?
        {
            payload.extend_from_slice(&chunk);
            if payload.len() as u64 > MAX_SIGNATURE_LAYER {
                return Err(format!("signature payload {} is too large", layer.digest));
            }
        }
        found.push(layer.into_signature(payload).map_err(|e| e.to_string())?);
    }
    Ok(found)
}

/// Adds `signatures` to the attachments of manifest `digest` (those already there, byte
/// for byte the same, are not added twice).
pub async fn write(
    client: &RegistryClient,
    reference: &Reference,
    digest: &Digest,
    signatures: &[SigstoreSignature],
) -> Result<(), String> {
    let repo = reference.repository();
    let mut manifest: serde_json::Value = match current(client, reference, digest).await? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("the sigstore attachment manifest is not JSON: {e}"))?,
        None => serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "layers": [],
        }),
    };
    let mut layers: Vec<serde_json::Value> = manifest
        .get("layers")
        .and_then(|l| l.as_array())
        .cloned()
        .unwrap_or_default();
    for sig in signatures {
        let payload_digest = Digest::sha256(&sig.payload);
        let layer = serde_json::json!({
            "mediaType": sig.mime_type,
            "digest": payload_digest.to_string(),
            "size": sig.payload.len(),
            "annotations": sig.annotations,
        });
        if layers.contains(&layer) {
            continue;
        }
        upload(client, repo, &payload_digest, sig.payload.clone()).await?;
        layers.push(layer);
    }
    let diff_ids: Vec<serde_json::Value> = layers
        .iter()
        .filter_map(|l| l.get("digest").cloned())
        .collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .map_err(|e| e.to_string())?;
    let config_digest = Digest::sha256(&config);
    let config_size = config.len();
    upload(client, repo, &config_digest, config).await?;
    manifest["config"] = serde_json::json!({
        "mediaType": OCI_CONFIG,
        "digest": config_digest.to_string(),
        "size": config_size,
    });
    manifest["layers"] = serde_json::Value::Array(layers);
    let bytes = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
    let tag = sigstore_attachment_tag(digest);
    client
        .put_manifest(repo, &tag, bytes, OCI_MANIFEST)
        .await
        .map_err(|e| format!("writing sigstore attachments {tag}: {e}"))?;
    Ok(())
}

async fn upload(
    client: &RegistryClient,
    repo: &str,
    digest: &Digest,
    bytes: Vec<u8>,
) -> Result<(), String> {
    let size = bytes.len() as u64;
    if client
        .blob_exists(repo, digest)
        .await
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Ok(());
    }
    client
        .upload_blob(repo, digest, size, UploadBody::bytes(bytes))
        .await
        .map_err(|e| format!("uploading signature blob {digest}: {e}"))
}
