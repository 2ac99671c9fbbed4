//! containers-registries.conf(5), version 2: where an image name is really pulled from.
//!
//! skopeo reads `$CONTAINERS_REGISTRIES_CONF`, else `/etc/containers/registries.conf` (or
//! `$HOME/.config/containers/registries.conf` when present) plus the drop-ins in
//! `registries.conf.d/`, and uses them on fully qualified names only: to rewrite locations
//! (`[[registry]] prefix/location`), to refuse `blocked` registries, to allow plain HTTP
//! (`insecure`) and to try mirrors before the primary location. Short names are not
//! resolved here: for `docker://` a name without a registry is Docker Hub's, always —
//! `unqualified-search-registries` and `[aliases]` belong to podman and buildah, and
//! honouring them made `docker://fedora` a different image than skopeo's. Those keys are
//! therefore parsed over (serde skips them) and never consulted. This module implements the
//! resolution as a pure function of the configuration, so it is tested without a network;
//! the transport tries the resulting pull sources in order.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use skiff_oci::local_file::{read_capped_string, MAX_CONFIG_FILE};
use skiff_oci::Reference;

/// Why the configuration could not be used, or a name is refused by it.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    /// The file is not valid TOML of the registries.conf v2 shape.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// The registry is marked `blocked = true`.
    #[error("registry {0} is blocked in registries.conf")]
    Blocked(String),
    /// A resolved name is not a valid reference.
    #[error(transparent)]
    Reference(#[from] skiff_oci::Error),
}

/// Which references a mirror may serve (`pull-from-mirror`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PullFromMirror {
    /// Tags and digests.
    #[default]
    All,
    /// Only references pinned by digest.
    DigestOnly,
    /// Only references by tag.
    TagOnly,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct Mirror {
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    pull_from_mirror: Option<PullFromMirror>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct RegistryEntry {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    mirror: Vec<Mirror>,
}

impl RegistryEntry {
    fn prefix(&self) -> &str {
        self.prefix
            .as_deref()
            .or(self.location.as_deref())
            .unwrap_or("")
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct File {
    #[serde(default)]
    registry: Vec<RegistryEntry>,
}

/// The merged configuration.
#[derive(Debug, Clone, Default)]
pub struct RegistriesConf {
    registries: Vec<RegistryEntry>,
}

/// One place to pull from, in the order to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSource {
    /// The reference at that place (registry and repository rewritten).
    pub reference: Reference,
    /// Whether plain HTTP / unverified TLS is allowed there.
    pub insecure: bool,
    /// Whether this is a mirror (a failure falls through to the next source).
    pub mirror: bool,
}

impl RegistriesConf {
    /// The system configuration: `--registries-conf PATH` when given (that file only, as
    /// skopeo), else `$CONTAINERS_REGISTRIES_CONF` (the same, for scripts that set it), else `$HOME/.config/containers/registries.conf` or
    /// `/etc/containers/registries.conf`, each followed by its `registries.conf.d/*.conf`
    /// drop-ins in lexical order. Missing files are simply absent configuration.
    pub fn load(path_override: Option<&Path>) -> Result<RegistriesConf, ConfError> {
        let mut conf = RegistriesConf::default();
        let from_env = std::env::var_os("CONTAINERS_REGISTRIES_CONF")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        if let Some(p) = path_override.or(from_env.as_deref()) {
            conf.merge_file(p)?;
            return Ok(conf);
        }
        let user = std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".config/containers/registries.conf"));
        let main = match user {
            Some(u) if u.is_file() => u,
            _ => PathBuf::from("/etc/containers/registries.conf"),
        };
        if main.is_file() {
            conf.merge_file(&main)?;
        }
        let dropin_dir = main.with_extension("conf.d");
        if let Ok(dir) = std::fs::read_dir(&dropin_dir) {
            let mut files: Vec<PathBuf> = dir
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "conf"))
                .collect();
            files.sort();
            for f in files {
                conf.merge_file(&f)?;
            }
        }
        Ok(conf)
    }

    /// Parses one file's text (for tests and `--registries-conf`).
    pub fn parse(text: &str, origin: &str) -> Result<RegistriesConf, ConfError> {
        let mut conf = RegistriesConf::default();
        conf.merge_text(text, origin)?;
        Ok(conf)
    }

    fn merge_file(&mut self, path: &Path) -> Result<(), ConfError> {
        let text = read_capped_string(path, MAX_CONFIG_FILE).map_err(|e| ConfError::Invalid {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        self.merge_text(&text, &path.display().to_string())
    }

    /// Later files override: registries with the same prefix replace earlier ones.
    fn merge_text(&mut self, text: &str, origin: &str) -> Result<(), ConfError> {
        let file: File = toml::from_str(text).map_err(|e| ConfError::Invalid {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        for r in file.registry {
            if r.prefix().is_empty() {
                return Err(ConfError::Invalid {
                    path: origin.to_string(),
                    message: "a [[registry]] needs a prefix or a location".into(),
                });
            }
            self.registries.retain(|old| old.prefix() != r.prefix());
            self.registries.push(r);
        }
        Ok(())
    }

    /// The places to pull a fully qualified reference from, mirrors first.
    pub fn pull_sources(&self, reference: &Reference) -> Result<Vec<PullSource>, ConfError> {
        let full = reference.name();
        let Some(entry) = self.matching(&full) else {
            return Ok(vec![PullSource {
                reference: reference.clone(),
                insecure: false,
                mirror: false,
            }]);
        };
        if entry.blocked {
            return Err(ConfError::Blocked(entry.prefix().to_string()));
        }
        let rewrite = |location: &str| -> Result<Reference, ConfError> {
            let rest = &full[strip_wildcard(entry.prefix(), &full).len()..];
            let name = format!("{location}{rest}");
            let mut text = name;
            if let Some(t) = reference.tag() {
                text = format!("{text}:{t}");
            }
            if let Some(d) = reference.digest() {
                text = format!("{text}@{d}");
            }
            Ok(Reference::parse(&text)?)
        };
        let by_digest = reference.digest().is_some();
        let mut sources = Vec::new();
        for m in &entry.mirror {
            let policy = m
                .pull_from_mirror
                .unwrap_or(if entry.mirror_by_digest_only {
                    PullFromMirror::DigestOnly
                } else {
                    PullFromMirror::All
                });
            let allowed = match policy {
                PullFromMirror::All => true,
                PullFromMirror::DigestOnly => by_digest,
                PullFromMirror::TagOnly => !by_digest,
            };
            if allowed {
                sources.push(PullSource {
                    reference: rewrite(&m.location)?,
                    insecure: m.insecure,
                    mirror: true,
                });
            }
        }
        let primary = match &entry.location {
            Some(l) if !entry.prefix().starts_with("*.") => rewrite(l)?,
            _ => reference.clone(),
        };
        sources.push(PullSource {
            reference: primary,
            insecure: entry.insecure,
            mirror: false,
        });
        Ok(sources)
    }

    /// Whether `registry` (host[:port]) is marked insecure.
    pub fn is_insecure(&self, registry: &str) -> bool {
        self.matching(registry).is_some_and(|e| e.insecure)
    }

    /// What the configuration says about talking to `name` (`host[:port][/path]`) itself —
    /// pushing, deleting, listing tags, logging in — where mirrors and location rewrites do
    /// not apply (as in containers/image): refused when `blocked`, else whether it is
    /// `insecure`.
    pub fn access(&self, name: &str) -> Result<bool, ConfError> {
        match self.matching(name) {
            Some(e) if e.blocked => Err(ConfError::Blocked(e.prefix().to_string())),
            Some(e) => Ok(e.insecure),
            None => Ok(false),
        }
    }

    /// The `[[registry]]` with the longest prefix matching `name` (`host/path`).
    fn matching(&self, name: &str) -> Option<&RegistryEntry> {
        self.registries
            .iter()
            .filter(|r| prefix_matches(r.prefix(), name))
            .max_by_key(|r| r.prefix().len())
    }
}

/// Prefix match on path-component boundaries; `*.example.com` matches any subdomain.
fn prefix_matches(prefix: &str, name: &str) -> bool {
    if let Some(domain) = prefix.strip_prefix("*.") {
        let host = name.split('/').next().unwrap_or(name);
        return host.ends_with(&format!(".{domain}"));
    }
    name == prefix || (name.starts_with(prefix) && name[prefix.len()..].starts_with('/'))
}

/// The part of `name` that `prefix` covers.
fn strip_wildcard<'a>(prefix: &str, name: &'a str) -> &'a str {
    if prefix.starts_with("*.") {
        name.split('/').next().unwrap_or(name)
    } else {
        &name[..prefix.len().min(name.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = r#"
unqualified-search-registries = ["registry.example:5000", "docker.io"]

[aliases]
"db" = "quay.io/team/mariadb"

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror-a.example"
[[registry.mirror]]
location = "mirror-b.example"
insecure = true
pull-from-mirror = "digest-only"

[[registry]]
prefix = "quay.io/team"
location = "internal.example/quay-team"

[[registry]]
location = "evil.example"
blocked = true

[[registry]]
prefix = "*.insecure.example"
insecure = true
"#;

    fn conf() -> RegistriesConf {
        RegistriesConf::parse(CONF, "test").unwrap()
    }

    #[test]
    fn search_registries_and_aliases_are_parsed_but_never_consulted() {
        // Debian's stock files carry both keys; they must not make the file invalid, and
        // the transport resolves short names to docker.io before this module is asked.
        let c = conf();
        let s = c
            .pull_sources(&Reference::parse("db:10.11").unwrap())
            .unwrap();
        assert_eq!(
            s.last().unwrap().reference.to_string(),
            "docker.io/library/db:10.11"
        );
    }

    #[test]
    fn access_refuses_blocked_and_reports_insecure_without_rewriting() {
        let c = conf();
        assert!(c
            .access("evil.example")
            .unwrap_err()
            .to_string()
            .contains("blocked"));
        assert!(c.access("evil.example/some/repo").is_err());
        assert!(c.access("reg.insecure.example").unwrap());
        assert!(!c.access("quay.io/team/app").unwrap());
        assert!(!c.access("elsewhere.example").unwrap());
    }

    #[test]
    fn mirrors_come_first_and_respect_pull_from_mirror() {
        let c = conf();
        let by_tag = c
            .pull_sources(&Reference::parse("docker.io/library/nginx:1").unwrap())
            .unwrap();
        let got: Vec<(String, bool)> = by_tag
            .iter()
            .map(|s| (s.reference.to_string(), s.mirror))
            .collect();
        assert_eq!(
            got,
            [
                ("mirror-a.example/library/nginx:1".to_string(), true),
                ("docker.io/library/nginx:1".to_string(), false)
            ]
        );
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let by_digest = c
            .pull_sources(&Reference::parse(&format!("docker.io/library/nginx@{d}")).unwrap())
            .unwrap();
        assert_eq!(by_digest.len(), 3);
        assert!(by_digest[1].insecure);
    }

    #[test]
    fn locations_are_rewritten_and_blocked_registries_refused() {
        let c = conf();
        let s = c
            .pull_sources(&Reference::parse("quay.io/team/app:v2").unwrap())
            .unwrap();
        assert_eq!(
            s[0].reference.to_string(),
            "internal.example/quay-team/app:v2"
        );
        let err = c
            .pull_sources(&Reference::parse("evil.example/x").unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("blocked"));
        // "quay.io/teamster" is not under the prefix "quay.io/team".
        let s = c
            .pull_sources(&Reference::parse("quay.io/teamster/app").unwrap())
            .unwrap();
        assert_eq!(s[0].reference.to_string(), "quay.io/teamster/app:latest");
        assert!(c.is_insecure("reg.insecure.example"));
        assert!(!c.is_insecure("insecure.example.com"));
    }

    #[test]
    fn invalid_files_are_reported_with_their_path() {
        let err = RegistriesConf::parse("registry = 3", "/etc/x.conf").unwrap_err();
        assert!(err.to_string().starts_with("/etc/x.conf"));
    }
}
