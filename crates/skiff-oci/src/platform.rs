//! Choosing one image out of an index, as skopeo does.

use oci_spec::image::{Descriptor, ImageIndex};

use crate::Error;

/// An OS / architecture / variant triple in OCI spelling (`linux`, `arm64`, `v8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// Architecture in GOARCH spelling, e.g. `amd64`.
    pub architecture: String,
    /// Architecture variant, e.g. `v7`.
    pub variant: Option<String>,
}

impl Platform {
    /// The platform skiff runs on, in OCI spelling.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", None),
            "arm" => ("arm", Some("v7")),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// The host platform with skopeo's `--override-os/--override-arch/--override-variant`.
    pub fn host_with_overrides(
        os: Option<&str>,
        arch: Option<&str>,
        variant: Option<&str>,
    ) -> Platform {
        let mut p = Platform::host();
        if let Some(os) = os {
            p.os = os.to_string();
        }
        if let Some(arch) = arch {
            if arch != p.architecture {
                p.variant = None;
            }
            p.architecture = arch.to_string();
        }
        if let Some(v) = variant {
            p.variant = Some(v.to_string());
        }
        p
    }

    /// Picks the manifest for this platform from an index: os and architecture must match;
    /// an exact variant is preferred, then a compatible older one (arm), then an entry
    /// without variant.
    pub fn choose<'a>(&self, index: &'a ImageIndex) -> Result<&'a Descriptor, Error> {
        let wanted_variants = self.compatible_variants();
        let mut best: Option<(usize, &Descriptor)> = None;
        for d in index.manifests() {
            let Some(p) = d.platform() else { continue };
            if p.os().to_string() != self.os || p.architecture().to_string() != self.architecture {
                continue;
            }
            let rank = match p.variant().as_deref() {
                None | Some("") => wanted_variants.len(),
                Some(v) => match wanted_variants.iter().position(|w| w == v) {
                    Some(i) => i,
                    None if self.variant.is_none() => wanted_variants.len() + 1,
                    None => continue,
                },
            };
            if best.is_none_or(|(r, _)| rank < r) {
                best = Some((rank, d));
            }
        }
        best.map(|(_, d)| d)
            .ok_or_else(|| Error::NoMatchingPlatform {
                os: self.os.clone(),
                arch: self.architecture.clone(),
                variant: self.variant.clone(),
                available: index
                    .manifests()
                    .iter()
                    .filter_map(|d| d.platform().as_ref())
                    .map(|p| Platform {
                        os: p.os().to_string(),
                        architecture: p.architecture().to_string(),
                        variant: p.variant().clone().filter(|v| !v.is_empty()),
                    })
                    .collect(),
            })
    }

    fn compatible_variants(&self) -> Vec<String> {
        let arm = ["v8", "v7", "v6", "v5"];
        match (self.architecture.as_str(), self.variant.as_deref()) {
            ("arm64", None) => vec!["v8".into()],
            ("arm", Some(v)) => arm
                .iter()
                .skip_while(|a| **a != v)
                .map(|s| s.to_string())
                .collect(),
            ("arm", None) => arm[1..].iter().map(|s| s.to_string()).collect(),
            (_, Some(v)) => vec![v.to_string()],
            (_, None) => vec![],
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> ImageIndex {
        let d = |arch: &str, variant: Option<&str>, n: u8| {
            let v = variant
                .map(|v| format!(r#","variant":"{v}""#))
                .unwrap_or_default();
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:{}","platform":{{"os":"linux","architecture":"{arch}"{v}}}}}"#,
                format!("{n:02x}").repeat(32)
            )
        };
        let json = format!(
            r#"{{"schemaVersion":2,"manifests":[{},{},{},{}]}}"#,
            d("amd64", None, 1),
            d("arm", Some("v6"), 2),
            d("arm", Some("v7"), 3),
            d("arm64", Some("v8"), 4)
        );
        serde_json::from_str(&json).unwrap()
    }

    fn pick(os: &str, arch: &str, variant: Option<&str>) -> Result<String, Error> {
        let p = Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(Into::into),
        };
        let idx = index();
        p.choose(&idx)
            .map(|d| d.digest().to_string()[7..9].to_string())
    }

    #[test]
    fn picks_the_matching_platform() {
        assert_eq!(pick("linux", "amd64", None).unwrap(), "01");
        assert_eq!(pick("linux", "arm", Some("v7")).unwrap(), "03");
        assert_eq!(pick("linux", "arm", Some("v6")).unwrap(), "02");
        assert_eq!(pick("linux", "arm", None).unwrap(), "03");
        assert_eq!(pick("linux", "arm64", None).unwrap(), "04");
        assert_eq!(
            pick("linux", "arm", Some("v8")).unwrap(),
            "03",
            "v8 arm runs v7"
        );
    }

    #[test]
    fn a_missing_platform_is_a_clear_error() {
        let err = pick("linux", "s390x", None).unwrap_err().to_string();
        assert!(err.contains("s390x"), "{err}");
        assert!(pick("windows", "amd64", None).is_err());
    }
}
