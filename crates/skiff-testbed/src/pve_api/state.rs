//! What the stand-in cluster knows: nodes, storages (directories under the test's
//! temporary directory), guests and their configs, worker tasks, and every API call
//! received, for tests to assert.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use crate::pve::CtConfig;

/// A cluster node.
#[derive(Debug, Clone)]
pub struct PveNode {
    /// Its name.
    pub name: String,
    /// Memory in bytes, and memory used.
    pub maxmem: u64,
    pub mem: u64,
}

/// A storage of the cluster (every node has it).
#[derive(Debug, Clone)]
pub struct PveStorage {
    /// The storage id.
    pub id: String,
    /// Its content types, e.g. `["vztmpl", "iso"]`.
    pub content: Vec<String>,
    /// One directory for all nodes (nfs, cephfs), else one per node.
    pub shared: bool,
}

/// One API call as received: method, path below `/api2/json`, and the parameters
/// (query for GET, body otherwise; the upload's file part as `filename` = its name).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiCall {
    pub method: String,
    pub path: String,
    pub params: BTreeMap<String, Value>,
}

impl ApiCall {
    /// `METHOD /path` — what most assertions compare.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A container the stand-in holds.
#[derive(Debug, Clone)]
pub struct Guest {
    /// Its node.
    pub node: String,
    /// Its config, as pct and the API write it (the model both stand-ins share).
    pub config: CtConfig,
    /// Whether it runs.
    pub running: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub node: String,
    /// Status polls left before the task reports `stopped`.
    pub polls_left: u32,
    pub exitstatus: String,
}

#[derive(Debug)]
pub(crate) struct State {
    pub root: PathBuf,
    pub nodes: Vec<PveNode>,
    pub storages: Vec<PveStorage>,
    /// `USER@REALM`, token id, secret.
    pub token: (String, String, String),
    pub calls: Vec<ApiCall>,
    pub tasks: BTreeMap<String, Task>,
    pub guests: BTreeMap<u32, Guest>,
    /// Task type → the error the next such task ends with.
    pub failures: BTreeMap<String, String>,
    pub next_pid: u32,
}

impl State {
    pub fn node(&self, name: &str) -> Option<&PveNode> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn storage(&self, id: &str) -> Option<&PveStorage> {
        self.storages.iter().find(|s| s.id == id)
    }

    /// The template cache of `storage` as `node` sees it.
    pub fn template_dir(&self, node: &str, storage: &PveStorage) -> PathBuf {
        let scope = if storage.shared { "shared" } else { node };
        self.root
            .join(scope)
            .join(&storage.id)
            .join("template/cache")
    }

    /// `USER@REALM!TOKENID`, as tasks and permission checks see the caller.
    pub fn userid(&self) -> String {
        format!("{}!{}", self.token.0, self.token.1)
    }

    /// Starts a worker task; it reports `running` for one poll, then its end.
    pub fn task(&mut self, node: &str, kind: &str, id: &str) -> String {
        self.next_pid += 1;
        let upid = format!(
            "UPID:{node}:{:08X}:{:08X}:{:08X}:{kind}:{id}:{}:",
            self.next_pid,
            0x1000 + self.next_pid,
            0x6700_0000 + self.next_pid,
            self.userid()
        );
        let exitstatus = self.failures.remove(kind).unwrap_or_else(|| "OK".into());
        self.tasks.insert(
            upid.clone(),
            Task {
                node: node.to_string(),
                polls_left: 1,
                exitstatus,
            },
        );
        upid
    }

    /// Whether the task that was just started will fail (its work is then not done).
    pub fn task_fails(&self, upid: &str) -> bool {
        self.tasks.get(upid).is_some_and(|t| t.exitstatus != "OK")
    }

    /// Ends `upid` with `error` (work the task found impossible).
    pub fn fail_task(&mut self, upid: &str, error: String) {
        if let Some(t) = self.tasks.get_mut(upid) {
            t.exitstatus = error;
        }
    }
}
