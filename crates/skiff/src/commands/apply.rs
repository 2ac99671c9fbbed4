//! `plan`, `apply`, `destroy`, `status` of a YAML file: flags to skiff-apply options, the
//! registry and unpack pipeline behind its `Images`, and the plan rendered. The decisions
//! live in skiff-apply.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use skiff_apply::lxc::LxcBackend;
use skiff_apply::pve::PveBackend;
use skiff_apply::pve_api::PveApiBackend;
use skiff_apply::run::{self, Options, Prepared};
use skiff_apply::secrets::Secrets;
use skiff_apply::{file, ApplyError, Backend, DesiredFile, Images, Template};
use skiff_oci::{Digest, ImageConfiguration, Reference};
use skiff_pve::pct::Pct;
use skiff_pve::{NodeRoot, StorageConfig};
use skiff_transport::lock::PathLock;
use skiff_transport::registry_client;
use skiff_unpack::{IdMap, UnpackOptions};

use super::pve::pull_archive;
use super::pve_create::cached_or_pulled;
use crate::cli::{
    program_name, ApplyArgs, ApplyFileArgs, BackendKind, DestroyArgs, GlobalOptions, TemplatePlace,
};
use crate::failure::Failure;
use crate::options::open_options;
use crate::output::{print_line, stderr_line};
use crate::rootfs::unpack_to;

/// Images from registries, through the same flags, policy and unpack pipeline as
/// `lxc create`.
struct RegistryImages<'a> {
    global: &'a GlobalOptions,
    args: &'a ApplyFileArgs,
}

fn image_error(image: &str, f: &Failure) -> ApplyError {
    let lines = f.lines();
    let prefix = format!("{}: ", program_name());
    ApplyError::Image {
        image: image.to_string(),
        message: lines
            .iter()
            .map(|l| l.strip_prefix(&prefix).unwrap_or(l).trim())
            .collect::<Vec<_>>()
            .join("; "),
    }
}

#[async_trait::async_trait]
impl Images for RegistryImages<'_> {
    async fn resolve(&self, image: &str) -> Result<Digest, ApplyError> {
        let work = async {
            let reference = Reference::parse(image)?;
            let open = open_options(self.global, &self.args.src.flags(None, 3, None))?;
            let client = registry_client(&reference.name(), reference.registry(), &open)?;
            let tag = reference.manifest_reference();
            let head = client.head_manifest(reference.repository(), &tag).await?;
            match head {
                Some(h) => match h.digest {
                    Some(d) => Ok(d),
                    // No Docker-Content-Digest: the manifest's own bytes say it.
                    None => Ok(client
                        .get_manifest(reference.repository(), &tag)
                        .await?
                        .digest),
                },
                None => Err(Failure::new(format!(
                    "{image}: no such image (manifest unknown)"
                ))),
            }
        };
        work.await.map_err(|f: Failure| image_error(image, &f))
    }

    async fn unpack(
        &self,
        image: &str,
        digest: &Digest,
        rootfs: &Path,
        id_map: IdMap,
    ) -> Result<ImageConfiguration, ApplyError> {
        let work = async {
            let pinned = Reference::parse(image)?.with_digest(digest.clone());
            let options = UnpackOptions {
                id_map,
                ..UnpackOptions::default()
            };
            let name = format!("docker://{pinned}");
            unpack_to(
                self.global,
                &name,
                rootfs,
                options,
                &self.args.src,
                &crate::cli::CacheArgs::default(),
                self.args.quiet,
            )
            .await
        };
        work.await
            .map(|u| u.config)
            .map_err(|f: Failure| image_error(image, &f))
    }

    /// The template of `image` at `digest` on this node: one already in a template
    /// cache (its index names the digest, or it was pulled pinned to it — `skiff pve
    /// pull` of the same image counts), else pulled pinned to `digest` (so a new digest
    /// is a new file) into `local`, or the first storage with `vztmpl` content, as
    /// `skiff pve pull` pulls.
    async fn template(&self, image: &str, digest: &Digest) -> Result<Template, ApplyError> {
        let work = async {
            let root = NodeRoot::from_env();
            let storages = StorageConfig::load(&root)?;
            if let Some(found) = cached_template(&root, &storages, digest)? {
                return Ok(found);
            }
            let storage = storages
                .storages
                .iter()
                .filter(|s| s.has_content("vztmpl"))
                .min_by_key(|s| s.id != "local")
                .ok_or_else(|| {
                    Failure::new("no storage in /etc/pve/storage.cfg has vztmpl content")
                })?;
            let place = TemplatePlace {
                storage: storage.id.clone(),
                filename: None,
                node: None,
            };
            let pinned = Reference::parse(image)?.with_digest(digest.clone());
            let flags = self.args.src.flags(None, 3, None).quiet(self.args.quiet);
            let written = pinned.to_string();
            let (volid, path) = cached_or_pulled(
                self.global,
                &root,
                &written,
                &place,
                &flags,
                &crate::cli::CacheArgs::default(),
                false,
            )
            .await?;
            let path = path.ok_or_else(|| Failure::new(format!("{volid}: not pulled")))?;
            Ok(Template { volid, path })
        };
        work.await.map_err(|f: Failure| image_error(image, &f))
    }

    /// Pulled as `skiff pve pull --api` pulls before its upload.
    async fn archive(&self, image: &str, digest: &Digest, path: &Path) -> Result<(), ApplyError> {
        let work = async {
            let pinned = Reference::parse(image)?.with_digest(digest.clone());
            let flags = self.args.src.flags(None, 3, None).quiet(self.args.quiet);
            pull_archive(
                self.global,
                &pinned.to_string(),
                path,
                &flags,
                &crate::cli::CacheArgs::default(),
            )
            .await?;
            Ok(())
        };
        work.await.map_err(|f: Failure| image_error(image, &f))
    }
}

/// A template of `digest` in any template cache of the node, as `skiff pve images` lists
/// them: its manifest digest is `digest`, or it was pulled by a reference pinned to
/// `digest` (a Docker-format image's manifest is converted to OCI on the pull, so its
/// archive's own digest differs from the registry's).
fn cached_template(
    root: &NodeRoot,
    storages: &StorageConfig,
    digest: &Digest,
) -> Result<Option<Template>, Failure> {
    let digest = digest.to_string();
    let pinned = format!("@{digest}");
    for storage in &storages.storages {
        let Ok(cache) = storage.template_cache() else {
            continue;
        };
        let cache = root.path(cache);
        for t in skiff_pve::template::list(&storage.id, &cache)? {
            let same =
                t.digest == digest || t.reference.as_deref().is_some_and(|r| r.ends_with(&pinned));
            if same {
                let file = t.volid.rsplit('/').next().unwrap_or_default();
                return Ok(Some(Template {
                    path: cache.join(file),
                    volid: t.volid,
                }));
            }
        }
    }
    Ok(None)
}

impl From<ApplyError> for Failure {
    fn from(e: ApplyError) -> Self {
        if let ApplyError::Api(api) = e {
            return api.into();
        }
        let hint = match &e {
            ApplyError::Unmanaged(_) => Some(
                "rename the container in the file, or remove the other container yourself"
                    .to_string(),
            ),
            ApplyError::Tool { command, .. } if command.starts_with("lxc-") => Some(
                "run the command shown to see LXC's own diagnostics (add -l DEBUG -o FILE)"
                    .to_string(),
            ),
            ApplyError::Unsupported { .. } => {
                Some("remove the key from the file, or choose a backend that has it".to_string())
            }
            _ => None,
        };
        let f = Failure::new(e.to_string());
        match hint {
            Some(h) => f.hint(h),
            None => f,
        }
    }
}

/// The file, read and checked, the backend it goes to, and what apply and destroy lock.
struct Opened {
    desired: DesiredFile,
    backend: Box<dyn Backend>,
    options: Options,
    /// Two applies on the same containers take turns on this path's lock.
    lock: PathBuf,
}

/// The backend: `--backend`, else the file's `backend:`, else pve on a Proxmox VE node
/// (`/etc/pve` under `SKIFF_PVE_ROOT`), else lxc.
fn backend_kind(args: &ApplyFileArgs, desired: &DesiredFile, root: &NodeRoot) -> BackendKind {
    let from_file = match desired.backend.as_deref() {
        Some("pve") => Some(BackendKind::Pve),
        Some("pve-api") => Some(BackendKind::PveApi),
        Some("lxc") => Some(BackendKind::Lxc),
        _ => None,
    };
    args.backend.or(from_file).unwrap_or_else(|| {
        if root.path("/etc/pve").exists() {
            BackendKind::Pve
        } else {
            BackendKind::Lxc
        }
    })
}

/// Reads the file and connects its backend.
fn open(global: &GlobalOptions, args: &ApplyFileArgs) -> Result<Opened, Failure> {
    let catalog = super::catalog::load(&args.catalog)?;
    let desired = file::load(&args.file, &catalog)?;
    let root = NodeRoot::from_env();
    let kind = backend_kind(args, &desired, &root);
    if let (Some(dir), BackendKind::Pve | BackendKind::PveApi) = (&args.lxcpath, kind) {
        return Err(Failure::new(format!(
            "-P {}: -P is the lxc backend's; the Proxmox backends' containers are where \
             Proxmox VE keeps them (/etc/pve/lxc)",
            dir.display()
        ))
        .hint("leave -P out, or choose --backend lxc"));
    }
    let (backend, lock): (Box<dyn Backend>, PathBuf) = match kind {
        BackendKind::Lxc => {
            let dir = lxcpath(args);
            (Box::new(LxcBackend::new(&dir)), dir)
        }
        BackendKind::Pve => {
            // The node's own lock directory: /etc/pve is a cluster file system.
            let lock = root.path("/run/lock/skiff-apply-pve");
            (Box::new(PveBackend::new(root, Pct::from_env())), lock)
        }
        BackendKind::PveApi => {
            let api = super::pve_api::connect(global, &args.api)?.ok_or_else(|| {
                Failure::new("the pve-api backend needs a cluster to talk to").hint(
                    "give --api https://HOST:8006 and --token USER@REALM!ID=SECRET (or \
                     SKIFF_PVE_API and SKIFF_PVE_TOKEN, or the config file pve.toml, as \
                     for `skiff pve … --api`)",
                )
            })?;
            // A cluster, which other machines may change too: the lock sits beside the
            // file, so that two applies of it from here take turns.
            let lock = desired.path.clone();
            (
                Box::new(PveApiBackend::new(api, super::pve_api::record()?)),
                lock,
            )
        }
    };
    let options = Options {
        prune: false,
        data_dir: args.data_dir.clone(),
        datasets_dir: args.datasets_dir.clone(),
        secrets: Secrets::new(&args.secrets_dir),
    };
    Ok(Opened {
        desired,
        backend,
        options,
        lock,
    })
}

/// The LXC directory the file's containers live in (`-P`).
fn lxcpath(args: &ApplyFileArgs) -> PathBuf {
    args.lxcpath
        .clone()
        .unwrap_or_else(|| PathBuf::from("/var/lib/lxc"))
}

/// Waits until no other `apply` or `destroy` works on the same containers (`lock`): two
/// at once would plan against the same observed state and then both create (or delete)
/// the same containers. Held until the returned lock is dropped; the second then plans
/// afresh and finds the work done.
async fn exclusive(lock: &Path, quiet: bool) -> Result<PathLock, Failure> {
    let failed = |e: std::io::Error| {
        Failure::new(format!(
            "cannot lock {} for this change: {e}",
            lock.display()
        ))
    };
    if let Some(dir) = lock.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    if let Some(held) = PathLock::try_acquire(lock).map_err(failed)? {
        return Ok(held);
    }
    if !quiet {
        stderr_line(&format!(
            "waiting for another {} apply or destroy on {} to finish",
            program_name(),
            lock.display()
        ));
    }
    PathLock::acquire(lock).await.map_err(failed)
}

fn print_block(text: &str) -> Result<(), Failure> {
    for line in text.lines() {
        print_line(line)?;
    }
    Ok(())
}

/// Asks on the terminal; without one the user must say --yes.
fn confirm(question: &str) -> Result<bool, Failure> {
    let tty = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| {
            Failure::new("no terminal to ask for confirmation on")
                .hint("add --yes to go ahead without asking")
        })?;
    let mut w = &tty;
    let mut answer = String::new();
    w.write_all(format!("{question} [y/N] ").as_bytes())
        .and_then(|()| w.flush())
        .and_then(|()| BufReader::new(&tty).read_line(&mut answer).map(drop))
        .map_err(|e| Failure::new(format!("reading the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

async fn prepare(
    global: &GlobalOptions,
    args: &ApplyFileArgs,
    opened: Opened,
    prune: bool,
) -> Result<(Prepared, Box<dyn Backend>, Options), Failure> {
    let Opened {
        desired,
        backend,
        mut options,
        ..
    } = opened;
    options.prune = prune;
    let images = RegistryImages { global, args };
    let prepared = run::plan(desired, backend.as_ref(), &images, &options).await?;
    Ok((prepared, backend, options))
}

/// `plan FILE`.
pub async fn plan(global: &GlobalOptions, args: ApplyFileArgs) -> Result<(), Failure> {
    let opened = open(global, &args)?;
    let (prepared, _, _) = prepare(global, &args, opened, false).await?;
    print_block(&prepared.plan.render())
}

/// `apply FILE [--yes] [--prune]`.
pub async fn apply(global: &GlobalOptions, args: ApplyArgs) -> Result<(), Failure> {
    let opened = open(global, &args.target)?;
    let _lock = exclusive(&opened.lock, args.target.quiet).await?;
    let (prepared, backend, options) = prepare(global, &args.target, opened, args.prune).await?;
    print_block(&prepared.plan.render())?;
    if prepared.plan.is_noop() {
        return Ok(());
    }
    if !args.yes && !confirm("Apply these changes?")? {
        return Err(Failure::new("nothing was changed (not confirmed)"));
    }
    let quiet = args.target.quiet;
    let progress = |line: &str| {
        if !quiet {
            stderr_line(line);
        }
    };
    let images = RegistryImages {
        global,
        args: &args.target,
    };
    run::apply(&prepared, backend.as_ref(), &images, &options, &progress).await?;
    progress("Apply complete.");
    Ok(())
}

/// `destroy FILE [--yes]`.
pub async fn destroy(global: &GlobalOptions, args: DestroyArgs) -> Result<(), Failure> {
    let Opened {
        desired,
        backend,
        lock,
        ..
    } = open(global, &args.target)?;
    let _lock = exclusive(&lock, args.target.quiet).await?;
    let names: Vec<&str> = desired.containers.iter().map(|c| c.name.as_str()).collect();
    if !args.yes
        && !confirm(&format!(
            "Destroy {} (mounted data stays)?",
            names.join(", ")
        ))?
    {
        return Err(Failure::new("nothing was changed (not confirmed)"));
    }
    let quiet = args.target.quiet;
    let progress = |line: &str| {
        if !quiet {
            stderr_line(line);
        }
    };
    for note in run::destroy(&desired, backend.as_ref(), &progress)? {
        stderr_line(&format!("{}: {note}", program_name()));
    }
    Ok(())
}

/// `status FILE`.
pub async fn status(global: &GlobalOptions, args: ApplyFileArgs) -> Result<(), Failure> {
    let Opened {
        desired,
        backend,
        options,
        ..
    } = open(global, &args)?;
    let images = RegistryImages {
        global,
        args: &args,
    };
    let rows = run::status(desired, backend.as_ref(), &images, &options).await?;
    print_line(&format!(
        "{:<24} {:<9} {:<14} {}",
        "CONTAINER", "STATE", "IMAGE", "DRIFT"
    ))?;
    for r in rows {
        let short = |d: &Digest| d.to_string().chars().skip(7).take(12).collect::<String>();
        let image = match &r.digest {
            None => "-".to_string(),
            Some(d) if *d == r.latest => short(d),
            Some(d) => format!("{} (latest {})", short(d), short(&r.latest)),
        };
        let drift = if r.drift.is_empty() {
            "-".to_string()
        } else {
            r.drift.join(", ")
        };
        print_line(&format!(
            "{:<24} {:<9} {:<14} {drift}",
            r.name, r.state, image
        ))?;
    }
    Ok(())
}
