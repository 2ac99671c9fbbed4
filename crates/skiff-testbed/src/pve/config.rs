//! A container's `/etc/pve/lxc/VMID.conf` as pve-container keeps it: `key: value` lines
//! sorted by key, raw `lxc.*` lines after them in their order, and what a create or an
//! update does to it (defaults, volumes allocated, netN completed, tags normalised, the
//! image's values applied after the user's on an OCI create).

use std::collections::BTreeMap;
use std::path::Path;

use sha2::Digest;

use super::oci::{shell_join, ImageValues};
use super::options::{indexed_key, property_string};

/// One container's configuration (main section only; snapshots are not modelled).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CtConfig {
    /// `description`: kept as `#` comment lines at the top of the file, one per line.
    pub description: String,
    /// `key: value`, sorted as PVE writes them.
    pub keys: BTreeMap<String, String>,
    /// Raw `lxc.*` lines (key, value), in order.
    pub raw: Vec<(String, String)>,
}

impl CtConfig {
    /// Parses the text of a config file (up to the first snapshot section).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut config = CtConfig::default();
        for line in text.lines() {
            if line.starts_with('[') {
                break;
            }
            if let Some(comment) = line.strip_prefix('#') {
                if config.keys.is_empty() && config.raw.is_empty() {
                    if !config.description.is_empty() {
                        config.description.push('\n');
                    }
                    config.description.push_str(comment);
                }
                continue;
            }
            if line.trim().is_empty() {
                continue;
            }
            let (key, value) = line
                .split_once(": ")
                .or_else(|| line.split_once(':'))
                .ok_or_else(|| format!("unable to parse config line: {line}"))?;
            if key.starts_with("lxc.") {
                config.raw.push((key.to_string(), value.to_string()));
            } else {
                config.keys.insert(key.to_string(), value.to_string());
            }
        }
        Ok(config)
    }

    /// Reads `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|_| format!("Configuration file '{}' does not exist", path.display()))?;
        Self::parse(&text)
    }

    /// The file text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.description.is_empty() {
            for line in self.description.lines() {
                out.push_str(&format!("#{line}\n"));
            }
        }
        for (k, v) in &self.keys {
            out.push_str(&format!("{k}: {v}\n"));
        }
        for (k, v) in &self.raw {
            out.push_str(&format!("{k}: {v}\n"));
        }
        out
    }

    /// The optimistic-lock digest of the file (PVE uses SHA-1 of the text; the stand-in
    /// a SHA-256, which no caller may assume anything about either).
    pub fn digest(&self) -> String {
        hex::encode(sha2::Sha256::digest(self.render().as_bytes()))
    }

    /// The first raw value of `key`.
    pub fn raw_value(&self, key: &str) -> Option<&str> {
        self.raw
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Stores user options as PVE does: volumes allocated (`STORAGE:N` →
    /// `STORAGE:vm-VMID-disk-K,size=NG`), netN given a hwaddr and `type=veth`, tags
    /// lowercased, sorted and unique.
    pub fn set_options(&mut self, vmid: u32, options: &BTreeMap<String, String>) {
        // The root disk is allocated first (vm-VMID-disk-0), mount points after it.
        let rootfs = options.get_key_value("rootfs");
        for (key, value) in rootfs
            .into_iter()
            .chain(options.iter().filter(|(k, _)| *k != "rootfs"))
        {
            if key == "description" {
                self.description = value.clone();
                continue;
            }
            let value = if key == "rootfs" || indexed_key(key, "mp", 255) {
                self.allocate(vmid, value)
            } else if indexed_key(key, "net", 31) {
                complete_net(value, vmid, key)
            } else if key == "tags" {
                let mut tags: Vec<String> = value
                    .split([';', ',', ' '])
                    .filter(|t| !t.is_empty())
                    .map(str::to_lowercase)
                    .collect();
                tags.sort();
                tags.dedup();
                tags.join(";")
            } else {
                value.clone()
            };
            self.keys.insert(key.clone(), value);
        }
    }

    fn allocate(&self, vmid: u32, value: &str) -> String {
        let Ok(mut map) = property_string(value, Some("volume")) else {
            return value.to_string();
        };
        let volume = map.remove("volume").unwrap_or_default();
        let new = match volume.split_once(':') {
            Some((storage, size))
                if !size.is_empty() && size.bytes().all(|b| b.is_ascii_digit()) =>
            {
                let used = self
                    .keys
                    .values()
                    .filter(|v| v.contains(&format!("vm-{vmid}-disk-")))
                    .count();
                map.insert("size".into(), format!("{size}G"));
                format!("{storage}:vm-{vmid}-disk-{used}")
            }
            _ => volume,
        };
        let mut out = new;
        for (k, v) in map {
            out.push_str(&format!(",{k}={v}"));
        }
        out
    }

    /// The config a create writes, for both stand-ins (pct and the REST API): PVE's
    /// defaults, the user's `options` (without create-only keys other than
    /// `unprivileged`), then the image's values over them.
    pub fn created(vmid: u32, options: &BTreeMap<String, String>, image: &ImageValues) -> Self {
        let mut opts = options.clone();
        let unprivileged = opts.remove("unprivileged").unwrap_or_else(|| "1".into());
        let mut config = CtConfig::default();
        config.keys.insert("arch".into(), "amd64".into());
        config.keys.insert("hostname".into(), format!("CT{vmid}"));
        config.keys.insert("memory".into(), "512".into());
        config.keys.insert("swap".into(), "512".into());
        config.keys.insert("ostype".into(), "unmanaged".into());
        config.set_options(vmid, &opts);
        if unprivileged == "1" {
            config.keys.insert("unprivileged".into(), "1".into());
        }
        config.apply_image(image);
        config
    }

    /// Applies an OCI image's values after the user's options, as pct does on create:
    /// they overwrite `entrypoint` and `env`.
    pub fn apply_image(&mut self, image: &ImageValues) {
        let entrypoint = shell_join(&image.argv);
        if !image.argv.is_empty() && entrypoint != "/sbin/init" {
            self.keys.insert("entrypoint".into(), entrypoint);
            self.keys.insert("cmode".into(), "console".into());
            let nets: Vec<String> = self
                .keys
                .keys()
                .filter(|k| indexed_key(k, "net", 31))
                .cloned()
                .collect();
            for net in nets {
                if let Some(v) = self.keys.get_mut(&net) {
                    if !v.contains("host-managed=") {
                        v.push_str(",host-managed=1");
                    }
                }
            }
        }
        if !image.env.is_empty() {
            self.keys.insert("env".into(), image.env.join("\0"));
        }
        if let Some(cwd) = &image.workdir {
            self.raw.push(("lxc.init.cwd".into(), cwd.clone()));
        }
        let signal = image
            .stop_signal
            .clone()
            .unwrap_or_else(|| "SIGTERM".into());
        self.raw.push(("lxc.signal.halt".into(), signal));
    }
}

/// A netN value as PVE stores it: `hwaddr` (derived from the VMID here, random in PVE)
/// and `type=veth` added when absent.
fn complete_net(value: &str, vmid: u32, key: &str) -> String {
    let mut out = value.to_string();
    if !value.split(',').any(|p| p.starts_with("hwaddr=")) {
        let index: u32 = key.trim_start_matches("net").parse().unwrap_or(0);
        let b = vmid.to_be_bytes();
        out.push_str(&format!(
            ",hwaddr=BC:24:11:{:02X}:{:02X}:{:02X}",
            b[2], b[3], index
        ));
    }
    if !value.split(',').any(|p| p.starts_with("type=")) {
        out.push_str(",type=veth");
    }
    out
}
