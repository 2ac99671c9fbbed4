//! Plans: what apply would do to each container, field by field, Terraform-style.
//!
//! Pure functions over what the file wants and what the backend observed, so every case
//! (create, update in place, restart needed, replace, no change, delete) is testable
//! without a system to observe.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use skiff_oci::Digest;

use crate::backend::Live;

/// How a changed field reaches a running container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Applied to the running container as it is.
    Live,
    /// Written to the config; takes effect when the container restarts (apply restarts it).
    Restart,
    /// Needs a new root filesystem (an unprivileged container's files are owned by
    /// shifted ids): the container is replaced like for a new image.
    Replace,
}

/// What happens to one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// It does not exist yet.
    Create,
    /// Fields change; the container stays (restarted when a change needs it).
    Update,
    /// The image digest changed: a new root filesystem replaces the old, mounts stay.
    Replace {
        /// The digest it runs now.
        from: Digest,
    },
    /// Nothing changes but it is stopped and should run.
    Start,
    /// Nothing to do.
    NoChange,
    /// Managed by this file, no longer in it, and `--prune` was given.
    Delete,
    /// Managed by this file, no longer in it: kept (apply never deletes without `--prune`).
    Orphan,
}

/// One field's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `memory`, `env.DB_HOST`, `mount./data`, …
    pub field: String,
    /// The value now (`None`: unset).
    pub old: Option<String>,
    /// The value after apply (`None`: removed).
    pub new: Option<String>,
    /// Live or on restart.
    pub effect: Effect,
    /// A generated secret: its values are never printed.
    pub sensitive: bool,
}

/// One container's part of the plan.
#[derive(Debug, Clone)]
pub struct Step {
    /// The container.
    pub name: String,
    /// What happens.
    pub action: Action,
    /// Field changes (all fields for a create).
    pub changes: Vec<Change>,
    /// The image digest it will run.
    pub digest: Option<Digest>,
    /// Whether a changed field needs a restart of the running container.
    pub restart: bool,
}

/// A dataset of the file and what apply does for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetStep {
    /// `pool/dataset`.
    pub name: String,
    /// What apply runs or creates (`zfs create -p …` or the directory), `None` if present.
    pub action: Option<String>,
}

/// Everything apply would do.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Datasets first: containers may mount them.
    pub datasets: Vec<DatasetStep>,
    /// Containers in start order, then deletions.
    pub steps: Vec<Step>,
}

/// The changes from `live` to `wanted`; `effect` classifies each field and `sensitive`
/// names the fields whose values must not be shown.
pub fn diff(
    wanted: &BTreeMap<String, String>,
    live: &BTreeMap<String, String>,
    effect: &dyn Fn(&str) -> Effect,
    sensitive: &dyn Fn(&str) -> bool,
) -> Vec<Change> {
    let keys: std::collections::BTreeSet<&String> = wanted.keys().chain(live.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (old, new) = (live.get(k), wanted.get(k));
            (old != new).then(|| Change {
                field: k.clone(),
                old: old.cloned(),
                new: new.cloned(),
                effect: effect(k),
                sensitive: sensitive(k),
            })
        })
        .collect()
}

/// The step for a container the file wants, given what exists (`None`: nothing).
pub fn step(
    name: &str,
    wanted: &BTreeMap<String, String>,
    digest: &Digest,
    live: Option<&Live>,
    start: bool,
    effect: &dyn Fn(&str) -> Effect,
    sensitive: &dyn Fn(&str) -> bool,
) -> Step {
    let Some(live) = live else {
        return Step {
            name: name.to_string(),
            action: Action::Create,
            changes: diff(wanted, &BTreeMap::new(), effect, sensitive),
            digest: Some(digest.clone()),
            restart: false,
        };
    };
    let changes = diff(wanted, &live.fields, effect, sensitive);
    let restart = live.running && changes.iter().any(|c| c.effect == Effect::Restart);
    let action = if &live.digest != digest || changes.iter().any(|c| c.effect == Effect::Replace) {
        Action::Replace {
            from: live.digest.clone(),
        }
    } else if !changes.is_empty() {
        Action::Update
    } else if start && !live.running {
        Action::Start
    } else {
        Action::NoChange
    };
    Step {
        name: name.to_string(),
        action,
        changes,
        digest: Some(digest.clone()),
        restart,
    }
}

fn short(d: &Digest) -> String {
    let s = d.to_string();
    s.chars().take(19).collect()
}

fn shown(v: Option<&String>, sensitive: bool) -> String {
    match v {
        None => "(none)".into(),
        Some(_) if sensitive => "(sensitive)".into(),
        Some(v) => format!("{v:?}"),
    }
}

impl Plan {
    /// Whether applying would change anything.
    pub fn is_noop(&self) -> bool {
        self.datasets.iter().all(|d| d.action.is_none())
            && self
                .steps
                .iter()
                .all(|s| matches!(s.action, Action::NoChange | Action::Orphan))
    }

    /// The plan as a person reads it, Terraform-style, with a summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.datasets {
            if let Some(a) = &d.action {
                let _ = writeln!(out, "  + dataset {}: {a}", d.name);
            }
        }
        let mut counts = BTreeMap::<&str, usize>::new();
        for s in &self.steps {
            let (mark, word) = match &s.action {
                Action::Create => ("+", "create"),
                Action::Update if s.restart => ("~", "update (restart needed)"),
                Action::Update => ("~", "update in place"),
                Action::Replace { .. } => ("-/+", "replace"),
                Action::Start => ("~", "start"),
                Action::NoChange => ("=", "no change"),
                Action::Delete => ("-", "delete"),
                Action::Orphan => ("!", "not in the file (kept; --prune deletes it)"),
            };
            *counts
                .entry(word.split(' ').next().unwrap_or(word))
                .or_default() += 1;
            let _ = write!(out, "  {mark} {} {word}", s.name);
            match (&s.action, &s.digest) {
                (Action::Replace { from }, Some(to)) => {
                    let _ = write!(
                        out,
                        ": image {} → {} (new root filesystem, mounts kept)",
                        short(from),
                        short(to)
                    );
                }
                (Action::Create, Some(d)) => {
                    let _ = write!(out, ": image {}", short(d));
                }
                _ => {}
            }
            out.push('\n');
            for c in &s.changes {
                let when = match (&s.action, c.effect) {
                    (Action::Update, Effect::Live) => "  (live)",
                    (Action::Update, Effect::Restart) => "  (on restart)",
                    _ => "",
                };
                let _ = match (&c.old, &c.new) {
                    (None, new) => writeln!(
                        out,
                        "      + {} = {}",
                        c.field,
                        shown(new.as_ref(), c.sensitive)
                    ),
                    (old, None) => writeln!(
                        out,
                        "      - {} = {}",
                        c.field,
                        shown(old.as_ref(), c.sensitive)
                    ),
                    (old, new) => writeln!(
                        out,
                        "      ~ {}: {} → {}{when}",
                        c.field,
                        shown(old.as_ref(), c.sensitive),
                        shown(new.as_ref(), c.sensitive)
                    ),
                };
            }
        }
        let n = |k: &str| counts.get(k).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "Plan: {} to create, {} to update, {} to replace, {} to start, {} to delete, {} unchanged.",
            n("create"),
            n("update"),
            n("replace"),
            n("start"),
            n("delete"),
            n("no"),
        );
        out
    }
}

#[cfg(test)]
mod tests;
