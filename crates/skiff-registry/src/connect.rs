//! Naming a failed connection: what kind of failure it was, in typed terms.
//!
//! The binary picks its hint from [`ConnectKind`] and the retry loop decides from it
//! whether waiting can help, so the kind is read from the error's types — reqwest's own
//! predicates, `std::io::ErrorKind`, `hyper::Error`, `rustls::Error` — found by walking the source chain,
//! never from the wording of messages (which every library changes at will).

use std::error::Error as StdError;
use std::io;

use rustls::{AlertDescription, InvalidMessage};

use crate::error::{describe, ConnectKind, RegistryError};

/// What skopeo (Go's net/http) says when a plain-HTTP server answers a TLS handshake.
const PLAIN_HTTP: &str = "server gave HTTP response to HTTPS client";

/// The typed error for a request to `url` that got no usable answer, with its cause chain.
pub(crate) fn connect_error(url: &str, e: &reqwest::Error) -> RegistryError {
    let kind = classify(e);
    let message = match kind {
        ConnectKind::PlainHttp => format!("{PLAIN_HTTP} ({})", describe(e)),
        _ => describe(e),
    };
    RegistryError::Connect {
        url: url.to_string(),
        kind,
        message,
    }
}

/// The kind of a failure of the HTTP stack.
pub(crate) fn classify(e: &reqwest::Error) -> ConnectKind {
    // reqwest marks these itself: its DNS error type and timeouts are private.
    if e.is_dns() {
        return ConnectKind::Dns;
    }
    if e.is_timeout() {
        return ConnectKind::Timeout;
    }
    if let Some(kind) = chain_kind(e) {
        return kind;
    }
    if e.is_body() || e.is_decode() {
        // The answer started and then stopped: hyper reports an incomplete message.
        return ConnectKind::Broken;
    }
    ConnectKind::Other
}

/// The first cause in the chain that tells a kind.
fn chain_kind(e: &(dyn StdError + 'static)) -> Option<ConnectKind> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls_kind(tls));
        }
        if let Some(http) = err.downcast_ref::<hyper::Error>() {
            // Closed before the answer was complete, or while the request was sent.
            if http.is_incomplete_message() || http.is_canceled() || http.is_body_write_aborted() {
                return Some(ConnectKind::Broken);
            }
            if http.is_timeout() {
                return Some(ConnectKind::Timeout);
            }
        }
        cur = match err.downcast_ref::<io::Error>() {
            Some(io) => {
                if let Some(kind) = io_kind(io) {
                    return Some(kind);
                }
                // io::Error's source() skips the error it wraps; look at that one instead.
                io.get_ref().map(|inner| inner as _)
            }
            None => err.source(),
        };
    }
    None
}

fn io_kind(io: &io::Error) -> Option<ConnectKind> {
    use io::ErrorKind as K;
    match io.kind() {
        K::ConnectionRefused => Some(ConnectKind::Refused),
        K::TimedOut => Some(ConnectKind::Timeout),
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            Some(ConnectKind::Broken)
        }
        // The TLS stream (tokio-rustls) reports every TLS failure as InvalidData. When a
        // rustls::Error is inside, it tells more; an alert the peer sent after the
        // handshake (a refused client certificate) arrives only as text.
        K::InvalidData => Some(
            io.get_ref()
                .and_then(|inner| chain_kind(inner as &(dyn StdError + 'static)))
                .unwrap_or(ConnectKind::Certificate),
        ),
        _ => None,
    }
}

fn tls_kind(e: &rustls::Error) -> ConnectKind {
    use rustls::Error as E;
    match e {
        // The first bytes back were not a TLS record: "HTTP/1.1 400 Bad Request".
        E::InvalidMessage(InvalidMessage::InvalidContentType) => ConnectKind::PlainHttp,
        E::InvalidCertificate(_)
        | E::NoCertificatesPresented
        | E::InvalidCertRevocationList(_)
        | E::UnsupportedNameType => ConnectKind::Certificate,
        // The server refused our client certificate, or the lack of one.
        E::AlertReceived(
            AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateRequired
            | AlertDescription::AccessDenied,
        ) => ConnectKind::Certificate,
        _ => ConnectKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(e: impl StdError + Send + Sync + 'static) -> io::Error {
        // As tokio-rustls and hyper-util hand it up: InvalidData inside Other.
        io::Error::other(io::Error::new(io::ErrorKind::InvalidData, e))
    }

    #[test]
    fn tls_failures_are_told_apart() {
        let plain = wrapped(rustls::Error::InvalidMessage(
            InvalidMessage::InvalidContentType,
        ));
        assert_eq!(chain_kind(&plain), Some(ConnectKind::PlainHttp));
        let cert = wrapped(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert_eq!(chain_kind(&cert), Some(ConnectKind::Certificate));
        let alert = wrapped(rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired,
        ));
        assert_eq!(chain_kind(&alert), Some(ConnectKind::Certificate));
        let text_only = io::Error::new(io::ErrorKind::InvalidData, "peer sent an alert");
        assert_eq!(chain_kind(&text_only), Some(ConnectKind::Certificate));
    }

    #[test]
    fn socket_failures_are_told_apart() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(chain_kind(&refused), Some(ConnectKind::Refused));
        let reset = io::Error::other(io::Error::from(io::ErrorKind::ConnectionReset));
        assert_eq!(chain_kind(&reset), Some(ConnectKind::Broken));
        assert_eq!(chain_kind(&io::Error::other("odd")), None);
    }
}
