//! What can go wrong talking to a registry, in words a person can act on.

use std::time::Duration;

use skiff_oci::VerifyError;

use crate::retry::MAX_RETRY_AFTER;

/// A registry operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry does not have it (manifest unknown, blob unknown, name unknown).
    #[error("{what}: {message} ({code})")]
    NotFound {
        /// What was asked for (`registry/repo:tag`, a digest).
        what: String,
        /// The Distribution error code, e.g. MANIFEST_UNKNOWN.
        code: String,
        /// The registry's message.
        message: String,
    },
    /// Authentication is required or the credentials were refused. The text always holds
    /// skopeo's "authentication required", which scripts and skopeo's tests match.
    #[error("{what}: unauthorized: {}", authentication_required(message))]
    Unauthorized {
        /// What was asked for.
        what: String,
        /// The registry's message.
        message: String,
    },
    /// Authenticated, but not allowed.
    #[error("{what}: access denied: {message}")]
    Denied {
        /// What was asked for.
        what: String,
        /// The registry's message.
        message: String,
    },
    /// Rate limited and out of retries.
    #[error(
        "{what}: too many requests (HTTP 429); retried {retries} times{}",
        asked_wait(retry_after)
    )]
    TooManyRequests {
        /// What was asked for.
        what: String,
        /// How many times it was retried.
        retries: u32,
        /// How long the registry asked to wait (its last `Retry-After`), when it said.
        retry_after: Option<Duration>,
    },
    /// Any other HTTP error status.
    #[error("{what}: HTTP {status}: {message}")]
    Http {
        /// What was asked for.
        what: String,
        /// The status code.
        status: u16,
        /// The Distribution error code, when the body had one.
        code: Option<String>,
        /// The registry's message, or the start of the body.
        message: String,
    },
    /// The connection could not be made or broke (DNS, TCP, TLS), after retries.
    #[error("{url}: {message}")]
    Connect {
        /// The URL.
        url: String,
        /// What kind of failure it was: the binary chooses its hint from this, never from
        /// the message text.
        kind: ConnectKind,
        /// What the HTTP stack said, with its causes.
        message: String,
    },
    /// The token server failed or answered nonsense.
    #[error("getting a token from {realm}: {message}")]
    Auth {
        /// The token realm.
        realm: String,
        /// What went wrong.
        message: String,
    },
    /// The registry answered something that breaks the protocol.
    #[error("{what}: invalid response: {message}")]
    InvalidResponse {
        /// What was asked for.
        what: String,
        /// What was wrong.
        message: String,
    },
    /// Content that is not what its digest promised, as skiff_oci::Verifier found (the
    /// one check of content against its descriptor, with its wording).
    #[error("{error}")]
    DigestMismatch {
        /// What was fetched (`registry/repo:tag`).
        what: String,
        /// What the verifier found.
        error: VerifyError,
    },
    /// The client could not be set up (certificates, options).
    #[error("{0}")]
    Setup(String),
}

/// The kinds of connection failure a person acts on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectKind {
    /// The host name does not resolve: a typo or no network; retrying cannot help.
    Dns,
    /// Nothing listens on the port (connection refused).
    Refused,
    /// No answer in time (connect, headers or a stalled body).
    Timeout,
    /// The TLS handshake failed on the certificate: an untrusted CA, a wrong host name.
    Certificate,
    /// The server speaks plain HTTP where HTTPS was expected — skopeo's "server gave HTTP
    /// response to HTTPS client", the one case where `--tls-verify=false` is the fix.
    PlainHttp,
    /// The connection broke after it was made (reset, closed mid-body).
    Broken,
    /// Anything else the HTTP stack reports.
    Other,
}

impl ConnectKind {
    /// Whether trying again may help. A name that does not resolve, a certificate that is
    /// not trusted, a server that speaks plain HTTP: none of these changes in seconds, and
    /// waiting out the backoffs would only delay the error (and its hint).
    pub fn retryable(self) -> bool {
        !matches!(
            self,
            ConnectKind::Dns | ConnectKind::Certificate | ConnectKind::PlainHttp
        )
    }

    /// A few words for the failure, as in "retrying … : connection refused".
    pub fn reason(self) -> Option<&'static str> {
        match self {
            ConnectKind::Dns => Some("host name not found"),
            ConnectKind::Refused => Some("connection refused"),
            ConnectKind::Timeout => Some("timed out"),
            ConnectKind::Certificate => Some("certificate not accepted"),
            ConnectKind::PlainHttp => Some("server gave HTTP response to HTTPS client"),
            ConnectKind::Broken => Some("connection broken"),
            ConnectKind::Other => None,
        }
    }
}

/// The tail of the 429 message: what the registry asked for, and that skiff does not
/// wait longer than [`MAX_RETRY_AFTER`] between tries.
fn asked_wait(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) if *d > MAX_RETRY_AFTER => format!(
            "; the registry asks to wait {} s, longer than the {} s skiff waits between retries",
            d.as_secs(),
            MAX_RETRY_AFTER.as_secs()
        ),
        Some(d) => format!("; the registry asks to wait {} s", d.as_secs()),
        None => String::new(),
    }
}

impl RegistryError {
    /// Whether the image or blob does not exist (skopeo's exit status 2).
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::NotFound { .. })
    }

    /// Whether the same request may succeed if made again later: a broken or refused
    /// connection, a timeout, a server error or a rate limit — not a refusal, a missing
    /// image, or a failure that no wait changes (DNS, certificates, plain HTTP). A 413 is
    /// transient too: the client that got it uploads in chunks from then on (upload.rs).
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Connect { kind, .. } => kind.retryable(),
            RegistryError::Http { status, .. } => {
                *status >= 500 || *status == 408 || *status == 413
            }
            RegistryError::TooManyRequests { .. } => true,
            _ => false,
        }
    }
}

/// Describes an error of the HTTP stack with its whole cause chain (reqwest hides the
/// useful part — "connection refused", "invalid peer certificate" — in its sources).
pub fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// A 401's message as skopeo words it: docker-registry's own message is exactly
/// "authentication required"; any other text is kept after those words.
fn authentication_required(message: &str) -> String {
    if message.contains("authentication required") {
        message.to_string()
    } else {
        format!("authentication required ({message})")
    }
}
