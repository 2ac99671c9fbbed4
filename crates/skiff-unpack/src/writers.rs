//! The writer pool: the bytes and metadata of regular files, written through fds the
//! applying thread opened.
//!
//! The applying thread gathers jobs into batches and hands over a batch at a time: one
//! handoff per small file spent ~7% of the CPU time in futex wake-ups and lock
//! contention (most files in an image are a few KiB). A batch closes at
//! [`WRITE_BATCH_JOBS`] jobs or [`WRITE_BATCH_BYTES`] bytes, so the writers never wait long for
//! work and the queue holds little memory: at most `threads` batches wait, each a few
//! slabs at worst.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::Scope;

use bytes::Bytes;

use crate::control::Cancel;
use crate::metadata::{finish_file, FileMeta};
use crate::root::create_file;
use crate::warnings::{lock, Warnings};
use crate::UnpackError;

/// A batch of writer jobs closes once it holds this many jobs…
const WRITE_BATCH_JOBS: usize = 64;
/// …or this many bytes of content. Smaller than the decompression threads' message
/// batches (`pipeline::MESSAGE_BATCH_BYTES`): writers should get work soon, while a
/// message batch should fill its slab.
const WRITE_BATCH_BYTES: usize = 256 << 10;

/// A regular file whose content the workers write, shared by the pieces of it.
pub(crate) struct FileTarget {
    file: File,
    meta: FileMeta,
    entry: String,
    /// Pieces submitted and not yet written. It starts at one, which stands for the
    /// last piece; every earlier piece adds one before it is submitted, so the count
    /// reaches zero only when the last piece has been submitted and everything written.
    unwritten: AtomicUsize,
}

impl FileTarget {
    pub(crate) fn new(file: File, meta: FileMeta, entry: String) -> Self {
        FileTarget {
            file,
            meta,
            entry,
            unwritten: AtomicUsize::new(1),
        }
    }

    /// Announces a piece that is not the last one.
    pub(crate) fn more_pieces(&self) {
        self.unwritten.fetch_add(1, Ordering::AcqRel);
    }

    /// Marks one piece written; true for the piece that completes the file, whose
    /// writer then sets the metadata.
    fn piece_written(&self) -> bool {
        self.unwritten.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

/// Work for a writer.
pub(crate) enum FileJob {
    /// A small file, created, written and finished by the writer: creating inodes is
    /// most of the kernel's work for an image of small files, and the applying thread
    /// must stay free to read on. (It hands over only files nothing later in the layer
    /// depends on before the writers are done — see `apply`.)
    Whole(Box<NewFile>),
    /// A piece of a large file the applying thread created, written at `offset`. Large
    /// files are cut into pieces so that several workers write them, and the applying
    /// thread never waits on a file's bytes.
    Piece {
        target: Arc<FileTarget>,
        offset: u64,
        data: Bytes,
    },
}

/// A small file for a writer to create in `dir`.
pub(crate) struct NewFile {
    pub(crate) dir: Arc<OwnedFd>,
    pub(crate) name: Vec<u8>,
    pub(crate) data: Bytes,
    pub(crate) meta: FileMeta,
    pub(crate) entry: String,
}

impl FileJob {
    fn len(&self) -> usize {
        match self {
            FileJob::Whole(f) => f.data.len(),
            FileJob::Piece { data, .. } => data.len(),
        }
    }

    fn entry(&self) -> &str {
        match self {
            FileJob::Whole(f) => &f.entry,
            FileJob::Piece { target, .. } => &target.entry,
        }
    }

    /// Writes the job; the writer of a file's last piece also sets its metadata.
    fn write(&self, warnings: &Warnings) -> Result<(), (&'static str, io::Error)> {
        match self {
            FileJob::Whole(f) => {
                let (fd, _) =
                    create_file(f.dir.as_fd(), &f.name).map_err(|e| ("create file", e))?;
                let file = File::from(fd);
                if !f.data.is_empty() {
                    file.write_all_at(&f.data, 0).map_err(|e| ("write", e))?;
                }
                finish_file(&file, &f.meta, warnings)
            }
            FileJob::Piece {
                target,
                offset,
                data,
            } => {
                target
                    .file
                    .write_all_at(data, *offset)
                    .map_err(|e| ("write", e))?;
                if target.piece_written() {
                    finish_file(&target.file, &target.meta, warnings)?;
                }
                Ok(())
            }
        }
    }
}

/// Jobs handed over together, all of one layer (named for errors).
struct Batch {
    jobs: Vec<FileJob>,
    bytes: usize,
    layer: Arc<str>,
}

impl Batch {
    fn new(layer: &str) -> Self {
        Batch {
            jobs: Vec::with_capacity(WRITE_BATCH_JOBS),
            bytes: 0,
            layer: layer.into(),
        }
    }

    /// Writes every job; stops at the first failure.
    fn write(&self, warnings: &Warnings) -> Result<(), UnpackError> {
        for job in &self.jobs {
            job.write(warnings)
                .map_err(|(op, source)| UnpackError::Io {
                    layer: self.layer.to_string(),
                    entry: job.entry().to_string(),
                    op,
                    source,
                })?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct PoolState {
    /// Batches handed over and not yet written.
    pending: usize,
    error: Option<UnpackError>,
}

/// The pool, as the applying thread sees it. With `threads == 0` it writes inline.
pub(crate) struct Pool<'w> {
    tx: Option<SyncSender<Batch>>,
    state: Arc<(Mutex<PoolState>, Condvar)>,
    /// The batch being gathered.
    open: RefCell<Option<Batch>>,
    warnings: &'w Warnings,
}

impl<'w> Pool<'w> {
    /// Starts `threads` writers. Once `cancel` is raised they drop the batches they
    /// receive unwritten, so that the unpack stops soon.
    pub(crate) fn start<'s>(
        s: &'s Scope<'s, 'w>,
        threads: usize,
        warnings: &'w Warnings,
        cancel: &'w Cancel,
    ) -> Self {
        let state: Arc<(Mutex<PoolState>, Condvar)> = Arc::default();
        let mut pool = Pool {
            tx: None,
            state: state.clone(),
            open: RefCell::new(None),
            warnings,
        };
        if threads == 0 {
            return pool;
        }
        let (tx, rx) = sync_channel::<Batch>(threads);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..threads {
            let rx = rx.clone();
            let state = state.clone();
            s.spawn(move || loop {
                let msg = lock(&rx).recv();
                let Ok(batch) = msg else { break };
                let written = match cancel.is_cancelled() {
                    true => Err(UnpackError::Cancelled),
                    false => batch.write(warnings),
                };
                drop(batch); // frees the slabs before anyone is told
                let (m, cv) = &*state;
                let mut st = lock(m);
                st.pending -= 1;
                if let Err(e) = written {
                    st.error.get_or_insert(e);
                }
                if st.pending == 0 {
                    cv.notify_all();
                }
            });
        }
        pool.tx = Some(tx);
        pool
    }

    /// Queues a job of `layer`; hands the batch over once it is full.
    pub(crate) fn submit(&self, job: FileJob, layer: &str) -> Result<(), UnpackError> {
        let full = {
            let mut open = self.open.borrow_mut();
            let batch = open.get_or_insert_with(|| Batch::new(layer));
            batch.bytes += job.len();
            batch.jobs.push(job);
            batch.jobs.len() >= WRITE_BATCH_JOBS || batch.bytes >= WRITE_BATCH_BYTES
        };
        if full {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands the open batch over (or writes it, without threads).
    fn flush(&self) -> Result<(), UnpackError> {
        let Some(batch) = self.open.borrow_mut().take() else {
            return Ok(());
        };
        let Some(tx) = &self.tx else {
            return batch.write(self.warnings);
        };
        {
            let mut st = lock(&self.state.0);
            if let Some(e) = st.error.take() {
                return Err(e);
            }
            st.pending += 1;
        }
        tx.send(batch)
            .map_err(|_| UnpackError::Internal("writer threads are gone".into()))
    }

    /// Waits until every submitted file is written; returns the first failure.
    pub(crate) fn wait(&self) -> Result<(), UnpackError> {
        self.flush()?;
        let (m, cv) = &*self.state;
        let mut st = lock(m);
        while st.pending > 0 {
            st = cv.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        st.error.take().map_or(Ok(()), Err)
    }
}
