//! What the cluster says about itself: its nodes and their free memory, the next free
//! VMID, and the templates a node's storage holds.

use serde::Deserialize;

use super::client::PveApi;
use super::error::ApiError;

/// One entry of `GET /cluster/resources?type=node`.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeResource {
    /// The node name.
    pub node: String,
    /// `online`, `offline`, `unknown`.
    #[serde(default)]
    pub status: String,
    /// Memory in bytes.
    #[serde(default)]
    pub maxmem: u64,
    /// Memory used, in bytes.
    #[serde(default)]
    pub mem: u64,
}

impl NodeResource {
    fn free_memory(&self) -> u64 {
        self.maxmem.saturating_sub(self.mem)
    }
}

/// One entry of `GET /nodes/{node}/storage/{storage}/content`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct Volume {
    /// `STORAGE:vztmpl/FILE`.
    pub volid: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// The file's change time (seconds since the epoch).
    #[serde(default)]
    pub ctime: i64,
    /// `tgz`, `tzst`, `tar`, …
    #[serde(default)]
    pub format: String,
}

/// Serde for the many integers Proxmox sends as strings in some versions.
fn vmid_from(value: &serde_json::Value) -> Option<u32> {
    match value {
        serde_json::Value::Number(n) => n.as_u64().and_then(|v| u32::try_from(v).ok()),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl PveApi {
    /// The online node with the most free memory.
    pub async fn roomiest_node(&self) -> Result<String, ApiError> {
        let nodes: Vec<NodeResource> = self
            .get(&["cluster", "resources"], &[("type", "node")])
            .await?;
        nodes
            .into_iter()
            .filter(|n| n.status == "online")
            .max_by(|a, b| {
                a.free_memory()
                    .cmp(&b.free_memory())
                    .then_with(|| b.node.cmp(&a.node))
            })
            .map(|n| n.node)
            .ok_or_else(|| {
                ApiError::NoNode(
                    "the cluster lists no online node (GET /cluster/resources?type=node)".into(),
                )
            })
    }

    /// A VMID the cluster proposes (`GET /cluster/nextid`); not reserved, so a create
    /// may still find it taken.
    pub async fn next_vmid(&self) -> Result<u32, ApiError> {
        let value: serde_json::Value = self.get(&["cluster", "nextid"], &[]).await?;
        vmid_from(&value).ok_or_else(|| ApiError::InvalidResponse {
            what: "GET /cluster/nextid".into(),
            message: format!("not a VMID: {value}"),
        })
    }

    /// The first enabled storage of `node` that holds container disks (`rootdir`):
    /// the default of `--rootfs-storage`, never `local` by assumption.
    pub async fn rootdir_storage(&self, node: &str) -> Result<String, ApiError> {
        let storages: Vec<serde_json::Value> = self
            .get(
                &["nodes", node, "storage"],
                &[("content", "rootdir"), ("enabled", "1")],
            )
            .await?;
        storages
            .iter()
            .filter_map(|s| s.get("storage").and_then(serde_json::Value::as_str))
            .min()
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::Setup(format!(
                    "node {node} has no storage for container disks (content rootdir); \
                     name one with --rootfs-storage"
                ))
            })
    }

    /// The container templates (`vztmpl`) on `storage` of `node`.
    pub async fn templates(&self, node: &str, storage: &str) -> Result<Vec<Volume>, ApiError> {
        let mut volumes: Vec<Volume> = self
            .get(
                &["nodes", node, "storage", storage, "content"],
                &[("content", "vztmpl")],
            )
            .await?;
        volumes.sort_by(|a, b| a.volid.cmp(&b.volid));
        Ok(volumes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmids_come_as_numbers_or_strings() {
        assert_eq!(vmid_from(&serde_json::json!("105")), Some(105));
        assert_eq!(vmid_from(&serde_json::json!(106)), Some(106));
        assert_eq!(vmid_from(&serde_json::json!("x")), None);
    }
}
