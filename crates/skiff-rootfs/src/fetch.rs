//! Layer blobs as blocking readers for the unpacker, verified as they stream.
//!
//! On first read a task starts that fetches the blob and checks it with
//! `skiff_oci::Verifier` (a wrong size or digest is a read error, which fails the unpack
//! of that layer); it runs beside the unpacker's decompression thread, so hashing the
//! compressed bytes costs that thread nothing. Fetching starts lazily, so layers are
//! requested one after another as the unpacker asks for them. Both the task and the
//! reader stop as soon as the unpack is abandoned ([`Stop`]), even while the source is
//! silent — a slow registry must not keep the unpacker waiting for its next chunk.

use std::io::{self, Read};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use skiff_oci::Verifier;
use skiff_transport::{BlobInfo, ImageSource};
use tokio::sync::{mpsc, watch};

use crate::progress::{Event, Reporter};

/// How many chunks of a layer may wait between the fetching task and the unpacker.
const BLOB_CHANNEL_DEPTH: usize = 4;

/// Stops the fetches and the unpacking threads of one unpack.
#[derive(Clone)]
pub(crate) struct Stop {
    unpack: skiff_unpack::Cancel,
    fetch: Arc<watch::Sender<bool>>,
}

impl Stop {
    pub(crate) fn new() -> Self {
        Stop {
            unpack: skiff_unpack::Cancel::new(),
            fetch: Arc::new(watch::channel(false).0),
        }
    }

    /// The flag the unpacker's threads check.
    pub(crate) fn unpack_flag(&self) -> skiff_unpack::Cancel {
        self.unpack.clone()
    }

    /// Raises both flags: fetch tasks and readers return at once, the unpacker's threads
    /// at their next check.
    pub(crate) fn stop(&self) {
        self.unpack.cancel();
        self.fetch.send_replace(true);
    }

    /// Resolves once [`stop`](Self::stop) was called.
    async fn stopped(mut rx: watch::Receiver<bool>) {
        // An error means the sender is gone, which only happens once nobody waits.
        let _ = rx.wait_for(|stopped| *stopped).await;
    }
}

/// The read error of a stopped unpack. Not `ErrorKind::Interrupted`: readers such as
/// `read_exact` retry on that kind, and would call us again forever.
fn stopped_error() -> io::Error {
    io::Error::other("the unpack was cancelled")
}

/// One layer blob of an image, read as a blocking stream of verified bytes.
pub(crate) struct VerifiedBlob {
    source: Arc<dyn ImageSource>,
    blob: BlobInfo,
    index: usize,
    handle: tokio::runtime::Handle,
    reporter: Arc<dyn Reporter>,
    stop: Stop,
    rx: Option<mpsc::Receiver<io::Result<Bytes>>>,
    current: Bytes,
}

impl VerifiedBlob {
    pub(crate) fn new(
        source: Arc<dyn ImageSource>,
        (index, blob): (usize, BlobInfo),
        handle: tokio::runtime::Handle,
        reporter: Arc<dyn Reporter>,
        stop: Stop,
    ) -> Self {
        VerifiedBlob {
            source,
            blob,
            index,
            handle,
            reporter,
            stop,
            rx: None,
            current: Bytes::new(),
        }
    }

    fn start(&mut self) -> &mut mpsc::Receiver<io::Result<Bytes>> {
        self.rx.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel(BLOB_CHANNEL_DEPTH);
            let fetch = Fetch {
                source: self.source.clone(),
                blob: self.blob.clone(),
                index: self.index,
                reporter: self.reporter.clone(),
            };
            let stopped = Stop::stopped(self.stop.fetch.subscribe());
            self.handle.spawn(async move {
                tokio::select! {
                    r = fetch.run(&tx) => if let Err(e) = r {
                        let _ = tx.send(Err(e)).await;
                    },
                    () = stopped => {}
                }
            });
            rx
        })
    }

    /// The next chunk, or None at the end; returns early when the unpack is stopped.
    fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        if self.stop.unpack.is_cancelled() {
            return Err(stopped_error());
        }
        // Fast path, the usual case when the source keeps ahead: a chunk is waiting, and
        // taking it costs no trip through the runtime.
        match self.start().try_recv() {
            Ok(chunk) => return chunk.map(Some),
            Err(mpsc::error::TryRecvError::Disconnected) => return Ok(None),
            Err(mpsc::error::TryRecvError::Empty) => {}
        }
        let stopped = Stop::stopped(self.stop.fetch.subscribe());
        let handle = self.handle.clone();
        let rx = self.start();
        handle.block_on(async {
            tokio::select! {
                chunk = rx.recv() => chunk.transpose(),
                () = stopped => Err(stopped_error()),
            }
        })
    }
}

impl Read for VerifiedBlob {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.next_chunk()? {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// The fetching task of one blob.
struct Fetch {
    source: Arc<dyn ImageSource>,
    blob: BlobInfo,
    index: usize,
    reporter: Arc<dyn Reporter>,
}

impl Fetch {
    /// Streams the blob into `tx` through a [`Verifier`]; fails on a wrong size or digest.
    async fn run(self, tx: &mpsc::Sender<io::Result<Bytes>>) -> io::Result<()> {
        let Fetch {
            source,
            blob,
            index,
            reporter,
        } = self;
        reporter.report(Event::FetchStarted {
            index,
            digest: blob.digest.clone(),
            size: blob.size,
        });
        let mut stream = source.blob(&blob).await.map_err(io::Error::other)?;
        let mut verifier = Verifier::for_blob(&blob.digest, blob.size);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            verifier.update(&chunk).map_err(io::Error::other)?;
            let delta = chunk.len() as u64;
            if tx.send(Ok(chunk)).await.is_err() {
                return Ok(()); // the unpacker stopped reading (it failed elsewhere)
            }
            reporter.report(Event::Fetched { index, delta });
        }
        verifier.finish().map_err(io::Error::other)?;
        source.blob_verified(&blob);
        Ok(())
    }
}
