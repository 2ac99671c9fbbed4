//! A stand-in of the Proxmox VE REST API (pveproxy on port 8006) for cluster mode,
//! following PROXMOX.md: HTTPS with a self-signed node certificate, API tokens
//! (`Authorization: PVEAPIToken=USER@REALM!ID=SECRET`), replies `{"data": …}` and errors
//! in the status line and `message`, worker tasks with UPIDs that report `running`
//! before they stop, template storages that are directories, an upload that checks the
//! checksum and writes the file, and a create that checks its options as pve-container
//! does (refusing root-only options to tokens), applies the OCI image's values over the
//! user's, and records the resulting config — with the model of [`crate::pve`], which
//! the `pct` stand-in uses too.
//!
//! A real Proxmox VE cannot run here; everything it would refuse, this refuses too.

mod multipart;
mod routes;
mod state;
mod wire;

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;

pub use state::{ApiCall, Guest, PveNode, PveStorage};

use crate::registry::tls::write_self_signed_files;
use state::State;

/// The cluster to stand in for.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Its nodes.
    pub nodes: Vec<PveNode>,
    /// Its storages (every node has each).
    pub storages: Vec<PveStorage>,
    /// The API token's user (`USER@REALM`), id and secret.
    pub token: (String, String, String),
}

impl Default for ClusterSpec {
    /// Two nodes (`pve2` has more free memory), `local` (templates, per node) and
    /// `cephfs` (templates, shared), `local-lvm` (disks only), token
    /// `skiff@pve!deploy`.
    fn default() -> Self {
        let gib = 1u64 << 30;
        let storage = |id: &str, content: &[&str], shared| PveStorage {
            id: id.into(),
            content: content.iter().map(|c| c.to_string()).collect(),
            shared,
        };
        ClusterSpec {
            nodes: vec![
                PveNode {
                    name: "pve1".into(),
                    maxmem: 64 * gib,
                    mem: 60 * gib,
                },
                PveNode {
                    name: "pve2".into(),
                    maxmem: 32 * gib,
                    mem: 8 * gib,
                },
            ],
            storages: vec![
                storage("local", &["iso", "vztmpl", "backup"], false),
                storage("local-lvm", &["rootdir", "images"], false),
                storage("cephfs", &["vztmpl", "backup"], true),
            ],
            token: (
                "skiff@pve".into(),
                "deploy".into(),
                "5e2f9a43-0b1c-4d7e-9f00-d5c0ffee0001".into(),
            ),
        }
    }
}

/// A running stand-in; stops when dropped.
pub struct PveApiServer {
    listener: wire::Listener,
    state: Arc<Mutex<State>>,
    fingerprint: String,
    _dir: tempfile::TempDir,
}

impl PveApiServer {
    /// Starts the stand-in on 127.0.0.1 with a fresh self-signed certificate.
    pub fn start(spec: ClusterSpec) -> io::Result<PveApiServer> {
        let dir = tempfile::tempdir()?;
        let tls = write_self_signed_files(&dir.path().join("tls"))?;
        let pem = std::fs::read(&tls.server_cert)?;
        let der = rustls::pki_types::CertificateDer::from_pem_slice(&pem)
            .map_err(|e| io::Error::other(format!("certificate: {e}")))?;
        let fingerprint = crate::image::sha256_digest(der.as_ref())
            .trim_start_matches("sha256:")
            .as_bytes()
            .chunks(2)
            .map(|p| String::from_utf8_lossy(p).to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        let root = dir.path().join("cluster");
        std::fs::create_dir_all(&root)?;
        let state = Arc::new(Mutex::new(State {
            root,
            nodes: spec.nodes,
            storages: spec.storages,
            token: spec.token,
            calls: Vec::new(),
            tasks: Default::default(),
            guests: Default::default(),
            failures: Default::default(),
            next_pid: 0x3a00,
        }));
        let config = wire::tls_config(&tls.server_cert, &tls.server_key)?;
        let handler_state = state.clone();
        let listener =
            wire::Listener::start(config, move |req| routes::handle(&handler_state, req))?;
        Ok(PveApiServer {
            listener,
            state,
            fingerprint,
            _dir: dir,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `https://127.0.0.1:PORT` (what `--api` takes).
    pub fn url(&self) -> String {
        format!("https://{}", self.listener.addr)
    }

    /// The node certificate's SHA-256 fingerprint, `AA:BB:…` as `pvenode cert info`
    /// prints it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The full token, `USER@REALM!ID=SECRET`.
    pub fn token(&self) -> String {
        let s = self.state();
        format!("{}!{}={}", s.token.0, s.token.1, s.token.2)
    }

    /// Every call received so far, in order.
    pub fn calls(&self) -> Vec<ApiCall> {
        self.state().calls.clone()
    }

    /// Forgets the calls received so far.
    pub fn clear_calls(&self) {
        self.state().calls.clear();
    }

    /// The container `vmid`, if the stand-in holds it.
    pub fn guest(&self, vmid: u32) -> Option<Guest> {
        self.state().guests.get(&vmid).cloned()
    }

    /// Adds a container as if created earlier (for VMID conflicts).
    pub fn add_guest(&self, vmid: u32, node: &str) {
        let mut config = crate::pve::CtConfig::default();
        config.keys.insert("hostname".into(), format!("CT{vmid}"));
        self.state().guests.insert(
            vmid,
            Guest {
                node: node.into(),
                config,
                running: false,
            },
        );
    }

    /// Makes the next task of type `kind` (`vzcreate`, `vzstart`, `imgcopy`) end with
    /// `error` as its exit status.
    pub fn fail_next_task(&self, kind: &str, error: &str) {
        self.state().failures.insert(kind.into(), error.into());
    }

    /// The template cache directory of `storage` on `node`.
    pub fn template_dir(&self, node: &str, storage: &str) -> PathBuf {
        let s = self.state();
        match s.storage(storage) {
            Some(st) => s.template_dir(node, st),
            None => s.root.join("no-such-storage"),
        }
    }
}
