//! The containers of a cluster after their create: listing them, reading and changing
//! their config, and starting, shutting down and destroying them — every task followed
//! to its exit status. What `apply --backend pve-api` drives.

use reqwest::Method;
use serde_json::{Map, Value};

use super::client::PveApi;
use super::error::ApiError;

/// One container of `GET /cluster/resources?type=vm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestResource {
    /// Its VMID.
    pub vmid: u32,
    /// The node it is on.
    pub node: String,
    /// `running`, `stopped`, …
    pub status: String,
}

/// A container's config as `GET …/config` returns it: the keys as text (numbers too),
/// `description` and the optimistic-lock `digest` apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestConfig {
    /// The description (where skiff keeps its marker), without a trailing newline.
    pub description: String,
    /// The digest `PUT …/config` takes to refuse a change made meanwhile.
    pub digest: String,
    /// Every other key.
    pub keys: std::collections::BTreeMap<String, String>,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl PveApi {
    /// Every LXC container of the cluster (virtual machines are not apply's).
    pub async fn containers(&self) -> Result<Vec<GuestResource>, ApiError> {
        let guests: Vec<Value> = self
            .get(&["cluster", "resources"], &[("type", "vm")])
            .await?;
        let mut out: Vec<GuestResource> = guests
            .iter()
            .filter(|g| g.get("type").and_then(Value::as_str) == Some("lxc"))
            .filter_map(|g| {
                let vmid = g.get("vmid").map(text)?.parse().ok()?;
                Some(GuestResource {
                    vmid,
                    node: g.get("node").map(text)?,
                    status: g.get("status").map(text).unwrap_or_default(),
                })
            })
            .collect();
        out.sort_by_key(|g| g.vmid);
        Ok(out)
    }

    /// `GET /nodes/{node}/lxc/{vmid}/config`.
    pub async fn container_config(&self, node: &str, vmid: u32) -> Result<GuestConfig, ApiError> {
        let id = vmid.to_string();
        let mut map: Map<String, Value> = self
            .get(&["nodes", node, "lxc", &id, "config"], &[])
            .await?;
        let mut take = |k: &str| map.remove(k).map(|v| text(&v)).unwrap_or_default();
        let description = take("description").trim_end_matches('\n').to_string();
        let digest = take("digest");
        Ok(GuestConfig {
            description,
            digest,
            keys: map.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        })
    }

    /// `PUT /nodes/{node}/lxc/{vmid}/config` with `options` (`delete=k1,k2` removes
    /// keys, `digest=` refuses a config changed meanwhile). Synchronous in Proxmox.
    pub async fn set_container_config(
        &self,
        node: &str,
        vmid: u32,
        options: &[(String, String)],
    ) -> Result<(), ApiError> {
        let id = vmid.to_string();
        let body: Map<String, Value> = options
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let _: Value = self
            .call(
                Method::PUT,
                &["nodes", node, "lxc", &id, "config"],
                &Value::Object(body),
            )
            .await?;
        Ok(())
    }

    /// A task-starting call on the container, followed to its end.
    async fn container_task(
        &self,
        method: Method,
        node: &str,
        vmid: u32,
        tail: &[&str],
        body: Value,
    ) -> Result<(), ApiError> {
        let id = vmid.to_string();
        let mut segments = vec!["nodes", node, "lxc", id.as_str()];
        segments.extend_from_slice(tail);
        let upid: String = self.call(method.clone(), &segments, &body).await?;
        self.wait_task(&format!("{method} /{}", segments.join("/")), &upid)
            .await
            .map(drop)
    }

    /// `POST …/status/start`.
    pub async fn start_container(&self, node: &str, vmid: u32) -> Result<(), ApiError> {
        self.container_task(
            Method::POST,
            node,
            vmid,
            &["status", "start"],
            Value::Object(Map::new()),
        )
        .await
    }

    /// `POST …/status/shutdown` with `forceStop=1`: a clean shutdown (the image's stop
    /// signal), the container killed if it is not down when the timeout ends.
    pub async fn shutdown_container(&self, node: &str, vmid: u32) -> Result<(), ApiError> {
        self.container_task(
            Method::POST,
            node,
            vmid,
            &["status", "shutdown"],
            serde_json::json!({"forceStop": 1}),
        )
        .await
    }

    /// `DELETE /nodes/{node}/lxc/{vmid}`: the container, its root disk and its volume
    /// mount points (bind mount sources stay). Proxmox refuses while it runs.
    pub async fn destroy_container(&self, node: &str, vmid: u32) -> Result<(), ApiError> {
        self.container_task(Method::DELETE, node, vmid, &[], Value::Object(Map::new()))
            .await
    }
}
