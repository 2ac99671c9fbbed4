//! The bounded fuzz run: for every target, the corpus under `fuzz/corpus/<target>/` (seeds
//! and the inputs of every crash found so far) is replayed, then mutated for a few seconds.
//! A panic fails the test with the input saved under `target/skiff-fuzz/crashes/`; a hang
//! or an oversized allocation aborts the run with the input in
//! `target/skiff-fuzz/fatal-input`.
//!
//! `SKIFF_FUZZ_SECS` (per target, default 6), `SKIFF_FUZZ_SEED` and `SKIFF_FUZZ_TARGET`
//! (one target, by name) make longer local runs.

use std::path::PathBuf;
use std::time::Duration;

use skiff_fuzz::guard::{self, CappedAlloc};
use skiff_fuzz::runner::{self, Budget};
use skiff_fuzz::targets::TARGETS;

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        })
        .unwrap_or(default)
}

fn work_dir() -> PathBuf {
    // tests run with the package as the current directory; target/ is the workspace's.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/skiff-fuzz")
}

#[test]
fn every_target_survives_its_corpus_and_mutations() {
    let secs = env_u64("SKIFF_FUZZ_SECS", 6);
    let seed = env_u64("SKIFF_FUZZ_SEED", 0x5c1ff);
    let only = std::env::var("SKIFF_FUZZ_TARGET").ok();
    if let Some(name) = &only {
        assert!(
            skiff_fuzz::targets::by_name(name).is_some(),
            "no target {name:?}"
        );
    }
    let work = work_dir();
    guard::arm(&work.join("fatal-input")).expect("create the fatal-input file");
    let mut crashes = Vec::new();
    for target in TARGETS
        .iter()
        .filter(|t| only.as_deref().is_none_or(|n| n == t.name))
    {
        let budget = Budget {
            time: Duration::from_secs(secs),
            // Each target its own sequence, the same for the same seed.
            seed: target.name.bytes().fold(seed, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            }),
        };
        match runner::run(
            target,
            &skiff_fuzz::corpus_root(),
            &work.join("crashes"),
            &budget,
        ) {
            Ok(r) => println!(
                "{:<16} {:>9} execs  {:>4} corpus files  {:>5} outcomes",
                r.target, r.execs, r.replayed, r.outcomes
            ),
            Err(c) => crashes.push(c),
        }
    }
    assert!(
        crashes.is_empty(),
        "crashes (fix each, then add its input to fuzz/corpus/<target>/):\n{crashes:#?}"
    );
}
