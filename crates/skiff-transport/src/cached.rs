//! Registry blobs through the host's blob cache (`skiff-cache`).
//!
//! A blob already on the host is read from the cache — verified there first, so a corrupt
//! entry is dropped and the blob fetched again, never used. A blob fetched from a registry
//! is written into the cache as it streams to the pipeline (a tee, no second read), and
//! becomes an entry only once all of it has arrived and its consumer, which hashes it
//! anyway, found it right (unless the cache is read-only for this run). The cache
//! never fails a pull: when it cannot be read or written, the blob simply comes from the
//! registry as it would without one.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use skiff_cache::{Cache, CacheWriter};
use skiff_oci::Digest;

use crate::error::Result;
use crate::layout::files::file_range_stream;
use crate::source::{BlobInfo, BlobStream};

/// Blobs fully received into the cache, waiting for their consumer's verdict.
type Received = Arc<Mutex<HashMap<Digest, CacheWriter>>>;

/// The host's blob cache as one source reads through it.
///
/// Every consumer of a blob stream hashes what it reads (the pipeline's promise), so the
/// cache does not hash a fetched blob a second time: its entry waits, fully written, until
/// the consumer reports the bytes right ([`ImageSource::blob_verified`]), and is dropped
/// with the source otherwise.
///
/// [`ImageSource::blob_verified`]: crate::ImageSource::blob_verified
pub(crate) struct ThroughCache {
    cache: Cache,
    received: Received,
}

impl ThroughCache {
    pub(crate) fn new(cache: Cache) -> ThroughCache {
        ThroughCache {
            cache,
            received: Received::default(),
        }
    }

    /// `blob` from the cache, or from `fetch` and into the cache.
    pub(crate) async fn blob<F, Fut>(&self, blob: &BlobInfo, fetch: F) -> Result<BlobStream>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<BlobStream>>,
    {
        let (c, digest, size) = (self.cache.clone(), blob.digest.clone(), blob.size);
        // Verifying an entry reads all of it: off the async threads.
        match tokio::task::spawn_blocking(move || c.get(&digest, Some(size))).await {
            Ok(Ok(Some(hit))) => return Ok(file_range_stream(Arc::new(hit.file), 0, hit.size)),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => note(&e),
            Err(join) => note(&join),
        }
        let stream = fetch().await?;
        if !self.cache.writes() {
            return Ok(stream);
        }
        Ok(
            match self
                .cache
                .writer_for_verified_bytes(&blob.digest, blob.size)
            {
                Ok(writer) => Box::pin(Tee {
                    inner: stream,
                    writer: Some(writer),
                    digest: blob.digest.clone(),
                    received: self.received.clone(),
                }),
                Err(e) => {
                    note(&e);
                    stream
                }
            },
        )
    }

    /// The consumer verified `digest`'s bytes: the entry they were written into is kept.
    pub(crate) fn verified(&self, digest: &Digest) {
        let writer = self.received.lock().ok().and_then(|mut r| r.remove(digest));
        if let Some(Err(e)) = writer.map(CacheWriter::finish) {
            note(&e);
        }
    }
}

/// Says (with SKIFF_DEBUG set) why the cache was not used for a blob.
fn note(e: &dyn std::fmt::Display) {
    if std::env::var_os("SKIFF_DEBUG").is_some() {
        eprintln!("skiff: {e}; going on without the cache for this blob");
    }
}

/// A blob stream that also writes every chunk into a cache entry.
struct Tee {
    inner: BlobStream,
    /// `None` once the entry is received or given up.
    writer: Option<CacheWriter>,
    digest: Digest,
    received: Received,
}

impl Stream for Tee {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = std::task::ready!(self.inner.as_mut().poll_next(cx));
        match &item {
            Some(Ok(chunk)) => {
                if let Some(w) = self.writer.as_mut() {
                    if let Err(e) = w.write(chunk) {
                        note(&e);
                        self.writer = None;
                    }
                }
            }
            // The end: the entry waits for the consumer's verdict.
            None => {
                if let Some(w) = self.writer.take() {
                    if let Ok(mut received) = self.received.lock() {
                        received.insert(self.digest.clone(), w);
                    }
                }
            }
            // A broken body: the writer's temporary file goes with it.
            Some(Err(_)) => self.writer = None,
        }
        Poll::Ready(item)
    }
}
