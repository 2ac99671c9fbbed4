//! `manifest-digest FILE`: the digest a registry would give this manifest.

use crate::cli::ManifestDigestArgs;
use crate::failure::Failure;

pub fn run(args: ManifestDigestArgs) -> Result<(), Failure> {
    // No manifest larger than a registry would accept is read (a huge or endless file
    // would otherwise be held in memory whole).
    let limit = skiff_registry::MAX_MANIFEST as u64;
    let bytes = skiff_oci::local_file::read_capped(&args.manifest, limit)
        .map_err(|e| Failure::new(format!("reading {}: {e}", args.manifest.display())))?;
    // The digest of the exact bytes, as a registry computes it.
    crate::output::print_line(&skiff_oci::Digest::sha256(&bytes).to_string())
}
