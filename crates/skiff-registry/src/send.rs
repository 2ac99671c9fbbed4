//! Sending a request the way a registry needs it: credentials, redirects, the
//! https → http fallback, and retries.
//!
//! [`Sender::exchange`] is one attempt of a request: it authenticates (and once more
//! after a 401 challenge), follows redirects by hand — registry credentials go only to
//! the registry's own origin — and with `--tls-verify=false` falls back from https to
//! plain http. [`Sender::execute`] repeats exchanges under the client's one
//! [`RetryPolicy`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use futures_util::Stream;
use reqwest::header::{HeaderMap, AUTHORIZATION, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use url::Url;

use crate::auth::Auth;
use crate::challenge;
use crate::connect::connect_error;
use crate::debug::{self, ExchangeHook};
use crate::error::RegistryError;
use crate::response::header_string;
use crate::retry::RetryPolicy;

/// How many redirects a request may follow.
const MAX_REDIRECTS: usize = 10;

/// A body as a stream of chunks.
pub(crate) type ByteStream =
    std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;
type Reopen = dyn Fn() -> ByteStream + Send + Sync;

/// The bytes sent with a request, and whether they can be sent more than once.
///
/// A retry, a re-authentication or a scheme fallback sends the body again from its first
/// byte. Bytes in memory and a stream that can be reopened allow that; a stream read once
/// (a layer flowing from its source through the copy pipeline) does not, and a request
/// carrying one is attempted once — retrying such an upload means producing the blob
/// again, which only the caller can do.
pub struct UploadBody(Source);

enum Source {
    Bytes(Bytes),
    Reopen(Box<Reopen>),
    Once(Mutex<Option<ByteStream>>),
}

impl UploadBody {
    /// Bytes in memory: sent again as often as needed.
    pub fn bytes(bytes: impl Into<Bytes>) -> Self {
        UploadBody(Source::Bytes(bytes.into()))
    }

    /// A stream that `open` produces afresh, from its first byte, for every attempt.
    pub fn reopen<F, S>(open: F) -> Self
    where
        F: Fn() -> S + Send + Sync + 'static,
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        UploadBody(Source::Reopen(Box::new(move || -> ByteStream {
            Box::pin(open())
        })))
    }

    /// A stream that can be read only once: one attempt.
    pub fn once<S>(stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        UploadBody(Source::Once(Mutex::new(Some(Box::pin(stream)))))
    }

    /// Whether [`open`](Self::open) will give a body.
    pub(crate) fn can_open(&self) -> bool {
        match &self.0 {
            Source::Bytes(_) | Source::Reopen(_) => true,
            Source::Once(slot) => slot.lock().is_ok_and(|s| s.is_some()),
        }
    }

    /// The body for the next attempt, from its first byte.
    pub(crate) fn open(&self) -> Option<reqwest::Body> {
        match &self.0 {
            Source::Bytes(b) => Some(reqwest::Body::from(b.clone())),
            _ => self.open_stream().map(reqwest::Body::wrap_stream),
        }
    }

    /// The body for the next attempt as a stream of chunks (a chunked upload cuts it
    /// into `PATCH` requests of its own size).
    pub(crate) fn open_stream(&self) -> Option<ByteStream> {
        match &self.0 {
            Source::Bytes(b) => Some(Box::pin(futures_util::stream::iter([Ok(b.clone())]))),
            Source::Reopen(open) => Some(open()),
            Source::Once(slot) => slot.lock().ok()?.take(),
        }
    }
}

/// One request, described so it can be sent again (retries, auth, redirects).
pub(crate) struct Request<'a> {
    pub method: Method,
    pub url: Url,
    /// The token scope (`repository:NAME:pull`); empty for the API root.
    pub scope: &'a str,
    pub headers: HeaderMap,
    pub body: Option<&'a UploadBody>,
    /// What is asked for, in errors (`registry/repo:tag`).
    pub what: &'a str,
}

impl<'a> Request<'a> {
    pub(crate) fn new(method: Method, url: Url, scope: &'a str, what: &'a str) -> Self {
        Request {
            method,
            url,
            scope,
            headers: HeaderMap::new(),
            body: None,
            what,
        }
    }

    /// `GET https://…`, as retry notices name a request.
    fn label(&self) -> String {
        format!("{} {}", self.method, self.url)
    }

    fn can_repeat(&self) -> bool {
        self.body.is_none_or(UploadBody::can_open)
    }
}

/// The HTTP side of a client: connections, the registry's base URL, auth, retries.
pub(crate) struct Sender {
    http: reqwest::Client,
    auth: Auth,
    pub policy: RetryPolicy,
    /// Base URLs to try (https, then http for --tls-verify=false), and the one in use.
    bases: Vec<Url>,
    base: AtomicUsize,
    /// `--debug`: told every exchange.
    on_exchange: Option<ExchangeHook>,
}

impl Sender {
    pub(crate) fn new(
        http: reqwest::Client,
        auth: Auth,
        policy: RetryPolicy,
        bases: Vec<Url>,
        on_exchange: Option<ExchangeHook>,
    ) -> Self {
        Sender {
            http,
            auth,
            policy,
            bases,
            base: AtomicUsize::new(0),
            on_exchange,
        }
    }

    /// The registry's base URL in use (plain http once https failed and it was allowed).
    pub(crate) fn base(&self) -> &Url {
        let i = self.base.load(Ordering::Relaxed);
        let last = self.bases.len().saturating_sub(1);
        &self.bases[i.min(last)]
    }

    /// `url` moved to the base in use when it points at the registry: a retry after the
    /// https → http fallback must not start over on https.
    fn on_current_base(&self, url: &Url) -> Url {
        if self.bases.iter().any(|b| same_origin(url, b)) {
            rebase(url, self.base())
        } else {
            url.clone()
        }
    }

    /// Sends a request with retries: see [`RetryPolicy::run`].
    pub(crate) async fn execute(&self, req: Request<'_>) -> Result<Response, RegistryError> {
        self.execute_ref(&req).await
    }

    /// Sends a request and reads its whole body (at most `limit` bytes), for small
    /// documents: manifests, tag lists. A body that breaks off is fetched again under
    /// the same retry budget, with the same notice as any retry — a manifest cut
    /// mid-way is cheaper to fetch again than to resume, and the next request mends it.
    /// A refusal (any status but 2xx) is returned as the typed error.
    pub(crate) async fn execute_read(
        &self,
        req: Request<'_>,
        limit: usize,
    ) -> Result<(HeaderMap, Url, Vec<u8>), RegistryError> {
        let mut broken = 0u32;
        loop {
            let resp = self.execute_ref(&req).await?;
            if !resp.status().is_success() {
                return Err(crate::response::error_for(resp, req.what).await);
            }
            let (headers, url) = (resp.headers().clone(), resp.url().clone());
            match crate::response::read_limited(resp, limit, req.what).await {
                Ok(body) => return Ok((headers, url, body)),
                Err(e) if e.is_transient() && broken < self.policy.retries() => {
                    broken += 1;
                    let delay = self.policy.backoff(broken);
                    self.policy.notify(&crate::retry::RetryNotice {
                        what: req.label(),
                        attempt: broken + 1,
                        of: self.policy.retries().saturating_add(1),
                        delay,
                        reason: e.to_string(),
                    });
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn execute_ref(&self, req: &Request<'_>) -> Result<Response, RegistryError> {
        let label = req.label();
        let mut first = true;
        self.policy
            .run(&label, req.what, || {
                let go = std::mem::take(&mut first) || req.can_repeat();
                go.then(|| self.exchange(req))
            })
            .await
    }

    /// One attempt: authentication, redirects and the scheme fallback, no retries.
    pub(crate) async fn exchange(&self, req: &Request<'_>) -> Result<Response, RegistryError> {
        let mut url = self.on_current_base(&req.url);
        let (mut hops, mut reauthenticated) = (0usize, false);
        loop {
            let same = same_origin(&url, self.base());
            let mut builder = self
                .http
                .request(req.method.clone(), url.clone())
                .headers(req.headers.clone());
            if same {
                if let Some(auth) = self.auth.header(req.scope).await? {
                    builder = builder.header(AUTHORIZATION, auth);
                }
            }
            if let Some(body) = req.body {
                let body = body.open().ok_or_else(|| {
                    RegistryError::Setup(format!(
                        "{}: the upload cannot be sent again (its body is read once)",
                        req.label()
                    ))
                })?;
                builder = builder.body(body);
            }
            let resp = match debug::send(&self.http, builder, self.on_exchange.as_ref()).await {
                Ok(r) => r,
                Err(e) => {
                    // --tls-verify=false: fall back from https to plain http, as skopeo does.
                    let i = self.base.load(Ordering::Relaxed);
                    let fallback =
                        hops == 0 && (e.is_connect() || e.is_request()) && req.can_repeat();
                    // A request sent concurrently with the one that fell back (parallel
                    // layers or images) failed on the base given up meanwhile: it moves
                    // to the base in use instead of failing.
                    let superseded = self.bases[..i.min(self.bases.len())]
                        .iter()
                        .any(|b| same_origin(&url, b));
                    if fallback && superseded {
                        url = rebase(&url, self.base());
                        continue;
                    }
                    if fallback && same && i + 1 < self.bases.len() {
                        self.base.store(i + 1, Ordering::Relaxed);
                        url = rebase(&url, self.base());
                        continue;
                    }
                    return Err(connect_error(url.as_str(), &e));
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
                    // the registry's origin (see `same_origin`): Docker Hub's blob
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
                && self.auth.can_reauthenticate()
                && req.can_repeat()
            {
                if let Some(ch) = header_string(resp.headers(), WWW_AUTHENTICATE.as_str())
                    .and_then(|h| challenge::parse(&h))
                {
                    reauthenticated = true;
                    if self.auth.authenticate(ch, req.scope).await? {
                        continue;
                    }
                }
            }
            return Ok(resp);
        }
    }
}

/// Same scheme, host and port: the only case in which registry credentials may be sent.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// `url` moved to the scheme and port of `base` (the https → http fallback).
fn rebase(url: &Url, base: &Url) -> Url {
    let mut u = url.clone();
    // Both only fail for URLs that cannot have these (e.g. `mailto:`), never for ours.
    let _ = u.set_scheme(base.scheme());
    let _ = u.set_port(base.port());
    u
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn bodies_read_once_are_sent_once() {
        let once = UploadBody::once(futures_util::stream::empty());
        assert!(once.can_open());
        assert!(once.open().is_some());
        assert!(!once.can_open());
        assert!(once.open().is_none());
        let bytes = UploadBody::bytes(&b"abc"[..]);
        assert!(bytes.open().is_some() && bytes.open().is_some());
    }
}
