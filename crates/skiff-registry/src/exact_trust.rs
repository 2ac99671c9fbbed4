//! Trusting a server's self-signed certificate where it is trusted explicitly.
//!
//! Home-lab registries serve a certificate made with `openssl req -x509`: self-signed and
//! marked `CA:TRUE`. An administrator puts that very file into
//! `/etc/containers/certs.d/HOST:PORT/` (or `--cert-dir`), and skopeo (Go's crypto/x509)
//! accepts it as the server certificate. WebPKI refuses a CA certificate as an end entity
//! (`CaUsedAsEndEntity`), so this verifier accepts a server certificate that is
//! byte-for-byte one of the certificates trusted for this registry — still checking that
//! it names the host and that the handshake is signed by its key — and hands every
//! other certificate to the platform's WebPKI verifier unchanged. Nothing is accepted
//! that was not trusted by exactly these bytes.
//!
//! Proxmox VE nodes serve a certificate signed by the cluster's own CA, and Proxmox's
//! tools (the storage plugins for Proxmox Backup Server, API clients like proxmoxer)
//! trust it by the SHA-256 fingerprint the admin reads from `pvenode cert info`. The same
//! verifier does that ([`Trusted::Fingerprints`]): the pin names one certificate exactly,
//! so, as in those tools, the host name is not checked against it.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_name;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use skiff_oci::Digest;

/// What a server certificate may be trusted by, besides WebPKI.
#[derive(Debug, Clone)]
pub(crate) enum Trusted {
    /// These exact certificates (of cert directories), which must still name the host.
    Certificates(Vec<CertificateDer<'static>>),
    /// Certificates whose DER has one of these SHA-256 digests (hex, lower case).
    Fingerprints(Vec<String>),
}

/// A pinned fingerprint that the server's certificate did not have, and the one it had,
/// so the person can compare it with `pvenode cert info` on the node.
#[derive(Debug)]
pub struct FingerprintMismatch {
    /// The fingerprint of the certificate the server presented (`AA:BB:…`).
    pub seen: String,
}

impl fmt::Display for FingerprintMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the server's certificate has fingerprint {}, not the pinned one",
            self.seen
        )
    }
}

impl std::error::Error for FingerprintMismatch {}

/// The SHA-256 fingerprint of a certificate as Proxmox prints it: upper-case hex pairs
/// joined by `:`.
pub fn fingerprint_text(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

/// A server certificate verifier: what [`Trusted`] names, else WebPKI.
#[derive(Debug)]
pub(crate) struct ExactOrWebPki {
    trusted: Trusted,
    webpki: Arc<dyn ServerCertVerifier>,
}

impl ExactOrWebPki {
    /// `trusted` are the certificates accepted by their bytes; `webpki` verifies all
    /// other server certificates.
    pub(crate) fn new(trusted: Trusted, webpki: Arc<dyn ServerCertVerifier>) -> Self {
        ExactOrWebPki { trusted, webpki }
    }
}

impl ServerCertVerifier for ExactOrWebPki {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.trusted {
            Trusted::Certificates(certs) => {
                if certs.iter().any(|t| t.as_ref() == end_entity.as_ref()) {
                    // Trusted by its bytes; it must still be the certificate of this host.
                    verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
                    return Ok(ServerCertVerified::assertion());
                }
            }
            Trusted::Fingerprints(pins) => {
                let seen = Digest::sha256(end_entity.as_ref());
                if pins.iter().any(|p| p == seen.hex()) {
                    return Ok(ServerCertVerified::assertion());
                }
                // Neither pinned nor valid: say which certificate it was.
                return self
                    .webpki
                    .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                    .map_err(|_| {
                        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(
                            Arc::new(FingerprintMismatch {
                                seen: fingerprint_text(seen.hex()),
                            }),
                        )))
                    });
            }
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::parse_fingerprint;

    #[test]
    fn fingerprints_read_and_print_as_proxmox_shows_them() {
        let hex = "ab".repeat(31) + "0f";
        let shown = fingerprint_text(&hex);
        assert_eq!(shown.len(), 32 * 3 - 1);
        assert!(
            shown.starts_with("AB:AB:") && shown.ends_with(":0F"),
            "{shown}"
        );
        assert_eq!(parse_fingerprint(&shown).as_deref(), Some(hex.as_str()));
        assert_eq!(
            parse_fingerprint(&hex.to_uppercase()).as_deref(),
            Some(hex.as_str())
        );
        for bad in ["AB:CD", "", &("zz".repeat(32)), &("ab".repeat(33))] {
            assert_eq!(parse_fingerprint(bad), None, "{bad}");
        }
    }
}
