//! TLS trust per registry: system roots plus the CAs and client identity in
//! containers-certs.d(5) directories.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::RegistryError;
use crate::exact_trust::{ExactOrWebPki, Trusted};
use crate::options::ClientOptions;

/// The certificate directories for `host` (host[:port]): `--cert-dir` alone when given,
/// else `/etc/containers/certs.d/HOST` and `/etc/docker/certs.d/HOST`.
fn cert_dirs(host: &str, options: &ClientOptions) -> Vec<PathBuf> {
    match &options.cert_dir {
        Some(d) => vec![d.clone()],
        None => vec![
            Path::new("/etc/containers/certs.d").join(host),
            Path::new("/etc/docker/certs.d").join(host),
        ],
    }
}

/// What the certificate directories of one registry hold.
#[derive(Default)]
struct CertDirs {
    /// Every certificate of the `*.crt` files.
    trusted: Vec<CertificateDer<'static>>,
    /// The client certificate (`*.cert`) and its key (`*.key`), in PEM, as found.
    identity: Option<(Vec<u8>, Vec<u8>)>,
}

fn setup(path: &Path, what: impl std::fmt::Display) -> RegistryError {
    RegistryError::Setup(format!("{}: {what}", path.display()))
}

/// Reads the certificate directories of `host`, in file-name order.
fn read_cert_dirs(host: &str, options: &ClientOptions) -> Result<CertDirs, RegistryError> {
    let mut found = CertDirs::default();
    for dir in cert_dirs(host, options) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in &files {
            let read = |p: &Path| std::fs::read(p).map_err(|e| setup(p, e));
            match f.extension().and_then(|e| e.to_str()) {
                Some("crt") => {
                    let certs = CertificateDer::pem_slice_iter(&read(f)?)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| setup(f, format!("not a PEM certificate: {e}")))?;
                    if certs.is_empty() {
                        return Err(setup(f, "not a PEM certificate: no certificate in it"));
                    }
                    found.trusted.extend(certs);
                }
                Some("cert") => {
                    let key = f.with_extension("key");
                    let key_pem = read(&key).map_err(|_| {
                        setup(
                            f,
                            format!("client certificate without its key {}", key.display()),
                        )
                    })?;
                    found.identity = Some((read(f)?, key_pem));
                }
                _ => {}
            }
        }
    }
    Ok(found)
}

/// A reqwest builder trusting what the certificate directories add; with
/// `tls_verify == Some(false)` certificates are not verified at all.
pub fn client_builder(
    host: &str,
    options: &ClientOptions,
) -> Result<reqwest::ClientBuilder, RegistryError> {
    let dirs = read_cert_dirs(host, options)?;
    let builder = reqwest::Client::builder();
    if options.tls_verify == Some(false) {
        let mut builder = builder.danger_accept_invalid_certs(true);
        if let Some((cert, key)) = &dirs.identity {
            let mut pem = cert.clone();
            pem.extend_from_slice(b"\n");
            pem.extend_from_slice(key);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| RegistryError::Setup(format!("invalid client certificate: {e}")))?;
            builder = builder.identity(identity);
        }
        return Ok(builder);
    }
    if dirs.trusted.is_empty() && dirs.identity.is_none() {
        return Ok(builder);
    }
    let config = rustls_config(Trusted::Certificates(dirs.trusted), dirs.identity)?;
    Ok(builder.use_preconfigured_tls(config))
}

/// A reqwest builder for a server trusted by the SHA-256 fingerprint of its certificate
/// (`AA:BB:…` as `pvenode cert info` prints it, or plain hex; see [`parse_fingerprint`]),
/// else by the platform's roots. A certificate that is neither fails the handshake with
/// a [`FingerprintMismatch`](crate::FingerprintMismatch) naming the fingerprint it had.
pub fn pinned_client_builder(
    fingerprints: &[String],
) -> Result<reqwest::ClientBuilder, RegistryError> {
    let pins = fingerprints
        .iter()
        .map(|f| {
            parse_fingerprint(f).ok_or_else(|| {
                RegistryError::Setup(format!(
                    "{f:?} is not a SHA-256 fingerprint (32 hex pairs, e.g. AB:CD:…)"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let config = rustls_config(Trusted::Fingerprints(pins), None)?;
    Ok(reqwest::Client::builder().use_preconfigured_tls(config))
}

/// A SHA-256 fingerprint in lower-case hex, from `AA:BB:…` (any case, `:` optional).
pub fn parse_fingerprint(text: &str) -> Option<String> {
    let hex: String = text.trim().chars().filter(|c| *c != ':').collect();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

/// The TLS configuration of a server with explicitly trusted certificates: the platform's
/// roots (plus the cert directories' certificates), a certificate trusted by its exact
/// bytes or fingerprint accepted even where it is its own CA (see [`ExactOrWebPki`]), and
/// the client identity.
fn rustls_config(
    trusted: Trusted,
    identity: Option<(Vec<u8>, Vec<u8>)>,
) -> Result<rustls::ClientConfig, RegistryError> {
    let tls_error = |e: rustls::Error| RegistryError::Setup(format!("TLS setup: {e}"));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let extra_roots = match &trusted {
        Trusted::Certificates(certs) => certs.clone(),
        Trusted::Fingerprints(_) => Vec::new(),
    };
    let webpki =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider.clone())
            .map_err(tls_error)?;
    let verifier = ExactOrWebPki::new(trusted, Arc::new(webpki));
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let invalid = |e: &dyn std::fmt::Display| {
                RegistryError::Setup(format!("invalid client certificate: {e}"))
            };
            let chain = CertificateDer::pem_slice_iter(&cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| invalid(&e))?;
            let key = PrivateKeyDer::from_pem_slice(&key).map_err(|e| invalid(&e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| invalid(&e))?
        }
    };
    // What reqwest offers by itself with HTTP/2 enabled.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
