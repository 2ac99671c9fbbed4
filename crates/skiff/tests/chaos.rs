//! The reliability matrix (skiff-testbed's `chaos` module), bounded: every fault kind,
//! phase and command at least once, one interrupt of each kind per command, every
//! resource case — chosen by a seed (`SKIFF_CHAOS_SEED`, default 1). `bench/chaos.sh
//! SEED` runs the whole matrix. Needs root (it mounts small tmpfs filesystems).

use skiff_testbed::chaos::{run, Config};

#[test]
fn the_promises_hold_under_faults_interrupts_and_exhaustion() {
    let seed = std::env::var("SKIFF_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let report = run(&Config {
        skiff: env!("CARGO_BIN_EXE_skiff").into(),
        seed,
        full: false,
        repeats: 1,
        filter: None,
        verbose: true,
    })
    .expect("the chaos peers start");
    eprintln!("{report}");
    assert!(
        report.clean(),
        "broken promises (seed {seed}):\n{}",
        report.problems().join("\n")
    );
    let t = report.totals();
    assert!(
        t.recovered > 10 && t.failed_cleanly > 10 && t.struck > 10,
        "the subset exercised both outcomes: {t:?}"
    );
}
