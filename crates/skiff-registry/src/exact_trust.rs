//! Trusting a registry's self-signed certificate where it is trusted explicitly.
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

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_name;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, SignatureScheme};

/// A server certificate verifier: exact matches with the trusted certificates of the
/// registry's cert directories, else WebPKI (with the same certificates as extra roots).
#[derive(Debug)]
pub(crate) struct ExactOrWebPki {
    trusted: Vec<CertificateDer<'static>>,
    webpki: Arc<dyn ServerCertVerifier>,
}

impl ExactOrWebPki {
    /// `trusted` are the certificates of the cert directories; `webpki` verifies all
    /// other server certificates.
    pub(crate) fn new(
        trusted: Vec<CertificateDer<'static>>,
        webpki: Arc<dyn ServerCertVerifier>,
    ) -> Self {
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
        if self
            .trusted
            .iter()
            .any(|t| t.as_ref() == end_entity.as_ref())
        {
            // Trusted by its bytes; it must still be the certificate of this host.
            verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
            return Ok(ServerCertVerified::assertion());
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
