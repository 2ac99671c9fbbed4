//! GnuPG for the signing tests: a throw-away GnuPG home driven through the real `gpg`, and
//! the Debian `skopeo` run inside it (so `--sign-by` and `standalone-sign` find its keys).
//! Shared by skiff-trust's interop tests and the binary's policy tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A throw-away GnuPG home with the named keys; the agent it starts is stopped on drop.
pub struct Gpg {
    pub home: tempfile::TempDir,
}

impl Default for Gpg {
    fn default() -> Gpg {
        Gpg::new()
    }
}

impl Gpg {
    pub fn new() -> Gpg {
        Gpg {
            home: tempfile::Builder::new()
                .prefix("gpg")
                .tempdir_in("/tmp")
                .unwrap(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let out = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--yes", "--no-tty"])
            .args(args)
            .output()
            .expect("gpg must be installed (apt-get install gnupg)");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Generates a key for `name` and returns its fingerprint.
    pub fn key(&self, name: &str) -> String {
        let uid = format!("{name} <{name}@example.com>");
        self.run(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            &uid,
            "default",
            "default",
            "never",
        ]);
        let list = self.run(&[
            "--with-colons",
            "--list-keys",
            &format!("{name}@example.com"),
        ]);
        String::from_utf8_lossy(&list.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| !f.is_empty()))
            .expect("fingerprint")
            .to_string()
    }

    /// Exports `name`'s public key to a file, armored or binary.
    pub fn export(&self, name: &str, armor: bool, dir: &Path) -> PathBuf {
        let path = dir.join(format!("{name}.{}", if armor { "asc" } else { "gpg" }));
        let mut args = vec!["--output", path.to_str().unwrap(), "--export"];
        if armor {
            args.insert(0, "--armor");
        }
        let email = format!("{name}@example.com");
        args.push(&email);
        self.run(&args);
        path
    }

    pub fn skopeo(&self, args: &[&str]) -> Output {
        Command::new("skopeo")
            .env("GNUPGHOME", self.home.path())
            .args(args)
            .output()
            .expect("skopeo must be installed")
    }

    /// `skopeo standalone-sign` of `manifest` as `reference` with key `fpr`.
    pub fn sign(&self, manifest: &Path, reference: &str, fpr: &str, out: &Path) -> Vec<u8> {
        let o = self.skopeo(&[
            "standalone-sign",
            manifest.to_str().unwrap(),
            reference,
            fpr,
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(
            o.status.success(),
            "standalone-sign: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::fs::read(out).unwrap()
    }

    /// Signs `reference` (already in a registry reached without TLS) with `fpr` by letting
    /// skopeo copy it onto itself: the lookaside that registries.d `regd` names keeps the
    /// signatures it had and gains one.
    pub fn skopeo_sign_in_registry(&self, regd: &Path, reference: &str, fpr: &str) {
        let image = format!("docker://{reference}");
        let o = self.skopeo(&[
            "--insecure-policy",
            "--registries.d",
            regd.to_str().unwrap(),
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--sign-by",
            fpr,
            &image,
            &image,
        ]);
        assert!(
            o.status.success(),
            "skopeo sign {reference}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// Whether `skopeo standalone-verify` accepts.
    pub fn skopeo_verifies(&self, manifest: &Path, reference: &str, fpr: &str, sig: &Path) -> bool {
        self.skopeo(&[
            "standalone-verify",
            manifest.to_str().unwrap(),
            reference,
            fpr,
            sig.to_str().unwrap(),
        ])
        .status
        .success()
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}
