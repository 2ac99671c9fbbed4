//! OCI templates in a storage's template cache: placing a new one exactly as Proxmox's
//! `oci-registry-pull` does (written as `FILE.tmp.PID`, renamed to `FILE` when complete,
//! never over an existing file), and reading the ones there (what image, which digest,
//! the image's config, and files of its root filesystem such as `/etc/group`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::PveError;

/// `org.opencontainers.image.ref.name`: skiff records the pulled reference there.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Where a template is being written. Dropped before [`TemplateTarget::commit`], it
/// removes the temporary file, so an interrupted pull leaves nothing behind.
#[derive(Debug)]
pub struct TemplateTarget {
    final_path: PathBuf,
    temp_path: PathBuf,
    committed: bool,
}

impl TemplateTarget {
    /// Prepares `FILE` in `cache_dir` (created if missing, as Proxmox does): refused
    /// when `FILE` exists.
    pub fn prepare(cache_dir: &Path, file: &str) -> Result<Self, PveError> {
        std::fs::create_dir_all(cache_dir).map_err(|e| PveError::io("creating", cache_dir, e))?;
        let final_path = cache_dir.join(file);
        if final_path.symlink_metadata().is_ok() {
            return Err(PveError::Exists { path: final_path });
        }
        let temp_path = cache_dir.join(format!("{file}.tmp.{}", std::process::id()));
        Ok(TemplateTarget {
            final_path,
            temp_path,
            committed: false,
        })
    }

    /// The file to write: `FILE.tmp.PID`.
    pub fn temp_path(&self) -> &Path {
        &self.temp_path
    }

    /// The template's final path.
    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// Renames the written file into place, unless a file of that name appeared
    /// meanwhile (another pull): then the new file is removed and the old one kept.
    pub fn commit(mut self) -> Result<PathBuf, PveError> {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        let outcome = renameat_with(
            CWD,
            &self.temp_path,
            CWD,
            &self.final_path,
            RenameFlags::NOREPLACE,
        );
        match outcome {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {
                return Err(PveError::Exists {
                    path: self.final_path.clone(),
                })
            }
            // File systems without RENAME_NOREPLACE (some NFS and CIFS mounts): a hard
            // link fails on an existing name just the same.
            Err(
                rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS | rustix::io::Errno::OPNOTSUPP,
            ) => match std::fs::hard_link(&self.temp_path, &self.final_path) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&self.temp_path);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(PveError::Exists {
                        path: self.final_path.clone(),
                    })
                }
                Err(e) => return Err(PveError::io("renaming into place", &self.final_path, e)),
            },
            Err(e) => {
                return Err(PveError::io(
                    "renaming into place",
                    &self.final_path,
                    std::io::Error::from_raw_os_error(e.raw_os_error()),
                ))
            }
        }
        self.committed = true;
        Ok(self.final_path.clone())
    }
}

impl Drop for TemplateTarget {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp_path);
        }
    }
}

#[derive(Debug, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// The parts of an image config pve create needs.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct ImageRuntime {
    /// `Env`.
    #[serde(rename = "Env", default)]
    pub env: Option<Vec<String>>,
    /// `Entrypoint`.
    #[serde(rename = "Entrypoint", default)]
    pub entrypoint: Option<Vec<String>>,
    /// `Cmd`.
    #[serde(rename = "Cmd", default)]
    pub cmd: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct ImageConfig {
    #[serde(default)]
    config: Option<ImageRuntime>,
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// An OCI template (`.tar` OCI layout) as pct reads it: the first image manifest of
/// `index.json`.
#[derive(Debug)]
pub struct OciTemplate {
    path: PathBuf,
    /// Entry name → (offset of the data, size).
    entries: HashMap<String, (u64, u64)>,
    /// The manifest digest (`sha256:…`).
    pub digest: String,
    /// The reference recorded when pulled, if any.
    pub reference: Option<String>,
    manifest: Manifest,
}

impl OciTemplate {
    /// Indexes the archive and reads its index and manifest.
    pub fn open(path: &Path) -> Result<Self, PveError> {
        let bad = |message: String| PveError::Archive {
            path: path.to_path_buf(),
            message,
        };
        let file = File::open(path).map_err(|e| PveError::io("opening", path, e))?;
        let mut archive = tar::Archive::new(file);
        let mut entries = HashMap::new();
        let iter = archive
            .entries_with_seek()
            .map_err(|e| bad(format!("not a tar file: {e}")))?;
        for entry in iter {
            let entry = entry.map_err(|e| bad(format!("not a tar file: {e}")))?;
            let name = entry
                .path()
                .map_err(|e| bad(format!("bad entry name: {e}")))?
                .to_string_lossy()
                .into_owned();
            entries.insert(name, (entry.raw_file_position(), entry.size()));
        }
        if !entries.contains_key("oci-layout") {
            return Err(bad("no `oci-layout` entry: not an OCI template".into()));
        }
        let mut template = OciTemplate {
            path: path.to_path_buf(),
            entries,
            digest: String::new(),
            reference: None,
            manifest: Manifest {
                config: Descriptor {
                    media_type: String::new(),
                    digest: String::new(),
                    annotations: HashMap::new(),
                },
                layers: Vec::new(),
            },
        };
        let index: Index = template.json("index.json")?;
        let chosen = index
            .manifests
            .into_iter()
            .find(|d| d.media_type == OCI_MANIFEST)
            .ok_or_else(|| bad("index.json names no OCI image manifest (pct needs one)".into()))?;
        template.manifest = template.json(&blob_name(&chosen.digest, path)?)?;
        template.reference = chosen.annotations.get(REF_NAME).cloned();
        template.digest = chosen.digest;
        Ok(template)
    }

    /// The image's runtime config (Env, Entrypoint, Cmd).
    pub fn runtime(&self) -> Result<ImageRuntime, PveError> {
        let name = blob_name(&self.manifest.config.digest, &self.path)?;
        let config: ImageConfig = self.json(&name)?;
        Ok(config.config.unwrap_or_default())
    }

    /// The content of `file` (relative, e.g. `etc/group`) in the image's root file
    /// system: the topmost layer that has or deletes it decides.
    pub fn read_rootfs_file(&self, file: &str) -> Result<Option<Vec<u8>>, PveError> {
        let (dir, base) = match file.rsplit_once('/') {
            Some((d, b)) => (format!("{d}/"), b),
            None => (String::new(), file),
        };
        let whiteout = format!("{dir}.wh.{base}");
        let opaque = format!("{dir}.wh..wh..opq");
        for layer in self.manifest.layers.iter().rev() {
            let name = blob_name(&layer.digest, &self.path)?;
            let raw = self.entry_reader(&name)?;
            let reader: Box<dyn Read> = if layer.media_type.ends_with("+gzip") {
                Box::new(flate2::read::GzDecoder::new(raw))
            } else if layer.media_type.ends_with("+zstd") {
                Box::new(
                    zstd::stream::read::Decoder::new(raw).map_err(|e| self.bad(e.to_string()))?,
                )
            } else {
                Box::new(raw)
            };
            let mut tar = tar::Archive::new(reader);
            let mut hidden = false;
            for entry in tar
                .entries()
                .map_err(|e| self.bad(format!("layer {name}: {e}")))?
            {
                let mut entry = entry.map_err(|e| self.bad(format!("layer {name}: {e}")))?;
                let path = entry
                    .path()
                    .map_err(|e| self.bad(format!("layer {name}: {e}")))?
                    .to_string_lossy()
                    .into_owned();
                let path = path.trim_start_matches("./").trim_start_matches('/');
                if path == file && entry.header().entry_type().is_file() {
                    let mut content = Vec::new();
                    entry
                        .by_ref()
                        .take(1 << 20)
                        .read_to_end(&mut content)
                        .map_err(|e| self.bad(format!("layer {name}: {e}")))?;
                    return Ok(Some(content));
                }
                if path == whiteout || path == opaque {
                    hidden = true;
                }
            }
            if hidden {
                return Ok(None);
            }
        }
        Ok(None)
    }

    fn bad(&self, message: String) -> PveError {
        PveError::Archive {
            path: self.path.clone(),
            message,
        }
    }

    fn entry_reader(&self, name: &str) -> Result<impl Read, PveError> {
        let (offset, size) = *self
            .entries
            .get(name)
            .ok_or_else(|| self.bad(format!("missing entry {name}")))?;
        let mut file =
            File::open(&self.path).map_err(|e| PveError::io("opening", &self.path, e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| PveError::io("reading", &self.path, e))?;
        Ok(file.take(size))
    }

    fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, PveError> {
        let mut text = Vec::new();
        self.entry_reader(name)?
            .take(4 << 20)
            .read_to_end(&mut text)
            .map_err(|e| PveError::io("reading", &self.path, e))?;
        serde_json::from_slice(&text).map_err(|e| self.bad(format!("{name}: {e}")))
    }
}

fn blob_name(digest: &str, path: &Path) -> Result<String, PveError> {
    let (algorithm, hex) = digest.split_once(':').ok_or_else(|| PveError::Archive {
        path: path.to_path_buf(),
        message: format!("bad digest {digest:?}"),
    })?;
    if algorithm.is_empty()
        || hex.is_empty()
        || !(algorithm.chars().chain(hex.chars())).all(|c| c.is_ascii_alphanumeric())
    {
        return Err(PveError::Archive {
            path: path.to_path_buf(),
            message: format!("bad digest {digest:?}"),
        });
    }
    Ok(format!("blobs/{algorithm}/{hex}"))
}

/// One template of a listing.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct Listed {
    /// `STORAGE:vztmpl/FILE`.
    pub volid: String,
    /// Bytes.
    pub size: u64,
    /// The pulled reference, when recorded.
    pub reference: Option<String>,
    /// The manifest digest.
    pub digest: String,
}

/// The OCI templates (`*.tar` with an OCI layout) in `cache_dir` of `storage`, by
/// name; other templates (`.tar.zst` system templates, broken files) are skipped, as
/// are the `.tmp.PID` files of pulls in progress.
pub fn list(storage: &str, cache_dir: &Path) -> Result<Vec<Listed>, PveError> {
    let dir = match std::fs::read_dir(cache_dir) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(PveError::io("reading", cache_dir, e)),
    };
    let mut listed = Vec::new();
    for entry in dir {
        let entry = entry.map_err(|e| PveError::io("reading", cache_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(meta) = entry.metadata() else { continue };
        if !name.ends_with(".tar") || !meta.is_file() {
            continue;
        }
        let Ok(template) = OciTemplate::open(&entry.path()) else {
            continue;
        };
        listed.push(Listed {
            volid: crate::volid(storage, &name),
            size: meta.len(),
            reference: template.reference,
            digest: template.digest,
        });
    }
    listed.sort_by(|a, b| a.volid.cmp(&b.volid));
    Ok(listed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_never_overwrites_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("template/cache");
        let t = TemplateTarget::prepare(&cache, "a.tar").unwrap();
        assert!(t
            .temp_path()
            .to_string_lossy()
            .ends_with(&format!("a.tar.tmp.{}", std::process::id())));
        std::fs::write(t.temp_path(), b"new").unwrap();
        drop(t);
        assert_eq!(
            std::fs::read_dir(&cache).unwrap().count(),
            0,
            "temp removed"
        );

        let t = TemplateTarget::prepare(&cache, "a.tar").unwrap();
        std::fs::write(t.temp_path(), b"first").unwrap();
        let racing = TemplateTarget::prepare(&cache, "a.tar").unwrap();
        t.commit().unwrap();
        std::fs::write(racing.temp_path(), b"second").unwrap();
        assert!(matches!(racing.commit(), Err(PveError::Exists { .. })));
        assert_eq!(std::fs::read(cache.join("a.tar")).unwrap(), b"first");
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
        assert!(matches!(
            TemplateTarget::prepare(&cache, "a.tar"),
            Err(PveError::Exists { .. })
        ));
    }

    #[test]
    fn non_templates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.tar");
        std::fs::write(&p, b"not a tar").unwrap();
        assert!(OciTemplate::open(&p).is_err());
        assert!(list("local", dir.path()).unwrap().is_empty());
    }
}
