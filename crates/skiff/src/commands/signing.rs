//! The standalone signature commands: `standalone-sign`, `standalone-verify`,
//! `untrusted-signature-dump-without-verification` and `generate-sigstore-key`, with
//! skopeo's output and exit codes (0, else 1 with the reason).

use std::path::{Path, PathBuf};

use serde::Serialize;
use skiff_oci::{Digest, Reference};
use skiff_trust::gpg_sign::Gpg;
use skiff_trust::sigstore_key::generate_key_pair;
use skiff_trust::simple::{untrusted_simple_signing, Keyring};
use skiff_trust::{
    is_docker_schema1, signing_payload, verify_standalone, IdentityError, PayloadKind,
    SignatureRejection,
};

use crate::cli::{
    GenerateSigstoreKeyArgs, StandaloneSignArgs, StandaloneVerifyArgs, UntrustedSignatureDumpArgs,
};
use crate::failure::Failure;
use crate::signing::{now, passphrase, rfc3339_utc};

/// Manifests, signatures and key files are small; larger files are refused unread.
const MAX_FILE: u64 = 4 << 20;

fn read(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    skiff_oci::local_file::read_capped(path, MAX_FILE)
        .map_err(|e| Failure::new(format!("Error reading {what} from {}: {e}", path.display())))
}

/// The docker reference argument, normalised as skopeo's `ParseNormalizedNamed` does (no
/// default tag added).
fn docker_reference(value: &str) -> Result<Reference, Failure> {
    Reference::parse_unnormalised_tag(value)
        .map_err(|e| Failure::new(format!("Error parsing docker reference {value:?}: {e}")))
}

/// The digest a signature of `manifest` claims: that of the exact bytes. Schema 1
/// manifests would need their embedded signatures stripped first; refused rather than
/// signed wrongly.
fn manifest_digest(manifest: &[u8]) -> Result<Digest, Failure> {
    if is_docker_schema1(manifest) {
        return Err(Failure::new(
            "Error computing manifest digest: Docker schema 1 manifests are not signed by skiff",
        ));
    }
    Ok(Digest::sha256(manifest))
}

pub fn standalone_sign(args: StandaloneSignArgs) -> Result<(), Failure> {
    let manifest = read(&args.manifest, "manifest")?;
    let reference = docker_reference(&args.docker_reference)?;
    let digest = manifest_digest(&manifest)?;
    let passphrase = args
        .passphrase_file
        .as_deref()
        .map(passphrase::read)
        .transpose()?;
    let payload = signing_payload(
        PayloadKind::SimpleSigning,
        &reference.to_string(),
        &digest,
        concat!("skiff ", env!("CARGO_PKG_VERSION")),
        now(),
    );
    let signature = Gpg
        .sign(&payload, &args.key_fingerprint, passphrase.as_deref())
        .map_err(|e| Failure::new(format!("Error creating signature: {e}")))?;
    write_new_or_replace(&args.output, &signature).map_err(|e| {
        Failure::new(format!(
            "Error writing signature to {}: {e}",
            args.output.display()
        ))
    })
}

pub fn standalone_verify(args: StandaloneVerifyArgs) -> Result<(), Failure> {
    let manifest = read(&args.manifest, "manifest")?;
    let signature = read(&args.signature, "signature")?;
    let expected = docker_reference(&args.docker_reference)?;
    let fail = |e: String| Failure::new(format!("Error verifying signature: {e}"));
    let wanted: Vec<String> = args
        .key_fingerprints
        .split(',')
        .map(|f| f.trim().to_ascii_uppercase())
        .collect();
    let any = wanted.len() == 1 && wanted[0] == "ANY";
    let keyring =
        match &args.public_key_file {
            Some(path) => Keyring::from_bytes(&read(path, "public keys")?)
                .map_err(|e| fail(format!("{}: {e}", path.display())))?,
            None if any => return Err(Failure::new(
                "Error verifying signature: the key fingerprint \"any\" needs --public-key-file",
            )),
            // The user's whole keyring, exported by GnuPG and read in-process; the signer
            // is compared with the wanted fingerprints after, so a signature by another
            // known key is named as such (skopeo's words).
            None => Keyring::from_bytes(&Gpg.export(&[]).map_err(|e| fail(e.to_string()))?)
                .map_err(|e| fail(e.to_string()))?,
        };
    let verified =
        verify_standalone(&signature, &keyring, &manifest, &expected).map_err(|e| match e {
            // skopeo's words for this one.
            SignatureRejection::Identity(IdentityError::Mismatch {
                signed, intended, ..
            }) => fail(format!(
                "Docker reference {signed} does not match {intended}"
            )),
            e => fail(e.to_string()),
        })?;
    if !any
        && !wanted.contains(&verified.primary_fingerprint)
        && !wanted.contains(&verified.signing_fingerprint)
    {
        return Err(fail(format!(
            "Signature by {} does not match expected fingerprint {}",
            verified.primary_fingerprint, args.key_fingerprints
        )));
    }
    crate::output::print_line(&format!(
        "Signature verified, digest {}",
        verified.payload.manifest_digest
    ))
}

/// c/image's `UntrustedSignatureInformation`, field names and all.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UntrustedInformation {
    untrusted_docker_manifest_digest: String,
    untrusted_docker_reference: String,
    #[serde(rename = "UntrustedCreatorID", skip_serializing_if = "Option::is_none")]
    untrusted_creator_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    untrusted_timestamp: Option<String>,
    untrusted_short_key_identifier: String,
}

pub fn untrusted_dump(args: UntrustedSignatureDumpArgs) -> Result<(), Failure> {
    let blob = read(&args.signature, "signature")?;
    let raw = match skiff_trust::Signature::from_blob(&blob) {
        Ok(skiff_trust::Signature::SimpleSigning(raw)) => raw,
        Ok(skiff_trust::Signature::Sigstore(_)) => {
            return Err(Failure::new(format!(
                "Error decoding untrusted signature from {}: a sigstore signature, not a simple signing one",
                args.signature.display()
            )))
        }
        Err(e) => {
            return Err(Failure::new(format!(
                "Error decoding untrusted signature from {}: {e}",
                args.signature.display()
            )))
        }
    };
    let untrusted = untrusted_simple_signing(&raw).map_err(|e| {
        Failure::new(format!(
            "Error decoding untrusted signature from {}: {e}",
            args.signature.display()
        ))
    })?;
    let key = untrusted.key_ids.first().cloned().unwrap_or_default();
    crate::output::print_json(&UntrustedInformation {
        untrusted_docker_manifest_digest: untrusted.payload.manifest_digest.to_string(),
        untrusted_docker_reference: untrusted.payload.docker_reference,
        untrusted_creator_id: untrusted.payload.creator,
        untrusted_timestamp: untrusted.payload.timestamp.map(rfc3339_utc),
        untrusted_short_key_identifier: key.to_ascii_uppercase(),
    })
}

pub fn generate_sigstore_key(args: GenerateSigstoreKeyArgs) -> Result<(), Failure> {
    let prefix = args.output_prefix.as_os_str().to_owned();
    let with = |suffix: &str| {
        let mut p = prefix.clone();
        p.push(suffix);
        PathBuf::from(p)
    };
    let (public, private) = (with(".pub"), with(".private"));
    for path in [&public, &private] {
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(Failure::new(format!(
                "Refusing to overwrite existing {}",
                path.display()
            )));
        }
    }
    let Some(file) = &args.passphrase_file else {
        return Err(Failure::new(
            "generate-sigstore-key needs a passphrase and skiff does not prompt for one",
        )
        .hint("name a file whose first line is the passphrase with --passphrase-file"));
    };
    let passphrase = passphrase::read(file)?;
    let pair = generate_key_pair(passphrase.as_bytes())
        .map_err(|e| Failure::new(format!("Error generating key pair: {e}")))?;
    // The private key first, created exclusively (0600): a prefix raced into existence is
    // refused, and no public key is left without its private half.
    create_new(&private, pair.private_pem.as_bytes(), 0o600)?;
    if let Err(e) = create_new(&public, pair.public_pem.as_bytes(), 0o644) {
        let _ = std::fs::remove_file(&private);
        return Err(e);
    }
    crate::output::print_line(&format!(
        "Key written to {} and {}",
        private.display(),
        public.display()
    ))
}

/// Writes a file that must not exist yet, completely or not at all.
fn create_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Failure> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let fail = |e: std::io::Error| Failure::new(format!("Error writing {}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(fail)?;
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        let _ = std::fs::remove_file(path);
        return Err(fail(e));
    }
    Ok(())
}

/// `-o SIGNATURE` replaces an existing file, as skopeo's does, but atomically.
fn write_new_or_replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".signature")
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
