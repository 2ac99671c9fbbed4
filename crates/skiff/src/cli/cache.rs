//! The host's blob cache on the command line: `--no-cache` for every command that pulls,
//! and `cache ls|prune`.

use clap::{Args, Subcommand};

/// Whether a pull goes through the host's blob cache; flattened into every command that
/// pulls from registries, so the flag is spelt and documented once.
#[derive(Debug, Args, Clone, Default)]
pub struct CacheArgs {
    /// Fetch every blob from the registry, neither reading nor filling the host's blob
    /// cache (SKIFF_CACHE_DIR; default /var/cache/skiff for root, else ~/.cache/skiff).
    #[arg(long)]
    pub no_cache: bool,
}

/// `cache …` subcommands.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List the cached blobs, least recently used first: digest, size, last use.
    Ls,
    /// Remove the least recently used blobs until the cache fits its size limit.
    Prune(CachePruneArgs),
}

/// `cache prune [--max-size SIZE]`.
#[derive(Debug, Args)]
pub struct CachePruneArgs {
    /// The size to prune to (e.g. 5G, 500M; 0 empties the cache); default
    /// SKIFF_CACHE_MAX_SIZE, else 10G.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,
}

fn parse_size(s: &str) -> Result<u64, String> {
    skiff_cache::parse_size(s).map_err(|e| e.to_string())
}
