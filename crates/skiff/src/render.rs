//! Rendering the pipeline's progress events: bars on a terminal, plain periodic lines
//! otherwise (logs, CI, Proxmox task logs), nothing with --quiet.
//!
//! On a terminal, lines are printed above the bars; a bar that finishes is replaced by
//! its line, so the screen reads in the order things happened ("Writing manifest" below
//! the blobs it follows) and only transfers still running keep a bar.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use skiff_transport::progress::{BlobRetry, Event, Reporter, Silent};

use crate::output::{stderr_line, terminal_safe};

/// Chooses the renderer for stderr.
pub fn reporter(quiet: bool) -> std::sync::Arc<dyn Reporter> {
    if quiet {
        std::sync::Arc::new(Silent)
    } else if std::io::stderr().is_terminal() {
        std::sync::Arc::new(Bars::new())
    } else {
        std::sync::Arc::new(Lines::new())
    }
}

/// A digest shortened for progress lines, as skopeo shows it.
pub(crate) fn short(d: &skiff_oci::Digest) -> String {
    format!(
        "{}:{}",
        d.algorithm().name(),
        &d.hex()[..12.min(d.hex().len())]
    )
}

/// One indicatif bar per layer.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn new() -> Self {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
            bars: Mutex::new(HashMap::new()),
        }
    }
}

impl Reporter for Bars {
    fn report(&self, event: Event) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        match event {
            Event::Planned { .. } => {
                let _ = self.multi.println("Getting image source signatures");
            }
            Event::BlobStarted { digest, size } => {
                let bar = self.multi.add(ProgressBar::new(size));
                bar.set_style(
                    ProgressStyle::with_template("Copying blob {msg} {bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_message(short(&digest));
                bars.insert(digest.to_string(), bar);
            }
            Event::BlobProgress { digest, delta } => {
                if let Some(b) = bars.get(&digest.to_string()) {
                    b.inc(delta);
                }
            }
            Event::BlobSkipped { digest, .. } => {
                let _ = self.multi.println(format!(
                    "Copying blob {} skipped: already exists",
                    short(&digest)
                ));
            }
            Event::BlobDone { digest } => {
                if let Some(b) = bars.remove(&digest.to_string()) {
                    b.finish_and_clear();
                    self.multi.remove(&b);
                }
                let _ = self
                    .multi
                    .println(format!("Copying blob {} done", short(&digest)));
            }
            Event::BlobRetrying(retry) => {
                // The next BlobStarted draws a fresh bar for the new attempt.
                if let Some(b) = bars.remove(&retry.digest.to_string()) {
                    b.finish_and_clear();
                    self.multi.remove(&b);
                }
                let _ = self.multi.println(terminal_safe(&retry_line(&retry)));
            }
            Event::Committing => {
                let _ = self.multi.println("Writing manifest to image destination");
            }
        }
    }
}

/// Plain lines: one per layer start and end, and a summary line at most every 2 seconds.
struct Lines {
    state: Mutex<LineState>,
}

struct LineState {
    total: u64,
    done: u64,
    /// Bytes of each layer in flight, so a layer sent again is not counted twice.
    in_flight: HashMap<String, u64>,
    last: Instant,
}

impl Lines {
    fn new() -> Self {
        Lines {
            state: Mutex::new(LineState {
                total: 0,
                done: 0,
                in_flight: HashMap::new(),
                last: Instant::now(),
            }),
        }
    }
}

/// How often plain (non-terminal) progress prints a summary line.
pub(crate) const LINE_INTERVAL: Duration = Duration::from_secs(2);

/// Bytes as MiB for progress lines.
pub(crate) fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

impl Reporter for Lines {
    fn report(&self, event: Event) {
        let Ok(mut s) = self.state.lock() else { return };
        match event {
            Event::Planned { layers, bytes } => {
                s.total = bytes;
                stderr_line("Getting image source signatures");
                stderr_line(&format!("Copying {layers} blob(s), {:.1} MiB", mib(bytes)));
            }
            Event::BlobStarted { digest, .. } => {
                stderr_line(&format!("Copying blob {}", short(&digest)))
            }
            Event::BlobProgress { digest, delta } => {
                s.done = s.done.saturating_add(delta);
                *s.in_flight.entry(digest.to_string()).or_default() += delta;
                if s.last.elapsed() >= LINE_INTERVAL {
                    s.last = Instant::now();
                    let line = match s.done.saturating_mul(100).checked_div(s.total) {
                        Some(pct) => format!(
                            "Progress: {:.1} MiB / {:.1} MiB ({pct}%)",
                            mib(s.done),
                            mib(s.total)
                        ),
                        // Layers re-encoded before the plan is final: no total yet.
                        None => format!("Progress: {:.1} MiB", mib(s.done)),
                    };
                    stderr_line(&line);
                }
            }
            Event::BlobSkipped { digest, .. } => stderr_line(&format!(
                "Copying blob {} skipped: already exists",
                short(&digest)
            )),
            Event::BlobDone { digest } => {
                s.in_flight.remove(&digest.to_string());
                stderr_line(&format!("Copying blob {} done", short(&digest)))
            }
            Event::BlobRetrying(retry) => {
                let sent = s.in_flight.remove(&retry.digest.to_string()).unwrap_or(0);
                s.done = s.done.saturating_sub(sent);
                stderr_line(&retry_line(&retry));
            }
            Event::Committing => stderr_line("Writing manifest to image destination"),
        }
    }
}

/// "Retrying blob …": a layer sent again from its start, and why.
fn retry_line(retry: &BlobRetry) -> String {
    format!(
        "Retrying blob {} from its start (attempt {} of {}): {}",
        short(&retry.digest),
        retry.attempt,
        retry.of,
        retry.reason
    )
}
