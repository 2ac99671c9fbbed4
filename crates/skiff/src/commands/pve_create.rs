//! `pve create VMID|auto IMAGE`: the template found or pulled, the [`CreateSpec`] built
//! from the flags and the image (GPU gids from its /etc/group, `--env` over its Env),
//! then pct run step by step — or, with `--dry-run`, the steps printed.

use skiff_pve::gpu::{self, Gpu};
use skiff_pve::pct::{self, Pct, Step};
use skiff_pve::spec::{Mount, MountSource};
use skiff_pve::template::OciTemplate;
use skiff_pve::{CreateSpec, NodeRoot, PveError, StorageConfig, VmidChoice};

use std::path::PathBuf;

use super::pve::{check_node, pull_into, template_place};
use crate::cli::{CacheArgs, GlobalOptions, GpuArg, PveCreateArgs, TemplatePlace};
use crate::failure::Failure;
use crate::options::RegistryFlags;
use crate::output::{print_json, print_line, stderr_line};

/// How often `auto` asks for a new VMID when another create took the proposed one.
const VMID_ATTEMPTS: u32 = 5;

/// `--disk`: whole GiB, `8` or `8G`/`8GiB`.
fn disk_gib(s: &str) -> Result<u32, Failure> {
    let digits = s.trim_end_matches("GiB").trim_end_matches('G');
    match digits.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Failure::new(format!(
            "--disk {s}: give whole GiB, e.g. 8 or 8G"
        ))),
    }
}

/// `--env K=V`.
fn env_pair(s: &str) -> Result<(String, String), Failure> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| Failure::new(format!("--env {s}: expected KEY=VALUE")))
}

/// The root disk's storage: the one named, else the first with rootdir content — never
/// `local` by assumption (the installer's has no rootdir).
fn rootfs_storage(storages: &StorageConfig, named: Option<&str>) -> Result<String, Failure> {
    if let Some(id) = named {
        storages.get(id)?.require("rootdir")?;
        return Ok(id.to_string());
    }
    storages
        .storages
        .iter()
        .find(|s| s.has_content("rootdir"))
        .map(|s| s.id.clone())
        .ok_or_else(|| {
            Failure::new("no storage in /etc/pve/storage.cfg has rootdir content")
                .hint("name one with --rootfs-storage (e.g. local-lvm or local-zfs)")
        })
}

/// The template to create from: a volid as given, or the reference's template in
/// --storage, pulled when missing (not under --dry-run, which changes nothing).
async fn template(
    global: &GlobalOptions,
    root: &NodeRoot,
    args: &PveCreateArgs,
) -> Result<(String, Option<OciTemplate>), Failure> {
    if let Some((storage, file)) = args.image.split_once(":vztmpl/") {
        let storages = StorageConfig::load(root)?;
        let path = root
            .path(storages.get(storage)?.template_cache()?)
            .join(file);
        if file.contains('/') || !path.is_file() {
            return Err(Failure::new(format!("{}: no such template", args.image)));
        }
        return Ok((args.image.clone(), Some(OciTemplate::open(&path)?)));
    }
    let written = args.image.strip_prefix("docker://").unwrap_or(&args.image);
    let flags = args.pull.registry_flags();
    let (volid, path) = cached_or_pulled(
        global,
        root,
        written,
        &args.place,
        &flags,
        &args.pull.cache,
        args.dry_run,
    )
    .await?;
    Ok((volid, path.map(|p| OciTemplate::open(&p)).transpose()?))
}

/// The template of `written` in `place`: the one the cache has, else pulled — except
/// under `dry_run`, which changes nothing and returns no path for a missing one.
pub async fn cached_or_pulled(
    global: &GlobalOptions,
    root: &NodeRoot,
    written: &str,
    place: &TemplatePlace,
    flags: &RegistryFlags,
    blob_cache: &CacheArgs,
    dry_run: bool,
) -> Result<(String, Option<PathBuf>), Failure> {
    super::pve::pull_reference(written)?;
    let (file, cache) = template_place(root, place, written)?;
    let volid = skiff_pve::volid(&place.storage, &file);
    let path = cache.join(&file);
    if path.is_file() {
        return Ok((volid, Some(path)));
    }
    if dry_run {
        print_line(&format!(
            "# pull {written} into {volid} ({})",
            path.display()
        ))?;
        return Ok((volid, None));
    }
    let pulled = pull_into(global, root, written, place, flags, blob_cache).await?;
    Ok((pulled.volid, Some(pulled.path)))
}

/// The spec the flags alone describe (no storage or device of the node consulted):
/// shared by one-node and cluster mode.
pub fn flag_spec(
    args: &PveCreateArgs,
    ostemplate: String,
    rootfs_storage: String,
) -> Result<CreateSpec, Failure> {
    let vmid: VmidChoice = args.vmid.parse()?;
    let mut spec = CreateSpec::new(vmid, ostemplate, (rootfs_storage, disk_gib(&args.disk)?));
    spec.hostname = args.hostname.clone();
    spec.cores = args.cores;
    spec.memory = args.memory;
    spec.swap = args.swap;
    if !args.net.is_empty() {
        spec.nets = args.net.clone();
    }
    spec.mounts = args
        .mount
        .iter()
        .map(|m| m.parse::<Mount>())
        .collect::<Result<_, _>>()?;
    spec.features = args.features.clone();
    spec.onboot = args.onboot;
    spec.start = args.start;
    spec.tags = args
        .tags
        .iter()
        .flat_map(|t| t.split([';', ',']))
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect();
    spec.tags.sort();
    spec.tags.dedup();
    spec.unprivileged = args.unprivileged;
    spec.entrypoint = args.entrypoint.clone();
    spec.env = args
        .env
        .iter()
        .map(|e| env_pair(e))
        .collect::<Result<_, _>>()?;
    spec.validate()?;
    Ok(spec)
}

/// The spec the flags describe, for `ostemplate`, checked against this node's storages,
/// with its GPU devices.
fn spec(
    args: &PveCreateArgs,
    root: &NodeRoot,
    storages: &StorageConfig,
    ostemplate: String,
    image: Option<&OciTemplate>,
) -> Result<CreateSpec, Failure> {
    let mut spec = flag_spec(
        args,
        ostemplate,
        rootfs_storage(storages, args.rootfs_storage.as_deref())?,
    )?;
    for m in &spec.mounts {
        if let MountSource::NewVolume { storage, .. } = &m.source {
            storages.get(storage)?.require("rootdir")?;
        }
    }
    if let Some(kind) = args.gpu {
        let gpu = match kind {
            GpuArg::Intel | GpuArg::Amd => Gpu::Dri,
            GpuArg::Nvidia => Gpu::Nvidia,
        };
        let group =
            match (gpu, image) {
                (Gpu::Nvidia, _) => None,
                (Gpu::Dri, Some(image)) => image
                    .read_rootfs_file("etc/group")?
                    .map(|g| String::from_utf8_lossy(&g).into_owned()),
                (Gpu::Dri, None) => return Err(Failure::new(
                    "--dry-run --gpu needs the template: the device gids come from its /etc/group",
                )
                .hint("pull it first with `skiff pve pull`")),
            };
        spec.devices = gpu::devices(gpu, root, group.as_deref())?;
    }
    if !spec.env.is_empty() && image.is_none() {
        return Err(Failure::new(
            "--dry-run --env needs the template: the variables are set over the image's Env",
        )
        .hint("pull it first with `skiff pve pull`"));
    }
    spec.validate()?;
    Ok(spec)
}

/// `pve create`.
pub async fn create(global: &GlobalOptions, args: PveCreateArgs) -> Result<(), Failure> {
    if let Some(api) = super::pve_api::connect(global, &args.pull.api)? {
        return super::pve_api::create(global, &api, args).await;
    }
    check_node(args.place.node.as_deref())?;
    let root = NodeRoot::from_env();
    let storages = StorageConfig::load(&root)?;
    // Everything the flags alone decide is checked before a pull.
    args.vmid.parse::<VmidChoice>()?;
    rootfs_storage(&storages, args.rootfs_storage.as_deref())?;
    let (ostemplate, image) = template(global, &root, &args).await?;
    let spec = spec(&args, &root, &storages, ostemplate, image.as_ref())?;
    let image_env = match &image {
        Some(i) => i.runtime()?.env.unwrap_or_default(),
        None => Vec::new(),
    };
    let pct = Pct::from_env();
    if args.dry_run {
        let vmid = pct::choose_vmid(spec.vmid, &root)?;
        for step in pct::plan(&spec, vmid, &image_env)? {
            print_line(&pct.display(&step, &root))?;
        }
        return Ok(());
    }
    let mut attempt = 0;
    let vmid = loop {
        let vmid = pct::choose_vmid(spec.vmid, &root)?;
        let steps = pct::plan(&spec, vmid, &image_env)?;
        let (create, rest) = steps
            .split_first()
            .ok_or_else(|| Failure::new("empty plan"))?;
        match pct.run(create, &root) {
            Ok(_) => {
                run_rest(&pct, &root, rest, args.pull.quiet)?;
                break vmid;
            }
            // `auto` is not a reservation: another create may have taken it meanwhile,
            // which shows as a new proposal.
            Err(PveError::Pct { .. })
                if spec.vmid == VmidChoice::Auto
                    && attempt + 1 < VMID_ATTEMPTS
                    && pct::choose_vmid(spec.vmid, &root)? != vmid =>
            {
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    };
    if !args.pull.quiet {
        stderr_line(&format!(
            "Created container {vmid} from {}",
            spec.ostemplate
        ));
    }
    if args.json {
        print_json(&serde_json::json!({
            "vmid": vmid,
            "ostemplate": spec.ostemplate,
            "started": spec.start,
        }))
    } else {
        print_line(&vmid.to_string())
    }
}

/// The steps after the create; a failure names the container, which exists by then.
fn run_rest(pct: &Pct, root: &NodeRoot, rest: &[Step], quiet: bool) -> Result<(), Failure> {
    for step in rest {
        if !quiet {
            stderr_line(&pct.display(step, root));
        }
        pct.run(step, root).map_err(|e| {
            Failure::from(e).hint("the container was created; fix the cause and re-run the step above, or remove it with `pct destroy`")
        })?;
    }
    Ok(())
}
