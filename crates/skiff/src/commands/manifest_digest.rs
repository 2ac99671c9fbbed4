//! `manifest-digest FILE`: the digest a registry would give this manifest.

use crate::cli::ManifestDigestArgs;
use crate::failure::Failure;

pub fn run(args: ManifestDigestArgs) -> Result<(), Failure> {
    let bytes = std::fs::read(&args.manifest)
        .map_err(|e| Failure::new(format!("reading {}: {e}", args.manifest.display())))?;
    // The digest of the exact bytes, as a registry computes it.
    crate::output::print_line(&skiff_oci::Digest::sha256(&bytes).to_string())
}
