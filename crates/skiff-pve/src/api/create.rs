//! Creating a container through the API: `POST /nodes/{node}/lxc`, the overrides the
//! image's values overwrote re-applied with `PUT …/config`, then `…/status/start` —
//! every task followed to its exit status.
//!
//! The keys are pct's (pct is a thin CLI over the same API, see PROXMOX.md), so the same
//! option list serves both. What Proxmox allows only to root@pam (bind mounts, devices,
//! features other than nesting, hook scripts) is refused before anything is created when
//! authenticated by a token, which Proxmox counts as another user.

use reqwest::Method;
use serde_json::{Map, Value};

use super::client::PveApi;
use super::error::ApiError;
use crate::{CreateSpec, VmidChoice};

/// What a create did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The node.
    pub node: String,
    /// The VMID.
    pub vmid: u32,
    /// Whether it was started.
    pub started: bool,
}

/// How often an `auto` VMID is asked anew when another client took it first.
const VMID_ATTEMPTS: u32 = 5;

/// The options only root@pam may set, described for the error.
pub fn root_only(options: &[(String, String)]) -> Vec<String> {
    let mut refused = Vec::new();
    for (key, value) in options {
        let indexed = |prefix: &str| {
            key.strip_prefix(prefix)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        if indexed("mp") {
            let source = value.split(',').next().unwrap_or("");
            let source = source.strip_prefix("volume=").unwrap_or(source);
            if source.starts_with('/') {
                refused.push(format!("{key} (bind mount of {source})"));
            }
        } else if indexed("dev") {
            refused.push(format!(
                "{key} (device {})",
                value.split(',').next().unwrap_or("")
            ));
        } else if key == "features" {
            let others: Vec<&str> = value
                .split(',')
                .filter(|f| f.split('=').next() != Some("nesting"))
                .collect();
            if !others.is_empty() {
                refused.push(format!("features {}", others.join(",")));
            }
        } else if key == "hookscript" {
            refused.push("hookscript".to_string());
        }
    }
    refused
}

fn object(pairs: &[(String, String)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

impl PveApi {
    /// Creates `spec` on `node`: create, overrides, start, each task followed.
    pub async fn create_container(
        &self,
        node: &str,
        spec: &CreateSpec,
    ) -> Result<Created, ApiError> {
        let options = spec
            .create_options()
            .map_err(|e| ApiError::Setup(e.to_string()))?;
        let refused = root_only(&options);
        if !refused.is_empty() {
            return Err(ApiError::RootOnly {
                what: refused.join(", "),
                token: self.token_name(),
            });
        }
        let vmid = self.create_with_vmid(node, spec, &options).await?;
        self.finish(node, vmid, spec)
            .await
            .map_err(|e| ApiError::AfterCreate {
                vmid,
                node: node.to_string(),
                source: Box::new(e),
            })?;
        Ok(Created {
            node: node.to_string(),
            vmid,
            started: spec.start,
        })
    }

    /// After the create: the overrides over the image's values, then the start.
    async fn finish(&self, node: &str, vmid: u32, spec: &CreateSpec) -> Result<(), ApiError> {
        let id = vmid.to_string();
        let config = ["nodes", node, "lxc", &id, "config"];
        if spec.entrypoint.is_some() || !spec.env.is_empty() {
            // The image's Env as the create stored it: the base `--env` is set over.
            let current: Map<String, Value> = self.get(&config, &[]).await?;
            let image_env: Vec<String> = current
                .get("env")
                .and_then(Value::as_str)
                .map(|e| {
                    e.split('\0')
                        .filter(|v| !v.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let _: Value = self
                .call(
                    Method::PUT,
                    &config,
                    &Value::Object(object(&spec.overrides(&image_env))),
                )
                .await?;
        }
        if spec.start {
            self.start_container(node, vmid).await?;
        }
        Ok(())
    }

    /// `POST /nodes/{node}/lxc` and its task; with an `auto` VMID taken by someone else
    /// in between (the cluster lists it afterwards), the next proposal is tried.
    async fn create_with_vmid(
        &self,
        node: &str,
        spec: &CreateSpec,
        options: &[(String, String)],
    ) -> Result<u32, ApiError> {
        let segments = ["nodes", node, "lxc"];
        let what = format!("POST /{}", segments.join("/"));
        let mut attempt = 0;
        loop {
            let vmid = match spec.vmid {
                VmidChoice::Id(v) => v,
                VmidChoice::Auto => self.next_vmid().await?,
            };
            let mut body = Map::new();
            body.insert("vmid".into(), Value::from(vmid));
            body.insert("ostemplate".into(), Value::String(spec.ostemplate.clone()));
            body.extend(object(options));
            match self
                .call::<String>(Method::POST, &segments, &Value::Object(body))
                .await
            {
                Ok(upid) => {
                    self.wait_task(&what, &upid).await?;
                    return Ok(vmid);
                }
                Err(e @ ApiError::Http { .. })
                    if spec.vmid == VmidChoice::Auto && attempt + 1 < VMID_ATTEMPTS =>
                {
                    if !self.vmid_in_use(vmid).await? {
                        return Err(e);
                    }
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether any node has a guest `vmid` (`GET /cluster/resources?type=vm`).
    async fn vmid_in_use(&self, vmid: u32) -> Result<bool, ApiError> {
        let guests: Vec<Value> = self
            .get(&["cluster", "resources"], &[("type", "vm")])
            .await?;
        Ok(guests.iter().any(|g| {
            g.get("vmid").is_some_and(|v| {
                v.as_u64() == Some(u64::from(vmid)) || v.as_str() == Some(&vmid.to_string())
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn root_only_options_are_named() {
        let ok = kv(&[
            ("mp0", "local-lvm:8,mp=/data"),
            ("features", "nesting=1"),
            ("net0", "name=eth0,bridge=vmbr0,ip=dhcp"),
        ]);
        assert!(root_only(&ok).is_empty());
        let refused = root_only(&kv(&[
            ("mp1", "/srv/media,mp=/media,ro=1"),
            ("dev0", "/dev/dri/renderD128,gid=104"),
            ("features", "nesting=1,keyctl=1"),
        ]));
        assert_eq!(
            refused,
            [
                "mp1 (bind mount of /srv/media)",
                "dev0 (device /dev/dri/renderD128)",
                "features keyctl=1"
            ]
        );
    }
}
