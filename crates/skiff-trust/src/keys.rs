//! Reading the trusted keys a requirement names, at evaluation time (as skopeo does), so a
//! key file that is missing or broken rejects the images that need it and nothing else.

use crate::policy::KeySource;
use crate::sigstore::SigstorePublicKey;
use crate::simple::Keyring;

/// The raw key blobs with a label for messages.
fn blobs(source: &KeySource) -> Result<Vec<(String, Vec<u8>)>, String> {
    match source {
        KeySource::Paths(paths) => paths
            .iter()
            .map(|p| {
                std::fs::read(p)
                    .map(|b| (p.clone(), b))
                    .map_err(|e| format!("{p}: {e}"))
            })
            .collect(),
        KeySource::Data(datas) => Ok(datas
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("keyData #{}", i + 1), d.clone()))
            .collect()),
    }
}

/// All GPG keys of a `signedBy` requirement in one keyring.
pub(crate) fn load_keyring(source: &KeySource) -> Result<Keyring, String> {
    let mut ring = Keyring::default();
    for (label, bytes) in blobs(source)? {
        ring.add(&bytes).map_err(|e| format!("{label}: {e}"))?;
    }
    Ok(ring)
}

/// All public keys of a `sigstoreSigned` requirement.
pub(crate) fn load_sigstore_keys(source: &KeySource) -> Result<Vec<SigstorePublicKey>, String> {
    blobs(source)?
        .into_iter()
        .map(|(label, bytes)| {
            SigstorePublicKey::from_pem(&bytes).map_err(|e| format!("{label}: {e}"))
        })
        .collect()
}
