//! A stand-in for one Proxmox VE node's `pct` (Proxmox's container CLI cannot run here).
//! It follows PROXMOX.md to the letter where skiff depends on it, refuses what the real
//! one refuses, and records the resulting container configs for tests to assert:
//!
//! * [`options`]: the container options of `pct create`/`pct set` and of the REST API
//!   (the same keys), checked as pve-container's schema checks them;
//! * [`oci`]: what `pct create` reads from an OCI template;
//! * [`config`]: `/etc/pve/lxc/VMID.conf` and what create and set do to it;
//! * [`pct`]: the command line.
//!
//! A test runs it through a program named `pct` (see [`main`]); `SKIFF_PVE_ROOT` names
//! the directory standing for `/`, `SKIFF_DEV_ROOT` the one for `/dev` lookups.

pub mod config;
pub mod oci;
pub mod options;
pub mod pct;

pub use config::CtConfig;
pub use pct::{calls, StandinNode};

/// Runs the stand-in as the process `pct`: arguments from the command line, roots from
/// the environment; refusals on stderr with exit status 255, as pct's.
pub fn main() -> std::process::ExitCode {
    let var = |name: &str| std::env::var_os(name).map(std::path::PathBuf::from);
    let Some(root) = var("SKIFF_PVE_ROOT") else {
        eprintln!("pct stand-in: SKIFF_PVE_ROOT is not set");
        return std::process::ExitCode::from(255);
    };
    let node = StandinNode {
        dev_root: var("SKIFF_DEV_ROOT").unwrap_or_else(|| root.clone()),
        root,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    match pct::run(&node, &args) {
        Ok(out) => {
            print!("{out}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::from(255)
        }
    }
}
