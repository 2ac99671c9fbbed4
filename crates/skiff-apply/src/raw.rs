//! The file as written: every key the format knows, with serde refusing any other
//! (`deny_unknown_fields`), so that a typo is an error at its line and column instead of
//! a setting silently dropped. [`crate::file`] turns this into [`crate::Desired`]
//! containers.
//!
//! One item type, [`RawItem`], serves every list: a container under `containers:` and in
//! a dataset, and under `apps:` either an app (a name and its `containers:`) or a catalog
//! app (`catalog: NAME` plus the settings that override its main container). One type
//! keeps the keys a container takes in one place, whichever way it is written.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::size::{Gib, Mib};

/// The whole file: the seed's `pools:` shape and/or plain `containers:` / `apps:` lists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    /// The seed's `version: v2` (the only version there is).
    pub version: Option<String>,
    /// `lxc`, `pve` or `pve-api`; `--backend` overrides it.
    pub backend: Option<String>,
    #[serde(default)]
    pub pools: BTreeMap<String, RawPool>,
    #[serde(default)]
    pub containers: Vec<RawItem>,
    #[serde(default)]
    pub apps: Vec<RawItem>,
}

/// `pools.<pool>`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPool {
    #[serde(default)]
    pub datasets: BTreeMap<String, RawDataset>,
}

/// `pools.<pool>.datasets.<dataset>`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDataset {
    pub mountpoint: Option<String>,
    pub quota: Option<Gib>,
    pub compression: Option<String>,
    #[serde(default)]
    pub containers: Vec<RawItem>,
}

/// One container, wherever it is listed; under `apps:` also an app (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawItem {
    /// Required, except on a catalog app (which is then named after its entry).
    pub name: Option<String>,
    /// `apps:` only: the catalog entry this app is made from.
    pub catalog: Option<String>,
    /// `apps:` only: the app's containers (or, on a catalog app, overrides by name).
    #[serde(default)]
    pub containers: Vec<RawItem>,
    /// The seed's `type: oci`; the only kind skiff deploys.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Required, except where a catalog entry gives it.
    pub image: Option<String>,
    pub tag: Option<String>,
    pub registry: Option<String>,
    pub digest: Option<String>,
    pub vmid: Option<u32>,
    pub node: Option<String>,
    pub cores: Option<u32>,
    pub memory: Option<Mib>,
    pub swap: Option<Mib>,
    pub disk: Option<Gib>,
    pub storage: Option<String>,
    pub net: Option<String>,
    pub gpu: Option<Gpu>,
    #[serde(default)]
    pub mounts: Vec<RawMount>,
    #[serde(default)]
    pub env: BTreeMap<String, Scalar>,
    pub entrypoint: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub features: Option<String>,
    pub onboot: Option<bool>,
    pub start: Option<bool>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub unprivileged: Option<bool>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    pub health: Option<String>,
    /// `disk:` came from a catalog entry: a size to give where root disks have one, not
    /// a demand that a backend without sized root disks must refuse.
    #[serde(skip)]
    pub disk_suggested: bool,
}

/// One bind mount; without `source` it is a volume skiff keeps under its data dir.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMount {
    pub source: Option<String>,
    pub target: String,
    #[serde(default)]
    pub readonly: bool,
    #[serde(default)]
    pub backup: bool,
}

/// `gpu: false | true | intel | amd | nvidia`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Gpu {
    /// No GPU.
    None,
    /// Whatever the host has (/dev/dri).
    Any,
    /// Intel (/dev/dri).
    Intel,
    /// AMD (/dev/dri, /dev/kfd).
    Amd,
    /// NVIDIA (/dev/nvidia*).
    Nvidia,
}

impl<'de> Deserialize<'de> for Gpu {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Gpu;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("true, false, intel, amd or nvidia")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Gpu, E> {
                Ok(if v { Gpu::Any } else { Gpu::None })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Gpu, E> {
                match v {
                    "intel" => Ok(Gpu::Intel),
                    "amd" => Ok(Gpu::Amd),
                    "nvidia" => Ok(Gpu::Nvidia),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// An environment value: YAML writes `PORT: 8080` and `DEBUG: true` unquoted, and the
/// container sees them as text either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}
