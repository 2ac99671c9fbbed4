//! The `pve-api` backend: containers on a Proxmox VE cluster, through its REST API
//! (skiff-pve's [`PveApi`], the client behind `skiff pve create --api`).
//!
//! * State is the cluster's own: `GET /cluster/resources?type=vm` lists the containers
//!   of every node, `GET …/lxc/VMID/config` gives each one's config with the same
//!   marker the `pve` backend writes (tag `skiff` plus a `skiff: managed …` description
//!   line, [`crate::pve`]'s config module): a container created by one backend is
//!   recognised by the other, and one without the marker is never touched.
//! * Create: the template is pulled here (credentials, policy and verification stay on
//!   this machine) and uploaded to the node's template storage — unless skiff's upload
//!   record shows the same archive there for the same digest — then `POST
//!   /nodes/N/lxc` with the keys the pve backend gives pct, and the overrides the image's
//!   values overwrote re-applied with `PUT …/config`. `node:` picks the node, else the
//!   online node with the most free memory.
//! * Update: `PUT …/config` with the keys that changed (`delete=` for the ones the file
//!   dropped) and the config's `digest`, so a change made meanwhile is refused rather
//!   than overwritten. Start, shutdown and destroy are worker tasks, each followed to its
//!   exit status. Replace (new digest, a create-only key, another node) fetches the new
//!   template first, then shuts down, destroys and creates again under the same VMID.
//! * Refused in `check`, before anything is created: what only root@pam may set — bind
//!   mounts (every apply mount is one), devices (`gpu`), features other than nesting —
//!   since an API token never counts as root@pam; and `health`, because the API has no
//!   way to run a command inside a container (`pct exec` works on the node only).
//!
//! The [`Backend`] trait's observing and single-step methods are synchronous; the API
//! client is async, so those calls run on the caller's (multi-threaded) tokio runtime
//! through `block_in_place`.

mod found;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

use skiff_oci::Reference;
use skiff_pve::api::{root_only, ApiError, NodeResource, PveApi, UploadRecord};
use skiff_pve::spec::{Mount, MountSource};
use skiff_pve::{CreateSpec, VmidChoice};

use crate::backend::{Backend, Images, Live, Observed, Target};
use crate::plan::Effect;
use crate::pve::{self, config};
use crate::{ApplyError, Desired, Gpu};
use found::Found;

const BACKEND: &str = "pve-api";

/// Containers on a Proxmox VE cluster, through its REST API with an API token.
#[derive(Debug)]
pub struct PveApiBackend {
    api: PveApi,
    record: UploadRecord,
    /// The node new containers without `node:` go to, asked once per run.
    roomiest: Mutex<Option<String>>,
    /// The cluster's containers as last read: a plan observes every container several
    /// times (observe, fields, managed), so they are read once and read again after
    /// any change this backend makes.
    snapshot: Mutex<Option<Vec<Found>>>,
}

/// Runs `fut` to its end from synchronous code inside the async caller.
fn block<F: Future>(fut: F) -> Result<F::Output, ApplyError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let handle = Handle::try_current()
        .ok()
        .filter(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread)
        .ok_or_else(|| {
            ApplyError::Api(ApiError::Setup(
                "the pve-api backend must be driven from a multi-threaded tokio runtime".into(),
            ))
        })?;
    Ok(tokio::task::block_in_place(|| handle.block_on(fut)))
}

/// [`block`] for an API call.
fn call<T>(fut: impl Future<Output = Result<T, ApiError>>) -> Result<T, ApplyError> {
    Ok(block(fut)??)
}

fn unsupported(d: &Desired, key: &'static str, why: String) -> ApplyError {
    ApplyError::Unsupported {
        container: d.name.clone(),
        backend: BACKEND,
        key,
        why,
    }
}

impl PveApiBackend {
    /// The backend for the cluster `api` reaches; `record` is where uploads are
    /// remembered (the one `skiff pve pull --api` keeps).
    pub fn new(api: PveApi, record: UploadRecord) -> Self {
        PveApiBackend {
            api,
            record,
            roomiest: Mutex::new(None),
            snapshot: Mutex::new(None),
        }
    }

    /// The cluster's containers ([`Self::snapshot`]).
    async fn all(&self) -> Result<Vec<Found>, ApiError> {
        let cached = self
            .snapshot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(all) = cached {
            return Ok(all);
        }
        let all = found::containers(&self.api).await?;
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = Some(all.clone());
        Ok(all)
    }

    /// The containers whose hostname is `name`, a managed one first: from the snapshot
    /// to observe, read afresh (the snapshot forgotten) to change one — a change acts on
    /// the container as it is now, and what is observed after it sees the change.
    async fn named(&self, name: &str, to_change: bool) -> Result<Vec<Found>, ApiError> {
        let all = if to_change {
            *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = None;
            found::containers(&self.api).await?
        } else {
            self.all().await?
        };
        let mut named: Vec<Found> = all
            .into_iter()
            .filter(|f| f.config.hostname() == name)
            .collect();
        named.sort_by_key(|f| f.config.marker().is_none());
        Ok(named)
    }

    /// The container named `name`: a managed one if there is one, else any.
    fn find(&self, name: &str, to_change: bool) -> Result<Option<Found>, ApplyError> {
        Ok(call(self.named(name, to_change))?.into_iter().next())
    }

    /// The managed container named `name` as it is now, about to be changed, or
    /// [`ApplyError::Unmanaged`].
    fn managed_found(&self, name: &str) -> Result<Found, ApplyError> {
        self.find(name, true)?
            .filter(|f| f.config.marker().is_some())
            .ok_or_else(|| ApplyError::Unmanaged(name.to_string()))
    }

    /// Where `d` lives or goes: the file's node, else the node it is on, else the
    /// roomiest.
    async fn node_for(&self, d: &Desired, existing: Option<&Found>) -> Result<String, ApiError> {
        if let Some(n) = d
            .proxmox
            .node
            .clone()
            .or_else(|| existing.map(|f| f.node.clone()))
        {
            return Ok(n);
        }
        let cached = self
            .roomiest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(n) = cached {
            return Ok(n);
        }
        let n = self.api.roomiest_node().await?;
        *self.roomiest.lock().unwrap_or_else(|p| p.into_inner()) = Some(n.clone());
        Ok(n)
    }

    /// The root disk's storage: the file's, else the node's first with `rootdir`
    /// content.
    async fn rootfs_storage(&self, d: &Desired, node: &str) -> Result<String, ApiError> {
        match &d.proxmox.storage {
            Some(s) => Ok(s.clone()),
            None => self.api.rootdir_storage(node).await,
        }
    }

    /// The template of `t`'s image at its digest on `node`: the one skiff uploaded
    /// there for that digest, else pulled here and uploaded. Its volume id.
    async fn template(
        &self,
        t: &Target<'_>,
        node: &str,
        images: &dyn Images,
    ) -> Result<String, ApplyError> {
        let d = t.desired;
        let storages = self.api.template_storages(node).await?;
        let storage = storages
            .iter()
            .min_by_key(|s| s.as_str() != "local")
            .ok_or_else(|| {
                ApiError::Setup(format!(
                    "node {node} has no storage for container templates (content vztmpl)"
                ))
            })?;
        let pinned = Reference::parse(&d.image)
            .map_err(|e| ApplyError::Image {
                image: d.image.clone(),
                message: e.to_string(),
            })?
            .with_digest(t.digest.clone())
            .to_string();
        // The digest in the name: a new digest is a new file, never an overwrite.
        let file = skiff_pve::template_filename(None, &pinned)?;
        let volid = skiff_pve::volid(storage, &file);
        let digest = t.digest.to_string();
        let there = self
            .api
            .templates_with_origin(node, storage, &self.record)
            .await?;
        if there
            .iter()
            .any(|(v, k)| v.volid == volid && k.as_ref().is_some_and(|k| k.manifest == digest))
        {
            return Ok(volid);
        }
        let scratch = tempfile::tempdir().map_err(ApplyError::io(
            "creating a scratch directory in",
            &std::env::temp_dir(),
        ))?;
        let archive = scratch.path().join(&file);
        images.archive(&d.image, &t.digest, &archive).await?;
        self.api
            .place_template(
                node,
                storage,
                &file,
                &archive,
                (&pinned, &digest),
                &self.record,
            )
            .await?;
        Ok(volid)
    }

    /// Everything a create needs, done before anything is removed or created: the
    /// template on `node` and the checked spec.
    async fn prepare(
        &self,
        t: &Target<'_>,
        images: &dyn Images,
        node: &str,
        vmid: VmidChoice,
    ) -> Result<CreateSpec, ApplyError> {
        let d = t.desired;
        let volid = self.template(t, node, images).await?;
        let rootfs = (self.rootfs_storage(d, node).await?, config::disk_gib(d));
        let spec = pve::base_spec(t, volid, rootfs, vmid);
        spec.validate()?;
        Ok(spec)
    }

    async fn shutdown(&self, f: &Found) -> Result<(), ApiError> {
        if f.running {
            self.api.shutdown_container(&f.node, f.vmid()).await?;
        }
        Ok(())
    }

    /// The nodes of the cluster (for checking `node:`).
    fn nodes(&self) -> Result<Vec<NodeResource>, ApplyError> {
        call(self.api.get(&["cluster", "resources"], &[("type", "node")]))
    }
}

#[async_trait::async_trait]
impl Backend for PveApiBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn check(&self, d: &Desired) -> Result<(), ApplyError> {
        pve::check_keys(d, BACKEND)?;
        let token = self.api.token_name();
        let root_only_why = |what: Vec<String>| {
            format!(
                "{} — Proxmox lets only root@pam set this, and the API token {token} counts \
                 as another user even when it belongs to root@pam; use the pve backend on \
                 the node (pct as root), or remove the key",
                what.join(", ")
            )
        };
        for (i, m) in d.mounts.iter().enumerate() {
            let mp = Mount {
                source: MountSource::Bind(m.source.clone().unwrap_or_default()),
                target: m.target.clone(),
                read_only: m.readonly,
                backup: m.backup,
            };
            let refused = root_only(&[(format!("mp{i}"), mp.property())]);
            if !refused.is_empty() {
                return Err(unsupported(d, "mounts", root_only_why(refused)));
            }
        }
        if !matches!(d.proxmox.gpu, None | Some(Gpu::None)) {
            return Err(unsupported(
                d,
                "gpu",
                root_only_why(vec!["devN (device passthrough)".into()]),
            ));
        }
        if let Some(f) = &d.proxmox.features {
            let refused = root_only(&[("features".into(), f.clone())]);
            if !refused.is_empty() {
                return Err(unsupported(d, "features", root_only_why(refused)));
            }
        }
        if d.health.is_some() {
            return Err(unsupported(d, "health", NO_EXEC.into()));
        }
        if let Some(node) = &d.proxmox.node {
            let nodes = self.nodes()?;
            match nodes.iter().find(|n| n.node == *node) {
                Some(n) if n.status == "online" => {}
                Some(n) => {
                    return Err(unsupported(
                        d,
                        "node",
                        format!("node {node} is {}", n.status),
                    ))
                }
                None => {
                    let names: Vec<&str> = nodes.iter().map(|n| n.node.as_str()).collect();
                    return Err(unsupported(
                        d,
                        "node",
                        format!(
                            "the cluster has no node {node:?} (its nodes: {})",
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn fields(&self, d: &Desired, env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let place = block(async {
            let existing = self
                .named(&d.name, false)
                .await?
                .into_iter()
                .find(|f| f.config.marker().is_some());
            let node = self.node_for(d, existing.as_ref()).await?;
            let storage = self.rootfs_storage(d, &node).await?;
            Ok::<_, ApiError>((node, storage))
        });
        // Unreachable now: the plan shows the fields it could not learn as changes,
        // and apply's first call reports why.
        let (node, storage) = match place {
            Ok(Ok(p)) => p,
            _ => Default::default(),
        };
        let mut f = config::wanted(d, env, &storage);
        f.insert("node".into(), node);
        f
    }

    fn effect(&self, field: &str) -> Effect {
        match field {
            // A container moves by being created on the other node.
            "node" => Effect::Replace,
            f => pve::effect(f),
        }
    }

    fn host_address(&self, name: &str) -> String {
        // Each container has its own address on its bridge; its hostname is the name.
        name.to_string()
    }

    fn observe(&self, name: &str) -> Result<Observed, ApplyError> {
        let Some(f) = self.find(name, false)? else {
            return Ok(Observed::Absent);
        };
        Ok(f.live().map_or(Observed::Unmanaged, Observed::Managed))
    }

    fn managed(&self) -> Result<Vec<(String, Live)>, ApplyError> {
        Ok(call(self.all())?
            .into_iter()
            .filter_map(|f| Some((f.config.hostname(), f.live()?)))
            .collect())
    }

    async fn create(&self, t: &Target<'_>, images: &dyn Images) -> Result<(), ApplyError> {
        let d = t.desired;
        if self.find(&d.name, true)?.is_some() {
            return Err(ApplyError::Unmanaged(d.name.clone()));
        }
        let node = self.node_for(d, None).await?;
        let vmid = d.proxmox.vmid.map_or(VmidChoice::Auto, VmidChoice::Id);
        let spec = self.prepare(t, images, &node, vmid).await?;
        self.api.create_container(&node, &spec).await?;
        Ok(())
    }

    async fn replace(&self, t: &Target<'_>, images: &dyn Images) -> Result<(), ApplyError> {
        let d = t.desired;
        let old = self.managed_found(&d.name)?;
        let destroy = format!("DELETE /nodes/{}/lxc/{}", old.node, old.vmid());
        pve::refuse_volumes(&old.config, &d.name, "replacing", destroy)?;
        let node = d.proxmox.node.clone().unwrap_or_else(|| old.node.clone());
        let vmid = VmidChoice::Id(d.proxmox.vmid.unwrap_or(old.vmid()));
        // Everything that can fail without the container is done before it goes.
        let spec = self.prepare(t, images, &node, vmid).await?;
        self.shutdown(&old).await?;
        self.api.destroy_container(&old.node, old.vmid()).await?;
        self.api.create_container(&node, &spec).await?;
        Ok(())
    }

    fn update(&self, t: &Target<'_>, _live: &[String]) -> Result<(), ApplyError> {
        // Proxmox itself applies what it can to the running container and keeps the
        // rest pending; apply restarts it when the plan says so.
        let f = self.managed_found(&t.desired.name)?;
        let (args, env_changed) = pve::set_args(t, &f.config);
        // pct's `set VMID --key value … --delete k1,k2` are the API's keys.
        let mut options: Vec<(String, String)> = args
            .get(2..)
            .unwrap_or_default()
            .chunks(2)
            .filter_map(|kv| match kv {
                [k, v] => Some((k.trim_start_matches("--").to_string(), v.clone())),
                _ => None,
            })
            .collect();
        if env_changed {
            options.push(("env".into(), pve::env_value(t, &f.config)));
        }
        if options.is_empty() {
            return Ok(());
        }
        options.push(("digest".into(), f.digest.clone()));
        call(self.api.set_container_config(&f.node, f.vmid(), &options))
    }

    fn start(&self, name: &str) -> Result<(), ApplyError> {
        let f = self.managed_found(name)?;
        if f.running {
            return Ok(());
        }
        call(self.api.start_container(&f.node, f.vmid()))
    }

    fn stop(&self, name: &str) -> Result<(), ApplyError> {
        let f = self.managed_found(name)?;
        call(self.shutdown(&f))
    }

    fn health(&self, name: &str, _command: &str) -> Result<(), ApplyError> {
        Err(ApplyError::Unsupported {
            container: name.to_string(),
            backend: BACKEND,
            key: "health",
            why: NO_EXEC.into(),
        })
    }

    fn destroy(&self, name: &str) -> Result<(), ApplyError> {
        let f = self.managed_found(name)?;
        let command = format!("DELETE /nodes/{}/lxc/{}", f.node, f.vmid());
        pve::refuse_volumes(&f.config, name, "destroying", command)?;
        call(async {
            self.shutdown(&f).await?;
            self.api.destroy_container(&f.node, f.vmid()).await
        })
    }
}

/// Why `health:` cannot be honoured through the API.
const NO_EXEC: &str = "the Proxmox VE API has no way to run a command inside a container \
                       (pct exec works only on the node itself); use the pve backend on the \
                       node, or remove `health:`";
