//! # skiff-fuzz: every parser of outside input, under random input
//!
//! skiff reads image references, digests, manifests, indexes and configs, `WWW-Authenticate`
//! challenges, layer tar streams, registries.conf, auth.json, policy.json, apply files and
//! catalog entries from places it does not control. For none of them may any input cause
//! a panic, a hang or an unbounded allocation. This crate holds one target per parser
//! ([`targets`]) and a harness that needs only the stable toolchain ([`runner`],
//! [`mutate`], [`guard`]): the test `tests/fuzz.rs` replays the corpus kept in the
//! repository under `fuzz/corpus/<target>/` and then mutates it for a bounded time. The
//! same targets are wrapped for cargo-fuzz (libFuzzer, nightly) in `fuzz/` for long runs.
//!
//! Every crash found is fixed and its input added to the corpus, where every later run
//! replays it.

pub mod guard;
pub mod mutate;
pub mod runner;
pub mod targets;

/// The repository's corpus directory (`fuzz/corpus`).
pub fn corpus_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}
