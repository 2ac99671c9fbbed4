//! Rendering the progress of `unpack` and `lxc create`: one bar per layer on a terminal
//! (bytes fetched, then entries applied), plain periodic lines otherwise, nothing with
//! --quiet — except a staging directory that could not be removed, which is always said.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use skiff_rootfs::{Event, Reporter};
use skiff_unpack::UnpackEvent;

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

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn short(d: &skiff_oci::Digest) -> String {
    let hex = d.hex();
    format!("{}:{}", d.algorithm().name(), &hex[..12.min(hex.len())])
}

/// What is said even with --quiet: the user has to act on it.
fn staging_left(path: &std::path::Path, error: &str) {
    eprintln!(
        "skiff: warning: could not remove the staging directory {}: {error}; remove it by hand",
        path.display()
    );
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

const LINE_INTERVAL: Duration = Duration::from_secs(2);

impl Reporter for Lines {
    fn report(&self, event: Event) {
        let Ok(mut s) = self.state.lock() else { return };
        match event {
            Event::Resolved { layers, bytes } => {
                (s.total, s.layers) = (bytes, layers);
                eprintln!("Unpacking {layers} layer(s), {:.1} MiB", mib(bytes));
            }
            Event::FetchStarted { index, digest, .. } => {
                eprintln!(
                    "Fetching layer {}/{} {}",
                    index + 1,
                    s.layers,
                    short(&digest)
                )
            }
            Event::Fetched { delta, .. } => {
                s.fetched += delta;
                if s.last.elapsed() >= LINE_INTERVAL {
                    s.last = Instant::now();
                    eprintln!(
                        "Progress: fetched {:.1} MiB / {:.1} MiB",
                        mib(s.fetched),
                        mib(s.total)
                    );
                }
            }
            Event::Unpack(UnpackEvent::Applying {
                index,
                entries,
                bytes,
            }) => {
                if s.last.elapsed() >= LINE_INTERVAL {
                    s.last = Instant::now();
                    eprintln!(
                        "Progress: layer {}: {entries} entries, {:.1} MiB written",
                        index + 1,
                        mib(bytes)
                    );
                }
            }
            Event::Unpack(UnpackEvent::LayerApplied { index, stats }) => eprintln!(
                "Applied layer {}/{}: {} entries, {:.1} MiB",
                index + 1,
                s.layers,
                stats.counts.entries,
                mib(stats.bytes)
            ),
            Event::Unpack(UnpackEvent::LayerStarted { .. }) => {}
            Event::StagingLeft { path, error } => staging_left(&path, &error),
        }
    }
}
