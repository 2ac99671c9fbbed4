//! The `--sign-*` flags of copy and sync: which keys sign, as whom, with which passphrase.

use skiff_oci::{Digest, Reference};
use skiff_transport::ImageName;
use skiff_trust::gpg_sign::Gpg;
use skiff_trust::sigstore_key::SigstorePrivateKey;
use skiff_trust::{signing_payload, PayloadKind, Signature};

use crate::cli::SignArgs;
use crate::failure::Failure;

/// What signs an image as it is written: a GnuPG key, a sigstore key, or both.
#[derive(Debug)]
pub struct Signer {
    gpg_key: Option<String>,
    passphrase: Option<String>,
    sigstore: Option<SigstorePrivateKey>,
    identity: Option<Reference>,
}

impl Signer {
    /// The signer the flags ask for, `None` when they ask for no signature. Everything
    /// that can fail (a missing key file, a wrong passphrase) fails here, before any
    /// image is read.
    pub fn from_args(args: &SignArgs) -> Result<Option<Signer>, Failure> {
        if let Some(params) = &args.sign_by_sigstore {
            return Err(Failure::new(format!(
                "--sign-by-sigstore {}: signing with Fulcio and rekor needs the sigstore services online, which skiff does not talk to",
                params.display()
            ))
            .hint("sign with a key instead: --sign-by-sigstore-private-key (generate-sigstore-key makes one)"));
        }
        if args.sign_by.is_none() && args.sign_by_sigstore_private_key.is_none() {
            for (flag, set) in [
                (
                    "--sign-passphrase-file",
                    args.sign_passphrase_file.is_some(),
                ),
                ("--sign-identity", args.sign_identity.is_some()),
            ] {
                if set {
                    return Err(Failure::new(format!(
                        "{flag} needs --sign-by or --sign-by-sigstore-private-key"
                    )));
                }
            }
            return Ok(None);
        }
        if args.sign_by.is_some()
            && args.sign_by_sigstore_private_key.is_some()
            && args.sign_passphrase_file.is_some()
        {
            return Err(Failure::new(
                "Only one of --sign-by and sign-by-sigstore-private-key can be used with sign-passphrase-file",
            ));
        }
        let passphrase = match &args.sign_passphrase_file {
            Some(path) => Some(super::passphrase::read(path)?),
            None => None,
        };
        let sigstore = match &args.sign_by_sigstore_private_key {
            Some(path) => {
                let Some(passphrase) = &passphrase else {
                    return Err(Failure::new(format!(
                        "--sign-by-sigstore-private-key {}: the key's passphrase is needed and skiff does not prompt for it",
                        path.display()
                    ))
                    .hint("name a file holding it with --sign-passphrase-file"));
                };
                let pem = skiff_oci::local_file::read_capped(path, 64 << 10)
                    .map_err(|e| Failure::new(format!("reading {}: {e}", path.display())))?;
                Some(
                    SigstorePrivateKey::decrypt(&pem, passphrase.as_bytes())
                        .map_err(|e| Failure::new(format!("{}: {e}", path.display())))?,
                )
            }
            None => None,
        };
        let identity = args
            .sign_identity
            .as_deref()
            .map(parse_identity)
            .transpose()?;
        Ok(Some(Signer {
            gpg_key: args.sign_by.clone(),
            passphrase: passphrase.filter(|_| sigstore.is_none()),
            sigstore,
            identity,
        }))
    }

    /// The identity signatures claim for an image written to `destination`:
    /// `--sign-identity`, else the destination's docker reference.
    pub fn identity_for(&self, destination: &ImageName) -> Result<Reference, String> {
        match (&self.identity, destination) {
            (Some(identity), _) => Ok(identity.clone()),
            (None, ImageName::Docker { reference, .. }) => Ok(reference.clone()),
            (None, other) => Err(format!(
                "Cannot determine canonical Docker reference for destination {other}; name one with --sign-identity"
            )),
        }
    }

    /// Signs manifest `digest` as `identity` with every key the flags name.
    pub fn sign(&self, digest: &Digest, identity: &Reference) -> Result<Vec<Signature>, String> {
        let creator = concat!("skiff ", env!("CARGO_PKG_VERSION"));
        let now = super::now();
        let identity = identity.to_string();
        let mut out = Vec::new();
        if let Some(key) = &self.gpg_key {
            let payload =
                signing_payload(PayloadKind::SimpleSigning, &identity, digest, creator, now);
            let sig = Gpg
                .sign(&payload, key, self.passphrase.as_deref())
                .map_err(|e| format!("signing with {key}: {e}"))?;
            out.push(Signature::SimpleSigning(sig));
        }
        if let Some(key) = &self.sigstore {
            let payload = signing_payload(PayloadKind::Sigstore, &identity, digest, creator, now);
            out.push(Signature::Sigstore(key.sign(payload)));
        }
        Ok(out)
    }
}

/// `--sign-identity`: a fully specified docker reference (registry, repository, and a tag
/// or digest), as skopeo requires.
fn parse_identity(value: &str) -> Result<Reference, Failure> {
    let bad = |why: &str| Failure::new(format!("Could not parse --sign-identity: {value:?} {why}"));
    if !Reference::names_registry(value) {
        return Err(bad(
            "does not name a registry (it must be a fully specified docker reference)",
        ));
    }
    let r = Reference::parse_unnormalised_tag(value).map_err(|e| bad(&e.to_string()))?;
    if r.tag().is_none() && r.digest().is_none() {
        return Err(bad("has neither a tag nor a digest"));
    }
    Ok(r)
}
