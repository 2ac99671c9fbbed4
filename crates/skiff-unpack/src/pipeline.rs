//! Threads and bounded channels.
//!
//! ```text
//!  layer N+1 reader ─► [decompress+hash+parse thread] ─┐ (bounded: CHANNEL_DEPTH messages,
//!  layer N   reader ─► [decompress+hash+parse thread] ─┤  each ≤ ~BATCH_BYTES+CHUNK)
//!                                                      ▼
//!                         [calling thread: namespace operations in archive order]
//!                                                      │ bounded job queue (fd + bytes)
//!                                                      ▼
//!                         [writer pool: write, fchown, fchmod, fsetxattr, futimens]
//! ```
//!
//! Each layer gets its own decompression thread, started one layer ahead, so layer N+1
//! inflates while layer N is applied. Memory is bounded by the channel depths times
//! the batch size: about 2 × 8 × 768 KiB for the layer channels plus 2 × threads × 256 KiB
//! for the writer queue, whatever the image size.

use std::collections::{HashSet, VecDeque};
use std::io::{self, BufReader, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::Scope;

use skiff_oci::{Algorithm, Digest};

use crate::apply::{finish_file, FileJob, LayerApply};
use crate::decompress::{limit_hit, LayerStream, LimitHit};
use crate::entry::{self, EntryMeta, Kind};
use crate::{LayerSource, LayerStats, Limits, Root, UnpackError, UnpackOptions};

/// Largest piece of file content in one message; files up to this size travel whole.
const CHUNK: usize = 256 << 10;
const CHANNEL_DEPTH: usize = 8;
/// Messages are sent in batches (up to this many bytes of content, or `BATCH_LEN`
/// messages): one channel handoff per small file cost ~10% of the time in thread
/// wake-ups.
const BATCH_BYTES: usize = 512 << 10;
const BATCH_LEN: usize = 64;
/// Layers decompressing ahead of the one being applied.
const LOOKAHEAD: usize = 1;

pub(crate) enum Msg {
    Entry(Box<EntryMeta>, Option<Vec<u8>>),
    Chunk(Vec<u8>),
    End { diff_id: Digest, bytes: u64 },
    Failed(UnpackError),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Warnings collected during unpacking, each kind reported once.
#[derive(Default)]
pub(crate) struct Warnings(Mutex<(Vec<String>, HashSet<String>)>);

impl Warnings {
    pub(crate) fn once(&self, kind: &'static str, msg: String) {
        self.once_dynamic(kind.to_string(), msg)
    }
    pub(crate) fn once_dynamic(&self, kind: String, msg: String) {
        let mut w = lock(&self.0);
        if w.1.insert(kind) {
            w.0.push(msg);
        }
    }
    pub(crate) fn take(&self) -> Vec<String> {
        std::mem::take(&mut lock(&self.0).0)
    }
}

#[derive(Default)]
struct PoolState {
    pending: usize,
    error: Option<UnpackError>,
}

/// The writer pool: regular-file content and metadata, through fds the applying thread
/// opened. With `threads == 0` it writes inline.
pub(crate) struct Pool {
    tx: Option<SyncSender<(FileJob, Arc<str>)>>,
    state: Arc<(Mutex<PoolState>, Condvar)>,
}

fn write_job(job: &mut FileJob, warnings: &Warnings) -> Result<(), (&'static str, io::Error)> {
    use std::io::Write;
    job.file.write_all(&job.data).map_err(|e| ("write", e))?;
    finish_file(&job.file, &job.meta, warnings)
}

impl Pool {
    pub(crate) fn start<'s, 'e>(
        s: &'s Scope<'s, 'e>,
        threads: usize,
        warnings: &'e Warnings,
    ) -> Pool {
        let state: Arc<(Mutex<PoolState>, Condvar)> = Arc::default();
        if threads == 0 {
            return Pool { tx: None, state };
        }
        let (tx, rx) = sync_channel::<(FileJob, Arc<str>)>(threads * 2);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..threads {
            let rx = rx.clone();
            let state = state.clone();
            s.spawn(move || loop {
                let msg = lock(&rx).recv();
                let Ok((mut job, layer)) = msg else { break };
                let r = write_job(&mut job, warnings);
                drop(job.file);
                let (m, cv) = &*state;
                let mut st = lock(m);
                st.pending -= 1;
                if let Err((op, source)) = r {
                    if st.error.is_none() {
                        st.error = Some(UnpackError::Io {
                            layer: layer.to_string(),
                            entry: job.entry,
                            op,
                            source,
                        });
                    }
                }
                if st.pending == 0 {
                    cv.notify_all();
                }
            });
        }
        Pool {
            tx: Some(tx),
            state,
        }
    }

    pub(crate) fn submit(
        &self,
        mut job: FileJob,
        layer: &str,
        warnings: &Warnings,
    ) -> Result<(), UnpackError> {
        let Some(tx) = &self.tx else {
            return write_job(&mut job, warnings).map_err(|(op, source)| UnpackError::Io {
                layer: layer.into(),
                entry: job.entry,
                op,
                source,
            });
        };
        {
            let mut st = lock(&self.state.0);
            if let Some(e) = st.error.take() {
                return Err(e);
            }
            st.pending += 1;
        }
        tx.send((job, layer.into()))
            .map_err(|_| UnpackError::Internal("writer threads are gone".into()))
    }

    /// Waits until every submitted file is written; returns the first failure.
    pub(crate) fn wait(&self) -> Result<(), UnpackError> {
        let (m, cv) = &*self.state;
        let mut st = lock(m);
        while st.pending > 0 {
            st = cv.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        st.error.take().map_or(Ok(()), Err)
    }
}

/// Applies `layers` in order onto `root`.
pub(crate) fn run(
    root: &Root,
    layers: Vec<LayerSource>,
    opts: &UnpackOptions,
) -> Result<(Vec<LayerStats>, Vec<String>), UnpackError> {
    let warnings = Warnings::default();
    let stats = std::thread::scope(|s| {
        let pool = Pool::start(s, opts.threads, &warnings);
        let spawn = |layer: LayerSource| {
            let (tx, rx) = sync_channel::<Vec<Msg>>(CHANNEL_DEPTH);
            let name = layer.name.clone();
            let limits = &opts.limits;
            s.spawn(move || produce(layer, limits, tx));
            (name, rx)
        };
        let mut it = layers.into_iter();
        let mut queue: VecDeque<(String, Receiver<Vec<Msg>>)> =
            it.by_ref().take(LOOKAHEAD + 1).map(spawn).collect();
        let mut stats = Vec::new();
        while let Some((name, rx)) = queue.pop_front() {
            if let Some(next) = it.next() {
                queue.push_back(spawn(next));
            }
            stats.push(apply_one(root, &name, &rx, opts, &pool, &warnings)?);
        }
        Ok::<_, UnpackError>(stats)
    })?;
    Ok((stats, warnings.take()))
}

/// The applying side of a layer channel: unpacks batches.
struct Incoming<'a> {
    rx: &'a Receiver<Vec<Msg>>,
    buf: std::vec::IntoIter<Msg>,
}

impl Incoming<'_> {
    fn recv(&mut self) -> Option<Msg> {
        loop {
            if let Some(m) = self.buf.next() {
                return Some(m);
            }
            self.buf = self.rx.recv().ok()?.into_iter();
        }
    }
}

fn apply_one(
    root: &Root,
    name: &str,
    rx: &Receiver<Vec<Msg>>,
    opts: &UnpackOptions,
    pool: &Pool,
    warnings: &Warnings,
) -> Result<LayerStats, UnpackError> {
    let gone = || {
        UnpackError::Internal(format!(
            "layer {name}: the decompression thread stopped without a result"
        ))
    };
    let mut la = LayerApply::new(root, name, opts, pool, warnings)?;
    let mut rx = Incoming {
        rx,
        buf: Vec::new().into_iter(),
    };
    loop {
        match rx.recv().ok_or_else(gone)? {
            Msg::Entry(meta, data) => {
                let mut chunks = || match rx.recv() {
                    Some(Msg::Chunk(c)) => Ok(c),
                    Some(Msg::Failed(e)) => Err(e),
                    _ => Err(gone()),
                };
                la.apply(*meta, data, &mut chunks)?;
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

/// The decompression thread of one layer.
fn produce(layer: LayerSource, limits: &Limits, tx: SyncSender<Vec<Msg>>) {
    let mut out = Batcher {
        tx,
        batch: Vec::new(),
        bytes: 0,
    };
    if let Err(e) = produce_inner(layer, limits, &mut out) {
        out.batch.push(Msg::Failed(e));
    }
    out.flush();
}

struct Batcher {
    tx: SyncSender<Vec<Msg>>,
    batch: Vec<Msg>,
    bytes: usize,
}

impl Batcher {
    fn flush(&mut self) -> bool {
        self.bytes = 0;
        if self.batch.is_empty() {
            return true;
        }
        self.tx.send(std::mem::take(&mut self.batch)).is_ok()
    }
}

/// Queues `msg`; `false` when the applying side is gone (it failed and returns its own
/// error, so we just stop).
fn send(out: &mut Batcher, msg: Msg) -> bool {
    out.bytes += match &msg {
        Msg::Entry(_, Some(d)) => d.len() + 512,
        Msg::Chunk(c) => c.len(),
        _ => 512,
    };
    out.batch.push(msg);
    if out.bytes >= BATCH_BYTES || out.batch.len() >= BATCH_LEN {
        return out.flush();
    }
    true
}

fn produce_inner(layer: LayerSource, limits: &Limits, tx: &mut Batcher) -> Result<(), UnpackError> {
    let name = layer.name;
    let mut last = String::from("(start of layer)");
    let read_err = |entry: &str, e: io::Error| match limit_hit(&e) {
        Some(LimitHit::Ratio { decompressed }) => UnpackError::RatioExceeded {
            layer: name.clone(),
            limit: limits.max_ratio,
            decompressed,
        },
        Some(LimitHit::Size) => UnpackError::LayerTooLarge {
            layer: name.clone(),
            limit: limits.max_layer_bytes,
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
    let mut archive = tar::Archive::new(BufReader::with_capacity(CHUNK, stream));
    let mut count = 0u64;
    {
        let entries = archive.entries().map_err(|e| read_err(&last, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| read_err(&last, e))?;
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
                let mut data = Vec::with_capacity(size as usize);
                entry
                    .read_to_end(&mut data)
                    .map_err(|e| read_err(&last, e))?;
                if data.len() as u64 != size {
                    return Err(read_err(&last, io::ErrorKind::UnexpectedEof.into()));
                }
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
                let mut buf = Vec::with_capacity(want as usize);
                (&mut entry)
                    .take(want)
                    .read_to_end(&mut buf)
                    .map_err(|e| read_err(&last, e))?;
                if buf.len() as u64 != want {
                    return Err(read_err(&last, io::ErrorKind::UnexpectedEof.into()));
                }
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
