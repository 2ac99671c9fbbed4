//! Threads, channels and the memory they may hold.
//!
//! ```text
//!  layer N+1 reader ─► [decompress+parse thread] ─┐ batches of messages whose file
//!  layer N   reader ─► [decompress+parse thread] ─┤ content is sliced from one slab
//!    (each with a hashing thread beside it)       ▼
//!                 [calling thread: namespace operations in archive order]
//!                                                 │ bounded queue of job batches
//!                                                 ▼
//!     [writer pool: create small files; pwrite, fchown, fchmod, fsetxattr, futimens]
//! ```
//!
//! Each layer gets its own decompression thread, started one layer ahead, so layer N+1
//! inflates while layer N is applied; how far ahead is a byte budget shared by all
//! layers ([`Lookahead`]), so a large layer gets a long head start without a small one
//! costing the same. Large files are cut into pieces the writers write in parallel, so
//! the calling thread never waits on file content, and small files are created by the
//! writers. Memory is bounded by that budget plus the writer queue (`threads` batches,
//! each closed once it holds `writers::WRITE_BATCH_BYTES` of content, so at most that
//! plus one [`CHUNK`]), whatever the image size; slabs are
//! reused ([`SlabPool`]) so that the allocator's per-thread arenas do not double it.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::ops::Range;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

use bytes::Bytes;
use skiff_codec::LimitExceeded;
use skiff_oci::{Algorithm, Digest};

use crate::apply::LayerApply;
use crate::control::{Cancel, Hooks, UnpackEvent};
use crate::decompress::LayerStream;
use crate::entry::{self, EntryMeta, Kind};
use crate::lookahead::Lookahead;
use crate::slab::{SlabPool, SLAB_BYTES};
use crate::tar_end::{DataEnd, TarEnd};
use crate::warnings::Warnings;
use crate::writers::Pool;
use crate::{LayerSource, LayerStats, Limits, Root, UnpackError, UnpackOptions};

/// Largest piece of file content in one message; files up to this size travel whole.
pub(crate) const CHUNK: usize = 256 << 10;
/// A decompression thread sends its parsed messages in batches of up to this many bytes
/// of content (or [`MESSAGE_BATCH_LEN`] messages): one channel handoff per small file cost
/// ~10% of the time in thread wake-ups, and a batch's content shares one slab, which
/// should be well filled. (The writer pool batches its jobs too, by its own, smaller
/// bound: `writers::WRITE_BATCH_BYTES`.)
pub(crate) const MESSAGE_BATCH_BYTES: usize = 512 << 10;
const MESSAGE_BATCH_LEN: usize = 1024;
/// The applying thread reports progress after this many entries…
const PROGRESS_ENTRIES: u64 = 256;
/// …or this many bytes of file content, whichever comes first.
const PROGRESS_BYTES: u64 = 4 << 20;
/// Layers decompressing ahead of the one being applied (how far, in bytes, is the
/// [`Lookahead`] budget's business).
const LOOKAHEAD: usize = 1;

/// A message from a layer's decompression thread. File content (`C`) is a range of the
/// batch's slab while the batch is being filled, and a slice of it once sent.
pub(crate) enum Msg<C = Bytes> {
    Entry(Box<EntryMeta>, Option<C>),
    Chunk(C),
    End { diff_id: Digest, bytes: u64 },
    Failed(UnpackError),
}

impl Msg<Range<usize>> {
    fn resolve(self, slab: &Bytes) -> Msg {
        match self {
            Msg::Entry(meta, data) => Msg::Entry(meta, data.map(|r| slab.slice(r))),
            Msg::Chunk(r) => Msg::Chunk(slab.slice(r)),
            Msg::End { diff_id, bytes } => Msg::End { diff_id, bytes },
            Msg::Failed(e) => Msg::Failed(e),
        }
    }
}

/// Applies `layers` in order onto `root`.
pub(crate) fn run(
    root: &Root,
    layers: Vec<LayerSource>,
    opts: &UnpackOptions,
    hooks: &Hooks,
) -> Result<(Vec<LayerStats>, Vec<String>), UnpackError> {
    let warnings = Warnings::default();
    let budget = Lookahead::new(layers.len());
    let slabs = Arc::new(SlabPool::default());
    let stats = std::thread::scope(|s| {
        let pool = Pool::start(s, opts.threads, &warnings, &hooks.cancel);
        let budget = &budget;
        let spawn = |(index, layer): (usize, LayerSource)| {
            let (tx, rx) = channel::<Batch>();
            let name = layer.name.clone();
            let limits = &opts.limits;
            let cancel = &hooks.cancel;
            let out = Batcher {
                tx,
                layer: index,
                budget,
                slabs: slabs.clone(),
                fill: Vec::new(),
                filled: 0,
                pending: Vec::new(),
                bytes: 0,
            };
            s.spawn(move || produce(layer, limits, cancel, out));
            (index, name, rx)
        };
        let mut it = layers.into_iter().enumerate();
        let mut queue: VecDeque<_> = it.by_ref().take(LOOKAHEAD + 1).map(spawn).collect();
        let mut stats = Vec::new();
        let mut apply_all = || {
            while let Some((index, name, rx)) = queue.pop_front() {
                if let Some(next) = it.next() {
                    queue.push_back(spawn(next));
                }
                budget.advance(index);
                let incoming = Incoming {
                    rx: &rx,
                    layer: index,
                    budget,
                    buf: Vec::new().into_iter(),
                };
                hooks.emit(|| UnpackEvent::LayerStarted {
                    index,
                    name: name.clone(),
                });
                let layer = Layer { index, name: &name };
                let applied = apply_one(root, layer, incoming, opts, &pool, &warnings, hooks)?;
                hooks.emit(|| UnpackEvent::LayerApplied {
                    index,
                    stats: applied.clone(),
                });
                stats.push(applied);
            }
            Ok::<_, UnpackError>(())
        };
        let applied = apply_all();
        // Producers waiting for budget would otherwise keep the scope from ending.
        budget.close();
        applied.map(|()| stats)
    })?;
    Ok((stats, warnings.take()))
}

/// The applying side of a layer channel: unpacks batches.
struct Incoming<'a> {
    rx: &'a Receiver<Batch>,
    layer: usize,
    budget: &'a Lookahead,
    buf: std::vec::IntoIter<Msg>,
}

impl Incoming<'_> {
    fn recv(&mut self) -> Option<Msg> {
        loop {
            if let Some(m) = self.buf.next() {
                return Some(m);
            }
            let (batch, bytes) = self.rx.recv().ok()?;
            self.budget.release(self.layer, bytes);
            self.buf = batch.into_iter();
        }
    }
}

/// Which layer: its position and name.
struct Layer<'a> {
    index: usize,
    name: &'a str,
}

fn apply_one(
    root: &Root,
    Layer { index, name }: Layer<'_>,
    mut rx: Incoming<'_>,
    opts: &UnpackOptions,
    pool: &Pool,
    warnings: &Warnings,
    hooks: &Hooks,
) -> Result<LayerStats, UnpackError> {
    let gone = || {
        UnpackError::Internal(format!(
            "layer {name}: the decompression thread stopped without a result"
        ))
    };
    let mut la = LayerApply::new(root, name, opts, pool, warnings)?;
    let (mut next_entries, mut next_bytes) = (PROGRESS_ENTRIES, PROGRESS_BYTES);
    loop {
        match rx.recv().ok_or_else(gone)? {
            Msg::Entry(meta, data) => {
                if hooks.cancel.is_cancelled() {
                    return Err(UnpackError::Cancelled);
                }
                let mut chunks = || match rx.recv() {
                    Some(Msg::Chunk(c)) => Ok(c),
                    Some(Msg::Failed(e)) => Err(e),
                    _ => Err(gone()),
                };
                la.apply(*meta, data, &mut chunks)?;
                let (entries, bytes) = (la.counts.entries, la.counts.file_bytes);
                if entries >= next_entries || bytes >= next_bytes {
                    next_entries = entries + PROGRESS_ENTRIES;
                    next_bytes = bytes.saturating_add(PROGRESS_BYTES);
                    hooks.emit(|| UnpackEvent::Applying {
                        index,
                        entries,
                        bytes,
                    });
                }
            }
            Msg::Chunk(_) => {
                return Err(UnpackError::Internal(format!(
                    "layer {name}: stray content chunk"
                )))
            }
            Msg::Failed(e) => return Err(e),
            Msg::End { diff_id, bytes } => {
                let counts = la.finish()?;
                return Ok(LayerStats {
                    name: name.to_string(),
                    diff_id,
                    bytes,
                    counts,
                });
            }
        }
    }
}

/// A batch of messages and the bytes it was counted as in the [`Lookahead`] budget.
type Batch = (Vec<Msg>, usize);

/// The decompression thread of one layer.
fn produce(layer: LayerSource, limits: &Limits, cancel: &Cancel, mut out: Batcher<'_>) {
    if let Err(e) = produce_inner(layer, limits, cancel, &mut out) {
        out.pending.push(Msg::Failed(e));
    }
    out.flush();
}

struct Batcher<'b> {
    tx: Sender<Batch>,
    layer: usize,
    budget: &'b Lookahead,
    slabs: Arc<SlabPool>,
    /// The slab the pending messages' content is read into, and how much of it is used.
    fill: Vec<u8>,
    filled: usize,
    pending: Vec<Msg<Range<usize>>>,
    /// Bytes the pending messages count for in the budget.
    bytes: usize,
}

impl Batcher<'_> {
    /// Reads exactly `len` bytes of file content into the batch's slab.
    fn content(&mut self, mut from: impl Read, len: u64) -> io::Result<Range<usize>> {
        if self.fill.is_empty() {
            self.fill = self.slabs.take();
            self.filled = 0;
        }
        let range = self.filled..self.filled + len as usize;
        if range.end > self.fill.len() {
            // Batches are sent before this happens (see SLAB_BYTES); stay correct anyway.
            self.fill.resize(range.end, 0);
        }
        from.read_exact(&mut self.fill[range.clone()])?;
        self.filled = range.end;
        Ok(range)
    }

    /// Sends the batch once the budget allows; false when the applying side is gone.
    fn flush(&mut self) -> bool {
        let bytes = std::mem::take(&mut self.bytes);
        if self.pending.is_empty() {
            return true;
        }
        let slab = match self.filled == 0 {
            true => Bytes::new(),
            false => SlabPool::freeze(&self.slabs, std::mem::take(&mut self.fill)),
        };
        // The memory held is the whole slab, however little of it the batch fills.
        let bytes = if slab.is_empty() {
            bytes
        } else {
            bytes.max(SLAB_BYTES)
        };
        let batch = self.pending.drain(..).map(|m| m.resolve(&slab)).collect();
        self.budget.acquire(self.layer, bytes) && self.tx.send((batch, bytes)).is_ok()
    }
}

/// Queues `msg`; `false` when the applying side is gone (it failed and returns its own
/// error, so we just stop).
fn send(out: &mut Batcher, msg: Msg<Range<usize>>) -> bool {
    out.bytes += match &msg {
        Msg::Entry(_, Some(d)) => d.len() + 512,
        Msg::Chunk(c) => c.len(),
        _ => 512,
    };
    out.pending.push(msg);
    if out.bytes >= MESSAGE_BATCH_BYTES || out.pending.len() >= MESSAGE_BATCH_LEN {
        return out.flush();
    }
    true
}

fn produce_inner(
    layer: LayerSource,
    limits: &Limits,
    cancel: &Cancel,
    tx: &mut Batcher,
) -> Result<(), UnpackError> {
    let name = layer.name;
    let mut last = String::from("(start of layer)");
    let read_err = |entry: &str, e: io::Error| match skiff_codec::limit_exceeded(&e) {
        Some(LimitExceeded::Ratio {
            limit,
            decompressed,
        }) => UnpackError::RatioExceeded {
            layer: name.clone(),
            limit,
            decompressed,
        },
        Some(LimitExceeded::Size { limit }) => UnpackError::LayerTooLarge {
            layer: name.clone(),
            limit,
        },
        None => UnpackError::Read {
            layer: name.clone(),
            entry: entry.to_string(),
            source: e,
        },
    };
    let algorithm = layer
        .expected_diff_id
        .as_ref()
        .map_or(Algorithm::Sha256, Digest::algorithm);
    let stream = LayerStream::new(layer.reader, layer.compression, algorithm, limits)
        .map_err(|e| read_err(&last, e))?;
    let data_end = DataEnd::default();
    let mut archive = tar::Archive::new(TarEnd::new(stream, data_end.clone()));
    let mut count = 0u64;
    {
        let entries = archive.entries().map_err(|e| read_err(&last, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| read_err(&last, e))?;
            let size = entry
                .header()
                .entry_size()
                .map_err(|e| read_err(&last, e))?;
            data_end.set(entry.raw_file_position() + size);
            if cancel.is_cancelled() {
                return Err(UnpackError::Cancelled);
            }
            count += 1;
            if count > limits.max_entries {
                return Err(UnpackError::TooManyEntries {
                    layer: name.clone(),
                    limit: limits.max_entries,
                });
            }
            let meta = entry::parse(&mut entry, &name, limits)?;
            last.clone_from(&meta.raw);
            if meta.kind != Kind::File {
                if !send(tx, Msg::Entry(Box::new(meta), None)) {
                    return Ok(());
                }
                continue;
            }
            let size = meta.size;
            if size <= CHUNK as u64 {
                let data = tx
                    .content(&mut entry, size)
                    .map_err(|e| read_err(&last, e))?;
                if !send(tx, Msg::Entry(Box::new(meta), Some(data))) {
                    return Ok(());
                }
                continue;
            }
            if !send(tx, Msg::Entry(Box::new(meta), None)) {
                return Ok(());
            }
            let mut left = size;
            while left > 0 {
                let want = left.min(CHUNK as u64);
                let buf = tx
                    .content(&mut entry, want)
                    .map_err(|e| read_err(&last, e))?;
                left -= want;
                if !send(tx, Msg::Chunk(buf)) {
                    return Ok(());
                }
            }
        }
    }
    let stream = archive.into_inner().into_inner();
    let (diff_id, bytes) = stream.finish().map_err(|e| read_err("(end of layer)", e))?;
    if let Some(expected) = layer.expected_diff_id {
        if expected != diff_id {
            return Err(UnpackError::DiffIdMismatch {
                layer: name,
                expected,
                actual: diff_id,
            });
        }
    }
    send(tx, Msg::End { diff_id, bytes });
    Ok(())
}
