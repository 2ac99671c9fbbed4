//! registries.d (containers-registries.d(5)): where the signatures of registry images live.
//!
//! A directory of YAML files, each with an optional `default-docker` and a `docker` map from
//! scope (host, namespace or repository, matched like policy.json docker scopes, wildcards
//! included) to `lookaside` / `lookaside-staging` URLs (`sigstore` / `sigstore-staging` are
//! their old names) and `use-sigstore-attachments`. A scope may be defined in one file only.
//! Like containers/image, unknown keys are ignored: they can only make fewer signatures be
//! found, which fails closed under a policy that requires signatures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use skiff_oci::{Digest, Reference};
use url::Url;

use crate::policy::PolicyScope;

/// The system-wide registries.d directory.
pub const SYSTEM_REGISTRIES_D: &str = "/etc/containers/registries.d";

/// The settings of one scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ScopeConfig {
    /// Where simple signatures are read from.
    pub lookaside: Option<String>,
    /// Where simple signatures are written to (defaults to `lookaside`).
    pub lookaside_staging: Option<String>,
    /// Old name of `lookaside`.
    pub sigstore: Option<String>,
    /// Old name of `lookaside-staging`.
    pub sigstore_staging: Option<String>,
    /// Whether sigstore signatures are OCI attachments in the registry.
    pub use_sigstore_attachments: Option<bool>,
}

#[derive(Deserialize)]
struct File {
    #[serde(rename = "default-docker")]
    default_docker: Option<ScopeConfig>,
    docker: Option<BTreeMap<String, ScopeConfig>>,
}

/// A registries.d configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RegistriesDError {
    /// A file or the directory cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Bad YAML, a bad URL or a scope defined twice.
    #[error("invalid registries.d configuration {path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The merged configuration of a registries.d directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistriesD {
    default_docker: Option<ScopeConfig>,
    docker: BTreeMap<String, ScopeConfig>,
}

impl RegistriesD {
    /// The directory skopeo would use: `$HOME/.config/containers/registries.d` if it exists,
    /// else [`SYSTEM_REGISTRIES_D`].
    pub fn default_dir() -> PathBuf {
        crate::config_path::user_or_system("registries.d")
    }

    /// Reads every `*.yaml` file of `dir` (in name order); a missing directory is empty.
    pub fn load_dir(dir: &Path) -> Result<RegistriesD, RegistriesDError> {
        let read_err = |path: &Path, source| RegistriesDError::Read {
            path: path.to_path_buf(),
            source,
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(read_err(dir, e)),
        };
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| read_err(dir, e))?.path();
            if path.extension().is_some_and(|e| e == "yaml") {
                paths.push(path);
            }
        }
        paths.sort();
        let mut config = RegistriesD::default();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|e| read_err(&path, e))?;
            config.add_yaml(&text, &path)?;
        }
        Ok(config)
    }

    /// Merges one YAML file; `origin` names it in messages.
    pub fn add_yaml(&mut self, yaml: &str, origin: &Path) -> Result<(), RegistriesDError> {
        let invalid = |reason: String| RegistriesDError::Invalid {
            path: origin.to_path_buf(),
            reason,
        };
        // An empty or comment-only file (Debian ships one) is YAML null.
        skiff_oci::nesting::check_yaml_depth(yaml)
            .map_err(|e| invalid(format!("line {}: {e}", e.line)))?;
        let file: Option<File> = serde_yaml::from_str(yaml).map_err(|e| invalid(e.to_string()))?;
        let Some(file) = file else { return Ok(()) };
        if let Some(d) = file.default_docker {
            if self.default_docker.is_some() {
                return Err(invalid(
                    "default-docker is defined in more than one file".into(),
                ));
            }
            check_urls(&d).map_err(|e| invalid(format!("default-docker: {e}")))?;
            self.default_docker = Some(d);
        }
        for (scope, d) in file.docker.unwrap_or_default() {
            if self.docker.contains_key(&scope) {
                return Err(invalid(format!(
                    "docker scope {scope:?} is defined in more than one file"
                )));
            }
            check_urls(&d).map_err(|e| invalid(format!("docker scope {scope:?}: {e}")))?;
            self.docker.insert(scope, d);
        }
        Ok(())
    }

    /// The scopes that apply to `reference`, most specific first, ending with default-docker.
    fn scopes<'a>(&'a self, reference: &Reference) -> impl Iterator<Item = &'a ScopeConfig> + 'a {
        let order = PolicyScope::docker(reference).search_order().to_vec();
        order
            .into_iter()
            .filter_map(move |s| self.docker.get(&s))
            .chain(self.default_docker.as_ref())
    }

    /// The lookaside base URL for reading (`write == false`) or writing signatures of
    /// `reference`: the first scope, most specific first, that defines one.
    pub fn lookaside(&self, reference: &Reference, write: bool) -> Option<Url> {
        self.scopes(reference).find_map(|c| {
            let staging = if write {
                c.lookaside_staging.as_ref().or(c.sigstore_staging.as_ref())
            } else {
                None
            };
            staging
                .or(c.lookaside.as_ref())
                .or(c.sigstore.as_ref())
                .and_then(|u| Url::parse(u).ok())
        })
    }

    /// Whether sigstore signatures of `reference` are registry attachments: the first scope
    /// that says so decides; off by default.
    pub fn use_sigstore_attachments(&self, reference: &Reference) -> bool {
        self.scopes(reference)
            .find_map(|c| c.use_sigstore_attachments)
            .unwrap_or(false)
    }
}

fn check_urls(c: &ScopeConfig) -> Result<(), String> {
    for u in [
        &c.lookaside,
        &c.lookaside_staging,
        &c.sigstore,
        &c.sigstore_staging,
    ]
    .into_iter()
    .flatten()
    {
        Url::parse(u).map_err(|e| format!("{u:?} is not a URL: {e}"))?;
    }
    Ok(())
}

/// The URL of the `index`-th (1-based) simple signature of a manifest under a lookaside base:
/// `BASE/REPOSITORY@ALGORITHM=HEX/signature-INDEX`.
pub fn lookaside_signature_url(
    base: &Url,
    reference: &Reference,
    manifest: &Digest,
    index: usize,
) -> Url {
    let mut url = base.clone();
    let path = format!(
        "{}/{}@{}={}/signature-{index}",
        base.path().trim_end_matches('/'),
        reference.repository(),
        manifest.algorithm().name(),
        manifest.hex()
    );
    url.set_path(&path);
    url
}

/// The tag under which sigstore attachments of a manifest are stored: `sha256-HEX.sig`.
pub fn sigstore_attachment_tag(manifest: &Digest) -> String {
    format!("{}-{}.sig", manifest.algorithm().name(), manifest.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn config(files: &[&str]) -> Result<RegistriesD, RegistriesDError> {
        let mut c = RegistriesD::default();
        for (i, f) in files.iter().enumerate() {
            c.add_yaml(f, Path::new(&format!("f{i}.yaml")))?;
        }
        Ok(c)
    }

    #[test]
    fn most_specific_scope_with_a_lookaside_wins() {
        let c = config(&[
            "default-docker:\n  lookaside: file:///var/lib/containers/sigstore\n",
            "docker:\n  example.com:\n    lookaside: https://sigs.example.com/base\n    lookaside-staging: file:///staging\n  example.com/ns/app:\n    use-sigstore-attachments: true\n  '*.corp.example':\n    sigstore: https://old.example/\n",
            "# only a comment\n",
        ])
        .unwrap();
        let app = Reference::parse("example.com/ns/app:1").unwrap();
        assert_eq!(
            c.lookaside(&app, false).unwrap().as_str(),
            "https://sigs.example.com/base"
        );
        assert_eq!(c.lookaside(&app, true).unwrap().as_str(), "file:///staging");
        assert!(c.use_sigstore_attachments(&app));
        let other = Reference::parse("example.com/other:1").unwrap();
        assert!(!c.use_sigstore_attachments(&other));
        let hub = Reference::parse("busybox").unwrap();
        assert_eq!(
            c.lookaside(&hub, false).unwrap().as_str(),
            "file:///var/lib/containers/sigstore"
        );
        let wild = Reference::parse("reg.corp.example/x:1").unwrap();
        assert_eq!(
            c.lookaside(&wild, true).unwrap().as_str(),
            "https://old.example/"
        );
    }

    #[test]
    fn duplicate_scopes_and_bad_urls_are_errors() {
        let a = "docker:\n  example.com:\n    lookaside: file:///a\n";
        assert!(config(&[a, a]).is_err());
        let d = "default-docker:\n  lookaside: file:///a\n";
        assert!(config(&[d, d]).is_err());
        assert!(config(&["docker:\n  x:\n    lookaside: not a url\n"]).is_err());
        assert!(config(&["docker: [1, 2]\n"]).is_err());
    }

    #[test]
    fn lookaside_layout_and_attachment_tag() {
        let base = Url::parse("file:///var/lib/containers/sigstore/").unwrap();
        let r = Reference::parse("example.com/ns/app:1").unwrap();
        let d: Digest = D.parse().unwrap();
        assert_eq!(
            lookaside_signature_url(&base, &r, &d, 2).as_str(),
            format!(
                "file:///var/lib/containers/sigstore/ns/app@sha256={}/signature-2",
                d.hex()
            )
        );
        assert_eq!(
            sigstore_attachment_tag(&d),
            format!("sha256-{}.sig", d.hex())
        );
    }
}
