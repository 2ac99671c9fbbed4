//! The LXC config apply writes, and reading it back.
//!
//! The config is the state: apply's marker (comment lines starting `# skiff:`) says
//! which image digest, file and spec the container was made from, and the fields apply
//! controls are read back from the real keys (`lxc.cgroup2.memory.max` or its v1 twin,
//! `lxc.mount.entry`, …) — so a hand edit shows up as a change in the next plan.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use skiff_lxc::{lxc_config, ContainerSpec, LxcConfigOptions};
use skiff_oci::{Digest, ImageConfiguration};
use skiff_unpack::IdMap;

use super::cgroup::{Cgroup, Limits};
use crate::backend::{Live, Target};
use crate::{ApplyError, Desired};

/// The first line of every config apply writes; a config without it is not apply's.
pub(crate) const MARKER: &str = "# skiff: managed";

/// The fields apply controls, as written for `d` (see `Backend::fields`).
pub(crate) fn fields(d: &Desired, env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    f.insert("image".into(), d.image.clone());
    if let Some(c) = d.cores {
        f.insert("cores".into(), c.to_string());
    }
    if let Some(m) = d.memory {
        f.insert("memory".into(), m.to_string());
    }
    if let Some(s) = d.swap {
        f.insert("swap".into(), s.to_string());
    }
    f.insert("onboot".into(), d.onboot.to_string());
    f.insert("unprivileged".into(), unprivileged(d).to_string());
    if let Some(e) = &d.entrypoint {
        f.insert("entrypoint".into(), json(e));
    }
    if let Some(c) = &d.command {
        f.insert("command".into(), json(c));
    }
    for (k, v) in env {
        f.insert(format!("env.{k}"), v.clone());
    }
    for m in &d.mounts {
        let src = m
            .source
            .as_deref()
            .unwrap_or(Path::new(""))
            .display()
            .to_string();
        let ro = if m.readonly { " (read-only)" } else { "" };
        f.insert(format!("mount.{}", m.target), format!("{src}{ro}"));
    }
    f
}

fn json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The resource limits the file sets for `d`.
pub(crate) fn limits(d: &Desired) -> Limits {
    Limits {
        memory: d.memory.map(|m| m.0),
        swap: d.swap.map(|m| m.0),
        cores: d.cores,
    }
}

/// Whether `d` runs unprivileged: unset, privileged, as lxc-create run by root makes it.
pub(crate) fn unprivileged(d: &Desired) -> bool {
    d.unprivileged.unwrap_or(false)
}

/// The id map of an (un)privileged container.
pub(crate) fn id_map(unprivileged: bool) -> IdMap {
    if unprivileged {
        IdMap::proxmox_unprivileged()
    } else {
        IdMap::identity()
    }
}

/// The argv the container runs: Docker's rules for overriding Entrypoint and Cmd (a new
/// entrypoint drops the image's Cmd unless `command` is given too).
pub(crate) fn argv(d: &Desired, image: &ImageConfiguration) -> Vec<String> {
    let c = image.config().clone().unwrap_or_default();
    let ep = d
        .entrypoint
        .clone()
        .unwrap_or_else(|| c.entrypoint().clone().unwrap_or_default());
    let cmd = match (&d.command, &d.entrypoint) {
        (Some(cmd), _) => cmd.clone(),
        (None, Some(_)) => Vec::new(),
        (None, None) => c.cmd().clone().unwrap_or_default(),
    };
    ep.into_iter().chain(cmd).collect()
}

/// Whether the host enforces AppArmor. Without it LXC's default profile cannot load, and
/// a container only starts unconfined — which is then no loss of confinement.
fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// The whole config for `t`, with `rootfs` its root filesystem and `image` the image's
/// configuration; `spec` is the image's runtime facts (resolved inside `rootfs`) with the
/// entrypoint already set to [`argv`]. `lxc.init.cmd` comes from skiff-lxc, which runs an
/// argv with spaces or quotes through its launcher (installed by the caller).
pub(crate) fn render(
    t: &Target<'_>,
    mut spec: ContainerSpec,
    rootfs: &Path,
) -> Result<String, ApplyError> {
    let d = t.desired;
    spec.env.retain(|e| {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        !t.env.contains_key(key)
    });
    let mut extra: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| extra.push((k.to_string(), v));
    // The container shares the host's network (no bridge is assumed on a plain LXC
    // host); `${host:…}` is therefore 127.0.0.1.
    set("lxc.net.0.type", "none".into());
    if !apparmor_enabled() {
        set("lxc.apparmor.profile", "unconfined".into());
    }
    set("lxc.start.auto", if d.onboot { "1" } else { "0" }.into());
    let cg = Cgroup::detect();
    for (k, v) in cg.settings(limits(d)) {
        set(&format!("{}{k}", cg.prefix()), v);
    }
    for m in &d.mounts {
        let src = m.source.as_deref().unwrap_or(Path::new("/nonexistent"));
        let ro = if m.readonly { ",ro" } else { "" };
        let target = m.target.trim_start_matches('/');
        set(
            "lxc.mount.entry",
            format!("{} {target} none bind,create=dir{ro} 0 0", src.display()),
        );
    }
    for (k, v) in &t.env {
        set("lxc.environment", format!("{k}={v}"));
    }
    let options = LxcConfigOptions {
        name: d.name.clone(),
        rootfs: rootfs.to_path_buf(),
        id_map: id_map(unprivileged(d)),
        extra,
    };
    let mut out = String::new();
    let app = d.app.as_deref().unwrap_or("-");
    let _ = writeln!(
        out,
        "{MARKER} app={app} digest={} spec={}",
        t.digest, t.hash
    );
    let _ = writeln!(out, "# skiff: image {}", d.image);
    let _ = writeln!(out, "# skiff: file {}", t.file.display());
    let keys: Vec<&str> = t.env.keys().map(String::as_str).collect();
    let _ = writeln!(out, "# skiff: env {}", keys.join(" "));
    if let Some(e) = &d.entrypoint {
        let _ = writeln!(out, "# skiff: entrypoint {}", json(e));
    }
    if let Some(c) = &d.command {
        let _ = writeln!(out, "# skiff: command {}", json(c));
    }
    out.push_str(&lxc_config(&spec, &options));
    Ok(out)
}

/// A config apply wrote, read back.
pub(crate) struct Parsed {
    /// What the marker and keys say.
    pub live: Live,
    /// `lxc.rootfs.path` without its `dir:` prefix.
    pub rootfs: PathBuf,
}

/// Reads a config; `None` when it has no marker (not apply's container).
pub(crate) fn parse(text: &str) -> Option<Parsed> {
    let mut lines = text.lines();
    let first = lines.next()?.strip_prefix(MARKER)?;
    let word = |k: &str| {
        first
            .split_whitespace()
            .find_map(|w| w.strip_prefix(k)?.strip_prefix('='))
            .map(str::to_string)
    };
    let digest: Digest = word("digest")?.parse().ok()?;
    let spec_hash = word("spec")?;
    let (mut image, mut file, mut env_keys) = (String::new(), PathBuf::new(), Vec::new());
    let mut fields = BTreeMap::new();
    let mut env = BTreeMap::new();
    let mut rootfs = PathBuf::new();
    let mut unprivileged = false;
    let mut onboot = false;
    let mut cgroup = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# skiff: ") {
            let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
            match k {
                "image" => image = v.to_string(),
                "file" => file = PathBuf::from(v),
                "env" => env_keys = v.split_whitespace().map(str::to_string).collect(),
                "entrypoint" | "command" => {
                    fields.insert(k.to_string(), v.to_string());
                }
                _ => {}
            }
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "lxc.rootfs.path" => rootfs = PathBuf::from(v.strip_prefix("dir:").unwrap_or(v)),
            "lxc.idmap" => unprivileged = true,
            "lxc.start.auto" => onboot = v == "1",
            "lxc.mount.entry" => {
                let parts: Vec<&str> = v.split_whitespace().collect();
                if let [src, target, _, opts, ..] = parts[..] {
                    let ro = if opts.split(',').any(|o| o == "ro") {
                        " (read-only)"
                    } else {
                        ""
                    };
                    fields.insert(format!("mount./{target}"), format!("{src}{ro}"));
                }
            }
            "lxc.environment" => {
                if let Some((ek, ev)) = v.split_once('=') {
                    env.insert(ek.to_string(), ev.to_string());
                }
            }
            _ => {
                let limit = k
                    .strip_prefix("lxc.cgroup2.")
                    .or_else(|| k.strip_prefix("lxc.cgroup."));
                if let Some(key) = limit {
                    cgroup.insert(key.to_string(), v.to_string());
                }
            }
        }
    }
    fields.extend(Cgroup::fields(&cgroup));
    for k in env_keys {
        if let Some(v) = env.get(&k) {
            fields.insert(format!("env.{k}"), v.clone());
        }
    }
    fields.insert("image".into(), image.clone());
    fields.insert("onboot".into(), onboot.to_string());
    fields.insert("unprivileged".into(), unprivileged.to_string());
    Some(Parsed {
        live: Live {
            image,
            digest,
            file,
            spec_hash,
            running: false,
            fields,
        },
        rootfs,
    })
}
