//! Putting a locally pulled OCI archive into a node's template storage:
//! `POST /nodes/{node}/storage/{storage}/upload` (content `vztmpl`), the archive streamed
//! from disk as a multipart body (never held in memory) with its SHA-256 as the checksum
//! the node verifies before it keeps the file — unless the same archive is there already
//! (see [`super::record`] for how that is decided).

use std::path::Path;

use reqwest::multipart::{Form, Part};
use reqwest::{Body, Method};
use serde::Deserialize;
use skiff_oci::{Algorithm, DigestHasher};
use tokio::io::AsyncReadExt;

use super::client::{data, PveApi};
use super::cluster::Volume;
use super::error::ApiError;
use super::record::{key, UploadRecord, Uploaded};

/// What became of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// Uploaded now.
    Uploaded(Volume),
    /// The same archive was there already; nothing was sent.
    AlreadyThere(Volume),
}

/// `GET /nodes/{node}/storage/{storage}/status`, the fields used.
#[derive(Debug, Deserialize)]
struct StorageStatus {
    #[serde(default)]
    content: String,
    #[serde(default, deserialize_with = "flag")]
    shared: bool,
}

fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(matches!(v, serde_json::Value::Bool(true))
        || v.as_u64() == Some(1)
        || v.as_str() == Some("1"))
}

/// The archive's SHA-256 and size, read in chunks.
async fn sha256_of(path: &Path) -> Result<(String, u64), ApiError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ApiError::io(path, e))?;
    let mut hasher = DigestHasher::new(Algorithm::Sha256);
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| ApiError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hasher.finish().hex().to_string(), size))
}

impl PveApi {
    /// Puts `archive` on `storage` of `node` as `filename` (already normalised as
    /// Proxmox names templates), unless the recorded upload of the same archive is still
    /// there. `reference` and `manifest` (its digest) are kept in the record.
    #[allow(clippy::too_many_arguments)]
    pub async fn place_template(
        &self,
        node: &str,
        storage: &str,
        filename: &str,
        archive: &Path,
        (reference, manifest): (&str, &str),
        record: &UploadRecord,
    ) -> Result<Placed, ApiError> {
        let status = self.storage_status(node, storage).await?;
        if !status.content.split(',').any(|c| c.trim() == "vztmpl") {
            return Err(ApiError::Setup(format!(
                "storage {storage} on node {node} does not hold container templates (its \
                 content is {:?}, without vztmpl): choose another with --storage, or add \
                 vztmpl to its content (Datacenter → Storage)",
                status.content
            )));
        }
        let volid = format!("{storage}:vztmpl/{filename}");
        let record_key = key(self.target_origin().as_str(), node, status.shared, &volid);
        let (sha256, size) = sha256_of(archive).await?;
        if let Some(there) = self
            .templates(node, storage)
            .await?
            .into_iter()
            .find(|v| v.volid == volid)
        {
            let known = record.get(&record_key)?;
            let reason = match known {
                Some(k) if k.size == there.size && k.ctime == there.ctime => {
                    if k.sha256 == sha256 {
                        return Ok(Placed::AlreadyThere(there));
                    }
                    format!(
                        "holds another archive (sha256 {} where this pull has {sha256})",
                        k.sha256
                    )
                }
                Some(_) => {
                    "was replaced since skiff uploaded it (its size or time changed)".to_string()
                }
                None => format!(
                    "skiff did not upload it, so what it holds is unknown (Proxmox lists \
                     only its size, {} bytes, and a size proves nothing)",
                    there.size
                ),
            };
            return Err(ApiError::TemplateConflict {
                volid,
                node: node.to_string(),
                reason,
            });
        }
        self.upload(node, storage, filename, archive, &sha256, size)
            .await?;
        let placed = self
            .templates(node, storage)
            .await?
            .into_iter()
            .find(|v| v.volid == volid)
            .ok_or_else(|| ApiError::InvalidResponse {
                what: format!("GET /nodes/{node}/storage/{storage}/content"),
                message: format!("{volid} is not listed after its upload"),
            })?;
        record.put(
            record_key,
            Uploaded {
                size: placed.size,
                ctime: placed.ctime,
                sha256,
                reference: reference.to_string(),
                manifest: manifest.to_string(),
            },
        )?;
        Ok(Placed::Uploaded(placed))
    }

    async fn storage_status(&self, node: &str, storage: &str) -> Result<StorageStatus, ApiError> {
        self.get(&["nodes", node, "storage", storage, "status"], &[])
            .await
    }

    /// The templates on `storage` of `node`, each with what skiff recorded of it when it
    /// is still the file skiff uploaded (same size and ctime).
    pub async fn templates_with_origin(
        &self,
        node: &str,
        storage: &str,
        record: &UploadRecord,
    ) -> Result<Vec<(Volume, Option<Uploaded>)>, ApiError> {
        let status = self.storage_status(node, storage).await?;
        let origin = self.target_origin();
        let mut out = Vec::new();
        for v in self.templates(node, storage).await? {
            let known = record
                .get(&key(&origin, node, status.shared, &v.volid))?
                .filter(|k| k.size == v.size && k.ctime == v.ctime);
            out.push((v, known));
        }
        Ok(out)
    }

    /// The storages of `node` that hold container templates.
    pub async fn template_storages(&self, node: &str) -> Result<Vec<String>, ApiError> {
        let storages: Vec<serde_json::Value> = self
            .get(
                &["nodes", node, "storage"],
                &[("content", "vztmpl"), ("enabled", "1")],
            )
            .await?;
        let mut ids: Vec<String> = storages
            .iter()
            .filter_map(|s| {
                s.get("storage")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// The upload itself, and its `imgcopy` task followed to the end.
    async fn upload(
        &self,
        node: &str,
        storage: &str,
        filename: &str,
        archive: &Path,
        sha256: &str,
        size: u64,
    ) -> Result<(), ApiError> {
        let file = tokio::fs::File::open(archive)
            .await
            .map_err(|e| ApiError::io(archive, e))?;
        let part = Part::stream_with_length(Body::from(file), size)
            .file_name(filename.to_string())
            .mime_str("application/x-tar")
            .map_err(|e| ApiError::Setup(e.to_string()))?;
        // The parameters before the file, as Proxmox's own upload form sends them.
        let form = Form::new()
            .text("content", "vztmpl")
            .text("checksum-algorithm", "sha256")
            .text("checksum", sha256.to_string())
            .part("filename", part);
        let segments = ["nodes", node, "storage", storage, "upload"];
        let what = format!("{} /{}", Method::POST, segments.join("/"));
        let builder = self
            .request(Method::POST, self.url(&segments))
            .multipart(form);
        let resp = self.send(&what, builder).await?;
        let upid: String = data(&what, resp).await?;
        self.wait_task(&what, &upid).await?;
        Ok(())
    }
}
