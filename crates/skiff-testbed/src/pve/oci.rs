//! What `pct create` reads from an OCI template: the archive must be a plain tar with
//! exactly-named `oci-layout`, `index.json` and `blobs/sha256/…`; the first manifest
//! of the index names the config, whose Entrypoint+Cmd and Env the create applies after
//! the user's options (PROXMOX.md, "OCI templates on create").

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde_json::Value;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// The image values pct writes into the container config.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImageValues {
    /// Entrypoint followed by Cmd.
    pub argv: Vec<String>,
    /// `NAME=value` entries.
    pub env: Vec<String>,
    /// WorkingDir.
    pub workdir: Option<String>,
    /// StopSignal.
    pub stop_signal: Option<String>,
}

/// The entries of the archive that matter, by exact name (no `./` prefix).
fn entries(path: &Path) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("unable to open template: {e}"))?;
    let mut archive = tar::Archive::new(file);
    let mut found = BTreeMap::new();
    let iter = archive
        .entries()
        .map_err(|e| format!("not a tar archive: {e}"))?;
    for entry in iter {
        let mut entry = entry.map_err(|e| format!("not a tar archive: {e}"))?;
        let name = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        let wanted =
            name == "index.json" || name == "oci-layout" || name.starts_with("blobs/sha256/");
        // Layers are not read: only the small JSON blobs matter here.
        if wanted && entry.size() < (4 << 20) {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).map_err(|e| e.to_string())?;
            found.insert(name, data);
        } else if wanted {
            found.insert(name, Vec::new());
        }
    }
    Ok(found)
}

fn json(bytes: &[u8], what: &str) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("{what}: {e}"))
}

fn blob<'a>(entries: &'a BTreeMap<String, Vec<u8>>, digest: &str) -> Result<&'a [u8], String> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("unsupported digest {digest}"))?;
    entries
        .get(&format!("blobs/sha256/{hex}"))
        .map(Vec::as_slice)
        .ok_or_else(|| format!("blob {digest} missing from the archive"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads the image values of the OCI archive at `path`, refusing what Proxmox's
/// extractor refuses.
pub fn image_values(path: &Path) -> Result<ImageValues, String> {
    let entries = entries(path)?;
    if !entries.contains_key("oci-layout") {
        return Err("failed to parse OCI image: no oci-layout in the archive".into());
    }
    let index = json(
        entries
            .get("index.json")
            .ok_or("no index.json in the archive")?,
        "index.json",
    )?;
    let manifest = index["manifests"]
        .as_array()
        .and_then(|m| m.iter().find(|d| d["mediaType"] == OCI_MANIFEST))
        .ok_or("unsupported architecture: no OCI image manifest in index.json")?;
    let manifest = json(
        blob(&entries, manifest["digest"].as_str().unwrap_or(""))?,
        "manifest",
    )?;
    if manifest["config"]["mediaType"] != OCI_CONFIG {
        return Err(format!(
            "unsupported config media type {}",
            manifest["config"]["mediaType"]
        ));
    }
    let config = json(
        blob(
            &entries,
            manifest["config"]["digest"].as_str().unwrap_or(""),
        )?,
        "config",
    )?;
    let c = &config["config"];
    let mut argv = strings(&c["Entrypoint"]);
    argv.extend(strings(&c["Cmd"]));
    Ok(ImageValues {
        argv,
        env: strings(&c["Env"]),
        workdir: c["WorkingDir"]
            .as_str()
            .filter(|w| !w.is_empty())
            .map(str::to_string),
        stop_signal: c["StopSignal"]
            .as_str()
            .filter(|w| !w.is_empty())
            .map(str::to_string),
    })
}

/// String::ShellQuote as pve-container joins the entrypoint.
pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && !a.contains('=')
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_!%+,-./:=@^".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
