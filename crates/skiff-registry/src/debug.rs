//! `--debug`: every HTTP exchange with a registry, its token server or its blob storage,
//! told to a hook as it happens — method, URL, status and the headers that explain what a
//! registry did (content type and digest, redirects, challenges, Retry-After) — so that a
//! failing pull can be understood without a packet capture.
//!
//! Secrets never reach the hook: an `Authorization` header shows its scheme only, query
//! values that look like credentials (pre-signed storage URLs carry signatures and
//! tokens) are replaced, and bodies — token responses among them — are not shown at all.

use std::fmt;
use std::sync::Arc;

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, Response};
use url::Url;

/// Request headers shown (besides `Authorization`, shown as its scheme).
const REQUEST_HEADERS: &[&str] = &["accept", "content-type", "content-length", "range"];
/// Response headers shown.
const RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "content-range",
    "docker-content-digest",
    "docker-upload-uuid",
    "location",
    "link",
    "range",
    "retry-after",
    "www-authenticate",
];
/// Query keys whose values are replaced: any key containing one of these.
const SECRET_QUERY_KEYS: &[&str] = &[
    "signature",
    "token",
    "credential",
    "secret",
    "password",
    "key",
    "sig",
    "auth",
];

/// One request and what came of it, secrets removed.
#[derive(Debug, Clone)]
pub struct ExchangeNotice {
    /// `GET`, `PUT`, …
    pub method: String,
    /// The URL, with credential-like query values replaced.
    pub url: String,
    /// Selected request headers, in the order sent.
    pub request_headers: Vec<(String, String)>,
    /// The status line, e.g. `200 OK`; `None` when no response came.
    pub status: Option<String>,
    /// Selected response headers.
    pub response_headers: Vec<(String, String)>,
    /// Why no response came.
    pub error: Option<String>,
}

impl fmt::Display for ExchangeNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "> {} {}", self.method, self.url)?;
        for (k, v) in &self.request_headers {
            write!(f, "\n> {k}: {v}")?;
        }
        if let Some(s) = &self.status {
            write!(f, "\n< {s}")?;
        }
        for (k, v) in &self.response_headers {
            write!(f, "\n< {k}: {v}")?;
        }
        if let Some(e) = &self.error {
            write!(f, "\n< (no response: {e})")?;
        }
        Ok(())
    }
}

/// Told every exchange (`ClientOptions::on_exchange`).
#[derive(Clone)]
pub struct ExchangeHook(Arc<dyn Fn(&ExchangeNotice) + Send + Sync>);

impl ExchangeHook {
    /// A hook calling `f` with each exchange.
    pub fn new(f: impl Fn(&ExchangeNotice) + Send + Sync + 'static) -> Self {
        ExchangeHook(Arc::new(f))
    }
}

impl fmt::Debug for ExchangeHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExchangeHook")
    }
}

/// Sends `builder` through `http`, telling `hook` (when there is one) about the exchange.
/// Without a hook this is `builder.send()`. Other HTTP APIs skiff speaks (Proxmox VE's)
/// use it too, so that `--debug` redacts their secrets the same way.
pub async fn send(
    http: &reqwest::Client,
    builder: RequestBuilder,
    hook: Option<&ExchangeHook>,
) -> Result<Response, reqwest::Error> {
    let Some(hook) = hook else {
        return builder.send().await;
    };
    let request = builder.build()?;
    let mut notice = ExchangeNotice {
        method: request.method().to_string(),
        url: redact_url(request.url()),
        request_headers: request_headers(request.headers()),
        status: None,
        response_headers: Vec::new(),
        error: None,
    };
    let result = http.execute(request).await;
    match &result {
        Ok(resp) => {
            notice.status = Some(resp.status().to_string());
            notice.response_headers = selected(resp.headers(), RESPONSE_HEADERS);
        }
        Err(e) => notice.error = Some(crate::error::describe(e)),
    }
    (hook.0)(&notice);
    result
}

fn request_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut shown = Vec::new();
    if let Some(auth) = headers.get(reqwest::header::AUTHORIZATION) {
        // `Bearer TOKEN`, `Basic B64`, and Proxmox's `PVEAPIToken=USER@REALM!ID=SECRET`
        // where no space separates the scheme from the secret.
        let scheme = auth
            .to_str()
            .ok()
            .and_then(|v| v.split(|c: char| c.is_whitespace() || c == '=').next())
            .unwrap_or("?");
        shown.push(("Authorization".to_string(), format!("{scheme} [redacted]")));
    }
    shown.extend(selected(headers, REQUEST_HEADERS));
    shown
}

fn selected(headers: &HeaderMap, names: &[&str]) -> Vec<(String, String)> {
    let mut shown = Vec::new();
    for name in names {
        for value in headers.get_all(*name) {
            let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
            let text = match *name {
                // A redirect's target may be a pre-signed URL.
                "location" => Url::parse(&text)
                    .map(|u| redact_url(&u))
                    .unwrap_or_else(|_| redact_query(&text)),
                _ => text,
            };
            shown.push((name.to_string(), text));
        }
    }
    shown
}

/// The URL with the values of credential-like query keys replaced by `[redacted]`, and
/// any user:password in it removed.
fn redact_url(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let Some(query) = url.query().map(str::to_string) else {
        return url.to_string();
    };
    url.set_query(None);
    format!("{url}?{}", redact_query_string(&query))
}

/// A relative reference (`/v2/…?…`) redacted like a URL's query.
fn redact_query(text: &str) -> String {
    match text.split_once('?') {
        Some((path, query)) => format!("{path}?{}", redact_query_string(query)),
        None => text.to_string(),
    }
}

fn redact_query_string(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if is_secret_key(k) => format!("{k}=[redacted]"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_QUERY_KEYS.iter().any(|s| key.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presigned_urls_and_userinfo_lose_their_secrets() {
        let u = Url::parse(
            "https://user:pw@s3.example/blob?X-Amz-Signature=abc&X-Amz-Credential=AK&X-Amz-Security-Token=t&n=5",
        )
        .unwrap();
        let shown = redact_url(&u);
        assert_eq!(
            shown,
            "https://s3.example/blob?X-Amz-Signature=[redacted]&X-Amz-Credential=[redacted]&X-Amz-Security-Token=[redacted]&n=5"
        );
        assert_eq!(
            redact_query("/v2/a/blobs/uploads/x?_state=s&digest=sha256:1"),
            "/v2/a/blobs/uploads/x?_state=s&digest=sha256:1"
        );
    }

    #[test]
    fn authorization_shows_its_scheme_only() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer eyJsecret".parse().unwrap());
        h.insert("accept", "application/json".parse().unwrap());
        let shown = request_headers(&h);
        assert_eq!(
            shown[0],
            ("Authorization".into(), "Bearer [redacted]".into())
        );
        assert_eq!(shown[1], ("accept".into(), "application/json".into()));
        assert!(!format!("{shown:?}").contains("eyJsecret"));

        let mut h = HeaderMap::new();
        let pve = "PVEAPIToken=root@pam!skiff=0b5f-secret";
        h.insert("authorization", pve.parse().unwrap());
        let shown = request_headers(&h);
        assert_eq!(
            shown[0],
            ("Authorization".into(), "PVEAPIToken [redacted]".into())
        );
        assert!(!format!("{shown:?}").contains("secret"));
        assert!(!format!("{shown:?}").contains("skiff"));
    }
}
