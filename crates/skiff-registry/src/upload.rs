//! Blob uploads: the `POST` + `PUT` pair of a monolithic upload, retried as one.
//!
//! A `PUT` that failed midway leaves a partial upload behind that the registry refuses
//! to append to, so every attempt starts a new upload. Whether there can be another
//! attempt depends on the body ([`UploadBody`]): bytes in memory and reopenable streams
//! are sent again; a stream read once — a layer flowing through the copy pipeline, which
//! only the caller could produce again — is retried only while its `PUT` has not started.
//! Spooling such a stream to disk so it could be replayed was the alternative; it would
//! add a copy of every layer to the hot path of every push.

use bytes::Bytes;
use futures_util::Stream;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, Response, StatusCode};
use skiff_oci::Digest;

use crate::client::{push, RegistryClient};
use crate::error::RegistryError;
use crate::response::{error_for, header_string, header_value};
use crate::send::{Request, UploadBody};

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

    /// Uploads a blob monolithically: `POST` to start an upload, one `PUT` with the body
    /// and the digest, which the registry verifies; an upload cut short is never
    /// completed. Retried as a whole as far as the body allows (see the module doc).
    pub async fn upload_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        body: UploadBody,
    ) -> Result<(), RegistryError> {
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
            Ok(())
        } else {
            Err(error_for(resp, &what).await)
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
        let location = header_string(resp.headers(), LOCATION.as_str()).ok_or_else(|| {
            RegistryError::InvalidResponse {
                what: what.to_string(),
                message: "upload started without a Location".into(),
            }
        })?;
        let mut url = resp
            .url()
            .join(&location)
            .map_err(|e| RegistryError::InvalidResponse {
                what: what.to_string(),
                message: format!("bad upload Location {location:?}: {e}"),
            })?;
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let mut put = Request::new(Method::PUT, url, scope, what);
        put.headers
            .insert(CONTENT_TYPE, header_value("application/octet-stream")?);
        put.headers.insert(CONTENT_LENGTH, size.into());
        put.body = Some(body);
        self.sender().exchange(&put).await
    }
}
