//! A throwaway certificate authority for registries served over HTTPS.
//!
//! One CA per registry signs the server certificate (for `127.0.0.1` and `localhost`)
//! and a client certificate. The files are laid out as containers-certs.d(5) expects
//! them, so a test hands a directory to `--cert-dir` as a user would copy
//! `/etc/containers/certs.d/HOST:PORT/` into place.

use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// How the registry speaks TLS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Tls {
    /// Plain HTTP.
    #[default]
    Off,
    /// HTTPS with a certificate from the registry's own CA.
    On,
    /// HTTPS, and clients must present a certificate from that CA (`http.tls.clientcas`).
    ClientCertificates,
    /// HTTPS with one self-signed certificate that is its own CA (`CA:TRUE`), as
    /// `openssl req -x509` makes it: how home-lab registries are set up. The cert
    /// directories hold that very certificate.
    SelfSigned,
}

/// The files of a registry's CA.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// `ca.crt` alone: trusts the registry.
    pub cert_dir: PathBuf,
    /// `ca.crt`, `client.cert` and `client.key`: trusts the registry and presents the
    /// client certificate.
    pub client_cert_dir: PathBuf,
    /// The server certificate and key, and the CA, in PEM (for the registry's config).
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub ca_cert: PathBuf,
}

fn tls_err(e: rcgen::Error) -> io::Error {
    io::Error::other(format!("certificate generation: {e}"))
}

/// Creates one self-signed `CA:TRUE` server certificate under `dir` ([`Tls::SelfSigned`]);
/// there is no client certificate, so both cert directories only trust the server.
pub(crate) fn write_self_signed_files(dir: &Path) -> io::Result<TlsFiles> {
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .map_err(tls_err)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "skiff-testbed self-signed registry");
    let key = KeyPair::generate().map_err(tls_err)?;
    let cert = params.self_signed(&key).map_err(tls_err)?;
    let files = TlsFiles {
        cert_dir: dir.join("certs.d"),
        client_cert_dir: dir.join("certs.d"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
        ca_cert: dir.join("server.crt"),
    };
    std::fs::create_dir_all(&files.cert_dir)?;
    std::fs::write(&files.server_cert, cert.pem())?;
    std::fs::write(&files.server_key, key.serialize_pem())?;
    std::fs::write(files.cert_dir.join("domain.crt"), cert.pem())?;
    Ok(files)
}

/// Creates a CA and the certificates signed by it under `dir`.
pub(crate) fn write_tls_files(dir: &Path) -> io::Result<TlsFiles> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "skiff-testbed registry CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(tls_err)?)
        .map_err(tls_err)?;

    let leaf = |sans: Vec<String>, cn: &str, usage: ExtendedKeyUsagePurpose| {
        let mut params = CertificateParams::new(sans).map_err(tls_err)?;
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().map_err(tls_err)?;
        let cert = params.signed_by(&key, &ca).map_err(tls_err)?;
        Ok::<_, io::Error>((cert.pem(), key.serialize_pem()))
    };
    let (server_pem, server_key_pem) = leaf(
        vec!["127.0.0.1".into(), "localhost".into()],
        "skiff-testbed registry",
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let (client_pem, client_key_pem) = leaf(
        Vec::new(),
        "skiff-testbed client",
        ExtendedKeyUsagePurpose::ClientAuth,
    )?;

    let files = TlsFiles {
        cert_dir: dir.join("certs.d"),
        client_cert_dir: dir.join("certs.d-client"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
        ca_cert: dir.join("ca.pem"),
    };
    std::fs::create_dir_all(&files.cert_dir)?;
    std::fs::create_dir_all(&files.client_cert_dir)?;
    std::fs::write(&files.server_cert, server_pem)?;
    std::fs::write(&files.server_key, server_key_pem)?;
    std::fs::write(&files.ca_cert, ca.pem())?;
    std::fs::write(files.cert_dir.join("ca.crt"), ca.pem())?;
    std::fs::write(files.client_cert_dir.join("ca.crt"), ca.pem())?;
    std::fs::write(files.client_cert_dir.join("client.cert"), client_pem)?;
    std::fs::write(files.client_cert_dir.join("client.key"), client_key_pem)?;
    Ok(files)
}
