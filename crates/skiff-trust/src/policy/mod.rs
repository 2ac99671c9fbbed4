//! policy.json: loading (strictly) and finding the requirements that apply to an image.
//!
//! Only the most specific matching scope applies (containers-policy.json(5)): the image's own
//! scope, then its namespaces, then the transport default `""`, then the global `default`.

mod requirement;
mod scope;
mod strict_map;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use skiff_oci::local_file::{read_capped, MAX_CONFIG_FILE};

pub use requirement::{KeySource, Requirement, SignedBy, SigstoreSigned};
pub use scope::PolicyScope;
use strict_map::StrictMap;

/// The system-wide policy.
pub const SYSTEM_POLICY: &str = "/etc/containers/policy.json";

/// A policy that could not be loaded. Never recovered from by accepting images.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file cannot be read (including: it does not exist).
    #[error("cannot read policy {path}: {source}")]
    Read {
        /// The policy file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid policy.
    #[error("invalid policy {path}: {reason}")]
    Invalid {
        /// The policy file.
        path: PathBuf,
        /// What is wrong, with its location in the file.
        reason: String,
    },
}

/// A loaded, validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    origin: PathBuf,
    default: Vec<Requirement>,
    transports: Vec<(String, Scopes)>,
}

/// The scopes of one transport with their requirements, in file order.
type Scopes = Vec<(String, Vec<Requirement>)>;

/// Where the requirements for an image came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedScope {
    /// The policy file (or a description such as `--insecure-policy`).
    pub policy: PathBuf,
    /// The transport looked up.
    pub transport: String,
    /// The scope that matched; `None` for the global `default`.
    pub scope: Option<String>,
}

impl fmt::Display for MatchedScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scope {
            None => write!(f, "policy {}, global default", self.policy.display()),
            Some(s) if s.is_empty() => write!(
                f,
                "policy {}, transport {:?} default scope \"\"",
                self.policy.display(),
                self.transport
            ),
            Some(s) => write!(
                f,
                "policy {}, transport {:?} scope {s:?}",
                self.policy.display(),
                self.transport
            ),
        }
    }
}

/// The requirements that apply to one image, with where they came from.
#[derive(Debug, Clone)]
pub struct Requirements<'p> {
    /// Where they came from.
    pub matched: MatchedScope,
    /// All must hold.
    pub list: &'p [Requirement],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    default: Vec<requirement::RawRequirement>,
    #[serde(default)]
    transports: Option<StrictMap<StrictMap<Vec<requirement::RawRequirement>>>>,
}

impl Policy {
    /// The policy skopeo would use: `$HOME/.config/containers/policy.json` if it exists,
    /// else [`SYSTEM_POLICY`] (which may not exist either; loading it then fails).
    pub fn default_path() -> PathBuf {
        crate::config_path::user_or_system("policy.json")
    }

    /// Loads and validates a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let bytes = read_capped(path, MAX_CONFIG_FILE).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Policy::from_json(&bytes, path)
    }

    /// Parses policy JSON; `origin` names it in messages.
    pub fn from_json(bytes: &[u8], origin: &Path) -> Result<Policy, PolicyError> {
        let invalid = |reason: String| PolicyError::Invalid {
            path: origin.to_path_buf(),
            reason,
        };
        let raw: RawPolicy = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        let default = validate_list(raw.default).map_err(|e| invalid(format!("default: {e}")))?;
        let mut transports = Vec::new();
        for (transport, scopes) in raw.transports.map(|t| t.0).unwrap_or_default() {
            let mut validated = Vec::new();
            for (scope, list) in scopes.0 {
                let at = |e: String| invalid(format!("transports.{transport}[{scope:?}]: {e}"));
                validate_scope(&transport, &scope).map_err(at)?;
                let list = validate_list(list).map_err(at)?;
                validated.push((scope, list));
            }
            transports.push((transport, validated));
        }
        Ok(Policy {
            origin: origin.to_path_buf(),
            default,
            transports,
        })
    }

    /// The policy `--insecure-policy` stands for: accept anything.
    pub fn insecure_accept_anything() -> Policy {
        Policy {
            origin: PathBuf::from("--insecure-policy"),
            default: vec![Requirement::InsecureAcceptAnything],
            transports: Vec::new(),
        }
    }

    /// The file this policy was loaded from.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// The requirements of the most specific scope matching `scope`.
    pub fn requirements_for(&self, scope: &PolicyScope) -> Requirements<'_> {
        let matched = |s: Option<&str>| MatchedScope {
            policy: self.origin.clone(),
            transport: scope.transport().to_string(),
            scope: s.map(str::to_string),
        };
        let scopes = self
            .transports
            .iter()
            .find(|(t, _)| t == scope.transport())
            .map(|(_, s)| s.as_slice())
            .unwrap_or_default();
        let wanted = scope.search_order().iter().map(String::as_str).chain([""]);
        for name in wanted {
            if let Some((s, list)) = scopes.iter().find(|(s, _)| s == name) {
                return Requirements {
                    matched: matched(Some(s)),
                    list,
                };
            }
        }
        Requirements {
            matched: matched(None),
            list: &self.default,
        }
    }
}

fn validate_list(list: Vec<requirement::RawRequirement>) -> Result<Vec<Requirement>, String> {
    if list.is_empty() {
        return Err(
            "the list of requirements must not be empty (use insecureAcceptAnything or reject)"
                .into(),
        );
    }
    list.into_iter()
        .enumerate()
        .map(|(i, r)| r.validate().map_err(|e| format!("requirement {i}: {e}")))
        .collect()
}

/// Scope syntax per transport; unknown transports are accepted unchecked (skopeo ignores
/// them too), since they never match an image skiff handles.
fn validate_scope(transport: &str, scope: &str) -> Result<(), String> {
    if scope.is_empty() {
        return Ok(());
    }
    match transport {
        "docker" | "atomic" => {
            let rest = scope.strip_prefix("*.").unwrap_or(scope);
            if rest.contains('*') {
                return Err("wildcards are only allowed as a leading \"*.\"".into());
            }
            Ok(())
        }
        "dir" | "oci" | "oci-archive" => {
            let path = match transport {
                "oci" => scope.split_once(':').map_or(scope, |(p, _)| p),
                _ => scope,
            };
            if !path.starts_with('/') {
                return Err("must be an absolute path".into());
            }
            if path == "/" {
                return Err("\"/\" is not allowed; use the default scope \"\"".into());
            }
            let clean = !path.ends_with('/')
                && path
                    .split('/')
                    .skip(1)
                    .all(|c| !c.is_empty() && c != "." && c != "..");
            if !clean {
                return Err("must be a canonical path (no //, /./, /../ or trailing /)".into());
            }
            Ok(())
        }
        "docker-archive" | "docker-daemon" => {
            Err(format!("{transport} supports only the default scope \"\""))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
