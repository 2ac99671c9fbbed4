//! # skiff-sync: many images at once, as `skopeo sync` — in parallel and incrementally
//!
//! A sync lists the images SOURCE holds (a registry repository's tags, a tree of `dir:`
//! images, or skopeo's YAML list), names each one's destination exactly as skopeo does
//! (`naming`), and copies them. Every copy is one call of skiff-transport's
//! `copy_image`: sync adds no second pipeline, so verification, atomic output and
//! format rules are the same as for `copy`.
//!
//! What it does beyond skopeo, which copies image by image and blob by blob:
//! * images move in parallel (bounded, [`DEFAULT_PARALLEL_IMAGES`]);
//! * an image whose destination already names the same manifest digest is skipped after
//!   one HEAD (registry) or one file read (`dir:`), so a sync with nothing changed
//!   downloads nothing;
//! * a failed image is counted, and the run ends with a [`Summary`] the caller turns
//!   into "N copied, N skipped, N failed" and an exit status.
//!
//! Layering: `error`; `naming` (destination names); `source` and `yaml` (what SOURCE
//! holds); `run` (the parallel, incremental loop). The binary only parses flags and
//! renders outcomes.

mod error;
mod naming;
mod run;
mod source;
mod yaml;

pub use error::SyncError;
pub use naming::{DestKind, Naming};
pub use run::{
    run, DestinationHook, DestinationWrapper, ImageOutcome, Outcome, SourceOpener, Summary,
    SyncOptions, Wrapped, DEFAULT_PARALLEL_IMAGES,
};
pub use source::{jobs, Job, SourceKind};
