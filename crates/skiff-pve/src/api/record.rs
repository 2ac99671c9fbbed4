//! What skiff uploaded, remembered on this machine, so that "the template is already
//! there" is decided by content and not by name and size.
//!
//! Proxmox lists a template with its volume id, size and change time only — no digest —
//! and its upload overwrites a file of the same name without asking. So skiff records
//! each upload (the archive's SHA-256, which the node verified as the upload's checksum,
//! and the size and ctime the node then listed) in `$XDG_STATE_HOME/skiff/pve-templates.json`
//! (default `~/.local/state/skiff/…`). A listed template counts as the same archive only
//! when its size and ctime are those recorded and the recorded SHA-256 is the local
//! archive's: a file replaced since (new ctime), or one skiff did not upload, is never
//! taken for the same and never overwritten.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// One uploaded template, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    /// Size the node listed after the upload.
    pub size: u64,
    /// Change time the node listed after the upload.
    pub ctime: i64,
    /// SHA-256 of the archive (hex).
    pub sha256: String,
    /// The image reference pulled, for `pve images --api`.
    pub reference: String,
    /// The image's manifest digest.
    pub manifest: String,
}

/// The record file.
#[derive(Debug, Clone)]
pub struct UploadRecord {
    path: PathBuf,
}

/// Where on the cluster a template lives: a shared storage is the same on every node.
pub(crate) fn key(api: &str, node: &str, shared: bool, volid: &str) -> String {
    let scope = if shared { "*" } else { node };
    format!("{api} {scope} {volid}")
}

impl UploadRecord {
    /// The record at `path`.
    pub fn at(path: PathBuf) -> Self {
        UploadRecord { path }
    }

    /// The default place: `$XDG_STATE_HOME/skiff/pve-templates.json`, else
    /// `$HOME/.local/state/skiff/pve-templates.json`.
    pub fn default_path() -> Option<PathBuf> {
        let state = std::env::var_os("XDG_STATE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".local/state"))
            })?;
        Some(state.join("skiff/pve-templates.json"))
    }

    fn load(&self) -> Result<BTreeMap<String, Uploaded>, ApiError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                ApiError::Setup(format!(
                    "{}: not skiff's upload record ({e}); remove it to start afresh",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(ApiError::io(&self.path, e)),
        }
    }

    /// What was recorded under `key`.
    pub(crate) fn get(&self, key: &str) -> Result<Option<Uploaded>, ApiError> {
        Ok(self.load()?.remove(key))
    }

    /// Records `entry` under `key`, replacing the file atomically.
    pub(crate) fn put(&self, key: String, entry: Uploaded) -> Result<(), ApiError> {
        let mut all = self.load()?;
        all.insert(key, entry);
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| ApiError::io(dir, e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| ApiError::io(dir, e))?;
        let bytes = serde_json::to_vec_pretty(&all).map_err(|e| ApiError::Setup(e.to_string()))?;
        tmp.write_all(&bytes)
            .map_err(|e| ApiError::io(tmp.path(), e))?;
        tmp.persist(&self.path)
            .map_err(|e| ApiError::io(&self.path, e.error))?;
        Ok(())
    }
}
