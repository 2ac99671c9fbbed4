//! TLS trust per registry: system roots plus the CAs and client identity in
//! containers-certs.d(5) directories.

use std::path::{Path, PathBuf};

use crate::error::RegistryError;
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

/// A reqwest builder trusting what the certificate directories add; with
/// `tls_verify == Some(false)` certificates are not verified at all.
pub fn client_builder(
    host: &str,
    options: &ClientOptions,
) -> Result<reqwest::ClientBuilder, RegistryError> {
    let mut builder = reqwest::Client::builder();
    if options.tls_verify == Some(false) {
        builder = builder.danger_accept_invalid_certs(true);
    }
    for dir in cert_dirs(host, options) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in &files {
            let read = |p: &Path| {
                std::fs::read(p).map_err(|e| RegistryError::Setup(format!("{}: {e}", p.display())))
            };
            match f.extension().and_then(|e| e.to_str()) {
                Some("crt") => {
                    let pem = read(f)?;
                    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                        RegistryError::Setup(format!("{}: not a PEM certificate: {e}", f.display()))
                    })?;
                    for c in certs {
                        builder = builder.add_root_certificate(c);
                    }
                }
                Some("cert") => {
                    let key = f.with_extension("key");
                    let mut pem = read(f)?;
                    pem.extend_from_slice(b"\n");
                    pem.extend_from_slice(&read(&key).map_err(|_| {
                        RegistryError::Setup(format!(
                            "{}: client certificate without its key {}",
                            f.display(),
                            key.display()
                        ))
                    })?);
                    let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                        RegistryError::Setup(format!(
                            "{}: invalid client certificate: {e}",
                            f.display()
                        ))
                    })?;
                    builder = builder.identity(identity);
                }
                _ => {}
            }
        }
    }
    Ok(builder)
}
