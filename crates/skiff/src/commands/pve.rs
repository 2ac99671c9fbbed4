//! `pve pull`, `pve tags`, `pve images`: Proxmox VE's template caches on this node,
//! written exactly as Proxmox's own `oci-registry-pull` writes them, plus what it lacks
//! (credentials, digests, the trust policy, progress). `pve create` is in
//! [`super::pve_create`].

use std::path::PathBuf;

use skiff_oci::Reference;
use skiff_pve::template::{self, TemplateTarget};
use skiff_pve::{NodeRoot, PveError, StorageConfig};
use skiff_transport::{
    copy_image, open_destination, open_source, CopyOptions, ImageName, ManifestFormat,
};

use crate::cli::{
    CacheArgs, GlobalOptions, PveImagesArgs, PvePullArgs, PveTagsArgs, TemplatePlace,
};
use crate::failure::Failure;
use crate::options::{host_cache, open_options, platform, RegistryFlags};
use crate::output::{print_json, print_line};
use crate::render;

impl From<PveError> for Failure {
    fn from(e: PveError) -> Self {
        let hint = match &e {
            PveError::WrongContent { .. } | PveError::NoStorage(_) => {
                Some("see the storages and their content in /etc/pve/storage.cfg (pvesm status)")
            }
            PveError::Exists { .. } => Some("`skiff pve images` lists the templates already there"),
            _ => None,
        };
        let failure = Failure::new(e.to_string());
        match hint {
            Some(h) => failure.hint(h),
            None => failure,
        }
    }
}

/// A pulled (or found) template.
#[derive(Debug, serde::Serialize)]
pub struct Pulled {
    /// `STORAGE:vztmpl/FILE`.
    pub volid: String,
    /// The file.
    pub path: PathBuf,
    /// The manifest digest.
    pub digest: String,
    /// The image reference pulled.
    pub reference: String,
}

/// An image reference as pve pull takes it: `docker://` optional; a tag or a digest is
/// required, as Proxmox requires a tag (skiff also takes digests).
pub fn pull_reference(input: &str) -> Result<Reference, Failure> {
    let written = input.strip_prefix("docker://").unwrap_or(input);
    let reference = Reference::parse_unnormalised_tag(written)?;
    if reference.tag().is_none() && reference.digest().is_none() {
        return Err(Failure::new(format!(
            "{input}: the reference needs a :TAG or @sha256:DIGEST"
        ))
        .hint("as Proxmox's pull, skiff does not assume :latest; write it if you mean it"));
    }
    Ok(reference)
}

/// Refuses `--node` naming another node: one-node mode works on this node's files.
pub fn check_node(node: Option<&str>) -> Result<(), Failure> {
    let Some(node) = node else { return Ok(()) };
    let local = skiff_pve::root::local_node_name()?;
    if node != local {
        return Err(Failure::new(format!(
            "--node {node}: this is node {local:?}; without --api skiff works on this node only"
        )));
    }
    Ok(())
}

/// The template file for `reference` in `place`, and the storage's cache directory
/// (under the node root).
pub fn template_place(
    root: &NodeRoot,
    place: &TemplatePlace,
    written: &str,
) -> Result<(String, PathBuf), Failure> {
    let storages = StorageConfig::load(root)?;
    let storage = storages.get(&place.storage)?;
    let cache = root.path(storage.template_cache()?);
    let file = skiff_pve::template_filename(place.filename.as_deref(), written)?;
    Ok((file, cache))
}

/// Pulls `reference` into `place` (policy enforced, host platform unless overridden);
/// `flags` carry the credentials, TLS, retry and quiet settings, `blob_cache` whether the
/// host's blob cache serves and keeps the layers.
pub async fn pull_into(
    global: &GlobalOptions,
    root: &NodeRoot,
    written: &str,
    place: &TemplatePlace,
    flags: &RegistryFlags,
    blob_cache: &CacheArgs,
) -> Result<Pulled, Failure> {
    check_node(place.node.as_deref())?;
    let reference = pull_reference(written)?;
    let written = written.strip_prefix("docker://").unwrap_or(written);
    let (file, cache) = template_place(root, place, written)?;
    let target = TemplateTarget::prepare(&cache, &file)?;
    let digest = pull_archive(global, written, target.temp_path(), flags, blob_cache).await?;
    let path = target.commit()?;
    Ok(Pulled {
        volid: skiff_pve::volid(&place.storage, &file),
        path,
        digest,
        reference: reference.to_string(),
    })
}

/// Copies `written` (a reference without transport) into the oci-archive `path`, as pct
/// reads it: OCI media types, the host platform unless overridden, the trust policy
/// enforced. Returns the manifest digest. Shared by one-node and cluster mode.
pub async fn pull_archive(
    global: &GlobalOptions,
    written: &str,
    path: &std::path::Path,
    flags: &RegistryFlags,
    blob_cache: &CacheArgs,
) -> Result<String, Failure> {
    let reference = pull_reference(written)?;
    let quiet = flags.quiet;
    let source_name: ImageName = format!("docker://{written}").parse()?;
    let mut src_options = open_options(global, flags)?;
    src_options.cache = host_cache(blob_cache)?;
    let source = crate::policy::gate(
        global,
        &source_name,
        &src_options,
        open_source(&source_name, &src_options)?,
    )?;
    let destination = ImageName::OciArchive {
        path: path.to_path_buf(),
        reference: Some(reference.to_string()),
    };
    let dest = open_destination(&destination, &open_options(global, flags)?)?;
    let options = CopyOptions {
        platform: platform(global),
        // pct reads OCI media types only.
        format: Some(ManifestFormat::Oci),
        scratch_dir: global.tmpdir.clone(),
        retry_times: flags.retry_times,
        retry_delay: flags.retry_delay,
        ..CopyOptions::default()
    };
    let report = copy_image(source.as_ref(), dest, &options, render::reporter(quiet)).await?;
    Ok(report.manifest_digest.to_string())
}

/// `pve pull REF`.
pub async fn pull(global: &GlobalOptions, args: PvePullArgs) -> Result<(), Failure> {
    if let Some(api) = super::pve_api::connect(global, &args.pull.api)? {
        return super::pve_api::pull(global, &api, args).await;
    }
    let root = NodeRoot::from_env();
    let pulled = pull_into(
        global,
        &root,
        &args.reference,
        &args.place,
        &args.pull.registry_flags(),
        &args.pull.cache,
    )
    .await?;
    if args.json {
        print_json(&pulled)
    } else {
        print_line(&pulled.volid)
    }
}

/// `pve tags REPO`: the tags as Proxmox's `query-oci-repo-tags` returns them.
pub async fn tags(global: &GlobalOptions, args: PveTagsArgs) -> Result<(), Failure> {
    let written = args
        .repository
        .strip_prefix("docker://")
        .unwrap_or(&args.repository);
    let reference = Reference::parse_unnormalised_tag(written)?;
    if reference.tag().is_some() || reference.digest().is_some() {
        return Err(Failure::new(format!(
            "{}: pve tags takes a repository without tag or digest",
            args.repository
        )));
    }
    let flags = args
        .registry
        .flags(None, args.retry.retry_times, args.retry.retry_delay);
    let open = open_options(global, &flags)?;
    let client = skiff_transport::registry_client(&reference.name(), reference.registry(), &open)?;
    let tags = client.list_tags(reference.repository()).await?;
    print_json(&tags)
}

/// `pve images`: the OCI templates of one storage or of every template storage.
pub async fn images(global: &GlobalOptions, args: PveImagesArgs) -> Result<(), Failure> {
    if let Some(api) = super::pve_api::connect(global, &args.api)? {
        return super::pve_api::images(&api, args).await;
    }
    let root = NodeRoot::from_env();
    let storages = StorageConfig::load(&root)?;
    let mut listed = Vec::new();
    match &args.storage {
        Some(id) => {
            let cache = root.path(storages.get(id)?.template_cache()?);
            listed.extend(template::list(id, &cache)?);
        }
        None => {
            for storage in &storages.storages {
                if let Ok(cache) = storage.template_cache() {
                    listed.extend(template::list(&storage.id, &root.path(cache))?);
                }
            }
        }
    }
    if args.json {
        return print_json(&listed);
    }
    print_templates(listed.iter().map(|t| {
        (
            t.volid.as_str(),
            t.size,
            t.reference.as_deref(),
            Some(t.digest.as_str()),
        )
    }))
}

/// The table of `pve images` (on one node and through the API): volume id, size, the
/// image reference and manifest digest it was pulled from ("-" where unknown).
pub fn print_templates<'a>(
    rows: impl Iterator<Item = (&'a str, u64, Option<&'a str>, Option<&'a str>)>,
) -> Result<(), Failure> {
    print_line(&format!(
        "{:<40} {:>12}  {:<50} DIGEST",
        "VOLID", "SIZE", "REFERENCE"
    ))?;
    let text = |s: Option<&str>| crate::output::terminal_safe(s.unwrap_or("-"));
    for (volid, size, reference, digest) in rows {
        print_line(&format!(
            "{:<40} {:>12}  {:<50} {}",
            text(Some(volid)),
            size,
            text(reference),
            text(digest)
        ))?;
    }
    Ok(())
}
