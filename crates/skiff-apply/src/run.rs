//! Planning and carrying out a file over a [`Backend`]: observe, resolve each image once
//! (one manifest HEAD per image, none for a pinned digest), diff, then act container by
//! container in dependency order — each started, running and healthy before the next.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use skiff_oci::Digest;

use crate::backend::{Backend, Images, Live, Observed, Target};
use crate::plan::{self, Action, DatasetStep, Effect, Plan};
use crate::secrets::{expand, is_sensitive, Mode, Secrets};
use crate::{ApplyError, Dataset, Desired, DesiredFile};

/// Where apply keeps what is not a container.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--prune`: delete containers of this file that are no longer in it.
    pub prune: bool,
    /// Volumes (mounts without `source`) go to `DATA_DIR/CONTAINER/TARGET`.
    pub data_dir: PathBuf,
    /// Datasets become directories here on hosts without ZFS.
    pub datasets_dir: PathBuf,
    /// Generated secrets.
    pub secrets: Secrets,
}

/// A plan and what it was made from, ready to apply.
pub struct Prepared {
    /// The file, mount sources filled in.
    pub file: DesiredFile,
    /// What apply would do.
    pub plan: Plan,
}

/// Gives every mount without `source` its directory under the data dir.
fn with_volumes(mut d: Desired, data_dir: &Path) -> Desired {
    for m in d.mounts.iter_mut().filter(|m| m.source.is_none()) {
        let slug = m.target.trim_matches('/').replace('/', "_");
        m.source =
            Some(
                data_dir
                    .join(&d.name)
                    .join(if slug.is_empty() { "root".into() } else { slug }),
            );
    }
    d
}

/// The environment of `d` with its templates expanded.
fn env(
    d: &Desired,
    file: &DesiredFile,
    backend: &dyn Backend,
    secrets: &Secrets,
    mode: Mode,
) -> Result<BTreeMap<String, String>, ApplyError> {
    let scope = d.app.clone().unwrap_or_else(|| d.name.clone());
    let host = |short: &str| {
        file.containers
            .iter()
            .find(|c| {
                c.app == d.app
                    && (c.name == short
                        || d.app.as_ref().is_some_and(|a| {
                            c.name == format!("{a}-{short}") || (c.name == *a && short == a)
                        }))
            })
            .map(|c| backend.host_address(&c.name))
    };
    d.env
        .iter()
        .map(|(k, v)| {
            expand(v, &scope, secrets, mode, &host)
                .map(|e| (k.clone(), e))
                .map_err(|m| ApplyError::File {
                    file: file.path.clone(),
                    line: d.at.0,
                    column: d.at.1,
                    message: format!("container {}: env {k}: {m}", d.name),
                })
        })
        .collect()
}

/// Whether the zfs tool runs here.
fn have_zfs() -> bool {
    Command::new("zfs")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn dataset_step(ds: &Dataset, opts: &Options, zfs: bool) -> DatasetStep {
    let action = if zfs {
        let exists = Command::new("zfs")
            .args(["list", "-H", "-o", "name", &ds.name])
            .output()
            .is_ok_and(|o| o.status.success());
        (!exists).then(|| zfs_create(ds).join(" "))
    } else {
        let dir = opts.datasets_dir.join(&ds.name);
        (!dir.is_dir()).then(|| format!("directory {} (no zfs on this host)", dir.display()))
    };
    DatasetStep {
        name: ds.name.clone(),
        action,
    }
}

fn zfs_create(ds: &Dataset) -> Vec<String> {
    let mut args = vec!["zfs".to_string(), "create".into(), "-p".into()];
    let mut opt = |k: &str, v: String| args.extend(["-o".to_string(), format!("{k}={v}")]);
    if let Some(m) = &ds.mountpoint {
        opt("mountpoint", m.clone());
    }
    if let Some(q) = ds.quota {
        opt("quota", q.to_string());
    }
    if let Some(c) = &ds.compression {
        opt("compression", c.clone());
    }
    args.push(ds.name.clone());
    args
}

/// Observes everything the file names and resolves each image once, then plans.
/// Refuses, before anything is touched, a key the backend cannot honour and a container
/// of the file's name that skiff does not manage.
pub async fn plan(
    file: DesiredFile,
    backend: &dyn Backend,
    images: &dyn Images,
    opts: &Options,
) -> Result<Prepared, ApplyError> {
    let mut file = file;
    file.containers = file
        .containers
        .into_iter()
        .map(|d| with_volumes(d, &opts.data_dir))
        .collect();
    for d in &file.containers {
        backend.check(d)?;
    }
    let mut observed = Vec::new();
    for d in &file.containers {
        match backend.observe(&d.name)? {
            Observed::Unmanaged => return Err(ApplyError::Unmanaged(d.name.clone())),
            Observed::Absent => observed.push(None),
            Observed::Managed(live) => observed.push(Some(live)),
        }
    }
    let mut digests: HashMap<String, Digest> = HashMap::new();
    let mut steps = Vec::new();
    for (d, live) in file.containers.iter().zip(&observed) {
        let digest = match &d.pinned {
            Some(p) => p.clone(),
            None => match digests.get(&d.image) {
                Some(x) => x.clone(),
                None => {
                    let x = images.resolve(&d.image).await?;
                    digests.insert(d.image.clone(), x.clone());
                    x
                }
            },
        };
        let env = env(d, &file, backend, &opts.secrets, Mode::Plan)?;
        let wanted = backend.fields(d, &env);
        let effect = |f: &str| backend.effect(f);
        let sensitive = |f: &str| {
            f.strip_prefix("env.")
                .and_then(|k| d.env.get(k))
                .is_some_and(|t| is_sensitive(t))
        };
        steps.push(plan::step(
            &d.name,
            &wanted,
            &digest,
            live.as_ref(),
            d.start,
            &effect,
            &sensitive,
        ));
    }
    for (name, live) in backend.managed()? {
        if live.file == file.path && !file.containers.iter().any(|d| d.name == name) {
            steps.push(plan::Step {
                name,
                action: if opts.prune {
                    Action::Delete
                } else {
                    Action::Orphan
                },
                changes: Vec::new(),
                digest: None,
                restart: false,
            });
        }
    }
    let zfs = !file.datasets.is_empty() && have_zfs();
    let datasets = file
        .datasets
        .iter()
        .map(|ds| dataset_step(ds, opts, zfs))
        .collect();
    Ok(Prepared {
        file,
        plan: Plan { datasets, steps },
    })
}

/// Carries out a plan; `progress` receives one line per action taken.
pub async fn apply(
    p: &Prepared,
    backend: &dyn Backend,
    images: &dyn Images,
    opts: &Options,
    progress: &dyn Fn(&str),
) -> Result<(), ApplyError> {
    for (ds, step) in p.file.datasets.iter().zip(&p.plan.datasets) {
        if step.action.is_none() {
            continue;
        }
        progress(&format!(
            "dataset {}: {}",
            ds.name,
            step.action.as_deref().unwrap_or_default()
        ));
        if have_zfs() {
            let args = zfs_create(ds);
            let out = Command::new(&args[0]).args(&args[1..]).output();
            match out {
                Ok(o) if o.status.success() => {}
                Ok(o) => {
                    return Err(ApplyError::Tool {
                        command: args.join(" "),
                        message: String::from_utf8_lossy(&o.stderr).trim().to_string(),
                    })
                }
                Err(e) => {
                    return Err(ApplyError::Tool {
                        command: args.join(" "),
                        message: e.to_string(),
                    })
                }
            }
        } else {
            let dir = opts.datasets_dir.join(&ds.name);
            std::fs::create_dir_all(&dir).map_err(ApplyError::io("creating", &dir))?;
        }
    }
    for step in &p.plan.steps {
        let Some(d) = p.file.containers.iter().find(|d| d.name == step.name) else {
            if step.action == Action::Delete {
                progress(&format!("{}: deleting", step.name));
                backend.destroy(&step.name)?;
            }
            continue;
        };
        let env = env(d, &p.file, backend, &opts.secrets, Mode::Apply)?;
        let Some(digest) = step.digest.clone() else {
            continue;
        };
        let t = Target {
            desired: d,
            hash: d.spec_hash(&env),
            env,
            digest,
            file: &p.file.path,
        };
        let mut started = false;
        match &step.action {
            Action::Create => {
                progress(&format!("{}: creating", d.name));
                backend.create(&t, images).await?;
            }
            Action::Replace { .. } => {
                progress(&format!("{}: replacing the root filesystem", d.name));
                backend.replace(&t, images).await?;
            }
            Action::Update => {
                progress(&format!("{}: updating", d.name));
                let live: Vec<String> = step
                    .changes
                    .iter()
                    .filter(|c| c.effect == Effect::Live)
                    .map(|c| c.field.clone())
                    .collect();
                backend.update(&t, &live)?;
                if step.restart {
                    progress(&format!("{}: restarting", d.name));
                    backend.stop(&d.name)?;
                }
            }
            Action::Start | Action::NoChange | Action::Delete | Action::Orphan => {}
        }
        if d.start && step.action != Action::NoChange {
            if let Observed::Managed(Live { running: false, .. }) = backend.observe(&d.name)? {
                progress(&format!("{}: starting", d.name));
                backend.start(&d.name)?;
                started = true;
            }
        }
        if let (true, Some(h)) = (started, &d.health) {
            progress(&format!("{}: waiting for {h:?}", d.name));
            backend.health(&d.name, h)?;
        }
    }
    Ok(())
}

/// Destroys the file's containers, dependants first. Containers skiff does not manage,
/// or that another file manages, are left alone and named in the result.
pub fn destroy(
    file: &DesiredFile,
    backend: &dyn Backend,
    progress: &dyn Fn(&str),
) -> Result<Vec<String>, ApplyError> {
    let mut skipped = Vec::new();
    for d in file.containers.iter().rev() {
        match backend.observe(&d.name)? {
            Observed::Absent => {}
            Observed::Unmanaged => {
                skipped.push(format!("{}: not managed by skiff, left alone", d.name))
            }
            Observed::Managed(live) if live.file != file.path => skipped.push(format!(
                "{}: managed by {}, left alone",
                d.name,
                live.file.display()
            )),
            Observed::Managed(_) => {
                progress(&format!("{}: destroying", d.name));
                backend.destroy(&d.name)?;
            }
        }
    }
    Ok(skipped)
}

/// One container's status.
#[derive(Debug, Clone)]
pub struct Status {
    /// The container.
    pub name: String,
    /// `running`, `stopped`, `absent`, `unmanaged`.
    pub state: &'static str,
    /// The digest it runs.
    pub digest: Option<Digest>,
    /// The digest its image names now.
    pub latest: Digest,
    /// Fields that differ from the file (hand edits or file changes since apply).
    pub drift: Vec<String>,
}

/// Running state, image digest against the latest, and drift, for each container.
pub async fn status(
    file: DesiredFile,
    backend: &dyn Backend,
    images: &dyn Images,
    opts: &Options,
) -> Result<Vec<Status>, ApplyError> {
    let p = plan(file, backend, images, opts).await?;
    let mut out = Vec::new();
    for step in &p.plan.steps {
        let observed = backend.observe(&step.name)?;
        let (state, digest) = match &observed {
            Observed::Absent => ("absent", None),
            Observed::Unmanaged => ("unmanaged", None),
            Observed::Managed(l) => (
                if l.running { "running" } else { "stopped" },
                Some(l.digest.clone()),
            ),
        };
        let Some(latest) = step.digest.clone().or_else(|| digest.clone()) else {
            continue;
        };
        let drift = match step.action {
            Action::Create => Vec::new(),
            _ => step.changes.iter().map(|c| c.field.clone()).collect(),
        };
        out.push(Status {
            name: step.name.clone(),
            state,
            digest,
            latest,
            drift,
        });
    }
    Ok(out)
}
