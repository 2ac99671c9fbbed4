//! Reading what a registry answered: headers, bounded bodies, and error responses turned
//! into typed errors.

use futures_util::StreamExt;
use std::time::SystemTime;

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Response, StatusCode};

use crate::connect::connect_error;
use crate::error::RegistryError;
use crate::retry::retry_after;

/// A header value we build ourselves (media types, ranges).
pub(crate) fn header_value(s: &str) -> Result<HeaderValue, RegistryError> {
    HeaderValue::from_str(s)
        .map_err(|e| RegistryError::Setup(format!("invalid header value {s:?}: {e}")))
}

/// A header the server sent, when it is text.
pub(crate) fn header_string(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The whole body, refusing more than `limit` bytes as soon as they arrive (a server
/// cannot make us buffer without bound).
pub(crate) async fn read_limited(
    resp: Response,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, RegistryError> {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| connect_error(what, &e))?;
        if chunk.len() > limit.saturating_sub(out.len()) {
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
pub(crate) async fn error_for(resp: Response, what: &str) -> RegistryError {
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
    let retry_after = header_string(resp.headers(), RETRY_AFTER.as_str())
        .and_then(|v| retry_after(&v, SystemTime::now()));
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
        StatusCode::TOO_MANY_REQUESTS => RegistryError::TooManyRequests {
            what,
            retries: 0,
            retry_after,
        },
        s => RegistryError::Http {
            what,
            status: s.as_u16(),
            code,
            message,
        },
    }
}
