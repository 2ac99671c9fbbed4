//! Reading a file: YAML → [`RawFile`] (serde refuses unknown keys and wrong types at their
//! line and column) → checked [`Desired`] containers in start order. Every error names
//! `file:line:column`; nothing is touched before the whole file is valid.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use skiff_oci::Reference;

use crate::model::{Dataset, Desired, DesiredFile, Mount, ProxmoxKeys};
use crate::raw::{RawContainer, RawFile};
use crate::ApplyError;

/// Reads and checks `path`.
pub fn load(path: &Path) -> Result<DesiredFile, ApplyError> {
    let text = std::fs::read_to_string(path).map_err(|source| ApplyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // Canonical, so that `apps.yaml`, `./apps.yaml` and a symlink to it are one file for
    // the marker that `--prune` and `destroy` compare.
    let abs = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf());
    parse(&abs, &text)
}

/// Checks `text` as the content of the file `path`.
pub fn parse(path: &Path, text: &str) -> Result<DesiredFile, ApplyError> {
    let at = Locator { path, text };
    skiff_oci::nesting::check_yaml_depth(text)
        .map_err(|e| at.error_at(e.line, 1, e.to_string()))?;
    let raw: RawFile = serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        // serde_yaml ends its message with the place, which the error already leads with.
        let message = e.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = message
            .strip_suffix(&suffix)
            .unwrap_or(&message)
            .to_string();
        at.error_at(line, column, message)
    })?;
    if let Some(v) = raw.version.as_deref().filter(|v| *v != "v2") {
        return Err(at.error_near(
            "version:",
            format!("unknown version {v:?}: the format is `version: v2`"),
        ));
    }
    if let Some(b) = raw
        .backend
        .as_deref()
        .filter(|b| !["lxc", "pve", "pve-api"].contains(b))
    {
        return Err(at.error_near(
            "backend:",
            format!("unknown backend {b:?}: use lxc, pve or pve-api"),
        ));
    }
    let mut containers = Vec::new();
    let mut datasets = Vec::new();
    for (pool, p) in &raw.pools {
        for (ds, d) in &p.datasets {
            datasets.push(Dataset {
                name: format!("{pool}/{ds}"),
                mountpoint: d.mountpoint.clone(),
                quota: d.quota,
                compression: d.compression.clone(),
            });
            for c in &d.containers {
                containers.push(at.container(c, None, c.name.clone())?);
            }
        }
    }
    for c in &raw.containers {
        containers.push(at.container(c, None, c.name.clone())?);
    }
    for app in &raw.apps {
        if app.catalog.is_some() {
            return Err(at.error_near(
                &format!("catalog: {}", app.catalog.as_deref().unwrap_or_default()),
                "`catalog:` needs the app catalog, which this build of skiff does not have yet; list the app's containers instead".into(),
            ));
        }
        if app.containers.is_empty() {
            return Err(at.error_near(
                &format!("name: {}", app.name),
                format!("app {} lists no containers", app.name),
            ));
        }
        let single = app.containers.len() == 1;
        let names: Vec<&str> = app.containers.iter().map(|c| c.name.as_str()).collect();
        for c in &app.containers {
            let full = if single {
                app.name.clone()
            } else {
                format!("{}-{}", app.name, c.name)
            };
            let mut d = at.container(c, Some(&app.name), full)?;
            // Within an app, depends_on names the app's own containers.
            d.depends_on = c
                .depends_on
                .iter()
                .map(|dep| match names.contains(&dep.as_str()) {
                    true if single => app.name.clone(),
                    true => format!("{}-{dep}", app.name),
                    false => dep.clone(),
                })
                .collect();
            containers.push(d);
        }
    }
    let containers = at.ordered(containers)?;
    Ok(DesiredFile {
        path: path.to_path_buf(),
        backend: raw.backend,
        containers,
        datasets,
    })
}

/// Turns places and problems into `file:line:column` errors.
struct Locator<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    fn error_at(&self, line: usize, column: usize, message: String) -> ApplyError {
        ApplyError::File {
            file: self.path.to_path_buf(),
            line,
            column,
            message,
        }
    }

    /// The place of the `n`-th line (0-based) that holds `needle`, else the file's start.
    /// serde_yaml gives places only for its own errors; checks made after parsing find
    /// the key they complain about this way.
    fn find(&self, needle: &str, n: usize) -> (usize, usize) {
        self.text
            .lines()
            .enumerate()
            .filter_map(|(i, l)| l.find(needle).map(|c| (i + 1, c + 1)))
            .nth(n)
            .unwrap_or((1, 1))
    }

    fn error_near(&self, needle: &str, message: String) -> ApplyError {
        let (line, column) = self.find(needle, 0);
        self.error_at(line, column, message)
    }

    fn container(
        &self,
        c: &RawContainer,
        app: Option<&str>,
        name: String,
    ) -> Result<Desired, ApplyError> {
        let at = self.find(&format!("name: {}", c.name), 0);
        let err = |m: String| self.error_at(at.0, at.1, format!("container {}: {m}", c.name));
        skiff_lxc::validate_name(&name).map_err(|e| err(e.to_string()))?;
        if let Some(k) = c.kind.as_deref().filter(|k| *k != "oci") {
            return Err(err(format!(
                "type {k:?}: skiff deploys `type: oci` containers only"
            )));
        }
        let (image, pinned) = image_reference(c).map_err(err)?;
        let mounts = c
            .mounts
            .iter()
            .map(|m| {
                if !m.target.starts_with('/') {
                    return Err(err(format!(
                        "mount target {:?} must be an absolute path",
                        m.target
                    )));
                }
                if let Some(s) = m.source.as_deref().filter(|s| !s.starts_with('/')) {
                    return Err(err(format!("mount source {s:?} must be an absolute path")));
                }
                Ok(Mount {
                    source: m.source.as_ref().map(PathBuf::from),
                    target: m.target.clone(),
                    readonly: m.readonly,
                    backup: m.backup,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (k, v) in &c.env {
            if k.is_empty() || k.contains(['=', '\n']) || v.0.contains('\n') {
                return Err(err(format!(
                    "env {k:?}: names without '=' and one-line values only"
                )));
            }
        }
        Ok(Desired {
            name,
            app: app.map(str::to_string),
            image,
            pinned,
            cores: c.cores,
            memory: c.memory,
            swap: c.swap,
            disk: c.disk,
            mounts,
            env: c
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect(),
            entrypoint: c.entrypoint.clone(),
            command: c.command.clone(),
            onboot: c.onboot.unwrap_or(false),
            start: c.start.unwrap_or(true),
            unprivileged: c.unprivileged.unwrap_or(false),
            depends_on: c.depends_on.clone(),
            health: c.health.clone(),
            proxmox: ProxmoxKeys {
                vmid: c.vmid,
                node: c.node.clone(),
                storage: c.storage.clone(),
                net: c.net.clone(),
                gpu: c.gpu,
                features: c.features.clone(),
                tags: c.tags.clone(),
            },
            at,
        })
    }

    /// Refuses duplicate names and unknown or circular dependencies, and orders the
    /// containers so that each comes after what it depends on (file order otherwise).
    fn ordered(&self, containers: Vec<Desired>) -> Result<Vec<Desired>, ApplyError> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for c in &containers {
            let n = seen.entry(c.name.as_str()).or_default();
            if *n > 0 {
                let short = c.name.rsplit('-').next().unwrap_or(&c.name);
                let (line, column) = if c.app.is_some() {
                    self.find(&format!("name: {short}"), *n)
                } else {
                    self.find(&format!("name: {}", c.name), *n)
                };
                return Err(self.error_at(
                    line,
                    column,
                    format!("duplicate container name {}", c.name),
                ));
            }
            *n += 1;
        }
        let by_name: BTreeMap<&str, &Desired> =
            containers.iter().map(|c| (c.name.as_str(), c)).collect();
        for c in &containers {
            for d in &c.depends_on {
                if !by_name.contains_key(d.as_str()) {
                    return Err(self.error_at(
                        c.at.0,
                        c.at.1,
                        format!(
                            "container {}: depends_on {d:?}, which the file does not define",
                            c.name
                        ),
                    ));
                }
            }
        }
        let mut order: Vec<Desired> = Vec::with_capacity(containers.len());
        let mut state: HashMap<String, bool> = HashMap::new(); // false = visiting, true = done
        fn visit(
            name: &str,
            by_name: &BTreeMap<&str, &Desired>,
            state: &mut HashMap<String, bool>,
            order: &mut Vec<Desired>,
        ) -> Result<(), String> {
            match state.get(name) {
                Some(true) => return Ok(()),
                Some(false) => return Err(name.to_string()),
                None => {}
            }
            state.insert(name.to_string(), false);
            if let Some(c) = by_name.get(name) {
                for d in &c.depends_on {
                    visit(d, by_name, state, order)?;
                }
                order.push((*c).clone());
            }
            state.insert(name.to_string(), true);
            Ok(())
        }
        for c in &containers {
            visit(&c.name, &by_name, &mut state, &mut order).map_err(|cycle| {
                self.error_at(
                    c.at.0,
                    c.at.1,
                    format!("depends_on forms a cycle through {cycle}"),
                )
            })?;
        }
        Ok(order)
    }
}

/// `image` + `registry` + `tag` + `digest` → the normalised reference and a pinned digest.
fn image_reference(c: &RawContainer) -> Result<(String, Option<skiff_oci::Digest>), String> {
    let mut text = match &c.registry {
        Some(r) => format!("{}/{}", r.trim_end_matches('/'), c.image),
        None => c.image.clone(),
    };
    if let Some(t) = &c.tag {
        text = format!("{text}:{t}");
    }
    if let Some(d) = &c.digest {
        text = format!("{text}@{d}");
    }
    if c.tag.is_some()
        && c.image
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
    {
        return Err(format!(
            "image {:?} has a tag and `tag:` gives another",
            c.image
        ));
    }
    let r = Reference::parse(&text).map_err(|e| format!("image {text:?}: {e}"))?;
    let tagged = r
        .with_tag(r.tag().unwrap_or("latest"))
        .map_err(|e| e.to_string())?;
    Ok((tagged.to_string(), r.digest().cloned()))
}

#[cfg(test)]
mod tests;
