//! What can go wrong talking to a registry, in words a person can act on.

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
    /// Authentication is required or the credentials were refused.
    #[error("{what}: unauthorized: {message}")]
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
    #[error("{what}: too many requests (HTTP 429); retried {retries} times")]
    TooManyRequests {
        /// What was asked for.
        what: String,
        /// How many times it was retried.
        retries: u32,
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
    /// Content that does not match its digest.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was fetched.
        what: String,
        /// The digest asked for.
        expected: String,
        /// The digest of what arrived.
        actual: String,
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

impl RegistryError {
    /// Whether the image or blob does not exist (skopeo's exit status 2).
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::NotFound { .. })
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
