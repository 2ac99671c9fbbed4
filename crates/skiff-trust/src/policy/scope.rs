//! Which policy scopes an image falls under, most specific first.
//!
//! Each transport names images its own way (containers-policy.json(5)):
//! * `docker`: `host/ns/repo:tag` (or `@digest`), then `host/ns/repo`, each shorter
//!   namespace, the host, then wildcard domains `*.example.com`, `*.com`.
//! * `oci`: `/abs/dir:tag`, then `/abs/dir` and each parent directory (never `/`).
//! * `oci-archive`, `dir`: the absolute path and each parent directory.
//! * `docker-archive`: only the transport default `""` (skopeo defines no finer scope).
//!
//! Paths are made absolute and symlink-free first, as skopeo does, so a policy scope cannot
//! be sidestepped through a symlink or a relative path.

use std::io;
use std::path::{Path, PathBuf};

use skiff_oci::Reference;

/// The scope identity of one image under one transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyScope {
    transport: &'static str,
    /// Most specific first; the transport default `""` and the global default are implied.
    search: Vec<String>,
}

impl PolicyScope {
    /// An image in a registry (`docker://`).
    pub fn docker(reference: &Reference) -> PolicyScope {
        let mut search = vec![reference.to_string()];
        let mut name = reference.name();
        search.push(name.clone());
        while let Some(i) = name.rfind('/') {
            name.truncate(i);
            search.push(name.clone());
        }
        while let Some(i) = name.find('.') {
            name.drain(..=i);
            search.push(format!("*.{name}"));
        }
        PolicyScope {
            transport: "docker",
            search,
        }
    }

    /// An image in an OCI layout directory, under `tag` (empty when none was given).
    pub fn oci(dir: &Path, tag: &str) -> io::Result<PolicyScope> {
        let dir = resolve(dir)?;
        let mut search = vec![format!("{}:{tag}", dir.display())];
        search.extend(parents(&dir));
        Ok(PolicyScope {
            transport: "oci",
            search,
        })
    }

    /// An image in an OCI archive file.
    pub fn oci_archive(file: &Path) -> io::Result<PolicyScope> {
        Ok(PolicyScope {
            transport: "oci-archive",
            search: parents(&resolve(file)?),
        })
    }

    /// An image in a `dir:` directory.
    pub fn dir(dir: &Path) -> io::Result<PolicyScope> {
        Ok(PolicyScope {
            transport: "dir",
            search: parents(&resolve(dir)?),
        })
    }

    /// An image in a `docker-archive:` file (only the transport default scope applies).
    pub fn docker_archive() -> PolicyScope {
        PolicyScope {
            transport: "docker-archive",
            search: Vec::new(),
        }
    }

    /// The transport name as written in policy.json.
    pub fn transport(&self) -> &'static str {
        self.transport
    }

    /// The scopes to look up, most specific first (excluding `""`).
    pub fn search_order(&self) -> &[String] {
        &self.search
    }
}

/// The path itself and each parent, excluding `/`.
fn parents(path: &Path) -> Vec<String> {
    path.ancestors()
        .filter(|p| p.parent().is_some())
        .map(|p| p.display().to_string())
        .collect()
}

/// Absolute and symlink-free; a path that does not exist yet (a destination) resolves its
/// parent and keeps its last component.
fn resolve(path: &Path) -> io::Result<PathBuf> {
    match std::fs::canonicalize(path) {
        Ok(p) => Ok(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let name = path.file_name().ok_or(e)?;
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            Ok(std::fs::canonicalize(parent)?.join(name))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_scopes_go_from_tag_to_wildcard_domain() {
        let r = Reference::parse("a.b.example.com:5000/ns/sub/app:v1").unwrap();
        assert_eq!(
            PolicyScope::docker(&r).search_order(),
            [
                "a.b.example.com:5000/ns/sub/app:v1",
                "a.b.example.com:5000/ns/sub/app",
                "a.b.example.com:5000/ns/sub",
                "a.b.example.com:5000/ns",
                "a.b.example.com:5000",
                "*.b.example.com:5000",
                "*.example.com:5000",
                "*.com:5000",
            ]
        );
        let hub = Reference::parse("busybox").unwrap();
        assert_eq!(
            PolicyScope::docker(&hub).search_order(),
            [
                "docker.io/library/busybox:latest",
                "docker.io/library/busybox",
                "docker.io/library",
                "docker.io",
                "*.io",
            ]
        );
    }

    #[test]
    fn path_scopes_resolve_symlinks_and_walk_up() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, tmp.path().join("link")).unwrap();
        let s = PolicyScope::oci(&tmp.path().join("link"), "v1").unwrap();
        let canon = std::fs::canonicalize(&real).unwrap();
        assert_eq!(s.search_order()[0], format!("{}:v1", canon.display()));
        assert_eq!(s.search_order()[1], canon.display().to_string());
        assert!(!s.search_order().iter().any(|p| p == "/"));
        let d = PolicyScope::dir(&real.join("not-yet")).unwrap();
        assert_eq!(
            d.search_order()[0],
            canon.join("not-yet").display().to_string()
        );
        assert!(PolicyScope::docker_archive().search_order().is_empty());
    }
}
