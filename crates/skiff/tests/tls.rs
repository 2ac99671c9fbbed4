//! Registries behind TLS (a real docker-registry with a certificate from a CA of the
//! test's own): trust through containers-certs.d(5) directories (`--cert-dir`,
//! `--src-cert-dir`), unverified TLS with `--tls-verify=false`, and client
//! certificates for a registry that requires them. skopeo seeds the registries through
//! the same directories, so they are known to be what the containers tools expect.

mod common;

use std::path::Path;

use common::*;
use skiff_testbed::image::{
    write_oci_layout, Compression, Format, Image, ImageBuilder, LayerBuilder,
};
use skiff_testbed::{Options, RegistryServer, Setup, Tls};

fn tls_registry(tls: Tls) -> RegistryServer {
    let options = Options {
        tls,
        ..Options::default()
    };
    RegistryServer::start_with(Setup::Open, options).expect("start docker-registry with TLS")
}

/// Pushes a small image with skopeo, trusting the registry through `cert_dir`.
fn seed(reg: &RegistryServer, cert_dir: &Path) -> (Image, String) {
    let layer = LayerBuilder::new()
        .file("etc/greeting", 0o644, b"over TLS\n")
        .build();
    let image = ImageBuilder::new(Format::Oci)
        .layer(layer, Compression::Gzip)
        .build();
    let layout = tempfile::tempdir().unwrap();
    write_oci_layout(layout.path(), "v1", &image).unwrap();
    let reference = format!("docker://{}/tls/hello:v1", reg.host());
    peer_ok(
        "skopeo",
        &[
            "copy",
            "-q",
            "--dest-cert-dir",
            cert_dir.to_str().unwrap(),
            &format!("oci:{}:v1", layout.path().display()),
            &reference,
        ],
    );
    (image, reference)
}

fn digest_of(inspect_stdout: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(inspect_stdout).expect("inspect JSON");
    v["Digest"].as_str().expect("Digest").to_string()
}

#[test]
fn a_registry_with_its_own_ca_is_trusted_through_the_cert_dir_only() {
    let reg = tls_registry(Tls::On);
    let certs = reg.tls().unwrap().cert_dir.clone();
    let (image, reference) = seed(&reg, &certs);

    let trusted = skiff(&["inspect", "--cert-dir", certs.to_str().unwrap(), &reference]);
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    assert_eq!(digest_of(&trusted.stdout), image.manifest_digest);

    // Without the CA the certificate is refused — with an error that says so, exit 1.
    // Not retried either: a certificate does not become trusted by waiting.
    let started = std::time::Instant::now();
    let untrusted = skiff(&["inspect", &reference]);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let stderr = String::from_utf8_lossy(&untrusted.stderr).to_lowercase();
    assert_eq!(untrusted.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
    assert!(
        stderr.contains("--cert-dir"),
        "the hint names the fix: {stderr}"
    );

    // --tls-verify=false talks TLS without verifying it.
    let unverified = skiff(&["inspect", "--tls-verify=false", &reference]);
    assert!(
        unverified.status.success(),
        "{}",
        String::from_utf8_lossy(&unverified.stderr)
    );
    assert_eq!(digest_of(&unverified.stdout), image.manifest_digest);

    // copy takes the source's trust from --src-cert-dir.
    let out = tempfile::tempdir().unwrap();
    let archive = out.path().join("hello.tar");
    skiff_ok(&[
        "copy",
        "-q",
        "--src-cert-dir",
        certs.to_str().unwrap(),
        &reference,
        &format!("oci-archive:{}", archive.display()),
    ]);
    assert!(tar_entries(&archive).contains(&"index.json".to_string()));
    let no_trust = skiff(&[
        "copy",
        "-q",
        &reference,
        &format!("oci-archive:{}", out.path().join("never.tar").display()),
    ]);
    assert!(!no_trust.status.success());
    assert!(!out.path().join("never.tar").exists());
}

#[test]
fn a_registry_that_requires_client_certificates_gets_the_one_in_the_cert_dir() {
    let reg = tls_registry(Tls::ClientCertificates);
    let files = reg.tls().unwrap().clone();
    let (image, reference) = seed(&reg, &files.client_cert_dir);

    let with_identity = skiff(&[
        "inspect",
        "--cert-dir",
        files.client_cert_dir.to_str().unwrap(),
        &reference,
    ]);
    assert!(
        with_identity.status.success(),
        "{}",
        String::from_utf8_lossy(&with_identity.stderr)
    );
    assert_eq!(digest_of(&with_identity.stdout), image.manifest_digest);
    // Unverified (any server certificate), the client certificate is still presented.
    let unverified = skiff(&[
        "inspect",
        "--tls-verify=false",
        "--cert-dir",
        files.client_cert_dir.to_str().unwrap(),
        &reference,
    ]);
    assert!(
        unverified.status.success(),
        "{}",
        String::from_utf8_lossy(&unverified.stderr)
    );
    assert_eq!(digest_of(&unverified.stdout), image.manifest_digest);

    // The CA alone: the registry refuses the handshake. How the refusal reaches the
    // client is a race: Go's server sends a "certificate required" alert and closes a
    // socket that still holds the client's request, so the kernel may answer with a reset
    // that discards the alert — and a reset is retried like any other. Retries are
    // therefore switched off here; that certificate errors are not retried is shown by
    // the untrusted-server test above.
    let without = skiff(&[
        "inspect",
        "--retry-times",
        "0",
        "--cert-dir",
        files.cert_dir.to_str().unwrap(),
        &reference,
    ]);
    assert_eq!(
        without.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&without.stderr)
    );

    // A client certificate whose key is missing is a setup error naming the file.
    let broken = tempfile::tempdir().unwrap();
    std::fs::copy(
        files.client_cert_dir.join("ca.crt"),
        broken.path().join("ca.crt"),
    )
    .unwrap();
    std::fs::copy(
        files.client_cert_dir.join("client.cert"),
        broken.path().join("client.cert"),
    )
    .unwrap();
    let out = skiff(&[
        "inspect",
        "--cert-dir",
        broken.path().to_str().unwrap(),
        &reference,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("client.key"), "{stderr}");
}

/// A home-lab registry: one self-signed `CA:TRUE` certificate, as `openssl req -x509`
/// makes it, placed in the cert directory. skopeo accepts it, and so does skiff — only
/// by its exact bytes: another self-signed certificate for the same host is refused.
#[test]
fn a_self_signed_ca_certificate_is_trusted_where_that_exact_certificate_is() {
    let reg = tls_registry(Tls::SelfSigned);
    let certs = reg.tls().unwrap().cert_dir.clone();
    let (image, reference) = seed(&reg, &certs);
    let trusted = skiff(&["inspect", "--cert-dir", certs.to_str().unwrap(), &reference]);
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    assert_eq!(digest_of(&trusted.stdout), image.manifest_digest);
    let out = tempfile::tempdir().unwrap();
    let archive = out.path().join("home-lab.tar");
    skiff_ok(&[
        "copy",
        "-q",
        "--src-cert-dir",
        certs.to_str().unwrap(),
        &reference,
        &format!("oci-archive:{}", archive.display()),
    ]);

    // Another registry's self-signed certificate (same host names, other key) trusts
    // nothing here.
    let other = tls_registry(Tls::SelfSigned);
    let other_certs = other.tls().unwrap().cert_dir.clone();
    for cert_dir in [Some(&other_certs), None] {
        let mut args = vec!["inspect", "--retry-times", "0"];
        if let Some(d) = cert_dir {
            args.extend(["--cert-dir", d.to_str().unwrap()]);
        }
        args.push(&reference);
        let refused = skiff(&args);
        let stderr = String::from_utf8_lossy(&refused.stderr).to_lowercase();
        assert_eq!(refused.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("certificate"), "{stderr}");
    }
}
