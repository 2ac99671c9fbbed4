//! What a destination holds, as a comparable map, so that a scenario's output can be
//! judged: the older destination, the complete new one, absent — or something else.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

/// `entry → content sha256` (or a kind for non-files); empty when the output is absent.
pub type Snapshot = BTreeMap<String, String>;

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A file (a tar archive: its entries and their contents), a directory (every file's
/// content; directories and symlinks by kind), or nothing.
pub fn files(path: &Path) -> Snapshot {
    let Ok(md) = std::fs::symlink_metadata(path) else {
        return Snapshot::new();
    };
    if md.is_file() {
        return tar_entries(path);
    }
    let mut out = Snapshot::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(path)
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Ok(ft) = e.file_type() else { continue };
            let value = if ft.is_dir() {
                stack.push(p);
                "dir".to_string()
            } else if ft.is_file() {
                std::fs::read(&p).map(|b| sha(&b)).unwrap_or_default()
            } else {
                "special".to_string()
            };
            out.insert(rel, value);
        }
    }
    out
}

fn tar_entries(path: &Path) -> Snapshot {
    let mut out = Snapshot::new();
    let Ok(file) = std::fs::File::open(path) else {
        return out;
    };
    let mut archive = tar::Archive::new(file);
    let Ok(entries) = archive.entries() else {
        out.insert("<not a tar>".into(), String::new());
        return out;
    };
    for e in entries {
        let Ok(mut e) = e else {
            out.insert("<broken tar>".into(), String::new());
            break;
        };
        let name = e
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut data = Vec::new();
        if e.read_to_end(&mut data).is_err() {
            out.insert("<broken tar>".into(), String::new());
            break;
        }
        out.insert(name, sha(&data));
    }
    if out.is_empty() {
        // A file that is no tar at all (e.g. a sentinel): its own bytes.
        if let Ok(b) = std::fs::read(path) {
            out.insert("<file>".into(), sha(&b));
        }
    }
    out
}

/// An image in a registry: its manifest's digest under `repo:tag`, and whether each blob
/// it names is there; empty when the tag does not exist.
pub fn registry_tag(host: &str, repo: &str, tag: &str) -> Snapshot {
    let mut out = Snapshot::new();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let accept = [
        crate::image::media::OCI_MANIFEST,
        crate::image::media::DOCKER_MANIFEST,
    ]
    .join(", ");
    let Ok(mut resp) = agent
        .get(format!("http://{host}/v2/{repo}/manifests/{tag}"))
        .header("Accept", accept)
        .call()
    else {
        out.insert("<unreachable>".into(), String::new());
        return out;
    };
    if resp.status() == 404 {
        return out;
    }
    let Ok(body) = resp.body_mut().read_to_vec() else {
        out.insert("<unreadable>".into(), String::new());
        return out;
    };
    out.insert("manifest".into(), sha(&body));
    let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return out;
    };
    let blobs = std::iter::once(&manifest["config"])
        .chain(manifest["layers"].as_array().into_iter().flatten())
        .filter_map(|d| d["digest"].as_str());
    for digest in blobs {
        let status = agent
            .head(format!("http://{host}/v2/{repo}/blobs/{digest}"))
            .call()
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        out.insert(format!("blob {digest}"), status.to_string());
    }
    out
}

/// Names in `dir` other than `keep` (what a run left behind).
pub fn strays(dir: &Path, keep: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !keep.contains(&n.as_str()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
