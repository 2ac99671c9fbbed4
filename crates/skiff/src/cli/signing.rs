//! Flags of the signing commands and the `--sign-*` flags copy and sync share.

use std::path::PathBuf;

use clap::Args;

/// `standalone-sign MANIFEST DOCKER-REFERENCE KEY-FINGERPRINT -o SIGNATURE`.
#[derive(Debug, Args)]
pub struct StandaloneSignArgs {
    /// The manifest file to sign.
    pub manifest: PathBuf,
    /// The docker reference the signature vouches for (e.g. registry.example/app:1).
    pub docker_reference: String,
    /// The GnuPG key to sign with (fingerprint), from the user's keyring (GNUPGHOME).
    pub key_fingerprint: String,
    /// Where to write the signature.
    #[arg(short, long, value_name = "SIGNATURE")]
    pub output: PathBuf,
    /// A file whose first line is the passphrase of the key.
    #[arg(long, value_name = "PATH")]
    pub passphrase_file: Option<PathBuf>,
}

/// `standalone-verify MANIFEST DOCKER-REFERENCE KEY-FINGERPRINTS SIGNATURE`.
#[derive(Debug, Args)]
pub struct StandaloneVerifyArgs {
    /// The manifest file the signature must be for.
    pub manifest: PathBuf,
    /// The docker reference the signature must claim.
    pub docker_reference: String,
    /// The fingerprint of the key that must have signed (several separated by commas;
    /// `any` with --public-key-file: any key of that file).
    pub key_fingerprints: String,
    /// The signature file.
    pub signature: PathBuf,
    /// Trust the keys of this file (armored or binary) instead of the user's GnuPG keyring.
    #[arg(long, value_name = "PATH")]
    pub public_key_file: Option<PathBuf>,
}

/// `untrusted-signature-dump-without-verification SIGNATURE`.
#[derive(Debug, Args)]
pub struct UntrustedSignatureDumpArgs {
    /// The signature file.
    pub signature: PathBuf,
}

/// `generate-sigstore-key --output-prefix PREFIX`.
#[derive(Debug, Args)]
pub struct GenerateSigstoreKeyArgs {
    /// Write the key pair to PREFIX.pub and PREFIX.private (neither may exist).
    #[arg(long, value_name = "PREFIX")]
    pub output_prefix: PathBuf,
    /// A file whose first line is the passphrase that encrypts the private key.
    #[arg(long, value_name = "PATH")]
    pub passphrase_file: Option<PathBuf>,
}

/// Signing an image as it is written (copy, sync).
#[derive(Debug, Args, Clone, Default)]
pub struct SignArgs {
    /// Sign the image with this GnuPG key (fingerprint or e-mail) from the user's keyring.
    #[arg(long, value_name = "FINGERPRINT")]
    pub sign_by: Option<String>,
    /// Sign the image with this sigstore private key (as generate-sigstore-key writes).
    #[arg(long, value_name = "PATH")]
    pub sign_by_sigstore_private_key: Option<PathBuf>,
    /// Sign with Fulcio and rekor as this parameter file says; refused: it needs the
    /// sigstore services online, which skiff does not talk to.
    #[arg(long, value_name = "PARAM-FILE")]
    pub sign_by_sigstore: Option<PathBuf>,
    /// A file whose first line is the passphrase for the --sign-by key or the sigstore key.
    #[arg(long, value_name = "PATH")]
    pub sign_passphrase_file: Option<PathBuf>,
    /// The identity the signature claims (a full docker reference); default: the
    /// destination's.
    #[arg(long, value_name = "REFERENCE")]
    pub sign_identity: Option<String>,
}
