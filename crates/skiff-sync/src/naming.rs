//! Where each source image lands, named exactly as skopeo sync names it, so that a tree
//! written by one tool is found by the other and a mirror keeps its names when the tool
//! changes.
//!
//! skopeo joins DESTINATION with the image's *suffix* — the full reference
//! (`registry.example.com/ns/busybox:latest`) for a registry source, the path below
//! SOURCE for a directory source — reduced to its last element (`busybox:latest`) unless
//! `--scoped`, and then appends `--append-suffix` to the whole string.

use std::path::PathBuf;

use skiff_transport::ImageName;

use crate::error::SyncError;

/// What DESTINATION names (`--dest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestKind {
    /// `REGISTRY[/NAMESPACE]`: images are pushed below it.
    Docker,
    /// A directory: each image becomes a `dir:` image below it.
    Dir,
}

/// The rules that turn a source image into its destination name.
#[derive(Debug, Clone)]
pub struct Naming {
    /// `--dest`.
    pub kind: DestKind,
    /// DESTINATION as written.
    pub base: String,
    /// `--scoped`: keep the source's full name below DESTINATION.
    pub scoped: bool,
    /// `--append-suffix`: appended to every destination name.
    pub append_suffix: String,
}

impl Naming {
    /// The destination of the image whose suffix (see the module doc) is `suffix`.
    pub fn destination(&self, suffix: &str) -> Result<ImageName, SyncError> {
        let suffix = if self.scoped {
            suffix
        } else {
            base_name(suffix)
        };
        let joined = format!("{}{}", join(&self.base, suffix), self.append_suffix);
        match self.kind {
            DestKind::Docker => format!("docker://{joined}").parse().map_err(|e| {
                SyncError::InvalidArgument(format!(
                    "destination {joined:?} is not a valid image reference: {e}"
                ))
            }),
            DestKind::Dir => Ok(ImageName::Dir {
                path: PathBuf::from(joined),
            }),
        }
    }
}

/// The last element of a slash-separated name, as Go's `path.Base` (`.` for nothing).
pub fn base_name(name: &str) -> &str {
    let trimmed = name.trim_end_matches('/');
    match trimmed.rsplit('/').next() {
        Some(last) if !last.is_empty() => last,
        _ if name.starts_with('/') => "/",
        _ => ".",
    }
}

/// Joins two slash-separated names and cleans the result, as Go's `path.Join`: no empty
/// or `.` elements, `..` resolved lexically, no trailing slash.
pub fn join(base: &str, rest: &str) -> String {
    let absolute = base.starts_with('/') || (base.is_empty() && rest.starts_with('/'));
    let mut parts: Vec<&str> = Vec::new();
    for part in base.split('/').chain(rest.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let body = parts.join("/");
    match (absolute, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naming(kind: DestKind, base: &str, scoped: bool, append: &str) -> Naming {
        Naming {
            kind,
            base: base.into(),
            scoped,
            append_suffix: append.into(),
        }
    }

    #[test]
    fn go_path_rules() {
        assert_eq!(base_name("reg:5000/ns/busybox:latest"), "busybox:latest");
        assert_eq!(base_name("/busybox:1/"), "busybox:1");
        assert_eq!(base_name(""), ".");
        assert_eq!(
            join("/media/usb/", "/busybox:latest"),
            "/media/usb/busybox:latest"
        );
        assert_eq!(join("out", "./a/../b"), "out/b");
        assert_eq!(join("", ""), ".");
    }

    #[test]
    fn registry_source_to_dir() {
        let n = naming(DestKind::Dir, "/m/usb", false, "");
        let d = n
            .destination("reg.example.com:5000/ns/busybox:1.36")
            .unwrap();
        assert_eq!(d.to_string(), "dir:/m/usb/busybox:1.36");
        let n = naming(DestKind::Dir, "/m/usb", true, ".bak");
        let d = n
            .destination("reg.example.com:5000/ns/busybox:1.36")
            .unwrap();
        assert_eq!(
            d.to_string(),
            "dir:/m/usb/reg.example.com:5000/ns/busybox:1.36.bak"
        );
    }

    #[test]
    fn registry_destination() {
        let n = naming(DestKind::Docker, "mirror.lan:5000/team", false, "");
        let d = n.destination("reg.example.com/ns/busybox:latest").unwrap();
        assert_eq!(
            d.to_string(),
            "docker://mirror.lan:5000/team/busybox:latest"
        );
        let n = naming(DestKind::Docker, "mirror.lan:5000", true, "");
        let d = n.destination("reg.example.com/ns/busybox:latest").unwrap();
        assert_eq!(
            d.to_string(),
            "docker://mirror.lan:5000/reg.example.com/ns/busybox:latest"
        );
        let n = naming(DestKind::Docker, "mirror.lan:5000", true, "");
        assert!(n
            .destination("reg.example.com:5000/busybox:latest")
            .is_err());
    }
}
