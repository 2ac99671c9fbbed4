//! A Proxmox container config (`/etc/pve/lxc/VMID.conf`) as apply reads it, skiff's
//! marker in it, and the fields apply controls — spelled the same way whether they come
//! from the file ([`wanted`]) or from the config ([`live`]), so a hand edit shows as a
//! change in the next plan.
//!
//! The marker is two things Proxmox keeps for any container (PROXMOX.md): the tag
//! `skiff`, and a description line `skiff: managed app=… digest=… spec=… file=…
//! image=… env=…` (values percent-encoded). A container lacking either is not apply's.
//! PVE rewrites some values (netN gains `hwaddr`/`type`, mpN/rootfs become volume ids
//! with `size=`), so fields compare parsed parts, never raw strings.

use std::collections::BTreeMap;
use std::path::PathBuf;

use skiff_oci::Digest;
use skiff_pve::pct::shell_quote;
use skiff_pve::spec::DEFAULT_NET;

use crate::backend::{Live, Target};
use crate::{Desired, Gpu};

/// The tag on every container apply manages.
pub(crate) const TAG: &str = "skiff";
/// The start of the description line that carries the marker.
const MARKER: &str = "skiff: managed";
/// Proxmox's defaults when `memory`/`swap` are not set.
const DEFAULT_MIB: u64 = 512;
/// The root disk when neither the file nor a catalog says (Proxmox's own default).
pub(crate) const DEFAULT_DISK_GIB: u32 = 4;

/// One container's config, main section (snapshots are not apply's business).
#[derive(Debug, Clone, Default)]
pub(crate) struct CtConfig {
    /// The VMID (from the file name).
    pub vmid: u32,
    /// The description (the `#` lines at the top), as written.
    pub description: String,
    /// `key: value`.
    pub keys: BTreeMap<String, String>,
}

impl CtConfig {
    /// Parses a config file's text.
    pub fn parse(vmid: u32, text: &str) -> CtConfig {
        let mut c = CtConfig {
            vmid,
            ..CtConfig::default()
        };
        for line in text.lines() {
            if line.starts_with('[') {
                break;
            }
            if let Some(comment) = line.strip_prefix('#') {
                if c.keys.is_empty() {
                    if !c.description.is_empty() {
                        c.description.push('\n');
                    }
                    c.description.push_str(comment);
                }
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                c.keys.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        c
    }

    /// The container's hostname (Proxmox's default `CT<vmid>` when unset).
    pub fn hostname(&self) -> String {
        self.keys
            .get("hostname")
            .cloned()
            .unwrap_or_else(|| format!("CT{}", self.vmid))
    }

    /// The marker's values, when both halves of the marker are there.
    pub fn marker(&self) -> Option<BTreeMap<String, String>> {
        let tagged = self
            .keys
            .get("tags")
            .is_some_and(|t| t.split([';', ',', ' ']).any(|x| x == TAG));
        if !tagged {
            return None;
        }
        let line = self
            .description
            .lines()
            .find_map(|l| l.strip_prefix(MARKER))?;
        Some(
            line.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), decode(v)))
                .collect(),
        )
    }

    /// The container as apply last left it, or `None` for a marker without a digest.
    pub fn live(&self, running: bool) -> Option<Live> {
        let m = self.marker()?;
        let digest: Digest = m.get("digest")?.parse().ok()?;
        let mut f = BTreeMap::new();
        f.insert("image".into(), m.get("image").cloned().unwrap_or_default());
        if let Some(c) = self.keys.get("cores") {
            f.insert("cores".into(), c.clone());
        }
        for key in ["memory", "swap"] {
            let v = self.keys.get(key).cloned();
            f.insert(key.into(), v.unwrap_or_else(|| DEFAULT_MIB.to_string()));
        }
        if let Some(rootfs) = self.keys.get("rootfs") {
            let parts = properties(rootfs, "volume");
            let volume = parts.get("volume").cloned().unwrap_or_default();
            let storage = volume.split(':').next().unwrap_or_default();
            f.insert("storage".into(), storage.to_string());
            if let Some(size) = parts.get("size") {
                f.insert("disk".into(), size.trim_end_matches('G').to_string());
            }
        }
        f.insert(
            "net0".into(),
            canonical_net(self.keys.get("net0").map_or("", String::as_str)),
        );
        for (_, value) in self.keys.iter().filter(|(k, v)| bind_mount(k, v)) {
            let p = properties(value, "volume");
            let target = p.get("mp").cloned().unwrap_or_default();
            f.insert(
                format!("mount.{target}"),
                mount_text(
                    p.get("volume").map_or("", String::as_str),
                    p.get("ro").is_some_and(|v| v == "1"),
                    p.get("backup").is_some_and(|v| v == "1"),
                ),
            );
        }
        let devices: Vec<&String> = self
            .keys
            .iter()
            .filter(|(k, _)| indexed(k, "dev"))
            .map(|(_, v)| v)
            .collect();
        if devices.iter().any(|d| d.starts_with("/dev/nvidia")) {
            f.insert("gpu".into(), "nvidia".into());
        } else if devices.iter().any(|d| d.starts_with("/dev/dri")) {
            f.insert("gpu".into(), "dri".into());
        }
        if let Some(x) = self.keys.get("features") {
            f.insert("features".into(), x.clone());
        }
        f.insert(
            "onboot".into(),
            (self.keys.get("onboot").map(String::as_str) == Some("1")).to_string(),
        );
        f.insert(
            "tags".into(),
            self.keys.get("tags").cloned().unwrap_or_default(),
        );
        f.insert(
            "unprivileged".into(),
            (self.keys.get("unprivileged").map(String::as_str) == Some("1")).to_string(),
        );
        if m.contains_key("entrypoint") {
            if let Some(e) = self.keys.get("entrypoint") {
                f.insert("entrypoint".into(), e.clone());
            }
        }
        let env = self.env();
        for key in m.get("env").into_iter().flat_map(|e| e.split(',')) {
            if let Some(v) = env.iter().find_map(|e| e.strip_prefix(&format!("{key}="))) {
                f.insert(format!("env.{key}"), v.to_string());
            }
        }
        Some(Live {
            image: m.get("image").cloned().unwrap_or_default(),
            digest,
            file: PathBuf::from(m.get("file").cloned().unwrap_or_default()),
            spec_hash: m.get("spec").cloned().unwrap_or_default(),
            running,
            fields: f,
        })
    }

    /// The `env` entries (NUL-separated in the config).
    pub fn env(&self) -> Vec<String> {
        self.keys
            .get("env")
            .map(|e| {
                e.split('\0')
                    .filter(|x| !x.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The fields apply controls as the file wants them; `storage` is the root disk's.
pub(crate) fn wanted(
    d: &Desired,
    env: &BTreeMap<String, String>,
    storage: &str,
) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    f.insert("image".into(), d.image.clone());
    if let Some(c) = d.cores {
        f.insert("cores".into(), c.to_string());
    }
    f.insert(
        "memory".into(),
        d.memory.map_or(DEFAULT_MIB, |m| m.0).to_string(),
    );
    f.insert(
        "swap".into(),
        d.swap.map_or(DEFAULT_MIB, |m| m.0).to_string(),
    );
    f.insert("storage".into(), storage.to_string());
    f.insert("disk".into(), disk_gib(d).to_string());
    f.insert("net0".into(), canonical_net(&net(d)));
    for m in &d.mounts {
        let source = m
            .source
            .as_deref()
            .map(|s| s.display().to_string())
            .unwrap_or_default();
        f.insert(
            format!("mount.{}", m.target),
            mount_text(&source, m.readonly, m.backup),
        );
    }
    match d.proxmox.gpu {
        None | Some(Gpu::None) => {}
        Some(Gpu::Nvidia) => {
            f.insert("gpu".into(), "nvidia".into());
        }
        Some(Gpu::Any | Gpu::Intel | Gpu::Amd) => {
            f.insert("gpu".into(), "dri".into());
        }
    }
    if let Some(x) = &d.proxmox.features {
        f.insert("features".into(), x.clone());
    }
    f.insert("onboot".into(), d.onboot.to_string());
    f.insert("tags".into(), tags(d).join(";"));
    f.insert("unprivileged".into(), unprivileged(d).to_string());
    if let Some(e) = entrypoint(d) {
        f.insert("entrypoint".into(), e);
    }
    for (k, v) in env {
        f.insert(format!("env.{k}"), v.clone());
    }
    f
}

/// Whether `d` runs unprivileged: unset, unprivileged, as pct create makes it.
pub(crate) fn unprivileged(d: &Desired) -> bool {
    d.unprivileged.unwrap_or(true)
}

/// The root disk in GiB: the file's or the catalog's suggestion, else Proxmox's default.
pub(crate) fn disk_gib(d: &Desired) -> u32 {
    d.disk
        .map_or(DEFAULT_DISK_GIB, |g| u32::try_from(g.0).unwrap_or(u32::MAX))
}

/// `net0` as pct takes it: the file's, else Proxmox's GUI default (DHCP on vmbr0).
pub(crate) fn net(d: &Desired) -> String {
    d.proxmox
        .net
        .clone()
        .unwrap_or_else(|| DEFAULT_NET.to_string())
}

/// The tags written: the file's, lowercased, plus [`TAG`], sorted and unique (as PVE
/// stores them).
pub(crate) fn tags(d: &Desired) -> Vec<String> {
    let mut t: Vec<String> = d
        .proxmox
        .tags
        .iter()
        .map(|t| t.to_lowercase())
        .chain(std::iter::once(TAG.to_string()))
        .collect();
    t.sort();
    t.dedup();
    t
}

/// The `entrypoint` value for a file that overrides it: entrypoint then command, each
/// argument shell-quoted, as Proxmox stores the image's.
pub(crate) fn entrypoint(d: &Desired) -> Option<String> {
    let e = d.entrypoint.as_ref()?;
    Some(
        e.iter()
            .chain(d.command.iter().flatten())
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// The description apply writes: the marker line (the rest of a description is the
/// user's business, but apply owns the containers it creates).
pub(crate) fn description(t: &Target<'_>) -> String {
    let d = t.desired;
    let mut line = format!(
        "{MARKER} app={} digest={} spec={} file={} image={} env={}",
        encode(d.app.as_deref().unwrap_or("-")),
        encode(&t.digest.to_string()),
        encode(&t.hash),
        encode(&t.file.display().to_string()),
        encode(&d.image),
        encode(&t.env.keys().cloned().collect::<Vec<_>>().join(",")),
    );
    if d.entrypoint.is_some() {
        line.push_str(" entrypoint=1");
    }
    line
}

fn mount_text(source: &str, readonly: bool, backup: bool) -> String {
    let mut s = source.to_string();
    if readonly {
        s.push_str(" (read-only)");
    }
    if backup {
        s.push_str(" (backup)");
    }
    s
}

/// A netN value without what PVE adds (`hwaddr`, `type=veth`, `host-managed=1` for an
/// OCI entrypoint), keys sorted.
pub(crate) fn canonical_net(v: &str) -> String {
    let mut parts: Vec<&str> = v
        .split(',')
        .filter(|p| {
            !p.is_empty()
                && !p.starts_with("hwaddr=")
                && !p.starts_with("type=")
                && !p.starts_with("host-managed=")
        })
        .collect();
    parts.sort_unstable();
    parts.join(",")
}

/// A property string's parts; a part without `=` is `default_key`'s value.
pub(crate) fn properties(v: &str, default_key: &str) -> BTreeMap<String, String> {
    v.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (default_key.to_string(), p.to_string()),
        })
        .collect()
}

/// Whether `key: value` is a bind mount point (a host directory), the only kind apply
/// writes. A mount point on a storage volume was added by hand: apply leaves it in
/// place and out of its plan, and refuses to destroy its container ([`frees_volume`]).
pub(crate) fn bind_mount(key: &str, value: &str) -> bool {
    indexed(key, "mp")
        && properties(value, "volume")
            .get("volume")
            .is_some_and(|v| v.starts_with('/'))
}

/// Whether `pct destroy` would free a storage volume of `key: value`: a mount point on
/// one, or an unused disk (`unusedN`, where PVE moves a removed volume mount point).
pub(crate) fn frees_volume(key: &str, value: &str) -> bool {
    indexed(key, "unused") || (indexed(key, "mp") && !bind_mount(key, value))
}

/// `mpN`, `devN`, … (N a number).
pub(crate) fn indexed(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Percent-encodes what would break the marker line (space, `%`, `=`, control and
/// non-ASCII characters).
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_graphic() && b != b'%' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undoes [`encode`].
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() + 1 {
            if let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_needs_tag_and_line() {
        let text = "#skiff: managed app=- digest=sha256:aa file=/f%20x image=a\narch: amd64\nhostname: web\ntags: skiff\n";
        let c = CtConfig::parse(100, text);
        let m = c.marker().unwrap();
        assert_eq!(m["file"], "/f x");
        assert_eq!(c.hostname(), "web");
        let untagged = CtConfig::parse(100, &text.replace("tags: skiff", "tags: other"));
        assert!(untagged.marker().is_none());
        let undescribed = CtConfig::parse(100, "hostname: web\ntags: skiff\n");
        assert!(undescribed.marker().is_none());
    }

    #[test]
    fn nets_compare_without_what_pve_adds() {
        assert_eq!(
            canonical_net(
                "name=eth0,bridge=vmbr0,ip=dhcp,hwaddr=BC:24:11:00:64:00,type=veth,host-managed=1"
            ),
            canonical_net(DEFAULT_NET)
        );
    }

    #[test]
    fn encoding_round_trips() {
        for s in ["/a b/c=d%", "plain", "é\n"] {
            assert_eq!(decode(&encode(s)), s);
            assert!(!encode(s).contains([' ', '=']));
        }
    }
}
