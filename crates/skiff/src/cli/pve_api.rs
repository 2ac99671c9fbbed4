//! Flags of cluster mode: the Proxmox VE API to use instead of this node's files and pct.

use clap::Args;

/// `--api`, `--token`, `--fingerprint` (also SKIFF_PVE_API, SKIFF_PVE_TOKEN,
/// SKIFF_PVE_FINGERPRINT, and the config file pve.toml).
#[derive(Debug, Args, Clone, Default)]
pub struct PveApiArgs {
    /// Cluster mode: the Proxmox VE API to use, https://HOST:8006 (else SKIFF_PVE_API, or
    /// `api` in $XDG_CONFIG_HOME/skiff/pve.toml or /etc/skiff/pve.toml).
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
    /// The API token, USER@REALM!TOKENID=SECRET (better from SKIFF_PVE_TOKEN or the
    /// config file: a command line is visible to other users in ps).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// The SHA-256 fingerprint of the node's certificate (`pvenode cert info`), trusted
    /// instead of a CA for a self-signed node certificate.
    #[arg(long, value_name = "SHA256")]
    pub fingerprint: Option<String>,
}
