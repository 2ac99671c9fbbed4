//! `catalog list|show|search`: the built-in app catalog and the user's additions.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `catalog …` subcommands.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// List the apps, optionally of one category.
    List(CatalogListArgs),
    /// Show one app: its containers, images, resources, mounts and environment.
    Show(CatalogShowArgs),
    /// Find apps whose name, description, category or image contains TEXT.
    Search(CatalogSearchArgs),
}

/// Where user entries come from.
#[derive(Debug, Args)]
pub struct CatalogDirArgs {
    /// A directory of NAME.yaml entries that replace built-in apps of the same name or
    /// add new ones (default: /etc/skiff/catalog, then $XDG_CONFIG_HOME/skiff/catalog).
    #[arg(long, value_name = "DIR")]
    pub catalog_dir: Option<PathBuf>,
}

/// `catalog list [--category C] [--json]`.
#[derive(Debug, Args)]
pub struct CatalogListArgs {
    /// Only apps of this category (media, photos, data, …).
    #[arg(long, value_name = "CATEGORY")]
    pub category: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub dir: CatalogDirArgs,
}

/// `catalog show NAME [--yaml|--json]`.
#[derive(Debug, Args)]
pub struct CatalogShowArgs {
    /// The app.
    pub name: String,
    /// Print the entry's YAML as written (a starting point for a user entry).
    #[arg(long, conflicts_with = "json")]
    pub yaml: bool,
    /// Print the entry as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub dir: CatalogDirArgs,
}

/// `catalog search TEXT`.
#[derive(Debug, Args)]
pub struct CatalogSearchArgs {
    /// Text to look for (any case).
    pub text: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub dir: CatalogDirArgs,
}
