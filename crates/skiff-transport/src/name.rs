//! Image names: `TRANSPORT:DETAILS`, spelt as skopeo spells them (containers-transports(5)).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use skiff_oci::Reference;

use crate::error::TransportError;

/// How an image inside a docker archive is selected (`:REF` or `@INDEX`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveSelector {
    /// By one of its RepoTags.
    Reference(Reference),
    /// By position in manifest.json (0-based, as skopeo's `@N`).
    Index(usize),
}

/// A parsed image name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageName {
    /// `docker://REFERENCE` — an image in a registry.
    Docker {
        /// The reference, normalised as if no registries.conf existed.
        reference: Reference,
        /// The name as written (after `docker://`), for registries.conf resolution of
        /// short names.
        written: String,
    },
    /// `oci:PATH[:REF]` — an OCI image layout directory; REF selects by
    /// `org.opencontainers.image.ref.name`.
    Oci {
        /// The layout directory.
        path: PathBuf,
        /// The reference name inside the layout.
        reference: Option<String>,
    },
    /// `oci-archive:PATH[:REF]` — an OCI image layout in a tar file.
    OciArchive {
        /// The archive file.
        path: PathBuf,
        /// The reference name inside the layout.
        reference: Option<String>,
    },
    /// `dir:PATH` — skopeo's directory format (manifest.json plus one file per blob).
    Dir {
        /// The directory.
        path: PathBuf,
    },
    /// `docker-archive:PATH[:NAME:TAG|@INDEX]` — a `docker save` tar.
    DockerArchive {
        /// The archive file.
        path: PathBuf,
        /// Which image of the archive (or, as a destination, the tag to record).
        selector: Option<ArchiveSelector>,
    },
}

impl ImageName {
    /// The transport's name as written before the colon.
    pub fn transport(&self) -> &'static str {
        match self {
            ImageName::Docker { .. } => "docker",
            ImageName::Oci { .. } => "oci",
            ImageName::OciArchive { .. } => "oci-archive",
            ImageName::Dir { .. } => "dir",
            ImageName::DockerArchive { .. } => "docker-archive",
        }
    }
}

/// Splits `PATH[:REF]` at the first colon, as containers/image does on Linux.
fn split_path_ref(input: &str, details: &str) -> Result<(PathBuf, Option<String>), TransportError> {
    let (path, reference) = match details.split_once(':') {
        Some((p, r)) => (p, Some(r)),
        None => (details, None),
    };
    if path.is_empty() {
        return Err(TransportError::InvalidName(
            input.into(),
            "empty path".into(),
        ));
    }
    if let Some(r) = reference {
        // OCI layout reference names: printable, no whitespace (image-spec annotations).
        if r.is_empty() || r.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(TransportError::InvalidName(
                input.into(),
                format!("invalid reference name {r:?} inside the layout"),
            ));
        }
    }
    Ok((PathBuf::from(path), reference.map(str::to_string)))
}

/// Why `transport` is not one, and — when the whole name reads as a registry reference
/// (`127.0.0.1:5000/app:v1`, `alpine:latest`: someone left off `docker://`) — what was
/// probably meant.
fn unknown_transport(input: &str, transport: &str) -> String {
    let known = "supported: docker, oci, oci-archive, dir, docker-archive";
    if Reference::parse(input).is_ok() {
        format!("unknown transport {transport:?} ({known}); to name an image in a registry, write docker://{input}")
    } else {
        format!("unknown transport {transport:?} ({known})")
    }
}

impl FromStr for ImageName {
    type Err = TransportError;

    fn from_str(input: &str) -> Result<Self, TransportError> {
        let (transport, details) = input.split_once(':').ok_or_else(|| {
            TransportError::InvalidName(
                input.into(),
                "expected TRANSPORT:DETAILS, e.g. docker://alpine:latest or oci-archive:/tmp/alpine.tar".into(),
            )
        })?;
        match transport {
            "docker" => {
                let rest = details.strip_prefix("//").ok_or_else(|| {
                    TransportError::InvalidName(
                        input.into(),
                        "docker references start with docker://".into(),
                    )
                })?;
                Ok(ImageName::Docker {
                    reference: Reference::parse(rest)?,
                    written: rest.to_string(),
                })
            }
            "oci" => {
                let (path, reference) = split_path_ref(input, details)?;
                Ok(ImageName::Oci { path, reference })
            }
            "oci-archive" => {
                let (path, reference) = split_path_ref(input, details)?;
                Ok(ImageName::OciArchive { path, reference })
            }
            "dir" => {
                if details.is_empty() {
                    return Err(TransportError::InvalidName(
                        input.into(),
                        "empty path".into(),
                    ));
                }
                Ok(ImageName::Dir {
                    path: PathBuf::from(details),
                })
            }
            "docker-archive" => {
                let (path, selector) = match details.split_once(['@', ':']) {
                    None => (details, None),
                    Some((p, rest)) => {
                        let sel = if details.as_bytes()[p.len()] == b'@' {
                            let i = rest.parse::<usize>().map_err(|_| {
                                TransportError::InvalidName(
                                    input.into(),
                                    format!("@{rest} is not an image index"),
                                )
                            })?;
                            ArchiveSelector::Index(i)
                        } else {
                            ArchiveSelector::Reference(Reference::parse(rest)?)
                        };
                        (p, Some(sel))
                    }
                };
                if path.is_empty() {
                    return Err(TransportError::InvalidName(
                        input.into(),
                        "empty path".into(),
                    ));
                }
                Ok(ImageName::DockerArchive {
                    path: PathBuf::from(path),
                    selector,
                })
            }
            other => Err(TransportError::InvalidName(
                input.into(),
                unknown_transport(input, other),
            )),
        }
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with_ref = |f: &mut fmt::Formatter<'_>, t: &str, p: &PathBuf, r: &Option<String>| {
            write!(f, "{t}:{}", p.display())?;
            if let Some(r) = r {
                write!(f, ":{r}")?;
            }
            Ok(())
        };
        match self {
            ImageName::Docker { reference, .. } => write!(f, "docker://{reference}"),
            ImageName::Oci { path, reference } => with_ref(f, "oci", path, reference),
            ImageName::OciArchive { path, reference } => {
                with_ref(f, "oci-archive", path, reference)
            }
            ImageName::Dir { path } => write!(f, "dir:{}", path.display()),
            ImageName::DockerArchive { path, selector } => {
                write!(f, "docker-archive:{}", path.display())?;
                match selector {
                    Some(ArchiveSelector::Reference(r)) => write!(f, ":{r}"),
                    Some(ArchiveSelector::Index(i)) => write!(f, "@{i}"),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_transport() {
        let n: ImageName = "docker://alpine".parse().unwrap();
        assert_eq!(n.to_string(), "docker://docker.io/library/alpine:latest");
        let n: ImageName = "oci:/tmp/lay:v1".parse().unwrap();
        assert_eq!(
            n,
            ImageName::Oci {
                path: "/tmp/lay".into(),
                reference: Some("v1".into())
            }
        );
        let n: ImageName = "oci-archive:/x/a.tar".parse().unwrap();
        assert_eq!(n.transport(), "oci-archive");
        let n: ImageName = "dir:/x/d".parse().unwrap();
        assert_eq!(n.to_string(), "dir:/x/d");
        let n: ImageName = "docker-archive:/x/a.tar:app:v1".parse().unwrap();
        assert_eq!(
            n.to_string(),
            "docker-archive:/x/a.tar:docker.io/library/app:v1"
        );
        let n: ImageName = "docker-archive:/x/a.tar@1".parse().unwrap();
        assert_eq!(n.to_string(), "docker-archive:/x/a.tar@1");
        assert!("docker-archive:/x/a.tar@one".parse::<ImageName>().is_err());
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "alpine",
            "docker:alpine",
            "docker://Alpine",
            "oci:",
            "oci::x",
            "ftp://x",
            "oci:/p:a b",
            "dir:",
        ] {
            assert!(bad.parse::<ImageName>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn a_missing_docker_prefix_is_named() {
        let e = "127.0.0.1:5000/app:v1".parse::<ImageName>().unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(r#"unknown transport "127.0.0.1""#), "{msg}");
        assert!(msg.contains("docker://127.0.0.1:5000/app:v1"), "{msg}");
        let e = "ftp://x".parse::<ImageName>().unwrap_err();
        assert!(!e.to_string().contains("docker://"), "{e}");
    }
}
