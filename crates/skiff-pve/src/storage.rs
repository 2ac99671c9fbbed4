//! `/etc/pve/storage.cfg`: Proxmox's section-config file of storages.
//!
//! Each section starts with `TYPE: ID` at the start of a line, followed by indented
//! `key value` lines (a key alone is a flag); blank lines and `#` comments separate. Only
//! what skiff needs is interpreted: the type, `path`, `content` and `disable`. Proxmox
//! always has a `local` storage, a `dir` at `/var/lib/vz`: when the file lacks it (or has
//! no file at all, as on a fresh test root) skiff assumes the installer's `local`
//! (content iso,vztmpl,backup — no rootdir, which is why create never assumes it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::{NodeRoot, PveError};

/// The path Proxmox gives `local`.
pub const LOCAL_PATH: &str = "/var/lib/vz";

/// One storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    /// The storage id (`local`, `nas`).
    pub id: String,
    /// Its type (`dir`, `nfs`, `cifs`, `cephfs`, `lvmthin`, `zfspool`, …).
    pub kind: String,
    /// Its mount point or directory on the node, for file-based types.
    pub path: Option<PathBuf>,
    /// The content types it accepts (`vztmpl`, `rootdir`, `images`, `iso`, `backup`, …).
    pub content: BTreeSet<String>,
    /// `disable` is set: Proxmox does not use it.
    pub disabled: bool,
}

impl Storage {
    /// Whether the storage takes `content` (and is enabled).
    pub fn has_content(&self, content: &str) -> bool {
        !self.disabled && self.content.contains(content)
    }

    /// Refuses a storage that does not take `content`.
    pub fn require(&self, content: &'static str) -> Result<(), PveError> {
        if self.has_content(content) {
            return Ok(());
        }
        let has = if self.disabled {
            "disabled".to_string()
        } else if self.content.is_empty() {
            "nothing".to_string()
        } else {
            self.content.iter().cloned().collect::<Vec<_>>().join(",")
        };
        Err(PveError::WrongContent {
            id: self.id.clone(),
            content,
            has,
        })
    }

    /// The template cache, `<path>/template/cache`, as a node path (not yet under a
    /// test root). Refuses storages without `vztmpl` content or without a path.
    pub fn template_cache(&self) -> Result<PathBuf, PveError> {
        self.require("vztmpl")?;
        let path = self.path.as_ref().ok_or_else(|| PveError::NoPath {
            id: self.id.clone(),
            kind: self.kind.clone(),
        })?;
        Ok(path.join("template").join("cache"))
    }

    fn default_local() -> Self {
        Storage {
            id: "local".into(),
            kind: "dir".into(),
            path: Some(PathBuf::from(LOCAL_PATH)),
            content: ["iso", "vztmpl", "backup"].map(String::from).into(),
            disabled: false,
        }
    }
}

/// The parsed file: storages in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// The storages, `local` always among them.
    pub storages: Vec<Storage>,
}

impl StorageConfig {
    /// Reads `/etc/pve/storage.cfg` under `root`; a missing file is Proxmox's default
    /// (only `local`).
    pub fn load(root: &NodeRoot) -> Result<Self, PveError> {
        let path = root.storage_cfg();
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::parse("", &path),
            Err(e) => Err(PveError::io("reading", path, e)),
        }
    }

    /// Parses the text of a storage.cfg (`path` only names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, PveError> {
        let error = |line: usize, message: String| PveError::StorageCfg {
            path: path.to_path_buf(),
            line,
            message,
        };
        let mut storages: Vec<Storage> = Vec::new();
        let mut open = false;
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            if line.trim().is_empty() {
                open = false;
                continue;
            }
            if line.trim_start().starts_with('#') {
                continue;
            }
            if !line.starts_with([' ', '\t']) {
                let (kind, id) = line
                    .split_once(':')
                    .ok_or_else(|| error(number, format!("expected `TYPE: ID`, found {line:?}")))?;
                let (kind, id) = (kind.trim(), id.trim());
                if !valid_id(kind) || !valid_id(id) {
                    return Err(error(number, format!("bad section header {line:?}")));
                }
                if storages.iter().any(|s| s.id == id) {
                    return Err(error(number, format!("storage {id:?} defined twice")));
                }
                storages.push(Storage {
                    id: id.to_string(),
                    kind: kind.to_string(),
                    path: None,
                    content: default_content(kind),
                    disabled: false,
                });
                open = true;
                continue;
            }
            let (Some(storage), true) = (storages.last_mut(), open) else {
                return Err(error(number, "property outside a section".into()));
            };
            let property = line.trim();
            let (key, value) = match property.split_once([' ', '\t']) {
                Some((k, v)) => (k, v.trim()),
                None => (property, ""),
            };
            match key {
                "path" => {
                    if !value.starts_with('/') {
                        return Err(error(number, format!("path {value:?} is not absolute")));
                    }
                    storage.path = Some(PathBuf::from(value));
                }
                "content" => {
                    storage.content = value
                        .split(',')
                        .map(str::trim)
                        .filter(|c| !c.is_empty() && *c != "none")
                        .map(String::from)
                        .collect();
                }
                "disable" => storage.disabled = value.is_empty() || value == "1",
                _ => {}
            }
        }
        for storage in &mut storages {
            if storage.path.is_none() && matches!(storage.kind.as_str(), "nfs" | "cifs" | "cephfs")
            {
                storage.path = Some(PathBuf::from(format!("/mnt/pve/{}", storage.id)));
            }
        }
        // Proxmox keeps `local` a dir at /var/lib/vz whatever the file says.
        match storages.iter_mut().find(|s| s.id == "local") {
            Some(local) if local.kind == "dir" => {
                local.path = Some(PathBuf::from(LOCAL_PATH));
            }
            Some(local) => *local = Storage::default_local(),
            None => storages.insert(0, Storage::default_local()),
        }
        Ok(StorageConfig { storages })
    }

    /// The storage `id`.
    pub fn get(&self, id: &str) -> Result<&Storage, PveError> {
        self.storages
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| PveError::NoStorage(id.to_string()))
    }
}

/// The content a section without a `content` line has (the plugins' defaults).
fn default_content(kind: &str) -> BTreeSet<String> {
    let defaults: &[&str] = match kind {
        "dir" | "nfs" | "cifs" | "glusterfs" | "btrfs" => &["images", "rootdir"],
        "cephfs" => &["backup"],
        "lvmthin" | "zfspool" | "rbd" | "lvm" | "zfs" | "iscsidirect" | "iscsi" => {
            &["images", "rootdir"]
        }
        "pbs" => &["backup"],
        _ => &[],
    };
    defaults.iter().map(|c| c.to_string()).collect()
}

/// Proxmox's storage id syntax (`[a-z][a-z0-9\-_.]*`, case-insensitive).
fn valid_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of PROXMOX.md: the installer's local and local-lvm, nfs, cifs,
    /// cephfs, and a dir with its own path.
    const CFG: &str = "\
dir: local
\tpath /var/lib/vz
\tcontent iso,vztmpl,backup

lvmthin: local-lvm
\tthinpool data
\tvgname pve
\tcontent rootdir,images

# shared templates
nfs: nas
\texport /export/pve
\tpath /mnt/pve/nas
\tserver 10.0.0.5
\tcontent vztmpl,iso,backup
\toptions vers=4.2

cifs: smb
\tserver 10.0.0.6
\tshare pve
\tcontent vztmpl
\tusername pve

cephfs: cephfs
\tcontent vztmpl,backup,iso
\tfs-name cephfs

dir: fast
\tpath /srv/fast
\tcontent rootdir,vztmpl
\tshared 0

dir: off
\tpath /srv/off
\tcontent vztmpl
\tdisable
";

    fn cfg() -> StorageConfig {
        StorageConfig::parse(CFG, Path::new("storage.cfg")).unwrap()
    }

    #[test]
    fn template_caches() {
        let c = cfg();
        let cache = |id: &str| c.get(id).unwrap().template_cache();
        assert_eq!(
            cache("local").unwrap(),
            Path::new("/var/lib/vz/template/cache")
        );
        assert_eq!(
            cache("nas").unwrap(),
            Path::new("/mnt/pve/nas/template/cache")
        );
        assert_eq!(
            cache("smb").unwrap(),
            Path::new("/mnt/pve/smb/template/cache")
        );
        assert_eq!(
            cache("cephfs").unwrap(),
            Path::new("/mnt/pve/cephfs/template/cache")
        );
        assert_eq!(
            cache("fast").unwrap(),
            Path::new("/srv/fast/template/cache")
        );
    }

    #[test]
    fn refusals_say_why() {
        let c = cfg();
        let e = c.get("local-lvm").unwrap().template_cache().unwrap_err();
        assert!(e.to_string().contains("no \"vztmpl\" content"), "{e}");
        assert!(
            e.to_string().contains("rootdir,images") || e.to_string().contains("images,rootdir"),
            "{e}"
        );
        let e = c.get("off").unwrap().template_cache().unwrap_err();
        assert!(e.to_string().contains("disabled"), "{e}");
        assert!(c.get("local").unwrap().require("rootdir").is_err());
        assert!(c.get("local-lvm").unwrap().require("rootdir").is_ok());
        assert!(matches!(c.get("nope"), Err(PveError::NoStorage(_))));
    }

    #[test]
    fn default_local_when_missing() {
        let c = StorageConfig::parse("", Path::new("x")).unwrap();
        assert_eq!(c.storages.len(), 1);
        assert!(c.get("local").unwrap().has_content("vztmpl"));
        assert!(!c.get("local").unwrap().has_content("rootdir"));
        // A local that is not a dir is replaced, as Proxmox does.
        let c = StorageConfig::parse("nfs: local\n\tserver x\n", Path::new("x")).unwrap();
        assert_eq!(c.get("local").unwrap().kind, "dir");
    }

    #[test]
    fn malformed_files_are_refused_with_a_line() {
        for (text, line) in [
            ("dir local\n", 1),
            ("\tpath /x\n", 1),
            ("dir: a\n\tpath relative\n", 2),
            ("dir: a\n\ndir: a\n", 3),
            ("dir: a\n\n\tpath /x\n", 3),
        ] {
            match StorageConfig::parse(text, Path::new("s")) {
                Err(PveError::StorageCfg { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }
}
