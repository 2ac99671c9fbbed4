//! [`CreateSpec`]: a container to create, validated as Proxmox validates it, and
//! independent of how it is created. The pct backend ([`crate::pct`]) turns it into
//! `pct create` / `pct set` command lines, cluster mode into API parameters: both take
//! [`CreateSpec::create_options`] (the keys of `POST /nodes/{node}/lxc`, which are pct's
//! options) and [`CreateSpec::overrides`] (what must be re-applied after the create,
//! because Proxmox lets the image's Entrypoint and Env overwrite the user's).

use std::path::PathBuf;

use crate::PveError;

/// Which VMID to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmidChoice {
    /// The next free one (`auto`).
    Auto,
    /// This one.
    Id(u32),
}

impl std::str::FromStr for VmidChoice {
    type Err = PveError;

    /// `auto` or a VMID in Proxmox's range 100–999999999.
    fn from_str(s: &str) -> Result<Self, PveError> {
        if s == "auto" {
            return Ok(VmidChoice::Auto);
        }
        let id: u32 = s.parse().map_err(|_| {
            PveError::invalid("VMID", format!("{s:?} is neither a number nor `auto`"))
        })?;
        if !(100..=999_999_999).contains(&id) {
            return Err(PveError::invalid(
                "VMID",
                format!("{id} is outside 100–999999999"),
            ));
        }
        Ok(VmidChoice::Id(id))
    }
}

/// Where a mount point's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A host directory, bind-mounted (root@pam only).
    Bind(PathBuf),
    /// A new volume of `size_gib` GiB on `storage` (`STORAGE:N`).
    NewVolume {
        /// The storage.
        storage: String,
        /// Its size in GiB.
        size_gib: u32,
    },
    /// An existing volume id (`local-lvm:vm-100-disk-1`).
    Volume(String),
}

/// One `--mount SRC:DST[:ro]`, an `mpN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where from.
    pub source: MountSource,
    /// The path inside the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
}

impl std::str::FromStr for Mount {
    type Err = PveError;

    /// `SRC:DST[:ro]`: SRC an absolute host directory, `STORAGE:N` or a volume id
    /// `STORAGE:NAME`.
    fn from_str(s: &str) -> Result<Self, PveError> {
        let bad = |m: &str| PveError::invalid(format!("--mount {s}"), m.to_string());
        let (rest, read_only) = match s.strip_suffix(":ro") {
            Some(r) => (r, true),
            None => (s.strip_suffix(":rw").unwrap_or(s), false),
        };
        let (source, target) = rest
            .rsplit_once(':')
            .ok_or_else(|| bad("expected SRC:DST[:ro]"))?;
        let source = if source.starts_with('/') {
            MountSource::Bind(PathBuf::from(source))
        } else {
            let (storage, name) = source.split_once(':').ok_or_else(|| {
                bad("SRC is an absolute host directory, STORAGE:SIZE or a volume id")
            })?;
            if !valid_storage_id(storage) {
                return Err(bad(&format!("{storage:?} is not a storage id")));
            }
            match name.parse::<u32>() {
                Ok(0) => return Err(bad("a new volume needs a size of at least 1 GiB")),
                Ok(size_gib) => MountSource::NewVolume {
                    storage: storage.to_string(),
                    size_gib,
                },
                Err(_) if !name.is_empty() && !name.contains([',', '=']) => {
                    MountSource::Volume(source.to_string())
                }
                Err(_) => {
                    return Err(bad(&format!(
                        "{name:?} is neither a size in GiB nor a volume name"
                    )))
                }
            }
        };
        let mount = Mount {
            source,
            target: target.to_string(),
            read_only,
        };
        mount.validate()?;
        Ok(mount)
    }
}

impl Mount {
    fn validate(&self) -> Result<(), PveError> {
        let bad =
            |m: &str| PveError::invalid(format!("mount point {}", self.target), m.to_string());
        if !self.target.starts_with('/') {
            return Err(bad("the container path must be absolute"));
        }
        if self.target.split('/').any(|c| c == "..") {
            return Err(bad("the container path must not contain `..`"));
        }
        if self.target.contains([',', '=']) || has_control(&self.target) {
            return Err(bad(
                "the container path must not contain `,`, `=` or control characters",
            ));
        }
        if let MountSource::Bind(p) = &self.source {
            let text = p.to_string_lossy();
            if text.contains([',', '=']) || has_control(&text) {
                return Err(bad(
                    "the host path must not contain `,`, `=` or control characters",
                ));
            }
        }
        Ok(())
    }

    /// The `mpN` value: `SOURCE,mp=/path[,ro=1]`.
    pub fn property(&self) -> String {
        let source = match &self.source {
            MountSource::Bind(p) => p.display().to_string(),
            MountSource::NewVolume { storage, size_gib } => format!("{storage}:{size_gib}"),
            MountSource::Volume(v) => v.clone(),
        };
        let mut value = format!("{source},mp={}", self.target);
        if self.read_only {
            value.push_str(",ro=1");
        }
        value
    }
}

/// A device node passed into the container, a `devN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The host path, `/dev/…`.
    pub path: String,
    /// The owning gid inside the container.
    pub gid: Option<u32>,
}

impl Device {
    /// The `devN` value: `/dev/PATH[,gid=N]`.
    pub fn property(&self) -> String {
        match self.gid {
            Some(gid) => format!("{},gid={gid}", self.path),
            None => self.path.clone(),
        }
    }
}

/// A container to create from an OCI template. Options left `None` take Proxmox's
/// defaults (memory 512, swap 512, hostname `CT<vmid>`, all cores).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSpec {
    /// The VMID.
    pub vmid: VmidChoice,
    /// The template's volume id (`local:vztmpl/nginx_1.27.tar`).
    pub ostemplate: String,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `cores`, 1–8192.
    pub cores: Option<u32>,
    /// `memory` in MiB, at least 16.
    pub memory: Option<u32>,
    /// `swap` in MiB.
    pub swap: Option<u32>,
    /// `rootfs STORAGE:N`: the storage (which must have rootdir content) and GiB.
    pub rootfs: (String, u32),
    /// `net0`, `net1`, … property strings.
    pub nets: Vec<String>,
    /// `mp0`, `mp1`, ….
    pub mounts: Vec<Mount>,
    /// `dev0`, `dev1`, ….
    pub devices: Vec<Device>,
    /// `features` (`nesting=1,keyctl=1`).
    pub features: Option<String>,
    /// `onboot 1`.
    pub onboot: bool,
    /// `tags`, each `[a-z0-9_][a-z0-9_+.-]*`.
    pub tags: Vec<String>,
    /// `unprivileged` (create-only; Proxmox's default is 1).
    pub unprivileged: bool,
    /// Start once created and configured.
    pub start: bool,
    /// `--entrypoint`: replaces the image's Entrypoint+Cmd (already a command line).
    pub entrypoint: Option<String>,
    /// `--env K=V`: set over the image's Env.
    pub env: Vec<(String, String)>,
}

/// The default network: what Proxmox's GUI proposes, DHCP on vmbr0.
pub const DEFAULT_NET: &str = "name=eth0,bridge=vmbr0,ip=dhcp";

impl CreateSpec {
    /// A spec with Proxmox's defaults and the default network.
    pub fn new(vmid: VmidChoice, ostemplate: impl Into<String>, rootfs: (String, u32)) -> Self {
        CreateSpec {
            vmid,
            ostemplate: ostemplate.into(),
            hostname: None,
            cores: None,
            memory: None,
            swap: None,
            rootfs,
            nets: vec![DEFAULT_NET.to_string()],
            mounts: Vec::new(),
            devices: Vec::new(),
            features: None,
            onboot: false,
            tags: Vec::new(),
            unprivileged: true,
            start: false,
            entrypoint: None,
            env: Vec::new(),
        }
    }

    /// Checks every option as Proxmox would, before anything is created.
    pub fn validate(&self) -> Result<(), PveError> {
        if let Some(h) = &self.hostname {
            if !valid_hostname(h) {
                return Err(PveError::invalid(
                    "--hostname",
                    format!("{h:?} is not a DNS name"),
                ));
            }
        }
        range("--cores", self.cores, 1, 8192)?;
        range("--memory", self.memory, 16, u32::MAX)?;
        let (storage, size) = &self.rootfs;
        if !valid_storage_id(storage) {
            return Err(PveError::invalid(
                "--rootfs-storage",
                format!("{storage:?} is not a storage id"),
            ));
        }
        if *size == 0 {
            return Err(PveError::invalid(
                "--disk",
                "the root disk needs at least 1 GiB",
            ));
        }
        if self.nets.len() > 32 || self.mounts.len() > 256 || self.devices.len() > 256 {
            return Err(PveError::invalid(
                "options",
                "at most 32 networks, 256 mounts and 256 devices",
            ));
        }
        for net in &self.nets {
            validate_net(net)?;
        }
        for mount in &self.mounts {
            mount.validate()?;
        }
        for tag in &self.tags {
            if !valid_tag(tag) {
                return Err(PveError::invalid(
                    "--tags",
                    format!("{tag:?} is not a tag ([a-z0-9_][a-z0-9_+.-]*)"),
                ));
            }
        }
        if let Some(f) = &self.features {
            validate_features(f)?;
        }
        if let Some(e) = &self.entrypoint {
            if e.trim().is_empty() || has_control(e) {
                return Err(PveError::invalid(
                    "--entrypoint",
                    "must be a non-empty command line without control characters",
                ));
            }
        }
        for (k, v) in &self.env {
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(PveError::invalid(
                    "--env",
                    format!("{k:?} is not a variable name (\\w+)"),
                ));
            }
            if has_control(v) {
                return Err(PveError::invalid(
                    "--env",
                    format!("the value of {k} contains control characters"),
                ));
            }
        }
        Ok(())
    }

    /// The options of the create call, in a stable order, without `ostemplate`, `vmid`
    /// and `start` (the container starts only after the overrides are applied).
    pub fn create_options(&self) -> Result<Vec<(String, String)>, PveError> {
        self.validate()?;
        let mut o: Vec<(String, String)> = Vec::new();
        let mut push = |k: &str, v: String| o.push((k.to_string(), v));
        if let Some(h) = &self.hostname {
            push("hostname", h.clone());
        }
        if let Some(c) = self.cores {
            push("cores", c.to_string());
        }
        if let Some(m) = self.memory {
            push("memory", m.to_string());
        }
        if let Some(s) = self.swap {
            push("swap", s.to_string());
        }
        push("rootfs", format!("{}:{}", self.rootfs.0, self.rootfs.1));
        for (i, n) in self.nets.iter().enumerate() {
            push(&format!("net{i}"), n.clone());
        }
        for (i, m) in self.mounts.iter().enumerate() {
            push(&format!("mp{i}"), m.property());
        }
        for (i, d) in self.devices.iter().enumerate() {
            push(&format!("dev{i}"), d.property());
        }
        if let Some(f) = &self.features {
            push("features", f.clone());
        }
        if self.onboot {
            push("onboot", "1".into());
        }
        if !self.tags.is_empty() {
            push("tags", self.tags.join(";"));
        }
        push(
            "unprivileged",
            if self.unprivileged { "1" } else { "0" }.into(),
        );
        Ok(o)
    }

    /// What to set after the create: `entrypoint`, and `env` as the image's Env with the
    /// user's variables set over it (NUL-separated, as Proxmox stores it). Empty when the
    /// user overrides nothing.
    pub fn overrides(&self, image_env: &[String]) -> Vec<(String, String)> {
        let mut o = Vec::new();
        if let Some(e) = &self.entrypoint {
            o.push(("entrypoint".to_string(), e.clone()));
        }
        if !self.env.is_empty() {
            o.push((
                "env".to_string(),
                merged_env(image_env, &self.env).join("\0"),
            ));
        }
        o
    }
}

/// The image's Env with `overrides` replacing same-named entries (in place) and new ones
/// appended.
pub fn merged_env(image_env: &[String], overrides: &[(String, String)]) -> Vec<String> {
    let mut env: Vec<String> = image_env.to_vec();
    for (k, v) in overrides {
        let entry = format!("{k}={v}");
        match env
            .iter_mut()
            .find(|e| e.split('=').next() == Some(k.as_str()))
        {
            Some(e) => *e = entry,
            None => env.push(entry),
        }
    }
    env
}

fn range(option: &str, value: Option<u32>, min: u32, max: u32) -> Result<(), PveError> {
    match value {
        Some(v) if v < min || v > max => Err(PveError::invalid(
            option,
            format!("{v} is outside {min}–{max}"),
        )),
        _ => Ok(()),
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Proxmox's storage id (`[a-z][a-z0-9\-_.]*`, any case).
pub fn valid_storage_id(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic())
        && c.all(|x| x.is_ascii_alphanumeric() || matches!(x, '-' | '_' | '.'))
}

fn valid_hostname(h: &str) -> bool {
    h.len() <= 255
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn valid_tag(t: &str) -> bool {
    let mut c = t.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphanumeric() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || matches!(x, '_' | '+' | '.' | '-'))
}

/// `netN`: known keys, a `name`, `ip` dhcp|manual|v4 CIDR, no host-managed with ip6=auto.
fn validate_net(net: &str) -> Result<(), PveError> {
    let bad = |m: String| PveError::invalid(format!("--net {net}"), m);
    let mut name = false;
    let (mut host_managed, mut ip6_auto) = (false, false);
    for part in net.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| bad(format!("{part:?} is not KEY=VALUE")))?;
        match k {
            "name" => name = !v.is_empty() && v.len() <= 15,
            "ip" => {
                if !matches!(v, "dhcp" | "manual") && !is_v4_cidr(v) {
                    return Err(bad(format!("ip={v} is not dhcp, manual or A.B.C.D/NN")));
                }
            }
            "ip6" => ip6_auto = v == "auto",
            "host-managed" => host_managed = v == "1",
            "bridge" | "gw" | "gw6" | "firewall" | "tag" | "rate" | "mtu" | "hwaddr" | "type"
            | "link_down" | "trunks" => {}
            other => return Err(bad(format!("unknown key {other:?}"))),
        }
    }
    if !name {
        return Err(bad("needs name=IFNAME (at most 15 characters)".into()));
    }
    if host_managed && ip6_auto {
        return Err(bad("host-managed=1 cannot be combined with ip6=auto".into()));
    }
    Ok(())
}

fn is_v4_cidr(v: &str) -> bool {
    let Some((addr, len)) = v.split_once('/') else {
        return false;
    };
    addr.parse::<std::net::Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 32)
}

/// `features`: nesting, keyctl, fuse, mknod, force_rw_sys as 0|1, mount as `fs;fs`.
fn validate_features(f: &str) -> Result<(), PveError> {
    for part in f.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| PveError::invalid("--features", format!("{part:?} is not KEY=VALUE")))?;
        let ok = match k {
            "nesting" | "keyctl" | "fuse" | "mknod" | "force_rw_sys" => matches!(v, "0" | "1"),
            "mount" => v
                .split(';')
                .all(|fs| !fs.is_empty() && fs.bytes().all(|b| b.is_ascii_alphanumeric())),
            _ => false,
        };
        if !ok {
            return Err(PveError::invalid(
                "--features",
                format!("{part:?} is not a container feature"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CreateSpec {
        CreateSpec::new(
            VmidChoice::Id(120),
            "local:vztmpl/nginx_1.27.tar",
            ("local-lvm".into(), 8),
        )
    }

    #[test]
    fn options_in_order() {
        let mut s = spec();
        s.hostname = Some("web".into());
        s.memory = Some(1024);
        s.mounts = vec![
            "/srv/media:/media:ro".parse().unwrap(),
            "local-lvm:4:/data".parse().unwrap(),
        ];
        s.devices = vec![Device {
            path: "/dev/dri/renderD128".into(),
            gid: Some(993),
        }];
        s.tags = vec!["web".into(), "oci".into()];
        let o = s.create_options().unwrap();
        let keys: Vec<&str> = o.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "hostname",
                "memory",
                "rootfs",
                "net0",
                "mp0",
                "mp1",
                "dev0",
                "tags",
                "unprivileged"
            ]
        );
        assert_eq!(o[2].1, "local-lvm:8");
        assert_eq!(o[3].1, DEFAULT_NET);
        assert_eq!(o[4].1, "/srv/media,mp=/media,ro=1");
        assert_eq!(o[5].1, "local-lvm:4,mp=/data");
        assert_eq!(o[6].1, "/dev/dri/renderD128,gid=993");
        assert_eq!(o[8].1, "1");
    }

    #[test]
    fn mounts_parse_and_refuse() {
        let m: Mount = "local-lvm:vm-100-disk-1:/d".parse().unwrap();
        assert_eq!(
            m.source,
            MountSource::Volume("local-lvm:vm-100-disk-1".into())
        );
        for bad in [
            "/a",
            "relative:/x",
            "/a:/b/../c",
            "local:0:/x",
            "/a:rel",
            "/a,b:/c",
            "x:y=1:/c",
        ] {
            assert!(bad.parse::<Mount>().is_err(), "{bad}");
        }
    }

    #[test]
    fn refusals() {
        let check = |f: &dyn Fn(&mut CreateSpec)| {
            let mut s = spec();
            f(&mut s);
            s.validate().unwrap_err()
        };
        check(&|s| s.hostname = Some("bad_host".into()));
        check(&|s| s.cores = Some(0));
        check(&|s| s.memory = Some(8));
        check(&|s| s.nets = vec!["bridge=vmbr0".into()]);
        check(&|s| s.nets = vec!["name=eth0,ip=10.0.0.1".into()]);
        check(&|s| s.nets = vec!["name=eth0,host-managed=1,ip6=auto".into()]);
        check(&|s| s.nets = vec!["name=eth0,colour=red".into()]);
        check(&|s| s.tags = vec!["-x".into()]);
        check(&|s| s.features = Some("nesting=yes".into()));
        check(&|s| s.env = vec![("A-B".into(), "1".into())]);
        check(&|s| s.env = vec![("A".into(), "1\n2".into())]);
        check(&|s| s.rootfs = ("local-lvm".into(), 0));
        assert!("99".parse::<VmidChoice>().is_err());
        assert_eq!("auto".parse::<VmidChoice>().unwrap(), VmidChoice::Auto);
    }

    #[test]
    fn overrides_merge_env() {
        let mut s = spec();
        assert!(s.overrides(&[]).is_empty());
        s.env = vec![
            ("NGINX_PORT".into(), "8080".into()),
            ("NEW".into(), "a b".into()),
        ];
        s.entrypoint = Some("/bin/sh -c 'exec nginx'".into());
        let o = s.overrides(&["PATH=/usr/bin".into(), "NGINX_PORT=80".into()]);
        assert_eq!(
            o[0],
            ("entrypoint".into(), "/bin/sh -c 'exec nginx'".into())
        );
        assert_eq!(o[1].1, "PATH=/usr/bin\0NGINX_PORT=8080\0NEW=a b");
    }
}
