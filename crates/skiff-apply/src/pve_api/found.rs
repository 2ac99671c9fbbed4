//! A container as the cluster shows it: where it is, whether it runs, and its config in
//! the form the pve backend reads (so both see the same marker and fields).

use skiff_pve::api::{ApiError, PveApi};

use crate::backend::Live;
use crate::pve::config::CtConfig;

/// One container of the cluster with its config.
#[derive(Debug, Clone)]
pub(super) struct Found {
    /// The node it is on.
    pub node: String,
    /// Running now.
    pub running: bool,
    /// Its config (the VMID in it).
    pub config: CtConfig,
    /// The config's digest, for `PUT …/config`.
    pub digest: String,
}

impl Found {
    pub fn vmid(&self) -> u32 {
        self.config.vmid
    }

    /// The managed container as apply last left it, with the node it is on.
    pub fn live(&self) -> Option<Live> {
        let mut live = self.config.live(self.running)?;
        live.fields.insert("node".into(), self.node.clone());
        Some(live)
    }
}

/// Every container of the cluster with its config.
pub(super) async fn containers(api: &PveApi) -> Result<Vec<Found>, ApiError> {
    let mut out = Vec::new();
    for r in api.containers().await? {
        let g = api.container_config(&r.node, r.vmid).await?;
        out.push(Found {
            running: r.status == "running",
            node: r.node,
            config: CtConfig {
                vmid: r.vmid,
                description: g.description,
                keys: g.keys,
            },
            digest: g.digest,
        });
    }
    Ok(out)
}
