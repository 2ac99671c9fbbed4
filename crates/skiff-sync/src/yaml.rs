//! skopeo's YAML source (`--src yaml`): per registry, the images to sync and how to reach
//! the registry.
//!
//! ```yaml
//! registry.example.com:
//!   images:
//!     busybox: []                  # every tag
//!     redis: ["1.0", "sha256:…"]   # these tags and digests
//!   images-by-tag-regex:
//!     nginx: ^1\.13\.[12]-alpine$  # tags the regex finds (unanchored, as Go's MatchString)
//!   images-by-semver:
//!     alpine: ">= 3.12.0"          # tags that are versions inside the range
//!   credentials: {username: john, password: secret}
//!   tls-verify: false
//!   cert-dir: /etc/certs/example
//! ```
//!
//! Unknown keys are refused rather than ignored: a misspelt `image:` would otherwise
//! sync nothing and succeed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use skiff_oci::Reference;
use skiff_registry::Credentials;
use skiff_transport::{ClientPool, OpenOptions};

use crate::error::SyncError;
use crate::naming::Naming;
use crate::source::{every_tag, registry_job, Job};

/// One registry's entry.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RegistryEntry {
    #[serde(default)]
    images: BTreeMap<String, Option<Vec<String>>>,
    #[serde(default)]
    images_by_tag_regex: BTreeMap<String, String>,
    #[serde(default)]
    images_by_semver: BTreeMap<String, String>,
    credentials: Option<YamlCredentials>,
    tls_verify: Option<bool>,
    cert_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlCredentials {
    username: String,
    password: String,
}

/// Every image the YAML file at `path` names, with its destination.
pub async fn jobs(
    path: &Path,
    naming: &Naming,
    options: &OpenOptions,
) -> Result<Vec<Job>, SyncError> {
    let bad = |message: String| SyncError::Yaml {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| SyncError::Io {
        what: format!("reading {}", path.display()),
        source: e,
    })?;
    skiff_oci::nesting::check_yaml_depth(&text)
        .map_err(|e| bad(format!("line {}: {e}", e.line)))?;
    let registries: BTreeMap<String, RegistryEntry> =
        serde_yaml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let mut jobs = Vec::new();
    for (registry, entry) in &registries {
        let options = Arc::new(registry_options(entry, options));
        let repo = |name: &str| {
            Reference::parse_unnormalised_tag(&format!("{registry}/{name}"))
                .map_err(|e| bad(format!("{registry}: {e}")))
        };
        let mut images = Vec::new();
        for (name, tags) in &entry.images {
            let repository = repo(name)?;
            match tags.as_deref() {
                None | Some([]) => images.extend(every_tag(&repository, &options).await?),
                Some(tags) => {
                    for t in tags {
                        images.push(pinned(&repository, t).map_err(|e| bad(e.to_string()))?);
                    }
                }
            }
        }
        for (name, pattern) in &entry.images_by_tag_regex {
            let re = regex::Regex::new(pattern)
                .map_err(|e| bad(format!("{registry}/{name}: images-by-tag-regex: {e}")))?;
            let all = every_tag(&repo(name)?, &options).await?;
            images.extend(all.into_iter().filter(|r| re.is_match(tag(r))));
        }
        for (name, range) in &entry.images_by_semver {
            let req = semver::VersionReq::parse(range)
                .map_err(|e| bad(format!("{registry}/{name}: images-by-semver: {e}")))?;
            let all = every_tag(&repo(name)?, &options).await?;
            images.extend(
                all.into_iter()
                    .filter(|r| lenient_version(tag(r)).is_some_and(|v| req.matches(&v))),
            );
        }
        for r in images {
            jobs.push(registry_job(r, naming, options.clone())?);
        }
    }
    Ok(jobs)
}

/// The source options with a registry entry's own credentials and TLS settings, which
/// take precedence over the `--src-*` flags.
fn registry_options(entry: &RegistryEntry, base: &OpenOptions) -> OpenOptions {
    let mut options = base.clone();
    // Other credentials and TLS settings: clients of their own.
    options.clients = Some(ClientPool::default());
    if let Some(c) = &entry.credentials {
        options.registry.credentials = Some(Credentials {
            username: c.username.clone(),
            password: c.password.clone(),
        });
        options.registry.no_creds = false;
        options.registry.registry_token = None;
    }
    if entry.tls_verify.is_some() {
        options.registry.tls_verify = entry.tls_verify;
    }
    if entry.cert_dir.is_some() {
        options.registry.cert_dir = entry.cert_dir.clone();
    }
    options
}

/// `repository` at a tag, or at a digest when `value` is one (`sha256:…`).
fn pinned(repository: &Reference, value: &str) -> Result<Reference, skiff_oci::Error> {
    match value.parse::<skiff_oci::Digest>() {
        Ok(d) if value.contains(':') => Ok(repository.with_digest(d)),
        _ => repository.with_tag(value),
    }
}

/// The tag of a listed reference (every listed reference has one).
fn tag(r: &Reference) -> &str {
    r.tag().unwrap_or_default()
}

/// A tag read as a version the way skopeo's semver library reads it: an optional `v`,
/// and missing minor or patch numbers taken as 0 (`v3.12` is 3.12.0).
fn lenient_version(tag: &str) -> Option<semver::Version> {
    let t = tag.strip_prefix('v').unwrap_or(tag);
    if let Ok(v) = semver::Version::parse(t) {
        return Some(v);
    }
    let (core, rest) = match t.find(['-', '+']) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let mut parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    parts.resize(3, "0");
    semver::Version::parse(&format!("{}{rest}", parts.join("."))).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_skopeos_format() {
        let text = "
reg.example.com:5000:
  images:
    busybox: []
    redis: ['1.0', 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef']
  images-by-tag-regex:
    nginx: ^1\\.13
  credentials: {username: john, password: secret}
  tls-verify: false
";
        let parsed: BTreeMap<String, RegistryEntry> = serde_yaml::from_str(text).unwrap();
        let e = &parsed["reg.example.com:5000"];
        assert_eq!(e.images["busybox"].as_deref(), Some(&[][..]));
        let o = registry_options(e, &OpenOptions::default());
        assert_eq!(o.registry.tls_verify, Some(false));
        assert_eq!(o.registry.credentials.unwrap().username, "john");
        let repo = Reference::parse_unnormalised_tag("reg.example.com:5000/redis").unwrap();
        let pins: Vec<String> = e.images["redis"]
            .iter()
            .flatten()
            .map(|t| pinned(&repo, t).unwrap().to_string())
            .collect();
        assert_eq!(pins[0], "reg.example.com:5000/redis:1.0");
        assert!(pins[1].contains("@sha256:0123"), "{}", pins[1]);
    }

    #[test]
    fn refuses_unknown_keys() {
        let text = "reg.example.com:\n  image:\n    busybox: []\n";
        assert!(serde_yaml::from_str::<BTreeMap<String, RegistryEntry>>(text).is_err());
    }

    #[test]
    fn versions_as_skopeo_reads_tags() {
        let req = semver::VersionReq::parse(">= 3.12.0").unwrap();
        let ok = |t: &str| lenient_version(t).is_some_and(|v| req.matches(&v));
        assert!(ok("3.12"));
        assert!(ok("v3.13.1"));
        assert!(!ok("3.11.9"));
        assert!(!ok("latest"));
        assert!(!ok("3.13.0-rc1"));
    }
}
