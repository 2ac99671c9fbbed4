//! The `pct` stand-in: `create`, `set`, `start`, `stop`, `destroy`, `exec`, `status`,
//! `config`, `list`, following
//! PROXMOX.md — option names and value syntax checked by [`super::options`], create-only
//! keys refused on `set`, the template resolved through storage.cfg (content `vztmpl`),
//! rootfs and new mount volumes only on storages with `rootdir`, device nodes required
//! on the host, the image's values applied after the user's, `--digest` as an
//! optimistic lock. It records the config in `ROOT/etc/pve/lxc/VMID.conf`, each call
//! in `ROOT/pct.log` (one JSON array of arguments per line) and the running state in
//! `ROOT/run/pct-standin/VMID`.
//!
//! Stand-in limit: nothing runs, so `pct exec VMID -- CMD…` cannot run CMD. It refuses
//! as pct does when the container is not running, and otherwise exits with the status
//! written in `ROOT/run/pct-standin/VMID.exec` (0 when that file is absent), printing
//! nothing: tests decide what a health command "returns".

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::config::CtConfig;
use super::oci::image_values;
use super::options::{check, indexed_key, property_string};

/// A refusal: what pct prints on stderr; it exits 255, as pct does when it dies.
pub type Refused = String;

/// The node the stand-in is: file roots for `/` and for `/dev`.
#[derive(Debug, Clone)]
pub struct StandinNode {
    /// Stands for `/`.
    pub root: PathBuf,
    /// Stands for `/` when looking at `/dev`.
    pub dev_root: PathBuf,
}

impl StandinNode {
    fn conf(&self, vmid: u32) -> PathBuf {
        self.root.join(format!("etc/pve/lxc/{vmid}.conf"))
    }

    fn running_flag(&self, vmid: u32) -> PathBuf {
        self.root.join(format!("run/pct-standin/{vmid}"))
    }

    /// `storage.cfg`'s section for `id`: (path, content list). `local` is a dir at
    /// /var/lib/vz with the installer's content when the file does not say otherwise.
    fn storage(&self, id: &str) -> Result<(Option<String>, Vec<String>), Refused> {
        let text =
            std::fs::read_to_string(self.root.join("etc/pve/storage.cfg")).unwrap_or_default();
        let mut section: Option<(String, Option<String>, Option<Vec<String>>)> = None;
        let mut found = None;
        for line in text.lines().chain(std::iter::once("")) {
            if !line.starts_with([' ', '\t']) {
                if let Some(s) = section.take() {
                    if found.is_none() {
                        found = Some(s);
                    }
                }
                if let Some((kind, name)) = line.split_once(':') {
                    if name.trim() == id {
                        section = Some((kind.trim().to_string(), None, None));
                    }
                }
                continue;
            }
            if let Some((_, path, content)) = section.as_mut() {
                let t = line.trim();
                if let Some(p) = t.strip_prefix("path ") {
                    *path = Some(p.trim().to_string());
                } else if let Some(c) = t.strip_prefix("content ") {
                    *content = Some(c.split(',').map(|x| x.trim().to_string()).collect());
                }
            }
        }
        match found {
            Some((kind, path, content)) => {
                let path = path.or_else(|| {
                    matches!(kind.as_str(), "nfs" | "cifs" | "cephfs")
                        .then(|| format!("/mnt/pve/{id}"))
                });
                Ok((path, content.unwrap_or_default()))
            }
            None if id == "local" => Ok((
                Some("/var/lib/vz".into()),
                vec!["iso".into(), "vztmpl".into(), "backup".into()],
            )),
            None => Err(format!("storage '{id}' does not exist")),
        }
    }

    fn require_content(&self, storage: &str, content: &str) -> Result<Option<String>, Refused> {
        let (path, has) = self.storage(storage)?;
        if !has.iter().any(|c| c == content) {
            return Err(format!(
                "storage '{storage}' does not support content-type '{content}'"
            ));
        }
        Ok(path)
    }

    fn exists_anywhere(&self, vmid: u32) -> bool {
        let pve = self.root.join("etc/pve");
        let mut dirs = vec![pve.join("lxc"), pve.join("qemu-server")];
        if let Ok(nodes) = std::fs::read_dir(pve.join("nodes")) {
            for n in nodes.flatten() {
                dirs.push(n.path().join("lxc"));
                dirs.push(n.path().join("qemu-server"));
            }
        }
        dirs.iter().any(|d| d.join(format!("{vmid}.conf")).exists())
    }

    fn write_conf(&self, vmid: u32, config: &CtConfig) -> Result<(), Refused> {
        let path = self.conf(vmid);
        let dir = path.parent().ok_or("bad config path")?;
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let temp = dir.join(format!(".{vmid}.conf.tmp"));
        std::fs::write(&temp, config.render()).map_err(|e| e.to_string())?;
        std::fs::rename(&temp, &path).map_err(|e| e.to_string())
    }

    /// Checks the volumes and devices of `options` against the node.
    fn check_node_resources(&self, options: &BTreeMap<String, String>) -> Result<(), Refused> {
        for (key, value) in options {
            if key == "rootfs" || indexed_key(key, "mp", 255) {
                let volume = property_string(value, Some("volume"))?
                    .remove("volume")
                    .unwrap_or_default();
                if let Some((storage, size)) = volume.split_once(':') {
                    if size.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                        self.require_content(storage, "rootdir")?;
                    }
                }
            }
            if indexed_key(key, "dev", 255) {
                let path = property_string(value, Some("path"))?
                    .remove("path")
                    .unwrap_or_default();
                self.device_exists(&path)?;
            }
        }
        Ok(())
    }

    fn device_exists(&self, path: &str) -> Result<(), Refused> {
        let on_host = self.dev_root.join(path.trim_start_matches('/'));
        if on_host.exists() {
            Ok(())
        } else {
            Err(format!("Device {path} does not exist"))
        }
    }
}

fn vmid(arg: Option<&String>) -> Result<u32, Refused> {
    let arg = arg.ok_or("missing VMID")?;
    match arg.parse::<u32>() {
        Ok(id) if (100..=999_999_999).contains(&id) => Ok(id),
        _ => Err(format!(
            "vmid: invalid format - value does not look like a valid VM ID ({arg})"
        )),
    }
}

/// `--key value` pairs (pct takes each option once).
fn options(args: &[String]) -> Result<BTreeMap<String, String>, Refused> {
    let mut map = BTreeMap::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let key = flag
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument '{flag}'"))?;
        let value = it
            .next()
            .ok_or_else(|| format!("option '{key}' needs a value"))?;
        if map.insert(key.to_string(), value.clone()).is_some() {
            return Err(format!("duplicate option '{key}'"));
        }
    }
    Ok(map)
}

fn checked(options: &BTreeMap<String, String>, create: bool) -> Result<(), Refused> {
    check(options, create, "root@pam").map_err(|r| {
        let mut text = r.message;
        for (k, e) in r.errors {
            text.push_str(&format!("\n{k}: {e}"));
        }
        text
    })
}

/// Runs one pct command line; the output is what pct prints on stdout.
pub fn run(node: &StandinNode, args: &[String]) -> Result<String, Refused> {
    log(node, args);
    let (command, rest) = args.split_first().ok_or("no command given")?;
    match command.as_str() {
        "create" => create(node, rest),
        "set" => set(node, rest),
        "start" => {
            let id = vmid(rest.first())?;
            let config = CtConfig::load(&node.conf(id))?;
            for (key, value) in &config.keys {
                if indexed_key(key, "dev", 255) {
                    let path = property_string(value, Some("path"))?
                        .remove("path")
                        .unwrap_or_default();
                    node.device_exists(&path)?;
                }
            }
            let flag = node.running_flag(id);
            if flag.exists() {
                return Err(format!("CT {id} already running"));
            }
            std::fs::create_dir_all(flag.parent().ok_or("bad path")?).map_err(|e| e.to_string())?;
            std::fs::write(&flag, b"running").map_err(|e| e.to_string())?;
            Ok(String::new())
        }
        "stop" | "shutdown" => {
            let id = vmid(rest.first())?;
            CtConfig::load(&node.conf(id))?;
            let flag = node.running_flag(id);
            if !flag.exists() {
                return Err(format!("CT {id} not running"));
            }
            std::fs::remove_file(&flag).map_err(|e| e.to_string())?;
            Ok(String::new())
        }
        "destroy" => destroy(node, rest),
        "exec" => {
            let id = vmid(rest.first())?;
            CtConfig::load(&node.conf(id))?;
            if rest.get(1).map(String::as_str) != Some("--") || rest.len() < 3 {
                return Err("usage: pct exec <vmid> [-- <command>...]".into());
            }
            if !node.running_flag(id).exists() {
                return Err(format!("CT {id} not running"));
            }
            let status =
                std::fs::read_to_string(node.root.join(format!("run/pct-standin/{id}.exec")))
                    .unwrap_or_default();
            match status.trim() {
                "" | "0" => Ok(String::new()),
                other => Err(format!(
                    "command '{}' failed: exit code {other}",
                    rest[2..].join(" ")
                )),
            }
        }
        "status" => {
            let id = vmid(rest.first())?;
            CtConfig::load(&node.conf(id))?;
            let state = if node.running_flag(id).exists() {
                "running"
            } else {
                "stopped"
            };
            Ok(format!("status: {state}\n"))
        }
        "config" => {
            let id = vmid(rest.first())?;
            Ok(CtConfig::load(&node.conf(id))?.render())
        }
        "list" => {
            let mut ids: Vec<u32> = std::fs::read_dir(node.root.join("etc/pve/lxc"))
                .map(|d| {
                    d.flatten()
                        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".conf")?.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            if ids.is_empty() {
                return Ok(String::new());
            }
            ids.sort();
            let mut out = format!(
                "{:<10} {:<10} {:<12} {}\n",
                "VMID", "Status", "Lock", "Name"
            );
            for id in ids {
                let c = CtConfig::load(&node.conf(id))?;
                let state = if node.running_flag(id).exists() {
                    "running"
                } else {
                    "stopped"
                };
                let name = c.keys.get("hostname").cloned().unwrap_or_default();
                out.push_str(&format!("{id:<10} {state:<10} {:<12} {name}\n", ""));
            }
            Ok(out)
        }
        other => Err(format!("unknown command 'pct {other}'")),
    }
}

fn create(node: &StandinNode, rest: &[String]) -> Result<String, Refused> {
    let id = vmid(rest.first())?;
    let template = rest.get(1).ok_or("missing ostemplate")?;
    let mut opts = options(&rest[2..])?;
    checked(&opts, true)?;
    if node.exists_anywhere(id) {
        return Err(format!("CT {id} already exists on node"));
    }
    let (storage, file) = template
        .split_once(":vztmpl/")
        .ok_or_else(|| format!("unable to parse volume ID '{template}'"))?;
    let path = node
        .require_content(storage, "vztmpl")?
        .ok_or_else(|| format!("storage '{storage}' has no path"))?;
    let archive = node
        .root
        .join(path.trim_start_matches('/'))
        .join("template/cache")
        .join(file);
    if !archive.is_file() {
        return Err(format!("volume '{template}' does not exist"));
    }
    let storage_default = opts.remove("storage").unwrap_or_else(|| "local".into());
    opts.entry("rootfs".into())
        .or_insert_with(|| format!("{storage_default}:4"));
    node.check_node_resources(&opts)?;
    let image = image_values(&archive)?;
    let start = opts.remove("start").is_some_and(|v| v == "1");
    let config = CtConfig::created(id, &opts, &image);
    node.write_conf(id, &config)?;
    if start {
        run(node, &["start".to_string(), id.to_string()])?;
    }
    Ok(String::new())
}

/// `pct destroy VMID`: refused while running (as pct's "CT is running"); removes the
/// config and records the volumes it frees (rootfs and volume mount points, never bind
/// mounts, which are host directories) in `ROOT/destroyed.log`.
fn destroy(node: &StandinNode, rest: &[String]) -> Result<String, Refused> {
    let id = vmid(rest.first())?;
    let config = CtConfig::load(&node.conf(id))?;
    if node.running_flag(id).exists() {
        return Err(format!("unable to destroy CT {id} - container is running"));
    }
    let mut freed = Vec::new();
    for (key, value) in &config.keys {
        if key == "rootfs" || indexed_key(key, "mp", 255) {
            let volume = property_string(value, Some("volume"))?
                .remove("volume")
                .unwrap_or_default();
            if !volume.starts_with('/') {
                freed.push(volume);
            }
        }
    }
    std::fs::remove_file(node.conf(id)).map_err(|e| e.to_string())?;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(node.root.join("destroyed.log"))
    {
        let _ = writeln!(f, "{}", freed.join(" "));
    }
    Ok(String::new())
}

fn set(node: &StandinNode, rest: &[String]) -> Result<String, Refused> {
    let id = vmid(rest.first())?;
    let mut opts = options(&rest[1..])?;
    checked(&opts, false)?;
    let mut config = CtConfig::load(&node.conf(id))?;
    if let Some(digest) = opts.remove("digest") {
        if digest != config.digest() {
            return Err(
                "detected modified configuration - file changed by other user? Try again.".into(),
            );
        }
    }
    if let Some(delete) = opts.remove("delete") {
        for key in delete.split([',', ';', ' ']).filter(|k| !k.is_empty()) {
            config.keys.remove(key);
        }
    }
    node.check_node_resources(&opts)?;
    config.set_options(id, &opts);
    node.write_conf(id, &config)?;
    Ok(String::new())
}

fn log(node: &StandinNode, args: &[String]) {
    let line = serde_json::to_string(args).unwrap_or_default();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(node.root.join("pct.log"))
    {
        let _ = writeln!(f, "{line}");
    }
}

/// The calls recorded in `root/pct.log`.
pub fn calls(root: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(root.join("pct.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
