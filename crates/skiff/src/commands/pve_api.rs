//! Cluster mode of `pve pull`, `pve images` and `pve create`: the same commands through
//! the Proxmox VE REST API ([`skiff_pve::api`]) when `--api` (or SKIFF_PVE_API, or the
//! config file) names a cluster. Images are pulled here — credentials, policy and
//! verification stay on this machine — and uploaded to the node's storage.

use skiff_pve::api::{ApiError, ApiTarget, Placed, PveApi, TargetArgs, UploadRecord};

use super::pve::{pull_archive, pull_reference};
use super::pve_create::flag_spec;
use crate::cli::{
    GlobalOptions, PveApiArgs, PveCreateArgs, PveImagesArgs, PvePullArgs, TemplatePlace,
};
use crate::failure::Failure;
use crate::output::{print_json, print_line, stderr_line};

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        let hint = match &e {
            ApiError::Connect { certificate: true, .. } => Some(
                "trust the node's self-signed certificate with --fingerprint (run \
                 `pvenode cert info` on the node and compare)",
            ),
            ApiError::Unauthorized { .. } => Some(
                "check the token (Datacenter → Permissions → API Tokens): USER@REALM!TOKENID=SECRET",
            ),
            ApiError::AfterCreate { .. } => Some(
                "the container stays as created: fix the cause, then start it (pct start VMID \
                 on the node, or the GUI) or remove it (pct destroy VMID)",
            ),
            ApiError::Http { status: 403, .. } => {
                Some("the token lacks a privilege: grant it on the path named, or untick Privilege Separation")
            }
            _ => None,
        };
        let failure = Failure::new(e.to_string());
        match hint {
            Some(h) => failure.hint(h),
            None => failure,
        }
    }
}

/// The API client when cluster mode is asked for (flags, environment, config file);
/// `None` for one-node mode.
pub fn connect(global: &GlobalOptions, args: &PveApiArgs) -> Result<Option<PveApi>, Failure> {
    let target_args = TargetArgs {
        api: args.api.clone(),
        token: args.token.clone(),
        fingerprint: args.fingerprint.clone(),
    };
    let paths = skiff_pve::api::config_paths();
    let Some(target) = ApiTarget::resolve(&target_args, skiff_pve::api::process_env, &paths)?
    else {
        return Ok(None);
    };
    let hook = global.debug.then(crate::options::exchange_printer);
    Ok(Some(PveApi::new(target, hook)?))
}

/// The upload record of this user (`$XDG_STATE_HOME/skiff/pve-templates.json`).
pub fn record() -> Result<UploadRecord, Failure> {
    UploadRecord::default_path()
        .map(UploadRecord::at)
        .ok_or_else(|| {
            Failure::new("cannot tell where to keep the upload record: set HOME or XDG_STATE_HOME")
        })
}

/// `--node`, else the node with the most free memory.
async fn node(api: &PveApi, named: Option<&str>) -> Result<String, Failure> {
    match named {
        Some(n) => Ok(n.to_string()),
        None => Ok(api.roomiest_node().await?),
    }
}

/// The template on the node after a pull here and an upload (or the proof that the same
/// archive is there).
struct Uploaded {
    node: String,
    volid: String,
    digest: String,
    reference: String,
    uploaded: bool,
}

async fn pull_and_place(
    global: &GlobalOptions,
    api: &PveApi,
    written: &str,
    place: &TemplatePlace,
    flags: &crate::options::RegistryFlags,
    blob_cache: &crate::cli::CacheArgs,
) -> Result<Uploaded, Failure> {
    let reference = pull_reference(written)?;
    let written = written.strip_prefix("docker://").unwrap_or(written);
    let file = skiff_pve::template_filename(place.filename.as_deref(), written)?;
    let node = node(api, place.node.as_deref()).await?;
    let scratch = match &global.tmpdir {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .map_err(|e| Failure::new(format!("creating a scratch directory for the pull: {e}")))?;
    let archive = scratch.path().join(&file);
    let digest = pull_archive(global, written, &archive, flags, blob_cache).await?;
    let placed = api
        .place_template(
            &node,
            &place.storage,
            &file,
            &archive,
            (&reference.to_string(), &digest),
            &record()?,
        )
        .await?;
    let (volume, uploaded) = match placed {
        Placed::Uploaded(v) => (v, true),
        Placed::AlreadyThere(v) => (v, false),
    };
    if !flags.quiet {
        stderr_line(&if uploaded {
            format!(
                "Uploaded {} to node {node} ({} bytes)",
                volume.volid, volume.size
            )
        } else {
            format!(
                "{} on node {node} already holds this archive; not uploaded",
                volume.volid
            )
        });
    }
    Ok(Uploaded {
        node,
        volid: volume.volid,
        digest,
        reference: reference.to_string(),
        uploaded,
    })
}

/// `pve pull --api`.
pub async fn pull(global: &GlobalOptions, api: &PveApi, args: PvePullArgs) -> Result<(), Failure> {
    let done = pull_and_place(
        global,
        api,
        &args.reference,
        &args.place,
        &args.pull.registry_flags(),
        &args.pull.cache,
    )
    .await?;
    if args.json {
        print_json(&serde_json::json!({
            "volid": done.volid,
            "node": done.node,
            "digest": done.digest,
            "reference": done.reference,
            "uploaded": done.uploaded,
        }))
    } else {
        print_line(&done.volid)
    }
}

/// `pve images --api`: the templates of the node's storage(s), with the reference and
/// digest skiff recorded for those it uploaded.
pub async fn images(api: &PveApi, args: PveImagesArgs) -> Result<(), Failure> {
    let node = node(api, args.node.as_deref()).await?;
    let storages = match &args.storage {
        Some(s) => vec![s.clone()],
        None => api.template_storages(&node).await?,
    };
    let record = record()?;
    let mut listed = Vec::new();
    for storage in &storages {
        for (volume, known) in api.templates_with_origin(&node, storage, &record).await? {
            listed.push(serde_json::json!({
                "volid": volume.volid,
                "node": node,
                "size": volume.size,
                "reference": known.as_ref().map(|k| k.reference.clone()),
                "digest": known.as_ref().map(|k| k.manifest.clone()),
            }));
        }
    }
    if args.json {
        return print_json(&listed);
    }
    super::pve::print_templates(listed.iter().map(|t| {
        (
            t["volid"].as_str().unwrap_or("-"),
            t["size"].as_u64().unwrap_or(0),
            t["reference"].as_str(),
            t["digest"].as_str(),
        )
    }))
}

/// `pve create --api`.
pub async fn create(
    global: &GlobalOptions,
    api: &PveApi,
    args: PveCreateArgs,
) -> Result<(), Failure> {
    if args.dry_run {
        return Err(Failure::new(
            "--dry-run prints pct command lines and cannot be combined with --api",
        ));
    }
    if args.gpu.is_some() {
        return Err(ApiError::RootOnly {
            what: "--gpu (device passthrough, devN)".into(),
            token: api.token_name(),
        }
        .into());
    }
    let node = node(api, args.place.node.as_deref()).await?;
    let rootfs_storage = match &args.rootfs_storage {
        Some(s) => s.clone(),
        None => api.rootdir_storage(&node).await?,
    };
    // Everything the flags alone decide (root-only options among them) is checked
    // before a pull or an upload.
    let probe = flag_spec(&args, String::new(), rootfs_storage.clone())?;
    let refused = skiff_pve::api::root_only(&probe.create_options()?);
    if !refused.is_empty() {
        return Err(ApiError::RootOnly {
            what: refused.join(", "),
            token: api.token_name(),
        }
        .into());
    }
    let ostemplate = if args.image.contains(":vztmpl/") {
        args.image.clone()
    } else {
        let place = TemplatePlace {
            node: Some(node.clone()),
            ..args.place.clone()
        };
        pull_and_place(
            global,
            api,
            &args.image,
            &place,
            &args.pull.registry_flags(),
            &args.pull.cache,
        )
        .await?
        .volid
    };
    let spec = flag_spec(&args, ostemplate, rootfs_storage)?;
    let created = api.create_container(&node, &spec).await?;
    if !args.pull.quiet {
        stderr_line(&format!(
            "Created container {} on node {node} from {}{}",
            created.vmid,
            spec.ostemplate,
            if created.started { ", started" } else { "" }
        ));
    }
    if args.json {
        print_json(&serde_json::json!({
            "vmid": created.vmid,
            "node": created.node,
            "ostemplate": spec.ostemplate,
            "started": created.started,
        }))
    } else {
        print_line(&created.vmid.to_string())
    }
}
