//! The Distribution API client: one per registry, shared by every request of a command.

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::header::{
    HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RANGE, RETRY_AFTER,
    WWW_AUTHENTICATE,
};
use reqwest::{Method, Response, StatusCode};
use skiff_oci::media_type::MANIFEST_ACCEPT;
use skiff_oci::Digest;
use url::Url;

use crate::challenge::{self, Challenge};
use crate::credentials::{self, Credentials};
use crate::error::{describe, ConnectKind, RegistryError};
use crate::retry::{backoff, retry_after, retryable};
use crate::tls;

/// How many redirects a request may follow.
const MAX_REDIRECTS: usize = 10;
/// The largest manifest accepted (the distribution spec suggests 4 MiB).
const MAX_MANIFEST: usize = 16 << 20;
/// A connection that delivers nothing for this long is given up (and resumed).
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings of a client, from the command line.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `Some(false)`: accept invalid certificates and fall back to plain HTTP (skopeo's
    /// `--tls-verify=false`). `None`: verify (the default).
    pub tls_verify: Option<bool>,
    /// `--cert-dir`: `*.crt` CA roots, `*.cert` + `*.key` client identity. Default:
    /// `/etc/containers/certs.d/HOST[:PORT]` and `/etc/docker/certs.d/HOST[:PORT]`.
    pub cert_dir: Option<PathBuf>,
    /// `--creds`: used instead of any saved credentials.
    pub credentials: Option<Credentials>,
    /// `--registry-token`: a bearer token used as is.
    pub registry_token: Option<String>,
    /// `--no-creds`: anonymous, ignoring saved credentials.
    pub no_creds: bool,
    /// `--authfile`: the one credentials file to read.
    pub auth_file: Option<PathBuf>,
    /// `--retry-times`: retries of a failed request or broken transfer.
    pub retry_times: u32,
    /// `--retry-delay`: a fixed delay instead of exponential backoff.
    pub retry_delay: Option<Duration>,
    /// The User-Agent header.
    pub user_agent: String,
    /// Read inactivity timeout (default 60 s).
    pub timeout: Option<Duration>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            tls_verify: None,
            cert_dir: None,
            credentials: None,
            registry_token: None,
            no_creds: false,
            auth_file: None,
            retry_times: 3,
            retry_delay: None,
            user_agent: concat!("skiff/", env!("CARGO_PKG_VERSION")).to_string(),
            timeout: None,
        }
    }
}

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

/// How this registry wants requests authenticated, learned from its challenges.
#[derive(Debug, Clone)]
enum Scheme {
    Unknown,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

struct Token {
    value: String,
    expires: Instant,
}

struct Inner {
    registry: String,
    http: reqwest::Client,
    options: ClientOptions,
    /// Base URLs to try (https, then http for --tls-verify=false), and the one in use.
    bases: Vec<Url>,
    base: AtomicUsize,
    basic: Option<Credentials>,
    scheme: Mutex<Scheme>,
    tokens: Mutex<HashMap<String, Token>>,
}

/// A client for one registry. Cheap to clone; clones share connections and tokens.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

/// One request, described so it can be sent again (retries, auth, redirects).
struct Request<'a> {
    method: Method,
    url: Url,
    scope: &'a str,
    headers: HeaderMap,
    body: Option<Bytes>,
    what: &'a str,
}

fn api_host(registry: &str) -> &str {
    if registry == skiff_oci::DEFAULT_REGISTRY {
        "registry-1.docker.io"
    } else {
        registry
    }
}

fn pull(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

fn push(repo: &str) -> String {
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
            .connect_timeout(Duration::from_secs(30))
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
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                registry: registry.to_string(),
                http,
                options,
                bases,
                base: AtomicUsize::new(0),
                basic,
                scheme: Mutex::new(Scheme::Unknown),
                tokens: Mutex::new(HashMap::new()),
            }),
        })
    }

    fn base(&self) -> &Url {
        let i = self.inner.base.load(Ordering::Relaxed);
        &self.inner.bases[i.min(self.inner.bases.len() - 1)]
    }

    fn url(&self, path: &str) -> Result<Url, RegistryError> {
        self.base()
            .join(path)
            .map_err(|e| RegistryError::Setup(format!("invalid URL path {path:?}: {e}")))
    }

    fn what(&self, repo: &str, reference: &str) -> String {
        let sep = if reference.contains(':') { "@" } else { ":" };
        format!("{}/{repo}{sep}{reference}", self.inner.registry)
    }

    /// Checks that the registry answers the API and accepts our credentials (`GET /v2/`).
    pub async fn ping(&self) -> Result<(), RegistryError> {
        let what = format!("{}/v2/", self.inner.registry);
        let resp = self
            .execute(self.request(Method::GET, self.url("/v2/")?, "", &what))
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(error_for(resp, &what).await)
        }
    }

    fn request<'a>(&self, method: Method, url: Url, scope: &'a str, what: &'a str) -> Request<'a> {
        Request {
            method,
            url,
            scope,
            headers: HeaderMap::new(),
            body: None,
            what,
        }
    }

    /// Fetches a manifest by tag or digest; a digest reference is verified.
    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<ManifestResponse, RegistryError> {
        let what = self.what(repo, reference);
        let scope = pull(repo);
        let mut req = self.request(
            Method::GET,
            self.url(&format!("/v2/{repo}/manifests/{reference}"))?,
            &scope,
            &what,
        );
        req.headers.insert(ACCEPT, header_value(MANIFEST_ACCEPT)?);
        let resp = self.execute(req).await?;
        if !resp.status().is_success() {
            return Err(error_for(resp, &what).await);
        }
        let content_type = header_string(resp.headers(), CONTENT_TYPE.as_str());
        let served_digest = header_string(resp.headers(), "docker-content-digest");
        let bytes = read_limited(resp, MAX_MANIFEST, &what).await?;
        let digest = Digest::sha256(&bytes);
        let expected = reference
            .parse::<Digest>()
            .ok()
            .or_else(|| served_digest.and_then(|d| d.parse().ok()));
        if let Some(expected) = expected {
            let actual = expected.of_same_kind(&bytes);
            if actual != expected {
                return Err(RegistryError::DigestMismatch {
                    what,
                    expected: expected.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
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
        let mut req = self.request(
            Method::HEAD,
            self.url(&format!("/v2/{repo}/manifests/{reference}"))?,
            &scope,
            &what,
        );
        req.headers.insert(ACCEPT, header_value(MANIFEST_ACCEPT)?);
        let resp = self.execute(req).await?;
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
        let what = format!("{}/{repo}@{digest}", self.inner.registry);
        let scope = pull(repo);
        let mut req = self.request(
            Method::GET,
            self.url(&format!("/v2/{repo}/blobs/{digest}"))?,
            &scope,
            &what,
        );
        if offset > 0 {
            req.headers
                .insert(RANGE, header_value(&format!("bytes={offset}-"))?);
        }
        let resp = self.execute(req).await?;
        match resp.status() {
            StatusCode::OK => Ok((resp, offset)),
            StatusCode::PARTIAL_CONTENT if offset > 0 => Ok((resp, 0)),
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
        let (resp, skip) = self.open_blob(repo, digest, 0).await?;
        Ok(BlobStream::new(
            self.clone(),
            repo.to_string(),
            digest.clone(),
            size,
            resp,
            skip,
        ))
    }

    /// The size of a blob in the repository, or `None` when absent.
    pub async fn blob_exists(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        let what = format!("{}/{repo}@{digest}", self.inner.registry);
        let scope = push(repo);
        let resp = self
            .execute(self.request(
                Method::HEAD,
                self.url(&format!("/v2/{repo}/blobs/{digest}"))?,
                &scope,
                &what,
            ))
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

    /// Uploads a blob monolithically: `POST` to start, one streaming `PUT` with the digest.
    /// The registry verifies the digest; an upload cut short is never completed.
    pub async fn push_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        body: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ) -> Result<(), RegistryError> {
        let what = format!("{}/{repo}@{digest}", self.inner.registry);
        let scope = push(repo);
        let resp = self
            .execute(self.request(
                Method::POST,
                self.url(&format!("/v2/{repo}/blobs/uploads/"))?,
                &scope,
                &what,
            ))
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(error_for(resp, &what).await);
        }
        let location = header_string(resp.headers(), LOCATION.as_str()).ok_or_else(|| {
            RegistryError::InvalidResponse {
                what: what.clone(),
                message: "upload started without a Location".into(),
            }
        })?;
        let mut url = resp
            .url()
            .join(&location)
            .map_err(|e| RegistryError::InvalidResponse {
                what: what.clone(),
                message: format!("bad upload Location {location:?}: {e}"),
            })?;
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let mut builder = self
            .inner
            .http
            .put(url.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(body));
        if same_origin(&url, self.base()) {
            if let Some(auth) = self.auth_header(&scope).await? {
                builder = builder.header(AUTHORIZATION, auth);
            }
        }
        let resp = builder.send().await.map_err(|e| RegistryError::Connect {
            kind: ConnectKind::Other,
            url: url.to_string(),
            message: describe(&e),
        })?;
        if resp.status() == StatusCode::CREATED || resp.status().is_success() {
            Ok(())
        } else {
            Err(error_for(resp, &what).await)
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
        let mut req = self.request(
            Method::PUT,
            self.url(&format!("/v2/{repo}/manifests/{reference}"))?,
            &scope,
            &what,
        );
        req.headers.insert(CONTENT_TYPE, header_value(media_type)?);
        req.body = Some(Bytes::from(bytes));
        let resp = self.execute(req).await?;
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
        let resp = self
            .execute(self.request(
                Method::DELETE,
                self.url(&format!("/v2/{repo}/manifests/{digest}"))?,
                &scope,
                &what,
            ))
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
        for _ in 0..10_000 {
            let resp = self
                .execute(self.request(Method::GET, url.clone(), &scope, &what))
                .await?;
            if !resp.status().is_success() {
                return Err(error_for(resp, &what).await);
            }
            let next = header_string(resp.headers(), "link").and_then(|l| next_link(&l));
            let page_url = resp.url().clone();
            let bytes = read_limited(resp, MAX_MANIFEST, &what).await?;
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
                        })?
                }
                None => return Ok(tags),
            }
        }
        Err(RegistryError::InvalidResponse {
            what,
            message: "tag list pagination does not end".into(),
        })
    }

    /// Sends a request with authentication, redirects, scheme fallback and retries.
    async fn execute(&self, req: Request<'_>) -> Result<Response, RegistryError> {
        let options = &self.inner.options;
        let mut url = req.url.clone();
        let (mut attempts, mut hops, mut reauthenticated) = (0u32, 0usize, false);
        loop {
            let same = same_origin(&url, self.base());
            let mut builder = self
                .inner
                .http
                .request(req.method.clone(), url.clone())
                .headers(req.headers.clone());
            if same {
                if let Some(auth) = self.auth_header(req.scope).await? {
                    builder = builder.header(AUTHORIZATION, auth);
                }
            }
            if let Some(body) = &req.body {
                builder = builder.body(body.clone());
            }
            let resp = match builder.send().await {
                Ok(r) => r,
                Err(e) => {
                    // --tls-verify=false: fall back from https to plain http, as skopeo does.
                    let i = self.inner.base.load(Ordering::Relaxed);
                    if same
                        && hops == 0
                        && i + 1 < self.inner.bases.len()
                        && (e.is_connect() || e.is_request())
                    {
                        self.inner.base.store(i + 1, Ordering::Relaxed);
                        url = rebase(&url, self.base());
                        continue;
                    }
                    if attempts < options.retry_times && retryable(&e) {
                        attempts += 1;
                        tokio::time::sleep(backoff(attempts, options.retry_delay)).await;
                        continue;
                    }
                    return Err(RegistryError::Connect {
                        kind: ConnectKind::Other,
                        url: url.to_string(),
                        message: describe(&e),
                    });
                }
            };
            let status = resp.status();
            if status.is_redirection() && matches!(req.method, Method::GET | Method::HEAD) {
                if let Some(location) = header_string(resp.headers(), LOCATION.as_str()) {
                    hops += 1;
                    if hops > MAX_REDIRECTS {
                        return Err(RegistryError::InvalidResponse {
                            what: req.what.to_string(),
                            message: "too many redirects".into(),
                        });
                    }
                    // The next request carries registry credentials only if it stays on
                    // the registry's origin (see `same_origin` above): Docker Hub's blob
                    // storage rejects foreign Authorization headers.
                    url = url
                        .join(&location)
                        .map_err(|e| RegistryError::InvalidResponse {
                            what: req.what.to_string(),
                            message: format!("bad redirect {location:?}: {e}"),
                        })?;
                    continue;
                }
            }
            if status == StatusCode::UNAUTHORIZED
                && same
                && !reauthenticated
                && options.registry_token.is_none()
            {
                if let Some(ch) = header_string(resp.headers(), WWW_AUTHENTICATE.as_str())
                    .and_then(|h| challenge::parse(&h))
                {
                    reauthenticated = true;
                    if self.authenticate(ch, req.scope).await? {
                        continue;
                    }
                }
            }
            if (status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error())
                && attempts < options.retry_times
            {
                attempts += 1;
                let wait = header_string(resp.headers(), RETRY_AFTER.as_str())
                    .and_then(|v| retry_after(&v, std::time::SystemTime::now()))
                    .unwrap_or_else(|| backoff(attempts, options.retry_delay));
                tokio::time::sleep(wait).await;
                continue;
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                return Err(RegistryError::TooManyRequests {
                    what: req.what.to_string(),
                    retries: attempts,
                });
            }
            return Ok(resp);
        }
    }

    /// The Authorization header for a request in `scope`, fetching a token if needed.
    async fn auth_header(&self, scope: &str) -> Result<Option<String>, RegistryError> {
        if let Some(t) = &self.inner.options.registry_token {
            return Ok(Some(format!("Bearer {t}")));
        }
        let scheme = self
            .inner
            .scheme
            .lock()
            .map(|s| s.clone())
            .unwrap_or(Scheme::Unknown);
        match scheme {
            Scheme::Unknown => Ok(None),
            Scheme::Basic => Ok(self.inner.basic.as_ref().map(basic_header)),
            Scheme::Bearer { realm, service } => {
                if let Some(t) = self.cached_token(scope) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let token = self.fetch_token(&realm, service.as_deref(), scope).await?;
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    fn cached_token(&self, scope: &str) -> Option<String> {
        let tokens = self.inner.tokens.lock().ok()?;
        tokens
            .get(scope)
            .filter(|t| t.expires > Instant::now())
            .map(|t| t.value.clone())
    }

    /// Learns the scheme from a challenge; returns whether retrying can help (a Bearer
    /// token was obtained, or Basic credentials exist).
    async fn authenticate(&self, ch: Challenge, scope: &str) -> Result<bool, RegistryError> {
        match ch {
            Challenge::Basic => {
                if let Ok(mut s) = self.inner.scheme.lock() {
                    *s = Scheme::Basic;
                }
                Ok(self.inner.basic.is_some())
            }
            Challenge::Bearer {
                realm,
                service,
                scope: wanted,
            } => {
                if let Ok(mut s) = self.inner.scheme.lock() {
                    *s = Scheme::Bearer {
                        realm: realm.clone(),
                        service: service.clone(),
                    };
                }
                if let Ok(mut t) = self.inner.tokens.lock() {
                    t.remove(scope);
                }
                // Ask for what the registry asked for when it said (it may need more
                // than we guessed), filed under our scope key.
                let fetch_scope = wanted.unwrap_or_else(|| scope.to_string());
                let token = self
                    .fetch_token_as(&realm, service.as_deref(), &fetch_scope, scope)
                    .await?;
                Ok(!token.is_empty())
            }
        }
    }

    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<String, RegistryError> {
        self.fetch_token_as(realm, service, scope, scope).await
    }

    /// `GET realm?service=…&scope=…` (with Basic credentials when we have them); the token
    /// is cached under `key` until shortly before `expires_in` runs out.
    async fn fetch_token_as(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        key: &str,
    ) -> Result<String, RegistryError> {
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let auth_err = |message: String| RegistryError::Auth {
            realm: realm.to_string(),
            message,
        };
        let mut url = Url::parse(realm).map_err(|e| auth_err(format!("invalid realm: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for s in scope.split(' ').filter(|s| !s.is_empty()) {
                q.append_pair("scope", s);
            }
        }
        let mut builder = self.inner.http.get(url.clone());
        if let Some(c) = &self.inner.basic {
            builder = builder.header(AUTHORIZATION, basic_header(c));
        }
        let mut attempts = 0;
        let resp = loop {
            match builder.try_clone().map(|b| b.send()) {
                Some(fut) => match fut.await {
                    Ok(r)
                        if (r.status().is_server_error()
                            || r.status() == StatusCode::TOO_MANY_REQUESTS)
                            && attempts < self.inner.options.retry_times =>
                    {
                        attempts += 1;
                        tokio::time::sleep(backoff(attempts, self.inner.options.retry_delay)).await;
                    }
                    Ok(r) => break r,
                    Err(e) if attempts < self.inner.options.retry_times && retryable(&e) => {
                        attempts += 1;
                        tokio::time::sleep(backoff(attempts, self.inner.options.retry_delay)).await;
                    }
                    Err(e) => return Err(auth_err(describe(&e))),
                },
                None => return Err(auth_err("request cannot be repeated".into())),
            }
        };
        if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
            return Err(RegistryError::Unauthorized {
                what: self.inner.registry.clone(),
                message: "the token server refused these credentials".into(),
            });
        }
        if !resp.status().is_success() {
            return Err(auth_err(format!("HTTP {}", resp.status())));
        }
        let body = read_limited(resp, 1 << 20, realm).await?;
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| auth_err(format!("invalid token response: {e}")))?;
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| auth_err("no token in the response".into()))?;
        // Renew a little early so a token never expires between check and use.
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(60).max(1));
        let expires = Instant::now()
            + lifetime
                .saturating_sub(Duration::from_secs(5))
                .max(Duration::from_millis(500));
        if let Ok(mut t) = self.inner.tokens.lock() {
            t.insert(
                key.to_string(),
                Token {
                    value: token.clone(),
                    expires,
                },
            );
        }
        Ok(token)
    }
}

fn basic_header(c: &Credentials) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password))
    )
}

/// Same scheme, host and port: the only case in which registry credentials may be sent.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn rebase(url: &Url, base: &Url) -> Url {
    let mut u = url.clone();
    let _ = u.set_scheme(base.scheme());
    let _ = u.set_port(base.port());
    u
}

fn header_value(s: &str) -> Result<reqwest::header::HeaderValue, RegistryError> {
    reqwest::header::HeaderValue::from_str(s)
        .map_err(|e| RegistryError::Setup(format!("invalid header value {s:?}: {e}")))
}

fn header_string(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
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

async fn read_limited(resp: Response, limit: usize, what: &str) -> Result<Vec<u8>, RegistryError> {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| RegistryError::Connect {
            kind: ConnectKind::Other,
            url: what.to_string(),
            message: describe(&e),
        })?;
        if out.len() + chunk.len() > limit {
            return Err(RegistryError::InvalidResponse {
                what: what.to_string(),
                message: format!("response larger than {limit} bytes"),
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Turns an error response into a typed error, using the Distribution error body.
async fn error_for(resp: Response, what: &str) -> RegistryError {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        code: Option<String>,
        message: Option<String>,
    }
    let status = resp.status();
    let body = read_limited(resp, 64 << 10, what).await.unwrap_or_default();
    let item = serde_json::from_slice::<Errors>(&body)
        .ok()
        .and_then(|e| e.errors.into_iter().next());
    let code = item.as_ref().and_then(|i| i.code.clone());
    let message = item.and_then(|i| i.message).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(&body);
        let text = text.trim();
        if text.is_empty() {
            status.canonical_reason().unwrap_or("error").to_lowercase()
        } else {
            text.chars().take(300).collect()
        }
    });
    let what = what.to_string();
    match status {
        StatusCode::NOT_FOUND => RegistryError::NotFound {
            what,
            code: code.unwrap_or_else(|| "NOT_FOUND".into()),
            message,
        },
        StatusCode::UNAUTHORIZED => RegistryError::Unauthorized { what, message },
        StatusCode::FORBIDDEN => RegistryError::Denied { what, message },
        StatusCode::TOO_MANY_REQUESTS => RegistryError::TooManyRequests { what, retries: 0 },
        s => RegistryError::Http {
            what,
            status: s.as_u16(),
            code,
            message,
        },
    }
}

type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, RegistryError>> + Send>>;

/// A blob body that resumes itself with `Range` requests when the connection breaks.
pub struct BlobStream {
    inner: ByteStream,
    resumed: Arc<AtomicU32>,
}

struct ResumeState {
    client: RegistryClient,
    repo: String,
    digest: Digest,
    size: Option<u64>,
    offset: u64,
    skip: u64,
    body: Option<Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>>,
    resumed: Arc<AtomicU32>,
    done: bool,
}

impl BlobStream {
    fn new(
        client: RegistryClient,
        repo: String,
        digest: Digest,
        size: Option<u64>,
        first: Response,
        skip: u64,
    ) -> BlobStream {
        let resumed = Arc::new(AtomicU32::new(0));
        let state = ResumeState {
            client,
            repo,
            digest,
            size,
            offset: 0,
            skip,
            body: Some(Box::pin(first.bytes_stream())),
            resumed: resumed.clone(),
            done: false,
        };
        let inner = futures_util::stream::unfold(state, |mut s| async move {
            let item = s.next_chunk().await?;
            Some((item, s))
        });
        BlobStream {
            inner: Box::pin(inner),
            resumed,
        }
    }

    /// How many times the transfer was resumed with a Range request.
    pub fn resumed(&self) -> u32 {
        self.resumed.load(Ordering::Relaxed)
    }
}

impl ResumeState {
    async fn next_chunk(&mut self) -> Option<Result<Bytes, RegistryError>> {
        let retries = self.client.inner.options.retry_times;
        loop {
            if self.done {
                return None;
            }
            let Some(body) = self.body.as_mut() else {
                match self
                    .client
                    .open_blob(&self.repo, &self.digest, self.offset)
                    .await
                {
                    Ok((resp, skip)) => {
                        self.body = Some(Box::pin(resp.bytes_stream()));
                        self.skip = skip;
                        continue;
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            };
            match body.next().await {
                Some(Ok(mut chunk)) => {
                    if self.skip > 0 {
                        let n = (self.skip as usize).min(chunk.len());
                        chunk = chunk.slice(n..);
                        self.skip -= n as u64;
                        if chunk.is_empty() {
                            continue;
                        }
                    }
                    self.offset += chunk.len() as u64;
                    return Some(Ok(chunk));
                }
                Some(Err(e)) => {
                    if self.resumed.load(Ordering::Relaxed) < retries {
                        self.resume().await;
                        continue;
                    }
                    self.done = true;
                    return Some(Err(RegistryError::Connect {
                        kind: ConnectKind::Other,
                        url: format!(
                            "{}/{}@{}",
                            self.client.inner.registry, self.repo, self.digest
                        ),
                        message: format!(
                            "transfer broke at byte {} and could not be resumed: {}",
                            self.offset,
                            describe(&e)
                        ),
                    }));
                }
                None => {
                    let short = self.size.is_some_and(|s| self.offset < s);
                    if short && self.resumed.load(Ordering::Relaxed) < retries {
                        self.resume().await;
                        continue;
                    }
                    self.done = true;
                    return None;
                }
            }
        }
    }

    async fn resume(&mut self) {
        let n = self.resumed.fetch_add(1, Ordering::Relaxed) + 1;
        self.body = None;
        tokio::time::sleep(
            backoff(n, self.client.inner.options.retry_delay).min(Duration::from_secs(2)),
        )
        .await;
    }
}

impl Stream for BlobStream {
    type Item = Result<Bytes, RegistryError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
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
    fn origins() {
        let a = Url::parse("https://reg.example/v2/").unwrap();
        assert!(same_origin(
            &a,
            &Url::parse("https://reg.example:443/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://s3.example/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("http://reg.example/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://reg.example:5000/x").unwrap()
        ));
    }
}
