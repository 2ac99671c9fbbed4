//! A Proxmox VE node for the tests that drive pct (`pve`, `apply_pve`): its files under a
//! temporary root (`SKIFF_PVE_ROOT`, `SKIFF_DEV_ROOT`), storage.cfg, and a `pct` symlink
//! to the test binary itself, which [`main`] turns into skiff-testbed's pct stand-in
//! (Proxmox's own cannot run here). Such tests have their own main (`harness = false`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use skiff_testbed::pve::CtConfig;

use super::scratch_home;

/// The installer's `local` (templates only), an LVM-thin storage for root disks and an
/// NFS template store.
pub const STORAGE_CFG: &str = "\
dir: local
\tpath /var/lib/vz
\tcontent iso,vztmpl,backup

lvmthin: local-lvm
\tthinpool data
\tvgname pve
\tcontent rootdir,images

nfs: nas
\texport /export/pve
\tserver 10.0.0.5
\tcontent vztmpl
";

/// A node root with storage.cfg, and a `pct` symlink to this test binary.
pub struct Node {
    dir: tempfile::TempDir,
    /// The `pct` skiff runs (`SKIFF_PCT`).
    pub pct: PathBuf,
}

impl Node {
    pub fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc/pve/lxc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(dir.path().join("etc/pve/storage.cfg"), STORAGE_CFG).unwrap();
        let pct = dir.path().join("bin/pct");
        std::fs::create_dir_all(pct.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(std::env::current_exe().unwrap(), &pct).unwrap();
        Node { dir, pct }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `local`'s template cache.
    pub fn cache(&self) -> PathBuf {
        self.root().join("var/lib/vz/template/cache")
    }

    /// Runs skiff on this node.
    pub fn skiff(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run skiff")
    }

    /// skiff on this node, with a blob cache of the node's own, ready to run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_skiff"));
        command
            .args(args)
            .env("HOME", scratch_home())
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("SKIFF_CACHE_MAX_SIZE")
            .env("SKIFF_CACHE_DIR", self.root().join("skiff-cache"))
            .env("SKIFF_PVE_ROOT", self.root())
            .env("SKIFF_DEV_ROOT", self.root())
            .env("SKIFF_PCT", &self.pct);
        command
    }

    /// Runs skiff, which must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.skiff(args);
        assert!(
            out.status.success(),
            "skiff {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs skiff, which must fail; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.skiff(args);
        assert!(!out.status.success(), "skiff {args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `/etc/pve/lxc/VMID.conf`, which must exist.
    pub fn config(&self, vmid: u32) -> CtConfig {
        CtConfig::load(&self.conf_path(vmid)).unwrap()
    }

    pub fn conf_path(&self, vmid: u32) -> PathBuf {
        self.root().join(format!("etc/pve/lxc/{vmid}.conf"))
    }

    /// Whether the stand-in has container `vmid` running.
    pub fn running(&self, vmid: u32) -> bool {
        self.root().join(format!("run/pct-standin/{vmid}")).exists()
    }
}

/// The test binary's main: the pct stand-in when run as `pct`, else the named tests
/// (all, or those whose names contain an argument; `--list` lists them), each caught so
/// that one failure does not hide the others.
pub fn main(tests: &[(&str, fn())]) -> std::process::ExitCode {
    if std::env::args_os()
        .next()
        .is_some_and(|a| Path::new(&a).file_name().is_some_and(|n| n == "pct"))
    {
        return skiff_testbed::pve::main();
    }
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if std::env::args().any(|a| a == "--list") {
        for (name, _) in tests {
            println!("{name}: test");
        }
        return std::process::ExitCode::SUCCESS;
    }
    let mut failed = Vec::new();
    let chosen: Vec<_> = tests
        .iter()
        .filter(|(n, _)| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str())))
        .collect();
    println!("running {} tests", chosen.len());
    for (name, test) in chosen {
        let outcome = std::panic::catch_unwind(test);
        println!(
            "test {name} ... {}",
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    if failed.is_empty() {
        println!("test result: ok");
        std::process::ExitCode::SUCCESS
    } else {
        println!("test result: FAILED: {failed:?}");
        std::process::ExitCode::FAILURE
    }
}
