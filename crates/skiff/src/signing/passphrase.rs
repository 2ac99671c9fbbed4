//! Passphrase files (`--passphrase-file`, `--sign-passphrase-file`) as skopeo reads them:
//! the first line, without its line ending; an empty file is an empty passphrase.

use std::path::Path;

use crate::failure::Failure;

/// A passphrase file larger than this is not a passphrase file.
const MAX: u64 = 64 << 10;

/// Reads the passphrase in `path`.
pub fn read(path: &Path) -> Result<String, Failure> {
    let bytes = skiff_oci::local_file::read_capped(path, MAX)
        .map_err(|e| Failure::new(format!("reading passphrase file {}: {e}", path.display())))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Failure::new(format!(
            "passphrase file {} is not UTF-8 text",
            path.display()
        ))
    })?;
    let first = text.split('\n').next().unwrap_or("");
    Ok(first.strip_suffix('\r').unwrap_or(first).to_string())
}
