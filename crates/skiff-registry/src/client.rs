//! The Distribution API endpoints: one client per registry, shared by every request of a
//! command. How requests are sent (auth, redirects, retries) lives in [`crate::send`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use reqwest::{Method, Response, StatusCode};
use skiff_oci::media_type::MANIFEST_ACCEPT;
use skiff_oci::{Algorithm, Digest, Verifier};
use url::Url;

use crate::auth::Auth;
use crate::blob_stream::{BlobStream, Resume};
use crate::credentials;
use crate::error::{describe, RegistryError};
use crate::options::ClientOptions;
use crate::response::{error_for, header_string, header_value};
use crate::retry::RetryPolicy;
use crate::send::{Request, Sender, UploadBody};
use crate::tls;
use crate::upload::UploadMode;

/// The largest manifest accepted (the distribution spec suggests 4 MiB).
pub const MAX_MANIFEST: usize = 16 << 20;
/// A connection not established in this long is given up (and retried): an address that
/// drops packets would otherwise hang until the kernel's own timeout of minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection that delivers nothing for this long is given up (and resumed). This also
/// bounds a registry or token endpoint that accepts but never sends its headers.
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Tag list pages followed at most: a registry whose `Link` never ends is refused.
const MAX_TAG_PAGES: usize = 10_000;

/// A manifest as served.
#[derive(Debug, Clone)]
pub struct ManifestResponse {
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// The Content-Type the registry gave.
    pub content_type: Option<String>,
    /// The sha256 digest of the bytes.
    pub digest: Digest,
}

/// What a HEAD of a manifest tells.
#[derive(Debug, Clone)]
pub struct ManifestHead {
    /// Docker-Content-Digest, when sent.
    pub digest: Option<Digest>,
    /// Content-Type.
    pub content_type: Option<String>,
    /// Content-Length.
    pub size: Option<u64>,
}

struct Inner {
    registry: String,
    sender: Sender,
    /// Monolithic or chunked uploads, as the registry has shown it wants them.
    uploads: UploadMode,
    /// Blobs this client uploaded or mounted, and a repository that has each.
    landed: Mutex<HashMap<Digest, String>>,
}

/// A client for one registry. Cheap to clone; clones share connections and tokens.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

fn api_host(registry: &str) -> &str {
    if registry == skiff_oci::DEFAULT_REGISTRY {
        "registry-1.docker.io"
    } else {
        registry
    }
}

pub(crate) fn pull(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

pub(crate) fn push(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

impl RegistryClient {
    /// A client for `registry` as written in references (`docker.io`, `host:5000`).
    pub fn new(registry: &str, options: ClientOptions) -> Result<Self, RegistryError> {
        let host = api_host(registry);
        let insecure = options.tls_verify == Some(false);
        let http = tls::client_builder(host, &options)?
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(options.user_agent.clone())
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(options.timeout.unwrap_or(DEFAULT_READ_TIMEOUT))
            .build()
            .map_err(|e| {
                RegistryError::Setup(format!(
                    "cannot set up HTTP for {registry}: {}",
                    describe(&e)
                ))
            })?;
        let parse = |scheme: &str| {
            Url::parse(&format!("{scheme}://{host}/"))
                .map_err(|e| RegistryError::Setup(format!("invalid registry {registry:?}: {e}")))
        };
        let mut bases = vec![parse("https")?];
        if insecure {
            bases.push(parse("http")?);
        }
        let basic = match (&options.credentials, options.no_creds) {
            (Some(c), _) => Some(c.clone()),
            (None, true) => None,
            (None, false) => credentials::lookup(options.auth_file.as_deref(), registry)
                .map_err(|e| RegistryError::Setup(e.to_string()))?,
        };
        let policy = RetryPolicy::new(
            options.retry_times,
            options.retry_delay,
            options.on_retry.clone(),
        );
        let auth = Auth::new(
            registry,
            http.clone(),
            basic,
            options.registry_token.clone(),
            options.on_exchange.clone(),
        );
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                registry: registry.to_string(),
                sender: Sender::new(http, auth, policy, bases, options.on_exchange.clone()),
                uploads: UploadMode::default(),
                landed: Mutex::default(),
            }),
        })
    }

    pub(crate) fn sender(&self) -> &Sender {
        &self.inner.sender
    }

    pub(crate) fn upload_mode(&self) -> &UploadMode {
        &self.inner.uploads
    }

    /// A repository of this registry that this client has put blob `digest` into
    /// (uploaded or mounted), to mount it from when another repository needs it: the
    /// images of a sync, one client per registry, upload a shared base layer once.
    pub fn landed_in(&self, digest: &Digest) -> Option<String> {
        self.inner.landed.lock().ok()?.get(digest).cloned()
    }

    pub(crate) fn remember_landed(&self, repo: &str, digest: &Digest) {
        if let Ok(mut landed) = self.inner.landed.lock() {
            landed.insert(digest.clone(), repo.to_string());
        }
    }

    pub(crate) fn url(&self, path: &str) -> Result<Url, RegistryError> {
        self.sender()
            .base()
            .join(path)
            .map_err(|e| RegistryError::Setup(format!("invalid URL path {path:?}: {e}")))
    }

    fn what(&self, repo: &str, reference: &str) -> String {
        let sep = if reference.contains(':') { "@" } else { ":" };
        format!("{}/{repo}{sep}{reference}", self.inner.registry)
    }

    pub(crate) fn blob_what(&self, repo: &str, digest: &Digest) -> String {
        format!("{}/{repo}@{digest}", self.inner.registry)
    }

    /// Checks that the registry answers the API and accepts our credentials (`GET /v2/`).
    pub async fn ping(&self) -> Result<(), RegistryError> {
        let what = format!("{}/v2/", self.inner.registry);
        let req = Request::new(Method::GET, self.url("/v2/")?, "", &what);
        let resp = self.sender().execute(req).await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(error_for(resp, &what).await)
        }
    }

    /// Fetches a manifest by tag or digest. A digest reference is verified, and so is a
    /// tag when the registry names the digest (Docker-Content-Digest).
    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<ManifestResponse, RegistryError> {
        let what = self.what(repo, reference);
        let scope = pull(repo);
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        let mut req = Request::new(Method::GET, url, &scope, &what);
        req.headers.insert(ACCEPT, header_value(MANIFEST_ACCEPT)?);
        let (headers, _, bytes) = self.sender().execute_read(req, MAX_MANIFEST).await?;
        let content_type = header_string(&headers, CONTENT_TYPE.as_str());
        let served_digest = header_string(&headers, "docker-content-digest");
        let expected = reference
            .parse::<Digest>()
            .ok()
            .or_else(|| served_digest.and_then(|d| d.parse().ok()));
        if let Some(expected) = &expected {
            Verifier::check(what.as_str(), expected, None, &bytes).map_err(|error| {
                RegistryError::DigestMismatch {
                    what: what.clone(),
                    error,
                }
            })?;
        }
        let digest = match expected {
            Some(d) if d.algorithm() == Algorithm::Sha256 => d,
            _ => Digest::sha256(&bytes),
        };
        Ok(ManifestResponse {
            bytes,
            content_type,
            digest,
        })
    }

    /// HEADs a manifest: its digest without downloading it; `None` when absent.
    pub async fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<ManifestHead>, RegistryError> {
        let what = self.what(repo, reference);
        let scope = pull(repo);
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        let mut req = Request::new(Method::HEAD, url, &scope, &what);
        req.headers.insert(ACCEPT, header_value(MANIFEST_ACCEPT)?);
        let resp = self.sender().execute(req).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(error_for(resp, &what).await);
        }
        let h = resp.headers();
        Ok(Some(ManifestHead {
            digest: header_string(h, "docker-content-digest").and_then(|d| d.parse().ok()),
            content_type: header_string(h, CONTENT_TYPE.as_str()),
            size: header_string(h, CONTENT_LENGTH.as_str()).and_then(|s| s.parse().ok()),
        }))
    }

    /// Opens a blob for reading from `offset`: returns the response and how many bytes
    /// of it to skip (a server that ignores Range answers 200 from the start).
    async fn open_blob(
        &self,
        repo: &str,
        digest: &Digest,
        offset: u64,
    ) -> Result<(Response, u64), RegistryError> {
        let what = self.blob_what(repo, digest);
        let scope = pull(repo);
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"))?;
        let mut req = Request::new(Method::GET, url, &scope, &what);
        if offset > 0 {
            req.headers
                .insert(RANGE, header_value(&format!("bytes={offset}-"))?);
        }
        let resp = self.sender().execute(req).await?;
        match resp.status() {
            StatusCode::OK => Ok((resp, offset)),
            StatusCode::PARTIAL_CONTENT if offset > 0 => {
                let start = header_string(resp.headers(), CONTENT_RANGE.as_str())
                    .as_deref()
                    .and_then(range_start);
                if start == Some(offset) {
                    Ok((resp, 0))
                } else {
                    Err(RegistryError::InvalidResponse {
                        what,
                        message: format!(
                            "asked for bytes from {offset}, got Content-Range {:?}",
                            header_string(resp.headers(), CONTENT_RANGE.as_str())
                        ),
                    })
                }
            }
            _ => Err(error_for(resp, &what).await),
        }
    }

    /// Streams a blob. Broken connections are resumed with `Range` requests (up to
    /// `retry_times`); the caller verifies the digest while consuming the stream.
    pub async fn get_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<BlobStream, RegistryError> {
        let (first, skip) = self.open_blob(repo, digest, 0).await?;
        let client = self.clone();
        let (repo_owned, digest_owned) = (repo.to_string(), digest.clone());
        let resume = Resume {
            what: self.blob_what(repo, digest),
            size,
            open: Box::new(move |offset| {
                let (client, repo, digest) =
                    (client.clone(), repo_owned.clone(), digest_owned.clone());
                Box::pin(async move { client.open_blob(&repo, &digest, offset).await })
            }),
            policy: self.sender().policy.clone(),
        };
        Ok(BlobStream::new(resume, first, skip))
    }

    /// The size of a blob in the repository, or `None` when absent.
    pub async fn blob_exists(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        let what = self.blob_what(repo, digest);
        let scope = push(repo);
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"))?;
        let resp = self
            .sender()
            .execute(Request::new(Method::HEAD, url, &scope, &what))
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(Some(
                header_string(resp.headers(), CONTENT_LENGTH.as_str())
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(error_for(resp, &what).await),
        }
    }

    /// Puts a manifest under a tag or digest; returns its digest.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<Digest, RegistryError> {
        let what = self.what(repo, reference);
        let scope = push(repo);
        let digest = Digest::sha256(&bytes);
        let body = UploadBody::bytes(bytes);
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        let mut req = Request::new(Method::PUT, url, &scope, &what);
        req.headers.insert(CONTENT_TYPE, header_value(media_type)?);
        req.body = Some(&body);
        let resp = self.sender().execute(req).await?;
        if resp.status().is_success() {
            Ok(digest)
        } else {
            Err(error_for(resp, &what).await)
        }
    }

    /// Deletes a manifest (registries delete by digest only).
    pub async fn delete_manifest(&self, repo: &str, digest: &Digest) -> Result<(), RegistryError> {
        let what = self.what(repo, &digest.to_string());
        let scope = format!("repository:{repo}:delete");
        let url = self.url(&format!("/v2/{repo}/manifests/{digest}"))?;
        let resp = self
            .sender()
            .execute(Request::new(Method::DELETE, url, &scope, &what))
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(error_for(resp, &what).await)
        }
    }

    /// Every tag of a repository, following `Link: <…>; rel="next"` to the last page.
    pub async fn list_tags(&self, repo: &str) -> Result<Vec<String>, RegistryError> {
        self.list_tags_paged(repo, None).await
    }

    /// Like [`RegistryClient::list_tags`], asking for `page_size` tags per page.
    pub async fn list_tags_paged(
        &self,
        repo: &str,
        page_size: Option<usize>,
    ) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Page {
            tags: Option<Vec<String>>,
        }
        let what = format!("{}/{repo}", self.inner.registry);
        let scope = pull(repo);
        let mut url = self.url(&format!("/v2/{repo}/tags/list"))?;
        if let Some(n) = page_size {
            url.query_pairs_mut().append_pair("n", &n.to_string());
        }
        let mut tags = Vec::new();
        // Pages already fetched: a `Link` back onto one of them would loop forever (a
        // hostile registry made skiff send hundreds of requests a second).
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_TAG_PAGES {
            let req = Request::new(Method::GET, url.clone(), &scope, &what);
            let (headers, page_url, bytes) = self.sender().execute_read(req, MAX_MANIFEST).await?;
            let next = header_string(&headers, "link").and_then(|l| next_link(&l));
            // The URL as answered (after any http fallback or redirect), so a loop is seen
            // whichever spelling the Link uses.
            seen.insert(page_url.clone());
            let page: Page =
                serde_json::from_slice(&bytes).map_err(|e| RegistryError::InvalidResponse {
                    what: what.clone(),
                    message: format!("tag list: {e}"),
                })?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(link) => {
                    url = page_url
                        .join(&link)
                        .map_err(|e| RegistryError::InvalidResponse {
                            what: what.clone(),
                            message: format!("bad Link {link:?}: {e}"),
                        })?;
                    if seen.contains(&url) {
                        return Err(RegistryError::InvalidResponse {
                            what,
                            message: format!(
                                "tag list Link leads back to a page already read ({url})"
                            ),
                        });
                    }
                }
                None => return Ok(tags),
            }
        }
        Err(RegistryError::InvalidResponse {
            what,
            message: "tag list pagination does not end".into(),
        })
    }
}

/// The first byte of `Content-Range: bytes START-END/TOTAL`.
fn range_start(header: &str) -> Option<u64> {
    let range = header.trim().strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

/// The target of `Link: <url>; rel="next"`.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| target.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?last=b&n=2")
        );
        assert_eq!(
            next_link(r#"<https://x/y>; rel="prev", </next>; rel="next""#).as_deref(),
            Some("/next")
        );
        assert_eq!(next_link(r#"</v2/a>; rel="prev""#), None);
    }

    #[test]
    fn content_ranges() {
        assert_eq!(range_start("bytes 100-199/200"), Some(100));
        assert_eq!(range_start("bytes 0-0/*"), Some(0));
        assert_eq!(range_start("bytes */200"), None);
        assert_eq!(range_start("items 1-2/3"), None);
    }
}
