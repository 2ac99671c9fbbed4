//! `catalog list|show|search`: reads the catalog (built in + user directories) and prints
//! it as a table, one app in detail, its YAML as written, or JSON for scripts.

use serde::Serialize;
use skiff_catalog::{App, Catalog, CatalogError, Entry, Gpu, Origin};

use crate::cli::{program_name, CatalogCommand, CatalogDirArgs};
use crate::failure::Failure;
use crate::output::{print_json, print_line, print_raw};

pub fn run(command: CatalogCommand) -> Result<(), Failure> {
    match command {
        CatalogCommand::List(args) => {
            let catalog = load(&args.dir)?;
            let entries: Vec<&Entry> = catalog
                .entries()
                .filter(|e| args.category.as_ref().is_none_or(|c| &e.app.category == c))
                .collect();
            if entries.is_empty() {
                if let Some(c) = &args.category {
                    return Err(
                        Failure::new(format!("no app in category {c:?}")).hint(format!(
                            "`{} catalog list` shows every app with its category",
                            program_name()
                        )),
                    );
                }
            }
            print_entries(&entries, args.json)
        }
        CatalogCommand::Search(args) => {
            let catalog = load(&args.dir)?;
            let entries = catalog.search(&args.text);
            if entries.is_empty() {
                return Err(
                    Failure::new(format!("no app in the catalog matches {:?}", args.text))
                        .hint(format!("`{} catalog list` shows every app", program_name())),
                );
            }
            print_entries(&entries, args.json)
        }
        CatalogCommand::Show(args) => {
            let catalog = load(&args.dir)?;
            let entry = catalog.get(&args.name).map_err(failure)?;
            if args.yaml {
                print_raw(entry.text.as_bytes())
            } else if args.json {
                print_json(&entry.app)
            } else {
                show(entry)
            }
        }
    }
}

/// The built-in catalog with the user's directories (or `--catalog-dir`) laid over it.
pub(super) fn load(args: &CatalogDirArgs) -> Result<Catalog, Failure> {
    let catalog = match &args.catalog_dir {
        Some(dir) => Catalog::load(std::slice::from_ref(dir), true),
        None => Catalog::load(&Catalog::default_dirs(), false),
    };
    catalog.map_err(failure)
}

fn failure(e: CatalogError) -> Failure {
    let hint = match &e {
        CatalogError::NotFound { .. } => {
            format!(
                "`{} catalog search TEXT` finds apps by name or description",
                program_name()
            )
        }
        CatalogError::Invalid { .. } => {
            "fix the entry, or move it out of the catalog directory".to_string()
        }
        CatalogError::Io { .. } => "check --catalog-dir and the directory's permissions".into(),
    };
    Failure::new(e.to_string()).hint(hint)
}

fn gpu(g: Gpu) -> &'static str {
    match g {
        Gpu::None => "none",
        Gpu::Optional => "optional",
        Gpu::Required => "required",
    }
}

fn origin(o: &Origin) -> String {
    match o {
        Origin::Builtin => "built in".to_string(),
        Origin::File(p) => p.display().to_string(),
    }
}

/// One app in `list --json`: the facts to choose by, and where the entry came from.
#[derive(Serialize)]
struct Summary<'a> {
    name: &'a str,
    category: &'a str,
    description: &'a str,
    gpu: Gpu,
    images: Vec<String>,
    origin: String,
}

fn print_entries(entries: &[&Entry], json: bool) -> Result<(), Failure> {
    if json {
        let list: Vec<Summary> = entries
            .iter()
            .map(|e| Summary {
                name: &e.app.name,
                category: &e.app.category,
                description: &e.app.description,
                gpu: e.app.gpu,
                images: e.app.containers.iter().map(|c| c.reference()).collect(),
                origin: origin(&e.origin),
            })
            .collect();
        return print_json(&list);
    }
    let width = |f: fn(&App) -> usize, title: &str| {
        entries
            .iter()
            .map(|e| f(&e.app))
            .max()
            .unwrap_or(0)
            .max(title.len())
    };
    let (wn, wc) = (
        width(|a| a.name.len(), "NAME"),
        width(|a| a.category.len(), "CATEGORY"),
    );
    print_line(&format!(
        "{:wn$}  {:wc$}  {:8}  DESCRIPTION",
        "NAME", "CATEGORY", "GPU"
    ))?;
    for e in entries {
        let a = &e.app;
        print_line(&format!(
            "{:wn$}  {:wc$}  {:8}  {}",
            a.name,
            a.category,
            gpu(a.gpu),
            a.description
        ))?;
    }
    Ok(())
}

fn show(entry: &Entry) -> Result<(), Failure> {
    let a = &entry.app;
    let mut out = vec![
        format!("{} — {}", a.name, a.description),
        format!("category: {}   gpu: {}", a.category, gpu(a.gpu)),
        format!("source:   {}", a.source),
        format!("entry:    {}", origin(&entry.origin)),
    ];
    for c in &a.containers {
        out.push(String::new());
        out.push(format!(
            "container {}: {}  ({} cores, {} MiB memory, {} GiB disk)",
            c.name,
            c.reference(),
            c.cores,
            c.memory.0,
            c.disk.0
        ));
        if let Some(cmd) = &c.command {
            out.push(format!("  command: {}", cmd.join(" ")));
        }
        for m in &c.mounts {
            let mut line = format!("  mount {}", m.target);
            if let Some(s) = &m.source {
                line.push_str(&format!(" from {s}"));
            }
            if m.readonly {
                line.push_str(" (read-only)");
            }
            if let Some(p) = &m.purpose {
                line.push_str(&format!(": {p}"));
            }
            out.push(line);
        }
        for (k, v) in &c.env {
            out.push(format!("  env {k}={v}"));
        }
        if !c.depends_on.is_empty() {
            out.push(format!("  after: {}", c.depends_on.join(", ")));
        }
        if let Some(h) = &c.health {
            out.push(format!("  health: {h}"));
        }
    }
    print_line(&out.join("\n"))
}
