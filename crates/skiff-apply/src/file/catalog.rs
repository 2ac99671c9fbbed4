//! `apps: [{catalog: NAME, …}]`: a catalog app becomes the file's own containers.
//!
//! Each catalog container is written as the item the user would have typed, then the
//! user's settings are laid over it: the keys on the app item itself override the app's
//! main container (the catalog lists it first: `jellyfin`, immich's `server`), and
//! `containers: [{name: postgres, memory: 2G}]` overrides the container of that name.
//! `registry:` on the app is the exception: a mirror serves the whole app, so it applies
//! to every container.
//! Scalars replace, `env` merges key by key, a mount with the catalog's target gives that
//! volume a host path (or makes it read-only) and other mounts are added. What the
//! catalog suggests for `disk:` stays a suggestion (see [`RawItem::disk_suggested`]).

use std::collections::BTreeMap;

use skiff_catalog::{App, Container, Gpu as Capability};

use crate::raw::{Gpu, RawItem, RawMount, Scalar};
use crate::size::{Gib, Mib};

/// The containers of `app` with `item`'s overrides, in the catalog's order.
pub(super) fn expand(item: &RawItem, app: &App) -> Result<Vec<RawItem>, String> {
    let names: Vec<&str> = app.containers.iter().map(|c| c.name.as_str()).collect();
    let mut overrides: BTreeMap<&str, &RawItem> = BTreeMap::new();
    for o in &item.containers {
        let Some(name) = o.name.as_deref() else {
            return Err(
                "an override under `containers:` needs the `name:` of the container it changes"
                    .into(),
            );
        };
        if !names.contains(&name) {
            return Err(format!(
                "the catalog app has no container {name:?} (it has {})",
                names.join(", ")
            ));
        }
        if overrides.insert(name, o).is_some() {
            return Err(format!("container {name} is overridden twice"));
        }
    }
    let mut out = Vec::with_capacity(app.containers.len());
    for (i, c) in app.containers.iter().enumerate() {
        let mut raw = from_catalog(c);
        if i == 0 {
            overlay(&mut raw, item);
        } else if item.registry.is_some() {
            raw.registry.clone_from(&item.registry);
        }
        if let Some(o) = overrides.get(c.name.as_str()) {
            overlay(&mut raw, o);
        }
        out.push(raw);
    }
    check_gpu(app, &out)?;
    Ok(out)
}

/// A catalog container as a file item: the registry split off, so that a `registry:`
/// override (a mirror) replaces it.
fn from_catalog(c: &Container) -> RawItem {
    let (registry, path) = c
        .image
        .split_once('/')
        .map_or((None, c.image.clone()), |(r, p)| {
            (Some(r.to_string()), p.to_string())
        });
    RawItem {
        name: Some(c.name.clone()),
        image: Some(path),
        registry,
        tag: Some(c.tag.clone()),
        cores: Some(c.cores),
        memory: Some(Mib(c.memory.0)),
        disk: Some(Gib(c.disk.0)),
        disk_suggested: true,
        command: c.command.clone(),
        mounts: c
            .mounts
            .iter()
            .map(|m| RawMount {
                source: m.source.clone(),
                target: m.target.clone(),
                readonly: m.readonly,
                backup: false,
            })
            .collect(),
        env: c
            .env
            .iter()
            .map(|(k, v)| (k.clone(), Scalar(v.clone())))
            .collect(),
        depends_on: c.depends_on.clone(),
        health: c.health.clone(),
        ..RawItem::default()
    }
}

/// Lays the settings `o` gives over `raw` (the module doc says how each kind merges).
fn overlay(raw: &mut RawItem, o: &RawItem) {
    fn set<T: Clone>(to: &mut Option<T>, from: &Option<T>) {
        if from.is_some() {
            to.clone_from(from);
        }
    }
    set(&mut raw.kind, &o.kind);
    set(&mut raw.image, &o.image);
    set(&mut raw.tag, &o.tag);
    set(&mut raw.registry, &o.registry);
    set(&mut raw.digest, &o.digest);
    set(&mut raw.vmid, &o.vmid);
    set(&mut raw.node, &o.node);
    set(&mut raw.cores, &o.cores);
    set(&mut raw.memory, &o.memory);
    set(&mut raw.swap, &o.swap);
    if o.disk.is_some() {
        raw.disk = o.disk;
        raw.disk_suggested = false;
    }
    set(&mut raw.storage, &o.storage);
    set(&mut raw.net, &o.net);
    set(&mut raw.gpu, &o.gpu);
    set(&mut raw.entrypoint, &o.entrypoint);
    set(&mut raw.command, &o.command);
    set(&mut raw.features, &o.features);
    set(&mut raw.onboot, &o.onboot);
    set(&mut raw.start, &o.start);
    set(&mut raw.unprivileged, &o.unprivileged);
    set(&mut raw.health, &o.health);
    if !o.tags.is_empty() {
        raw.tags.clone_from(&o.tags);
    }
    if !o.depends_on.is_empty() {
        raw.depends_on.clone_from(&o.depends_on);
    }
    raw.env
        .extend(o.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    for m in &o.mounts {
        match raw.mounts.iter_mut().find(|c| c.target == m.target) {
            Some(c) => *c = m.clone(),
            None => raw.mounts.push(m.clone()),
        }
    }
}

/// A GPU given to an app that never uses one is a mistake; an app that needs one must
/// get one.
fn check_gpu(app: &App, containers: &[RawItem]) -> Result<(), String> {
    let given = containers
        .iter()
        .any(|c| c.gpu.is_some_and(|g| g != Gpu::None));
    match app.gpu {
        Capability::None if given => Err("the app does not use a GPU; drop `gpu:`".into()),
        Capability::Required if !given => {
            Err("the app needs a GPU: set `gpu: true` (or intel, amd, nvidia)".into())
        }
        _ => Ok(()),
    }
}
