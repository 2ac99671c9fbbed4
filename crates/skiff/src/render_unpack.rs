//! Rendering the progress of `unpack` and `lxc create`: one bar per layer on a terminal
//! (bytes fetched, then entries applied), plain periodic lines otherwise, nothing with
//! --quiet — except a staging directory that could not be removed, which is always said.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use skiff_rootfs::{Event, Reporter};
use skiff_unpack::UnpackEvent;

use crate::cli::program_name;
use crate::output::stderr_line;
use crate::render::{mib, short, LINE_INTERVAL};

/// Chooses the renderer for stderr.
pub fn reporter(quiet: bool) -> Arc<dyn Reporter> {
    if quiet {
        Arc::new(Quiet)
    } else if std::io::stderr().is_terminal() {
        Arc::new(Bars::new())
    } else {
        Arc::new(Lines::default())
    }
}

/// What is said even with --quiet: the user has to act on it.
fn staging_left(path: &std::path::Path, error: &str) {
    stderr_line(&format!(
        "{}: warning: could not remove the staging directory {}: {error}; remove it by hand",
        program_name(),
        path.display()
    ));
}

struct Quiet;

impl Reporter for Quiet {
    fn report(&self, event: Event) {
        if let Event::StagingLeft { path, error } = event {
            staging_left(&path, &error);
        }
    }
}

/// One bar per layer: its bytes as they arrive, then the entries applied.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<Vec<Option<ProgressBar>>>,
}

impl Bars {
    fn new() -> Self {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
            bars: Mutex::default(),
        }
    }
}

impl Reporter for Bars {
    fn report(&self, event: Event) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        let bar = |bars: &mut Vec<Option<ProgressBar>>, index: usize| {
            bars.get(index).and_then(Option::clone)
        };
        match event {
            Event::Resolved { layers, .. } => bars.resize(layers, None),
            Event::FetchStarted {
                index,
                digest,
                size,
            } => {
                let b = self.multi.add(ProgressBar::new(size));
                b.set_style(
                    ProgressStyle::with_template(
                        "Layer {prefix} {bar:30} {binary_bytes}/{binary_total_bytes} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b.set_prefix(short(&digest));
                if let Some(slot) = bars.get_mut(index) {
                    *slot = Some(b);
                }
            }
            Event::Fetched { index, delta } => {
                if let Some(b) = bar(&mut bars, index) {
                    b.inc(delta);
                }
            }
            Event::Unpack(UnpackEvent::Applying {
                index,
                entries,
                bytes,
            }) => {
                if let Some(b) = bar(&mut bars, index) {
                    b.set_message(format!("{entries} entries, {:.1} MiB written", mib(bytes)));
                }
            }
            Event::Unpack(UnpackEvent::LayerApplied { index, stats }) => {
                if let Some(b) = bar(&mut bars, index) {
                    b.finish_with_message(format!(
                        "applied: {} entries, {:.1} MiB",
                        stats.counts.entries,
                        mib(stats.bytes)
                    ));
                }
            }
            Event::Unpack(UnpackEvent::LayerStarted { .. }) => {}
            Event::StagingLeft { path, error } => staging_left(&path, &error),
        }
    }
}

/// Plain lines: one per layer fetched and applied, and a progress line at most every
/// [`LINE_INTERVAL`].
struct Lines {
    state: Mutex<LineState>,
}

struct LineState {
    total: u64,
    fetched: u64,
    layers: usize,
    last: Instant,
}

impl Default for Lines {
    fn default() -> Self {
        Lines {
            state: Mutex::new(LineState {
                total: 0,
                fetched: 0,
                layers: 0,
                last: Instant::now(),
            }),
        }
    }
}

impl Reporter for Lines {
    fn report(&self, event: Event) {
        let Ok(mut s) = self.state.lock() else { return };
        match event {
            Event::Resolved { layers, bytes } => {
                (s.total, s.layers) = (bytes, layers);
                stderr_line(&format!(
                    "Unpacking {layers} layer(s), {:.1} MiB",
                    mib(bytes)
                ));
            }
            Event::FetchStarted { index, digest, .. } => stderr_line(&format!(
                "Fetching layer {}/{} {}",
                index + 1,
                s.layers,
                short(&digest)
            )),
            Event::Fetched { delta, .. } => {
                s.fetched += delta;
                if s.last.elapsed() >= LINE_INTERVAL {
                    s.last = Instant::now();
                    stderr_line(&format!(
                        "Progress: fetched {:.1} MiB / {:.1} MiB",
                        mib(s.fetched),
                        mib(s.total)
                    ));
                }
            }
            Event::Unpack(UnpackEvent::Applying {
                index,
                entries,
                bytes,
            }) => {
                if s.last.elapsed() >= LINE_INTERVAL {
                    s.last = Instant::now();
                    stderr_line(&format!(
                        "Progress: layer {}: {entries} entries, {:.1} MiB written",
                        index + 1,
                        mib(bytes)
                    ));
                }
            }
            Event::Unpack(UnpackEvent::LayerApplied { index, stats }) => stderr_line(&format!(
                "Applied layer {}/{}: {} entries, {:.1} MiB",
                index + 1,
                s.layers,
                stats.counts.entries,
                mib(stats.bytes)
            )),
            Event::Unpack(UnpackEvent::LayerStarted { .. }) => {}
            Event::StagingLeft { path, error } => staging_left(&path, &error),
        }
    }
}
