//! The catalog: the built-in entries, then the user's directories, where an entry of the
//! same name replaces the built-in one and new names add apps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::check::{check, locate};
use crate::entry::App;
use crate::CatalogError;

/// The embedded `catalog/*.yaml` files (file name, text), from build.rs.
const BUILTIN: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/builtin.rs"));

/// Where an entry came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Embedded in skiff.
    Builtin,
    /// A file of a user catalog directory.
    File(PathBuf),
}

/// An app and where it was defined.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The app.
    pub app: App,
    /// Its file.
    pub origin: Origin,
    /// The entry's YAML as written (for `catalog show --yaml`).
    pub text: String,
}

/// All apps by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entries: BTreeMap<String, Entry>,
}

/// Parses and checks one entry file; errors carry `file:line:column`.
pub fn parse_entry(file: &str, stem: &str, text: &str) -> Result<App, CatalogError> {
    let invalid = |(line, column): (usize, usize), message: String| CatalogError::Invalid {
        file: file.to_string(),
        line,
        column,
        message,
    };
    skiff_oci::nesting::check_yaml_depth(text).map_err(|e| invalid((e.line, 1), e.to_string()))?;
    let app: App = serde_yaml::from_str(text).map_err(|e| {
        let at = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        // serde_yaml repeats the position at the end of its message.
        let message = e.to_string();
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        invalid(at, message)
    })?;
    check(&app, stem)
        .map_err(|b| invalid(locate(text, b.container.as_deref(), &b.needle), b.message))?;
    Ok(app)
}

impl Catalog {
    /// Only the entries built into skiff.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::default();
        for (file, text) in BUILTIN {
            let stem = file.trim_end_matches(".yaml");
            let app = parse_entry(&format!("builtin:{file}"), stem, text)?;
            catalog.insert(app, Origin::Builtin, text.to_string());
        }
        Ok(catalog)
    }

    /// The built-in entries overlaid with each directory of `dirs` in order (later ones
    /// win). A directory that does not exist adds nothing; `required` ones must exist.
    pub fn load(dirs: &[PathBuf], required: bool) -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::builtin()?;
        for dir in dirs {
            catalog.overlay(dir, required)?;
        }
        Ok(catalog)
    }

    /// The default user directories, lowest precedence first: `/etc/skiff/catalog` (the
    /// node's admin), then `$XDG_CONFIG_HOME/skiff/catalog` (or `~/.config/…`).
    pub fn default_dirs() -> Vec<PathBuf> {
        let mut dirs = vec![PathBuf::from("/etc/skiff/catalog")];
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
        if let Some(c) = config {
            dirs.push(c.join("skiff/catalog"));
        }
        dirs
    }

    /// Adds or replaces the entries of `dir`'s `*.yaml` / `*.yml` files.
    fn overlay(&mut self, dir: &Path, required: bool) -> Result<(), CatalogError> {
        let io = |p: &Path| {
            let path = p.display().to_string();
            move |source| CatalogError::Io { path, source }
        };
        let listing = match std::fs::read_dir(dir) {
            Ok(l) => l,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(dir)(e)),
        };
        let mut files = Vec::new();
        for e in listing {
            let p = e.map_err(io(dir))?.path();
            let ext = p.extension().and_then(|x| x.to_str());
            if matches!(ext, Some("yaml" | "yml")) {
                files.push(p);
            }
        }
        files.sort();
        for p in files {
            let text = std::fs::read_to_string(&p).map_err(io(&p))?;
            let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            let app = parse_entry(&p.display().to_string(), stem, &text)?;
            self.insert(app, Origin::File(p), text);
        }
        Ok(())
    }

    fn insert(&mut self, app: App, origin: Origin, text: String) {
        let name = app.name.clone();
        self.entries.insert(name, Entry { app, origin, text });
    }

    /// Every entry, sorted by name.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// The entry called `name`.
    pub fn get(&self, name: &str) -> Result<&Entry, CatalogError> {
        self.entries
            .get(name)
            .ok_or_else(|| CatalogError::NotFound {
                name: name.to_string(),
            })
    }

    /// Entries whose name, description, category or images contain `text` (any case).
    pub fn search(&self, text: &str) -> Vec<&Entry> {
        let needle = text.to_lowercase();
        self.entries()
            .filter(|e| {
                let a = &e.app;
                [&a.name, &a.description, &a.category]
                    .into_iter()
                    .any(|f| f.to_lowercase().contains(&needle))
                    || a.containers
                        .iter()
                        .any(|c| c.image.to_lowercase().contains(&needle))
            })
            .collect()
    }
}
