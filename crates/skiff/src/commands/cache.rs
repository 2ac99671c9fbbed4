//! `cache ls|prune`: the host's blob cache, as skiff's pulls fill it.

use std::io::Write;

use skiff_cache::{Cache, CacheConfig};

use crate::cli::CacheCommand;
use crate::failure::Failure;

pub fn run(command: CacheCommand) -> Result<(), Failure> {
    let config = CacheConfig::from_env().map_err(|e| Failure::new(e.to_string()))?;
    let cache = Cache::open(&config).map_err(|e| Failure::new(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    let written = match command {
        CacheCommand::Ls => {
            let entries = cache.entries().map_err(|e| Failure::new(e.to_string()))?;
            let total: u64 = entries.iter().map(|e| e.size).sum();
            let mut text = String::new();
            for e in &entries {
                let age = e.last_used.elapsed().unwrap_or_default().as_secs();
                text.push_str(&format!("{}\t{}\t{}\n", e.digest, e.size, ago(age)));
            }
            text.push_str(&format!(
                "{} blob(s), {} in {} (limit {})\n",
                entries.len(),
                human(total),
                cache.dir().display(),
                human(cache.max_size())
            ));
            out.write_all(text.as_bytes())
        }
        CacheCommand::Prune(args) => {
            let limit = args.max_size.unwrap_or(cache.max_size());
            let r = cache
                .prune(limit)
                .map_err(|e| Failure::new(e.to_string()))?;
            writeln!(
                out,
                "Removed {} blob(s), {}; {} blob(s), {} left in {}",
                r.removed,
                human(r.freed),
                r.kept,
                human(r.size),
                cache.dir().display()
            )
        }
    };
    written.map_err(|e| Failure::new(format!("writing to stdout: {e}")))
}

/// `3.2 GiB`, `512 B`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `used 5m ago`, as a last-use column.
fn ago(secs: u64) -> String {
    match secs {
        0..=59 => format!("used {secs}s ago"),
        60..=3599 => format!("used {}m ago", secs / 60),
        3600..=86_399 => format!("used {}h ago", secs / 3600),
        _ => format!("used {}d ago", secs / 86_400),
    }
}
