//! Reading a file: YAML → [`RawFile`] (serde refuses unknown keys and wrong types at their
//! line and column) → checked [`Desired`] containers in start order. Every error names
//! `file:line:column`; nothing is touched before the whole file is valid.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use skiff_catalog::Catalog;
use skiff_oci::Reference;

use crate::model::{Dataset, Desired, DesiredFile, Mount, ProxmoxKeys};
use crate::raw::{RawFile, RawItem};
use crate::ApplyError;

mod catalog;

/// Reads and checks `path`; `apps: [{catalog: NAME}]` items come from `catalog`.
pub fn load(path: &Path, catalog: &Catalog) -> Result<DesiredFile, ApplyError> {
    let text = std::fs::read_to_string(path).map_err(|source| ApplyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // Canonical, so that `apps.yaml`, `./apps.yaml` and a symlink to it are one file for
    // the marker that `--prune` and `destroy` compare.
    let abs = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf());
    parse(&abs, &text, catalog)
}

/// Checks `text` as the content of the file `path`.
pub fn parse(path: &Path, text: &str, catalog: &Catalog) -> Result<DesiredFile, ApplyError> {
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
                containers.push(at.plain(c)?);
            }
        }
    }
    for c in &raw.containers {
        containers.push(at.plain(c)?);
    }
    for item in &raw.apps {
        containers.extend(at.app(item, catalog)?);
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

    /// A container of `containers:` or a dataset: a name and an image, nothing of apps.
    fn plain(&self, c: &RawItem) -> Result<Desired, ApplyError> {
        let Some(name) = c.name.clone() else {
            let needle = c.image.as_deref().map(|i| format!("image: {i}"));
            return Err(self.error_near(
                needle.as_deref().unwrap_or("containers:"),
                "a container without `name:`".into(),
            ));
        };
        let at = self.find(&format!("name: {name}"), 0);
        if let Some(key) = app_key(c) {
            return Err(self.error_at(
                at.0,
                at.1,
                format!("container {name}: `{key}:` belongs to an item of `apps:`"),
            ));
        }
        self.container(c, &name, None, name.clone(), at)
    }

    /// An item of `apps:`: its containers, named `APP-CONTAINER` (or `APP` when it has one).
    fn app(&self, item: &RawItem, catalog: &Catalog) -> Result<Vec<Desired>, ApplyError> {
        let (name, at, members) = match &item.catalog {
            Some(entry) => {
                let at = self.find(&format!("catalog: {entry}"), 0);
                let err = |m: String| self.error_at(at.0, at.1, m);
                let app = catalog.get(entry).map_err(|e| err(e.to_string()))?;
                let name = item.name.clone().unwrap_or_else(|| entry.clone());
                let members = catalog::expand(item, &app.app)
                    .map_err(|m| err(format!("app {name} (catalog {entry}): {m}")))?;
                (name, at, members)
            }
            None => {
                let Some(name) = item.name.clone() else {
                    return Err(
                        self.error_near("apps:", "an app without `name:` or `catalog:`".into())
                    );
                };
                let at = self.find(&format!("name: {name}"), 0);
                let err = |m: String| self.error_at(at.0, at.1, format!("app {name}: {m}"));
                if item.containers.is_empty() {
                    return Err(err("lists no containers".into()));
                }
                let settings = RawItem {
                    name: None,
                    containers: Vec::new(),
                    ..item.clone()
                };
                if settings != RawItem::default() {
                    return Err(err(
                        "container settings belong under its `containers:` (or use `catalog:`)"
                            .into(),
                    ));
                }
                (name, at, item.containers.clone())
            }
        };
        let short: Vec<String> = members
            .iter()
            .map(|c| c.name.clone().unwrap_or_default())
            .collect();
        let single = members.len() == 1;
        let full = |s: &str| match single {
            true => name.clone(),
            false => format!("{name}-{s}"),
        };
        let mut out = Vec::with_capacity(members.len());
        for (c, s) in members.iter().zip(&short) {
            if s.is_empty() {
                return Err(self.error_at(
                    at.0,
                    at.1,
                    format!("app {name}: a container without `name:`"),
                ));
            }
            let place = match item.catalog {
                Some(_) => at,
                None => self.find(&format!("name: {s}"), 0),
            };
            if let Some(key) = app_key(c) {
                return Err(self.error_at(
                    place.0,
                    place.1,
                    format!(
                        "container {s}: `{key}:` belongs to the app, not to one of its containers"
                    ),
                ));
            }
            let mut d = self.container(c, s, Some(&name), full(s), place)?;
            // Within an app, depends_on names the app's own containers.
            d.depends_on = c
                .depends_on
                .iter()
                .map(|dep| match short.contains(dep) {
                    true => full(dep),
                    false => dep.clone(),
                })
                .collect();
            out.push(d);
        }
        Ok(out)
    }

    /// Checks one container; `short` is its name in the file, `name` on the host, `at`
    /// where errors point.
    fn container(
        &self,
        c: &RawItem,
        short: &str,
        app: Option<&str>,
        name: String,
        at: (usize, usize),
    ) -> Result<Desired, ApplyError> {
        let err = |m: String| self.error_at(at.0, at.1, format!("container {short}: {m}"));
        skiff_lxc::validate_name(&name).map_err(|e| err(e.to_string()))?;
        if let Some(k) = c.kind.as_deref().filter(|k| *k != "oci") {
            return Err(err(format!(
                "type {k:?}: skiff deploys `type: oci` containers only"
            )));
        }
        let Some(image) = c.image.as_deref() else {
            return Err(err("no `image:`".into()));
        };
        let (image, pinned) = image_reference(c, image).map_err(err)?;
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
            disk_suggested: c.disk_suggested,
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
            unprivileged: c.unprivileged,
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

/// The key of an `apps:` item that `c`, a container, must not carry.
fn app_key(c: &RawItem) -> Option<&'static str> {
    match (&c.catalog, c.containers.is_empty()) {
        (Some(_), _) => Some("catalog"),
        (None, false) => Some("containers"),
        (None, true) => None,
    }
}

/// `image` + `registry` + `tag` + `digest` → the normalised reference and a pinned digest.
fn image_reference(
    c: &RawItem,
    image: &str,
) -> Result<(String, Option<skiff_oci::Digest>), String> {
    let mut text = match &c.registry {
        Some(r) => format!("{}/{}", r.trim_end_matches('/'), image),
        None => image.to_string(),
    };
    if let Some(t) = &c.tag {
        text = format!("{text}:{t}");
    }
    if let Some(d) = &c.digest {
        text = format!("{text}@{d}");
    }
    if c.tag.is_some()
        && image
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
    {
        return Err(format!(
            "image {image:?} has a tag and `tag:` gives another"
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
