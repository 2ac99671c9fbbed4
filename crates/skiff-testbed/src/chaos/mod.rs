//! The reliability matrix: skiff's promises (README "What a copy guarantees", "What
//! unpack guarantees") checked systematically rather than one case at a time.
//!
//! Every command (copy to each destination, unpack, lxc create, sync, apply on the lxc
//! backend, pve pull into a node root, copy --sign-by into a `file://` lookaside) runs
//! against real `docker-registry` processes behind [`crate::fault::FaultProxy`], with
//! a fault injected at each phase (token, manifest, config, blob, upload POST/PATCH/PUT,
//! manifest PUT), interrupted by SIGINT/SIGTERM or `--command-timeout` at seeded
//! points, on a filesystem that fills up or is read-only, with few file descriptors,
//! and fed decompression bombs through every decoder. Each run is judged by
//! [`judge`]: the output is the old one (or absent) or the complete new one, nothing is
//! left behind, the documented outcome holds. Used by the `chaos` test (a bounded
//! subset) and `skiff-testbed chaos` / `bench/chaos.sh` (everything).

mod deploy;
mod exec;
mod images;
mod judge;
mod matrix;
mod report;
mod snapshot;
mod world;

use std::path::PathBuf;
use std::time::Instant;

pub use judge::{Outcome, Verdict};
pub use report::{Report, Totals};

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The skiff binary under test.
    pub skiff: PathBuf,
    pub seed: u64,
    /// The whole matrix, or the bounded subset for the test suite.
    pub full: bool,
    /// Interrupts per command and kind (SIGINT, SIGTERM, timeout) in the full matrix.
    pub repeats: usize,
    /// Only scenarios whose name contains this.
    pub filter: Option<String>,
    /// Print each scenario's line as it finishes.
    pub verbose: bool,
}

/// Runs the matrix (or its subset) and reports what held.
pub fn run(config: &Config) -> Result<Report, String> {
    let start = Instant::now();
    let mut rng = Rng(config.seed);
    let all = matrix::full(&mut rng, config.repeats.max(1));
    let mut scenarios = if config.full {
        all
    } else {
        matrix::subset(&all, &mut rng)
    };
    if let Some(f) = &config.filter {
        scenarios.retain(|s| s.name().contains(f.as_str()));
    }
    let mut world = world::World::start(&config.skiff, config.seed)?;
    let mut ops: Vec<matrix::Op> = scenarios.iter().map(|s| s.op).collect();
    ops.sort();
    ops.dedup();
    for op in ops {
        world.reference(op)?;
    }
    let mut report = Report {
        seed: config.seed,
        ..Report::default()
    };
    for (i, sc) in scenarios.iter().enumerate() {
        let outcome = judge::run(&mut world, sc, i)?;
        if config.verbose {
            eprintln!("[{}/{}] {}", i + 1, scenarios.len(), report::line(&outcome));
        }
        report.outcomes.push(outcome);
    }
    report.peak_rss_kib = world.peak_rss_kib;
    report.secs = start.elapsed().as_secs_f64();
    Ok(report)
}

/// splitmix64: the seeded choices (older destination or not, interrupt points, the
/// subset) need to be reproducible, not strong.
pub(crate) struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; near enough for choosing test cases).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}
