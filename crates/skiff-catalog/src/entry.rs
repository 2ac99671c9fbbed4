//! The schema of a catalog entry (agreed with `apply`, which consumes it): an app of one
//! or more containers. Unknown keys are refused; names, image references and sizes are
//! checked while parsing, so their errors carry the YAML line and column.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::size::{DiskGib, MemoryMib};

/// A self-hosted app: one container, or several started in `depends_on` order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// The catalog name (`skiff catalog show NAME`, `apps: [{catalog: NAME}]`).
    #[serde(deserialize_with = "name")]
    pub name: String,
    /// One line for `catalog list`.
    pub description: String,
    /// media, photos, documents, home, monitoring, network, dev, data, security, …
    #[serde(deserialize_with = "name")]
    pub category: String,
    /// Where the image names come from (the upstream install docs): there is no network
    /// to ask a registry when the catalog is written or checked.
    pub source: String,
    /// Whether the app can use (or needs) a GPU passed into its containers.
    #[serde(default)]
    pub gpu: Gpu,
    /// The containers, at least one.
    pub containers: Vec<Container>,
}

/// GPU capability of an app.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gpu {
    /// Never uses one.
    #[default]
    None,
    /// Uses one when given (transcoding, machine learning).
    Optional,
    /// Does not work without one.
    Required,
}

/// One container of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    /// Unique within the app; also its host name for `${host:NAME}`.
    #[serde(deserialize_with = "name")]
    pub name: String,
    /// The repository as the project publishes it, registry included, without a tag.
    #[serde(deserialize_with = "image")]
    pub image: String,
    /// The tag the project recommends.
    #[serde(deserialize_with = "tag")]
    pub tag: String,
    /// CPU cores.
    pub cores: u32,
    /// Memory (MiB, or a string such as `2G`).
    pub memory: MemoryMib,
    /// Root filesystem size (GiB, or a string such as `8G`).
    pub disk: DiskGib,
    /// Replaces the image's Cmd where the image's default does not run the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// The data the container keeps: the volumes its image declares, and more.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Environment defaults; values may use `${host:CONTAINER}` and `${secret:NAME}`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Containers of the same app that must run first.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// A command run inside the container that succeeds once it serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
}

/// A directory the container keeps across image updates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// The path inside the container.
    #[serde(deserialize_with = "absolute")]
    pub target: String,
    /// What lives there, for the plan and the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// A host path; none means a data volume kept by skiff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Mounted read-only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub readonly: bool,
}

impl Container {
    /// The full image reference, `image:tag`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.image, self.tag)
    }
}

/// Whether `s` may name an app, category or container: it becomes a host name and part
/// of container names, so lowercase letters, digits and inner dashes, at most 63.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Checks a string while the parser is still on it, so an error carries its position
/// (checking after `String::deserialize` would place it at the enclosing mapping).
struct Checked(fn(&str) -> Result<(), String>);

impl serde::de::Visitor<'_> for Checked {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<String, E> {
        (self.0)(s).map(|()| s.to_string()).map_err(E::custom)
    }
}

fn name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_str(Checked(|s| {
        if valid_name(s) {
            Ok(())
        } else {
            Err(format!(
                "invalid name {s:?}: use lowercase letters, digits and '-', starting with a letter"
            ))
        }
    }))
}

fn image<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_str(Checked(|s| {
        let parsed = skiff_oci::Reference::parse_unnormalised_tag(s)
            .map_err(|e| format!("image {s:?}: {e}"))?;
        if parsed.tag().is_some() || parsed.digest().is_some() {
            return Err(format!("image {s:?}: put the tag in `tag:`, not in the image"));
        }
        if !skiff_oci::Reference::names_registry(s) {
            return Err(format!(
                "image {s:?}: name the registry too (docker.io/library/redis), as the project publishes it"
            ));
        }
        Ok(())
    }))
}

/// A tag as the distribution spec allows it.
fn tag<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_str(Checked(|s| {
        let ok = s.len() <= 128
            && s.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        ok.then_some(()).ok_or_else(|| format!("invalid tag {s:?}"))
    }))
}

fn absolute<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_str(Checked(|s| {
        let ok = s.starts_with('/') && !s.split('/').any(|c| c == "..");
        ok.then_some(())
            .ok_or_else(|| format!("mount target {s:?} must be an absolute path without '..'"))
    }))
}
