//! TLS trust per registry: system roots plus the CAs and client identity in
//! containers-certs.d(5) directories.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::RegistryError;
use crate::exact_trust::{ExactOrWebPki, Trusted};
use crate::no_verify::AnyCertificate;
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
///
/// The usual configurations — no certificate directory, or `--tls-verify=false` without
/// a client certificate — are made once per process and shared (see [`shared`]).
pub fn client_builder(
    host: &str,
    options: &ClientOptions,
) -> Result<reqwest::ClientBuilder, RegistryError> {
    let dirs = read_cert_dirs(host, options)?;
    let config = match (options.tls_verify == Some(false), dirs.identity) {
        (true, None) => shared(&INSECURE, insecure_verifier)?,
        (true, identity) => rustls_config(insecure_verifier()?, identity)?,
        (false, None) if dirs.trusted.is_empty() => shared(&PLATFORM, || {
            webpki_verifier(Trusted::Certificates(Vec::new()))
        })?,
        (false, identity) => rustls_config(
            webpki_verifier(Trusted::Certificates(dirs.trusted))?,
            identity,
        )?,
    };
    Ok(reqwest::Client::builder().use_preconfigured_tls(config))
}

/// A configuration made once per process and cloned for every client (clones share
/// the verifier). The platform's verifier reads the system's roots — the CA bundle
/// and every file of /etc/ssl/certs — when it is made: a few milliseconds, which a
/// sync of many images, one client each, used to spend again for every image.
type SharedConfig = OnceLock<Result<rustls::ClientConfig, String>>;

static PLATFORM: SharedConfig = OnceLock::new();
static INSECURE: SharedConfig = OnceLock::new();

fn shared(
    cell: &SharedConfig,
    verifier: impl FnOnce() -> Result<Arc<dyn ServerCertVerifier>, RegistryError>,
) -> Result<rustls::ClientConfig, RegistryError> {
    cell.get_or_init(|| {
        verifier()
            .and_then(|v| rustls_config(v, None))
            .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(RegistryError::Setup)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn tls_error(e: rustls::Error) -> RegistryError {
    RegistryError::Setup(format!("TLS setup: {e}"))
}

/// `--tls-verify=false`: any certificate (see [`AnyCertificate`]).
fn insecure_verifier() -> Result<Arc<dyn ServerCertVerifier>, RegistryError> {
    Ok(Arc::new(AnyCertificate::new(provider())))
}

/// The platform's roots plus the cert directories' certificates; a certificate trusted
/// by its exact bytes or fingerprint accepted even where it is its own CA (see
/// [`ExactOrWebPki`]).
fn webpki_verifier(trusted: Trusted) -> Result<Arc<dyn ServerCertVerifier>, RegistryError> {
    let provider = provider();
    let extra_roots = match &trusted {
        Trusted::Certificates(certs) => certs.clone(),
        Trusted::Fingerprints(_) => Vec::new(),
    };
    let webpki = rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider)
        .map_err(tls_error)?;
    Ok(Arc::new(ExactOrWebPki::new(trusted, Arc::new(webpki))))
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
    let config = rustls_config(webpki_verifier(Trusted::Fingerprints(pins))?, None)?;
    Ok(reqwest::Client::builder().use_preconfigured_tls(config))
}

/// A SHA-256 fingerprint in lower-case hex, from `AA:BB:…` (any case, `:` optional).
pub fn parse_fingerprint(text: &str) -> Option<String> {
    let hex: String = text.trim().chars().filter(|c| *c != ':').collect();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

/// The TLS configuration of a server whose certificate `verifier` judges, with the
/// client identity.
fn rustls_config(
    verifier: Arc<dyn ServerCertVerifier>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
) -> Result<rustls::ClientConfig, RegistryError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
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
