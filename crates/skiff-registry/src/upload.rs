//! Blob uploads the way a good client pushes: mounted from another repository when the
//! registry already has the blob, monolithic (`POST` + one `PUT`) while the registry
//! takes that, in chunks (`PATCH`) once it refuses a body as too large.
//!
//! A `PUT` that failed midway leaves a partial upload behind that the registry refuses
//! to append to, so every attempt starts a new upload. Whether there can be another
//! attempt depends on the body ([`UploadBody`]): bytes in memory and reopenable streams
//! are sent again; a stream read once — a layer flowing through the copy pipeline, which
//! only the caller could produce again — is retried only while its `PUT` has not started.
//! Spooling such a stream to disk so it could be replayed was the alternative; it would
//! add a copy of every layer to the hot path of every push.
//!
//! **Chunked fallback.** Registries behind a proxy or CDN with a request size limit
//! answer a large monolithic `PUT` with `413 Payload Too Large`. The client then
//! remembers, for every later upload to that registry, to send blobs as `PATCH` chunks of
//! a size the registry takes (halved on each further 413, down to [`MIN_CHUNK`]) and to
//! close the upload with an empty `PUT`. A body still at hand is sent again at once that
//! way; a layer whose stream was spent is restarted from its source by the copy pipeline
//! (413 counts as transient, see [`RegistryError::is_transient`]). A chunk is held in
//! memory while it is sent (so it can be sent again), which bounds memory per upload.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use reqwest::{Method, Response, StatusCode};
use skiff_oci::Digest;
use url::Url;

use crate::client::{pull, push, RegistryClient};
use crate::error::RegistryError;
use crate::response::{error_for, header_string, header_value};
use crate::send::{ByteStream, Request, UploadBody};

/// The chunk size first tried once a registry refused a monolithic upload: large enough
/// for few requests (a 40 MB layer in ten), small enough that the chunks of six parallel
/// uploads stay well within skiff's 64 MiB memory budget (six 8 MiB chunks, held while
/// they are sent, would be 48 MiB alone).
const FIRST_CHUNK: u64 = 4 << 20;
/// Chunks are never made smaller than this; a registry refusing those is an error.
pub const MIN_CHUNK: u64 = 64 << 10;

/// How a registry takes uploads, learned from its answers and shared by every upload of
/// the client: 0 while monolithic uploads are fine, else the chunk size to send.
#[derive(Debug, Default)]
pub(crate) struct UploadMode {
    chunk: AtomicU64,
}

impl UploadMode {
    fn chunk(&self) -> Option<u64> {
        Some(self.chunk.load(Ordering::Relaxed)).filter(|&c| c > 0)
    }

    /// A body of `refused` bytes was too large: chunks from now on are smaller than it.
    /// `false` when they cannot be made small enough.
    fn shrink(&self, refused: u64) -> bool {
        let wanted = (refused / 2).min(FIRST_CHUNK);
        if wanted < MIN_CHUNK {
            return false;
        }
        let _ = self
            .chunk
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                Some(if c == 0 { wanted } else { c.min(wanted) })
            });
        true
    }
}

impl RegistryClient {
    /// Uploads a blob whose body can be read once (a layer streaming through the copy
    /// pipeline): [`RegistryClient::upload_blob`] with [`UploadBody::once`]. Failures
    /// before the body is sent are retried; a failed `PUT` is not (see [`UploadBody`]).
    pub async fn push_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        body: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ) -> Result<(), RegistryError> {
        self.upload_blob(repo, digest, size, UploadBody::once(body))
            .await
    }

    /// Uploads a blob: monolithically (`POST` to start an upload, one `PUT` with the body
    /// and the digest, which the registry verifies), or in chunks once the registry has
    /// refused a body as too large (see the module doc). An upload cut short is never
    /// completed. Retried as a whole as far as the body allows. Once stored, the client
    /// remembers where (see [`RegistryClient::landed_in`]).
    pub async fn upload_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        body: UploadBody,
    ) -> Result<(), RegistryError> {
        self.upload_any_way(repo, digest, size, body).await?;
        self.remember_landed(repo, digest);
        Ok(())
    }

    async fn upload_any_way(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        body: UploadBody,
    ) -> Result<(), RegistryError> {
        if self.upload_mode().chunk().is_some() {
            return self.upload_chunked(repo, digest, size, &body).await;
        }
        let what = self.blob_what(repo, digest);
        let scope = push(repo);
        let label = format!("upload of {what}");
        let resp = self
            .sender()
            .policy
            .run(&label, &what, || {
                body.can_open()
                    .then(|| self.upload_attempt(repo, digest, size, &body, &scope, &what))
            })
            .await?;
        if resp.status().is_success() {
            return Ok(());
        }
        if resp.status() == StatusCode::PAYLOAD_TOO_LARGE
            && self.upload_mode().shrink(size)
            && body.can_open()
        {
            return self.upload_chunked(repo, digest, size, &body).await;
        }
        Err(error_for(resp, &what).await)
    }

    /// Asks the registry to mount blob `digest` of repository `from` into `repo` — no
    /// bytes move. `true` when mounted; `false` when the registry did not (it lacks the
    /// blob there, or we may not read `from`), and the blob must be uploaded.
    pub async fn mount_blob(
        &self,
        repo: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<bool, RegistryError> {
        let what = self.blob_what(repo, digest);
        // Pull on the source repository too, or a token server grants no mount.
        let scope = format!("{} {}", push(repo), pull(from));
        let mut url = self.url(&format!("/v2/{repo}/blobs/uploads/"))?;
        url.query_pairs_mut()
            .append_pair("mount", &digest.to_string())
            .append_pair("from", from);
        let resp = self
            .sender()
            .execute(Request::new(Method::POST, url, &scope, &what))
            .await?;
        match resp.status() {
            StatusCode::CREATED => {
                self.remember_landed(repo, digest);
                Ok(true)
            }
            StatusCode::ACCEPTED => {
                // The registry started an ordinary upload instead: cancel it.
                if let Ok(url) = upload_location(&resp, &what) {
                    let cancel = Request::new(Method::DELETE, url, &scope, &what);
                    let _ = self.sender().exchange(&cancel).await;
                }
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// One `POST` + `PUT`. A refused `POST` is answered as is (so 429 and 5xx are retried
    /// by the caller's loop); any other failure to start is an error.
    async fn upload_attempt(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        body: &UploadBody,
        scope: &str,
        what: &str,
    ) -> Result<Response, RegistryError> {
        let url = self.url(&format!("/v2/{repo}/blobs/uploads/"))?;
        let start = Request::new(Method::POST, url, scope, what);
        let resp = self.sender().exchange(&start).await?;
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Ok(resp);
        }
        if status != StatusCode::ACCEPTED {
            return Err(error_for(resp, what).await);
        }
        let mut url = upload_location(&resp, what)?;
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let mut put = Request::new(Method::PUT, url, scope, what);
        put.headers
            .insert(CONTENT_TYPE, header_value("application/octet-stream")?);
        put.headers.insert(CONTENT_LENGTH, size.into());
        put.body = Some(body);
        self.sender().exchange(&put).await
    }

    /// A chunked upload: `POST`, one `PATCH` per chunk, an empty `PUT` with the digest.
    /// Every request goes through the retry loop; chunks are in memory, so a retried
    /// `PATCH` sends its chunk again.
    async fn upload_chunked(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        body: &UploadBody,
    ) -> Result<(), RegistryError> {
        let what = self.blob_what(repo, digest);
        let scope = push(repo);
        let mut stream: ByteStream = body.open_stream().ok_or_else(|| {
            RegistryError::Setup(format!(
                "{what}: the upload cannot be sent again (its body is read once)"
            ))
        })?;
        let start = self.url(&format!("/v2/{repo}/blobs/uploads/"))?;
        let resp = self
            .sender()
            .execute(Request::new(Method::POST, start, &scope, &what))
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(error_for(resp, &what).await);
        }
        let mut url = upload_location(&resp, &what)?;
        let (mut buf, mut offset, mut ended) = (BytesMut::new(), 0u64, false);
        loop {
            let chunk = self.upload_mode().chunk().unwrap_or(FIRST_CHUNK);
            while !ended && (buf.len() as u64) < chunk {
                match stream.next().await {
                    Some(Ok(b)) => buf.extend_from_slice(&b),
                    Some(Err(e)) => {
                        return Err(RegistryError::Setup(format!(
                            "{what}: reading the blob to upload: {e}"
                        )))
                    }
                    None => ended = true,
                }
            }
            if buf.is_empty() {
                break;
            }
            let n = buf.len().min(chunk as usize);
            let part = buf.split_to(n).freeze();
            match self
                .patch(&url, offset, part.clone(), &scope, &what)
                .await?
            {
                Some(next) => {
                    url = next;
                    offset += n as u64;
                }
                None if self.upload_mode().shrink(n as u64) => {
                    // Refused as too large: the same bytes again, in smaller chunks.
                    let mut again = BytesMut::from(&part[..]);
                    again.extend_from_slice(&buf);
                    buf = again;
                }
                None => {
                    return Err(RegistryError::InvalidResponse {
                        what,
                        message: format!(
                            "the registry refuses upload chunks of {n} bytes as too large"
                        ),
                    })
                }
            }
        }
        if offset != size {
            return Err(RegistryError::Setup(format!(
                "{what}: the blob to upload has {offset} bytes, not {size}"
            )));
        }
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let mut put = Request::new(Method::PUT, url, &scope, &what);
        put.headers.insert(CONTENT_LENGTH, 0u64.into());
        let resp = self.sender().execute(put).await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(error_for(resp, &what).await)
        }
    }

    /// Sends one chunk at `offset`: the upload's next URL, or `None` when the registry
    /// refused the chunk as too large.
    async fn patch(
        &self,
        url: &Url,
        offset: u64,
        part: Bytes,
        scope: &str,
        what: &str,
    ) -> Result<Option<Url>, RegistryError> {
        let len = part.len() as u64;
        let body = UploadBody::bytes(part);
        let mut req = Request::new(Method::PATCH, url.clone(), scope, what);
        req.headers
            .insert(CONTENT_TYPE, header_value("application/octet-stream")?);
        req.headers.insert(CONTENT_LENGTH, len.into());
        req.headers.insert(
            CONTENT_RANGE,
            header_value(&format!("{offset}-{}", offset + len - 1))?,
        );
        req.body = Some(&body);
        let resp = self.sender().execute(req).await?;
        match resp.status() {
            StatusCode::ACCEPTED => upload_location(&resp, what).map(Some),
            StatusCode::PAYLOAD_TOO_LARGE => Ok(None),
            _ => Err(error_for(resp, what).await),
        }
    }
}

/// The upload URL a registry answered with (`Location`, relative to the request).
fn upload_location(resp: &Response, what: &str) -> Result<Url, RegistryError> {
    let location = header_string(resp.headers(), LOCATION.as_str()).ok_or_else(|| {
        RegistryError::InvalidResponse {
            what: what.to_string(),
            message: "upload started without a Location".into(),
        }
    })?;
    resp.url()
        .join(&location)
        .map_err(|e| RegistryError::InvalidResponse {
            what: what.to_string(),
            message: format!("bad upload Location {location:?}: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_shrink_to_what_the_registry_takes() {
        let mode = UploadMode::default();
        assert_eq!(mode.chunk(), None);
        assert!(mode.shrink(100 << 20));
        assert_eq!(mode.chunk(), Some(FIRST_CHUNK));
        assert!(mode.shrink(FIRST_CHUNK));
        assert_eq!(mode.chunk(), Some(FIRST_CHUNK / 2));
        // A larger refusal never grows the chunk again.
        assert!(mode.shrink(100 << 20));
        assert_eq!(mode.chunk(), Some(FIRST_CHUNK / 2));
        assert!(!mode.shrink(MIN_CHUNK));
        assert!(!UploadMode::default().shrink(1000));
    }
}
