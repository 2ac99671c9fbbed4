//! Simple signing with the user's GnuPG: the real `gpg`, their keyring (`GNUPGHOME`), their
//! agent — what skopeo does through gpgme.
//!
//! Only *making* signatures goes through GnuPG, because the secret keys live there. Whatever
//! `gpg` returns is then verified in-process with the public key it exports, so a signature
//! skiff hands out is one skiff (and so skopeo) will accept, made by the key the user named.

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::simple::{verify_simple_signing, Keyring};

/// Making or checking a signature with GnuPG failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpgError {
    /// `gpg` cannot be started.
    #[error("cannot run gpg: {0} (install GnuPG: apt-get install gnupg)")]
    Spawn(String),
    /// `gpg` ran and failed; its own words follow.
    #[error("gpg {action} failed: {stderr}")]
    Failed {
        /// What was asked of gpg.
        action: &'static str,
        /// gpg's standard error, trimmed.
        stderr: String,
    },
    /// The keyring has no public key for the identity.
    #[error("no public key for {0:?} in the GnuPG keyring")]
    NoPublicKey(String),
    /// gpg produced a signature that does not verify with the key named.
    #[error("gpg signed, but not with key {key}: {reason}")]
    WrongKey {
        /// The key the user named.
        key: String,
        /// Why the check failed.
        reason: String,
    },
}

/// The user's GnuPG, as found through `PATH` and `GNUPGHOME` (inherited).
#[derive(Debug, Clone, Default)]
pub struct Gpg;

impl Gpg {
    /// Signs `payload` with the secret key `key` (fingerprint, key id or e-mail, as gpg's
    /// `--local-user` takes it). With a passphrase, gpg reads it in loopback mode and never
    /// prompts; without, gpg-agent may ask through its pinentry, as with skopeo.
    pub fn sign(
        &self,
        payload: &[u8],
        key: &str,
        passphrase: Option<&str>,
    ) -> Result<Vec<u8>, GpgError> {
        let dir = tempfile::tempdir().map_err(|e| GpgError::Spawn(e.to_string()))?;
        let payload_file = dir.path().join("payload");
        std::fs::write(&payload_file, payload).map_err(|e| GpgError::Spawn(e.to_string()))?;
        let mut command = Command::new("gpg");
        command.args(["--no-verbose", "--local-user", key, "--output", "-"]);
        if passphrase.is_some() {
            command.args([
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase-fd",
                "0",
            ]);
        }
        command.arg("--sign").arg(&payload_file);
        let stdin = passphrase.map(|p| format!("{p}\n").into_bytes());
        let signature = run(command, stdin.as_deref(), "--sign")?;
        self.check(&signature, key)?;
        Ok(signature)
    }

    /// The public keys gpg has for `identities`, exported (binary).
    pub fn export(&self, identities: &[&str]) -> Result<Vec<u8>, GpgError> {
        let mut command = Command::new("gpg");
        command
            .args(["--batch", "--no-verbose", "--export"])
            .args(identities);
        let keys = run(command, None, "--export")?;
        if keys.is_empty() {
            return Err(GpgError::NoPublicKey(identities.join(", ")));
        }
        Ok(keys)
    }

    /// The signature verifies with `key`'s public half.
    fn check(&self, signature: &[u8], key: &str) -> Result<(), GpgError> {
        let wrong = |reason: String| GpgError::WrongKey {
            key: key.to_string(),
            reason,
        };
        let ring = Keyring::from_bytes(&self.export(&[key])?).map_err(|e| wrong(e.to_string()))?;
        verify_simple_signing(signature, &ring)
            .map(|_| ())
            .map_err(|e| wrong(e.to_string()))
    }
}

fn run(
    mut command: Command,
    stdin: Option<&[u8]>,
    action: &'static str,
) -> Result<Vec<u8>, GpgError> {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| GpgError::Spawn(e.to_string()))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // gpg reads the passphrase line first; a broken pipe shows up as its exit status.
        let _ = pipe.write_all(input);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| GpgError::Spawn(e.to_string()))?;
    if !out.status.success() {
        return Err(GpgError::Failed {
            action,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out.stdout)
}
