//! The side of the world that `apply`, `pve pull` and signed copies need beyond a
//! registry: an apply file of two containers and the LXC containers it starts, a Proxmox
//! node root without pct, and a `file://` lookaside whose signatures are judged by
//! verifying them with GnuPG.

use std::path::Path;
use std::process::Command;

use super::snapshot::Snapshot;
use crate::gpg::Gpg;

/// The containers of the apply file; the second depends on the first. Distinctive, so
/// that they meet no other test's containers in the host's cgroup tree.
pub const CONTAINERS: [&str; 2] = ["skiff-chaos-a", "skiff-chaos-b"];

/// The storage the node root offers: Proxmox's default `local` directory storage.
const STORAGE_CFG: &str = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n";

/// Where a node root's `local` storage keeps templates.
pub fn template_cache(root: &Path) -> std::path::PathBuf {
    root.join("var/lib/vz/template/cache")
}

/// Makes `root` a Proxmox node root as `SKIFF_PVE_ROOT` reads it: `etc/pve/storage.cfg`.
pub fn node_root(root: &Path) -> Result<(), String> {
    let etc = root.join("etc/pve");
    std::fs::create_dir_all(&etc).map_err(|e| format!("node root: {e}"))?;
    std::fs::write(etc.join("storage.cfg"), STORAGE_CFG).map_err(|e| format!("storage.cfg: {e}"))
}

/// The apply file: both containers run `image` (`HOST/REPO:TAG`).
pub fn apply_file(path: &Path, image: &str) -> Result<(), String> {
    let [a, b] = CONTAINERS;
    let yaml = format!(
        "containers:\n  - name: {a}\n    image: {image}\n    memory: 64\n  - name: {b}\n    image: {image}\n    memory: 64\n    depends_on: [{a}]\n"
    );
    std::fs::write(path, yaml).map_err(|e| format!("apply file: {e}"))
}

fn lxc(program: &str, name: &str, lxcpath: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(["-n", name, "-P"])
        .arg(lxcpath)
        .args(args)
        .output()
        .map_err(|e| format!("{program} (Debian package lxc): {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Stops every container under `lxcpath` (before it is removed or replaced).
pub fn stop_containers(lxcpath: &Path) {
    let Ok(entries) = std::fs::read_dir(lxcpath) else {
        return;
    };
    for e in entries.flatten() {
        if e.path().join("config").is_file() {
            let name = e.file_name().to_string_lossy().into_owned();
            let _ = lxc("lxc-stop", &name, lxcpath, &["-k"]);
        }
    }
}

/// Why the file's containers are not all running, if they are not: what an apply that
/// finished promises besides the files.
pub fn not_running(lxcpath: &Path) -> Option<String> {
    for name in CONTAINERS {
        // lxc-start -d returns before the container settles.
        let mut state = String::new();
        for _ in 0..50 {
            state = lxc("lxc-info", name, lxcpath, &["-s", "-H"]).unwrap_or_else(|e| e);
            if state == "RUNNING" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if state != "RUNNING" {
            return Some(format!("{name} is {state:?}, not RUNNING"));
        }
    }
    None
}

/// registries.d with a `file://` lookaside at `lookaside` for every registry.
pub fn registries_d(dir: &Path, lookaside: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("registries.d: {e}"))?;
    std::fs::write(
        dir.join("default.yaml"),
        format!(
            "default-docker:\n  lookaside: file://{}\n",
            lookaside.display()
        ),
    )
    .map_err(|e| format!("registries.d: {e}"))
}

/// The lookaside under `dir` with `repo` written as `REPO` (runs push to different
/// repositories): each signature file by what it signs — the critical section of its
/// payload, when GnuPG verifies it — so that a half-written or foreign signature stands
/// out; signatures carry a timestamp, so their bytes differ from run to run.
pub fn lookaside(dir: &Path, repo: &str, gpg: &Gpg) -> Snapshot {
    let mut out = Snapshot::new();
    for (rel, value) in super::snapshot::files(dir) {
        let path = dir.join(&rel);
        let value = if path.is_file() {
            signed_claim(&path, gpg)
                .map(|c| c.replace(repo, "REPO"))
                .unwrap_or_else(|| format!("unverifiable {value}"))
        } else {
            value
        };
        out.insert(rel.replace(repo, "REPO"), value);
    }
    out
}

/// The critical section of a simple signing payload that GnuPG verifies.
fn signed_claim(path: &Path, gpg: &Gpg) -> Option<String> {
    let out = Command::new("gpg")
        .env("GNUPGHOME", gpg.home.path())
        .args(["--batch", "--no-tty", "--quiet", "--decrypt"])
        .arg(path)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let payload: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(payload.get("critical")?.to_string())
}
