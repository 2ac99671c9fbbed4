//! Writing simple signatures of a registry image to its lookaside, as skopeo does: the
//! `lookaside-staging` (else `lookaside`) URL of the most specific registries.d scope, and
//! without one the built-in default (`/var/lib/containers/sigstore` for root, else
//! `$HOME/.local/share/containers/sigstore`). Only `file://` is writable; publishing the
//! staged files to a web server is the user's business, as skopeo's manual says.

use std::path::{Path, PathBuf};

use skiff_oci::{Digest, Reference};
use skiff_trust::registries_d::{lookaside_signature_url, RegistriesD};
use url::Url;

/// Signature numbers beyond the ones written are removed up to this many, so a staging
/// directory that held more signatures before does not keep stale ones.
const MAX_STALE: usize = 128;

/// Where simple signatures of `reference` are written.
pub fn staging_base(config: &RegistriesD, reference: &Reference) -> Result<Url, String> {
    match config.lookaside(reference, true) {
        Some(url) => Ok(url),
        None => builtin(),
    }
}

/// containers/image's lookaside when registries.d names none, for reading and writing:
/// `/var/lib/containers/sigstore` for root, else `$HOME/.local/share/containers/sigstore`.
pub fn builtin() -> Result<Url, String> {
    let dir = if rustix::process::geteuid().is_root() {
        PathBuf::from("/var/lib/containers/sigstore")
    } else {
        let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
        Path::new(&home).join(".local/share/containers/sigstore")
    };
    Url::from_directory_path(&dir).map_err(|()| format!("{} is not absolute", dir.display()))
}

/// Writes `blobs` as signature-1… of `digest` under `base`, each atomically (written beside
/// and renamed), and removes higher-numbered leftovers.
pub fn write(
    base: &Url,
    reference: &Reference,
    digest: &Digest,
    blobs: &[Vec<u8>],
) -> Result<(), String> {
    if base.scheme() != "file" {
        return Err(format!(
            "Writing to {base} is not supported. Use a supported scheme (file://) in lookaside-staging"
        ));
    }
    let path_of = |index: usize| {
        lookaside_signature_url(base, reference, digest, index)
            .to_file_path()
            .map_err(|()| format!("lookaside {base} is not a local file URL"))
    };
    for (i, blob) in blobs.iter().enumerate() {
        let path = path_of(i + 1)?;
        write_atomic(&path, blob)
            .map_err(|e| format!("writing signature {}: {e}", path.display()))?;
    }
    for index in blobs.len() + 1..=blobs.len() + MAX_STALE {
        let path = path_of(index)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(format!("removing stale signature {}: {e}", path.display())),
        }
    }
    Ok(())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".signature")
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
