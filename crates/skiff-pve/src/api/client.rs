//! The HTTP side of the Proxmox VE API: one authenticated client, JSON bodies, replies
//! unwrapped from `{"data": …}` and errors read from `message`, `errors` or the reason
//! phrase, whichever Proxmox filled.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use skiff_registry::{ExchangeHook, FingerprintMismatch};
use url::Url;

use super::error::ApiError;
use super::target::ApiTarget;

/// The most of an error body read: Proxmox's are a few hundred bytes.
const MAX_BODY: usize = 1 << 20;

/// An authenticated client for one cluster.
#[derive(Debug, Clone)]
pub struct PveApi {
    http: reqwest::Client,
    target: ApiTarget,
    on_exchange: Option<ExchangeHook>,
}

impl PveApi {
    /// A client for `target`; `on_exchange` sees every request (`--debug`), secrets
    /// removed by skiff-registry's redaction (the token shows as `PVEAPIToken [redacted]`).
    pub fn new(target: ApiTarget, on_exchange: Option<ExchangeHook>) -> Result<Self, ApiError> {
        let setup = |e: skiff_registry::RegistryError| ApiError::Setup(e.to_string());
        let builder = match &target.fingerprint {
            Some(f) => {
                skiff_registry::pinned_client_builder(std::slice::from_ref(f)).map_err(setup)?
            }
            None => reqwest::Client::builder(),
        };
        let http = builder
            .connect_timeout(Duration::from_secs(30))
            // pveproxy never redirects; the token must not follow one anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("skiff/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Setup(format!("HTTP client: {e}")))?;
        Ok(PveApi {
            http,
            target,
            on_exchange,
        })
    }

    /// The token's name, `USER@REALM!ID` (for messages; never the secret).
    pub fn token_name(&self) -> String {
        self.target.token.name()
    }

    /// `https://HOST:PORT` of the API: what uploads are recorded under.
    pub(crate) fn target_origin(&self) -> String {
        self.target.base.origin().ascii_serialization()
    }

    /// `path` (e.g. `nodes/pve1/lxc`, no leading `/`) under the API root; each
    /// segment given is percent-encoded.
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.target.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// A request to `url` carrying the token.
    pub(crate) fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.http
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, self.target.token.header())
    }

    /// Sends `builder`, told to the `--debug` hook.
    pub(crate) async fn send(
        &self,
        what: &str,
        builder: RequestBuilder,
    ) -> Result<Response, ApiError> {
        skiff_registry::send_observed(&self.http, builder, self.on_exchange.as_ref())
            .await
            .map_err(|e| connect_error(what, &e))
    }

    /// `GET` with query pairs; the reply's `data`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<T, ApiError> {
        let mut url = self.url(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let what = format!("GET /{}", segments.join("/"));
        let resp = self.send(&what, self.request(Method::GET, url)).await?;
        data(&what, resp).await
    }

    /// `POST`/`PUT`/`DELETE` with a JSON body; the reply's `data`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: &Value,
    ) -> Result<T, ApiError> {
        let what = format!("{method} /{}", segments.join("/"));
        let builder = self.request(method, self.url(segments)).json(body);
        let resp = self.send(&what, builder).await?;
        data(&what, resp).await
    }
}

/// The `data` of a successful reply, else the error Proxmox gave.
pub(crate) async fn data<T: DeserializeOwned>(what: &str, resp: Response) -> Result<T, ApiError> {
    let status = resp.status();
    let reason = reason_phrase(&resp);
    let body = read_limited(resp).await;
    if !status.is_success() {
        return Err(http_error(what, status, reason, &body));
    }
    let invalid = |message: String| ApiError::InvalidResponse {
        what: what.to_string(),
        message,
    };
    let mut value: Value =
        serde_json::from_slice(&body).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let data = value
        .get_mut("data")
        .map(Value::take)
        .ok_or_else(|| invalid("no \"data\" in the reply".into()))?;
    serde_json::from_value(data).map_err(|e| invalid(e.to_string()))
}

async fn read_limited(mut resp: Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk[..chunk.len().min(MAX_BODY - body.len())]);
        if body.len() >= MAX_BODY {
            break;
        }
    }
    body
}

/// pveproxy puts its message in the status line (`HTTP/1.1 500 CT 100 already
/// exists`); hyper keeps a non-standard reason phrase in the response's extensions.
fn reason_phrase(resp: &Response) -> Option<String> {
    resp.extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
}

fn http_error(what: &str, status: StatusCode, reason: Option<String>, body: &[u8]) -> ApiError {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = json
        .get("message")
        .and_then(Value::as_str)
        .map(|m| m.trim_end().to_string())
        .filter(|m| !m.is_empty())
        .or(reason)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    let mut errors: Vec<(String, String)> = json
        .get("errors")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    errors.sort();
    if status == StatusCode::UNAUTHORIZED {
        return ApiError::Unauthorized {
            what: what.to_string(),
            message,
        };
    }
    ApiError::Http {
        what: what.to_string(),
        status: status.as_u16(),
        message,
        errors,
    }
}

/// A failed connection: whether the node's certificate was the reason is read from
/// the error's types (rustls' certificate errors, skiff-registry's fingerprint
/// mismatch), never from message text.
fn connect_error(what: &str, e: &reqwest::Error) -> ApiError {
    let mut certificate = false;
    let mut mismatch = None;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut message = e.to_string();
    while let Some(err) = cur {
        if let Some(rustls::Error::InvalidCertificate(c)) = err.downcast_ref::<rustls::Error>() {
            certificate = true;
            if let rustls::CertificateError::Other(other) = c {
                mismatch = other
                    .0
                    .downcast_ref::<FingerprintMismatch>()
                    .map(|m| m.seen.clone());
            }
        }
        let text = err.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        cur = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as _),
            None => err.source(),
        };
    }
    if let Some(seen) = mismatch {
        message = format!(
            "the node's certificate has fingerprint {seen}, not the one given with \
             --fingerprint (compare with `pvenode cert info` on the node)"
        );
    }
    ApiError::Connect {
        url: what.to_string(),
        certificate,
        message,
    }
}
