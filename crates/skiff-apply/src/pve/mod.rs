//! The `pve` backend: containers on this Proxmox VE node, through `pct` (skiff-pve's
//! [`CreateSpec`] and pct steps, the same code as `skiff pve create`).
//!
//! * State is the node's own: each `/etc/pve/lxc/VMID.conf`, found by hostname, with
//!   skiff's marker (tag `skiff` plus a `skiff: managed …` description line, see
//!   [`config`]); `pct status` says whether it runs. A container of that hostname
//!   without the marker is never touched.
//! * Create: the image's template in a storage's template cache (pulled as `skiff pve
//!   pull` does, through [`Images::template`]), then `pct create` with the file's keys
//!   and the marker, `pct set` for the entrypoint override and the env written over the
//!   image's, as `skiff pve create` does. Mounts are bind mounts of host directories:
//!   a mount without `source` is a directory under `--data-dir` (not a `STORAGE:N`
//!   volume), so that no pct command apply runs can delete the data.
//! * Update: `pct set` with the keys whose fields changed (`--delete` for the ones the
//!   file dropped); Proxmox applies memory, swap, cores, tags, onboot and new network
//!   settings at once and keeps the rest pending until the restart apply then does.
//! * Replace (new digest, or a create-only key changed): the new template is fetched
//!   first, then the container is shut down, `pct destroy`ed and created again under the
//!   same VMID and hostname with the same bind mounts. `pct destroy` frees the root disk
//!   and volume mount points only — never bind mount sources — and apply refuses to
//!   replace or destroy a container that has a volume mount point (added by hand), whose
//!   data `pct destroy` would take. Killed between the destroy and the create, the
//!   container is absent and the next apply creates it (the data is in the bind mounts).

pub(crate) mod config;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use skiff_pve::gpu;
use skiff_pve::pct::{self, Pct, Step};
use skiff_pve::spec::{Mount, MountSource};
use skiff_pve::template::OciTemplate;
use skiff_pve::{CreateSpec, NodeRoot, StorageConfig, VmidChoice};

use crate::backend::{Backend, Images, Live, Observed, Target};
use crate::plan::Effect;
use crate::{ApplyError, Desired, Gpu};
use config::CtConfig;

/// How long `start` waits for `running`, and `health` for its command.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);

/// Containers on one Proxmox VE node.
#[derive(Debug, Clone)]
pub struct PveBackend {
    root: NodeRoot,
    pct: Pct,
}

impl PveBackend {
    /// The backend for the node whose files are under `root`, driving `pct`.
    pub fn new(root: NodeRoot, pct: Pct) -> Self {
        PveBackend { root, pct }
    }

    fn unsupported(d: &Desired, key: &'static str, why: &str) -> ApplyError {
        ApplyError::Unsupported {
            container: d.name.clone(),
            backend: "pve",
            key,
            why: why.to_string(),
        }
    }

    fn run(&self, args: &[String]) -> Result<String, ApplyError> {
        Ok(self.pct.run(&Step::Pct(args.to_vec()), &self.root)?)
    }

    fn run_vmid(&self, command: &str, vmid: u32) -> Result<String, ApplyError> {
        self.run(&[command.to_string(), vmid.to_string()])
    }

    /// Every container config of this node.
    fn configs(&self) -> Result<Vec<CtConfig>, ApplyError> {
        let dir = self.root.path("/etc/pve/lxc");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ApplyError::io("reading", &dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(vmid) = name.strip_suffix(".conf").and_then(|v| v.parse().ok()) else {
                continue;
            };
            let path = entry.path();
            let text = std::fs::read_to_string(&path).map_err(ApplyError::io("reading", &path))?;
            out.push(CtConfig::parse(vmid, &text));
        }
        out.sort_by_key(|c| c.vmid);
        Ok(out)
    }

    /// The container named `name`: a managed one if there is one, else any.
    fn find(&self, name: &str) -> Result<Option<CtConfig>, ApplyError> {
        let mut named: Vec<CtConfig> = self
            .configs()?
            .into_iter()
            .filter(|c| c.hostname() == name)
            .collect();
        let managed = named.iter().position(|c| c.marker().is_some());
        Ok(match managed {
            Some(i) => Some(named.swap_remove(i)),
            None => named.into_iter().next(),
        })
    }

    /// The managed container named `name`, or [`ApplyError::Unmanaged`].
    fn managed_config(&self, name: &str) -> Result<CtConfig, ApplyError> {
        self.find(name)?
            .filter(|c| c.marker().is_some())
            .ok_or_else(|| ApplyError::Unmanaged(name.to_string()))
    }

    fn running(&self, vmid: u32) -> Result<bool, ApplyError> {
        Ok(self.run_vmid("status", vmid)?.contains("status: running"))
    }

    /// The root disk's storage: the file's, else the first with `rootdir` content (the
    /// installer's `local` has none).
    fn rootfs_storage(&self, d: &Desired) -> Result<String, ApplyError> {
        let storages = StorageConfig::load(&self.root)?;
        if let Some(id) = &d.proxmox.storage {
            storages.get(id)?.require("rootdir")?;
            return Ok(id.clone());
        }
        storages
            .storages
            .iter()
            .find(|s| s.has_content("rootdir"))
            .map(|s| s.id.clone())
            .ok_or_else(|| Self::unsupported(d, "storage", "no storage in /etc/pve/storage.cfg has rootdir content; name one with `storage:`"))
    }

    /// The create spec for `t` from `template`, and the image's Env.
    fn spec(
        &self,
        t: &Target<'_>,
        template: &crate::Template,
        vmid: VmidChoice,
    ) -> Result<(CreateSpec, Vec<String>), ApplyError> {
        let d = t.desired;
        let image = OciTemplate::open(&template.path)?;
        let rootfs = (self.rootfs_storage(d)?, config::disk_gib(d));
        let mut spec = base_spec(t, template.volid.clone(), rootfs, vmid);
        let kind = match d.proxmox.gpu {
            None | Some(Gpu::None) => None,
            Some(Gpu::Nvidia) => Some(gpu::Gpu::Nvidia),
            Some(Gpu::Any | Gpu::Intel | Gpu::Amd) => Some(gpu::Gpu::Dri),
        };
        if let Some(kind) = kind {
            let group = image
                .read_rootfs_file("etc/group")?
                .map(|g| String::from_utf8_lossy(&g).into_owned());
            spec.devices = gpu::devices(kind, &self.root, group.as_deref())?;
        }
        spec.validate()?;
        Ok((spec, image.runtime()?.env.unwrap_or_default()))
    }

    /// Fetches the template, then creates `t` as `vmid` (stopped).
    async fn build(
        &self,
        t: &Target<'_>,
        images: &dyn Images,
        vmid: VmidChoice,
    ) -> Result<(), ApplyError> {
        let template = images.template(&t.desired.image, &t.digest).await?;
        self.create_from(t, &template, vmid)
    }

    fn create_from(
        &self,
        t: &Target<'_>,
        template: &crate::Template,
        vmid: VmidChoice,
    ) -> Result<(), ApplyError> {
        let (spec, image_env) = self.spec(t, template, vmid)?;
        make_mount_sources(t.desired)?;
        let vmid = pct::choose_vmid(spec.vmid, &self.root)?;
        for step in pct::plan(&spec, vmid, &image_env)? {
            self.pct.run(&step, &self.root)?;
        }
        Ok(())
    }

    fn shutdown(&self, vmid: u32) -> Result<(), ApplyError> {
        if self.running(vmid)? {
            self.run_vmid("shutdown", vmid)?;
        }
        Ok(())
    }
}

/// Refuses when destroying the container (`command`) would take data: a mount point on
/// a storage volume, or an unused disk.
pub(crate) fn refuse_volumes(
    c: &CtConfig,
    name: &str,
    doing: &str,
    command: String,
) -> Result<(), ApplyError> {
    for (key, value) in &c.keys {
        if config::frees_volume(key, value) {
            let volume = config::properties(value, "volume")
                .remove("volume")
                .unwrap_or_default();
            return Err(ApplyError::Tool {
                command,
                message: format!("not run: {doing} {name} would delete its {key} ({volume}), a storage volume; move the data to a host directory (a bind mount) first"),
            });
        }
    }
    Ok(())
}

/// The create spec of `t` from the template `volid` with the root disk `rootfs`, before
/// what depends on the node's files (devices): the keys both pve backends write.
pub(crate) fn base_spec(
    t: &Target<'_>,
    volid: String,
    rootfs: (String, u32),
    vmid: VmidChoice,
) -> CreateSpec {
    let d = t.desired;
    let mut spec = CreateSpec::new(vmid, volid, rootfs);
    spec.hostname = Some(d.name.clone());
    spec.cores = d.cores;
    let mib = |m: Option<crate::Mib>| m.map(|m| u32::try_from(m.0).unwrap_or(u32::MAX));
    spec.memory = mib(d.memory);
    spec.swap = mib(d.swap);
    spec.nets = vec![config::net(d)];
    spec.mounts = d
        .mounts
        .iter()
        .map(|m| Mount {
            source: MountSource::Bind(m.source.clone().unwrap_or_default()),
            target: m.target.clone(),
            read_only: m.readonly,
            backup: m.backup,
        })
        .collect();
    spec.features = d.proxmox.features.clone();
    spec.onboot = d.onboot;
    spec.tags = config::tags(d);
    spec.unprivileged = config::unprivileged(d);
    spec.entrypoint = config::entrypoint(d);
    spec.env = t.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    spec.description = Some(config::description(t));
    spec
}

/// The `pct set` arguments (`set VMID --key value … [--delete k1,k2]`, the keys of
/// `PUT …/config` too) that bring `c` to `t` (without create-only and replace fields),
/// and whether the env must be rewritten.
pub(crate) fn set_args(t: &Target<'_>, c: &CtConfig) -> (Vec<String>, bool) {
    let d = t.desired;
    let mut want: BTreeMap<String, String> = BTreeMap::new();
    if let Some(x) = d.cores {
        want.insert("cores".into(), x.to_string());
    }
    let fields = config::wanted(d, &t.env, "");
    for key in ["memory", "swap"] {
        want.insert(key.into(), fields[key].clone());
    }
    if let Some(x) = &d.proxmox.features {
        want.insert("features".into(), x.clone());
    }
    want.insert("onboot".into(), if d.onboot { "1" } else { "0" }.into());
    want.insert("tags".into(), config::tags(d).join(";"));
    for (i, m) in d.mounts.iter().enumerate() {
        let source = m.source.as_deref().unwrap_or(Path::new(""));
        let mp = Mount {
            source: MountSource::Bind(source.to_path_buf()),
            target: m.target.clone(),
            read_only: m.readonly,
            backup: m.backup,
        };
        want.insert(format!("mp{i}"), mp.property());
    }
    let mut args = vec!["set".to_string(), c.vmid.to_string()];
    let description = config::description(t);
    if c.description != description {
        args.extend(["--description".into(), description]);
    }
    let net = config::net(d);
    let live_net = c.keys.get("net0").cloned().unwrap_or_default();
    if config::canonical_net(&net) != config::canonical_net(&live_net) {
        // Keep the MAC address: a DHCP lease or a firewall may know it.
        let hwaddr = config::properties(&live_net, "name").remove("hwaddr");
        let value = match hwaddr {
            Some(h) if !net.contains("hwaddr=") => format!("{net},hwaddr={h}"),
            _ => net,
        };
        args.extend(["--net0".into(), value]);
    }
    for (key, value) in &want {
        let live = c.keys.get(key);
        let same = match key.as_str() {
            "memory" | "swap" => live.map_or("512", String::as_str) == value,
            "onboot" => live.map_or("0", String::as_str) == value,
            k if config::indexed(k, "mp") => live.is_some_and(|l| {
                let strip = |v: &str| {
                    let mut p = config::properties(v, "volume");
                    p.remove("size");
                    p
                };
                strip(l) == strip(value)
            }),
            _ => live == Some(value),
        };
        if !same {
            args.extend([format!("--{key}"), value.clone()]);
        }
    }
    let dropped: Vec<String> = c
        .keys
        .iter()
        .filter(|(k, v)| {
            (matches!(k.as_str(), "cores" | "features") || config::bind_mount(k, v))
                && !want.contains_key(*k)
        })
        .map(|(k, _)| k.clone())
        .collect();
    if !dropped.is_empty() {
        args.extend(["--delete".into(), dropped.join(",")]);
    }
    let live_env = c.env();
    let env_changed = t
        .env
        .iter()
        .any(|(k, v)| !live_env.contains(&format!("{k}={v}")))
        || c.marker()
            .and_then(|m| m.get("env").cloned())
            .is_some_and(|keys| {
                keys.split(',')
                    .filter(|k| !k.is_empty())
                    .any(|k| !t.env.contains_key(k))
            });
    (args, env_changed)
}

/// The `env` value for `t` over `c`'s: the variables the file set (by an earlier apply,
/// per the marker) and no longer sets are removed, the file's set over the rest.
pub(crate) fn env_value(t: &Target<'_>, c: &CtConfig) -> String {
    let keys: Vec<(String, String)> = t.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let dropped: Vec<String> = c
        .marker()
        .and_then(|m| m.get("env").cloned())
        .unwrap_or_default()
        .split(',')
        .filter(|k| !k.is_empty() && !t.env.contains_key(*k))
        .map(String::from)
        .collect();
    let base: Vec<String> = c
        .env()
        .into_iter()
        .filter(|e| !dropped.iter().any(|k| e.starts_with(&format!("{k}="))))
        .collect();
    skiff_pve::spec::merged_env(&base, &keys).join("\0")
}

/// The checks of the file's keys both pve backends make: a valid VMID, and a command
/// only with its entrypoint.
pub(crate) fn check_keys(d: &Desired, backend: &'static str) -> Result<(), ApplyError> {
    if let Some(id) = d.proxmox.vmid {
        id.to_string().parse::<VmidChoice>()?;
    }
    if d.command.is_some() && d.entrypoint.is_none() {
        return Err(ApplyError::Unsupported {
            container: d.name.clone(),
            backend,
            key: "command",
            why: "Proxmox keeps one command line (the image's Entrypoint+Cmd); give `entrypoint:` too so that apply can write the whole line".into(),
        });
    }
    Ok(())
}

/// How a change of `field` reaches a running Proxmox container (PROXMOX.md, live vs
/// pending): the same for pct and the API.
pub(crate) fn effect(field: &str) -> Effect {
    match field {
        "memory" | "swap" | "cores" | "onboot" | "tags" | "image" | "net0" => Effect::Live,
        // Create-only keys, and what only a fresh create from the template restores
        // (the image's entrypoint, device gids from the image's /etc/group).
        "unprivileged" | "disk" | "storage" | "entrypoint" | "gpu" => Effect::Replace,
        _ => Effect::Restart,
    }
}

/// Creates missing bind mount sources: Proxmox refuses to start with a missing one.
fn make_mount_sources(d: &Desired) -> Result<(), ApplyError> {
    for src in d.mounts.iter().filter_map(|m| m.source.as_deref()) {
        std::fs::create_dir_all(src).map_err(ApplyError::io("creating mount source", src))?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl Backend for PveBackend {
    fn name(&self) -> &'static str {
        "pve"
    }

    fn check(&self, d: &Desired) -> Result<(), ApplyError> {
        if let Some(node) = &d.proxmox.node {
            let local = skiff_pve::root::local_node_name()?;
            if *node != local {
                return Err(Self::unsupported(
                    d,
                    "node",
                    &format!("this is node {local:?}; the pve backend drives this node's pct only (pve-api reaches a cluster)"),
                ));
            }
        }
        check_keys(d, "pve")
    }

    fn fields(&self, d: &Desired, env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let storage = self.rootfs_storage(d).unwrap_or_default();
        config::wanted(d, env, &storage)
    }

    fn effect(&self, field: &str) -> Effect {
        effect(field)
    }

    fn host_address(&self, name: &str) -> String {
        // Each container has its own address on the bridge; its hostname is the name.
        name.to_string()
    }

    fn observe(&self, name: &str) -> Result<Observed, ApplyError> {
        let Some(c) = self.find(name)? else {
            return Ok(Observed::Absent);
        };
        if c.marker().is_none() {
            return Ok(Observed::Unmanaged);
        }
        let running = self.running(c.vmid)?;
        Ok(c.live(running)
            .map_or(Observed::Unmanaged, Observed::Managed))
    }

    fn managed(&self) -> Result<Vec<(String, Live)>, ApplyError> {
        let mut out = Vec::new();
        for c in self.configs()? {
            if c.marker().is_none() {
                continue;
            }
            let running = self.running(c.vmid)?;
            if let Some(live) = c.live(running) {
                out.push((c.hostname(), live));
            }
        }
        Ok(out)
    }

    async fn create(&self, t: &Target<'_>, images: &dyn Images) -> Result<(), ApplyError> {
        if self.find(&t.desired.name)?.is_some() {
            return Err(ApplyError::Unmanaged(t.desired.name.clone()));
        }
        let vmid = t
            .desired
            .proxmox
            .vmid
            .map_or(VmidChoice::Auto, VmidChoice::Id);
        self.build(t, images, vmid).await
    }

    async fn replace(&self, t: &Target<'_>, images: &dyn Images) -> Result<(), ApplyError> {
        let name = &t.desired.name;
        let old = self.managed_config(name)?;
        refuse_volumes(&old, name, "replacing", format!("pct destroy {}", old.vmid))?;
        // Everything that can fail without the container is done before it goes.
        let template = images.template(&t.desired.image, &t.digest).await?;
        let vmid = VmidChoice::Id(t.desired.proxmox.vmid.unwrap_or(old.vmid));
        self.spec(t, &template, vmid)?;
        self.shutdown(old.vmid)?;
        self.run_vmid("destroy", old.vmid)?;
        self.create_from(t, &template, vmid)
    }

    fn update(&self, t: &Target<'_>, _live: &[String]) -> Result<(), ApplyError> {
        let c = self.managed_config(&t.desired.name)?;
        let (args, env_changed) = set_args(t, &c);
        if args.len() > 2 {
            self.run(&args)?;
        }
        if env_changed {
            let value = env_value(t, &c);
            self.pct.run(
                &Step::WriteEnv {
                    vmid: c.vmid,
                    value,
                },
                &self.root,
            )?;
        }
        Ok(())
    }

    fn start(&self, name: &str) -> Result<(), ApplyError> {
        let c = self.managed_config(name)?;
        self.run_vmid("start", c.vmid)?;
        let begun = Instant::now();
        while !self.running(c.vmid)? {
            if begun.elapsed() >= START_TIMEOUT {
                return Err(ApplyError::Tool {
                    command: format!("pct start {}", c.vmid),
                    message: format!("not running after {}s", START_TIMEOUT.as_secs()),
                });
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(())
    }

    fn stop(&self, name: &str) -> Result<(), ApplyError> {
        let c = self.managed_config(name)?;
        self.shutdown(c.vmid)
    }

    fn health(&self, name: &str, command: &str) -> Result<(), ApplyError> {
        let c = self.managed_config(name)?;
        let args = [
            "exec".to_string(),
            c.vmid.to_string(),
            "--".into(),
            "sh".into(),
            "-c".into(),
            command.to_string(),
        ];
        let begun = Instant::now();
        loop {
            let last = match self.run(&args) {
                Ok(_) => return Ok(()),
                Err(e) => e.to_string(),
            };
            if begun.elapsed() >= HEALTH_TIMEOUT {
                return Err(ApplyError::Unhealthy {
                    container: name.to_string(),
                    command: command.to_string(),
                    seconds: HEALTH_TIMEOUT.as_secs(),
                    output: last,
                });
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn destroy(&self, name: &str) -> Result<(), ApplyError> {
        let c = self.managed_config(name)?;
        refuse_volumes(&c, name, "destroying", format!("pct destroy {}", c.vmid))?;
        self.shutdown(c.vmid)?;
        self.run_vmid("destroy", c.vmid).map(drop)
    }
}
