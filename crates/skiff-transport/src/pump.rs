//! Stage 3's plumbing, shared by copying and re-encoding: one blob's stream, moved
//! through a bounded channel to a blocking thread that consumes it.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use skiff_oci::VerifyError;

use crate::blob::BlobInfo;
use crate::error::{Result, TransportError};
use crate::progress::{Event, Reporter};
use crate::source::ImageSource;

/// How many chunks may wait between the network and the worker thread of one blob: a
/// `sync` has dozens of blobs in flight, and 8 deep was 7 MiB more of its peak.
const CHANNEL_DEPTH: usize = 4;

/// Streams one blob from the source through a bounded channel to `worker`, which runs on
/// a blocking thread and consumes the chunks (hashing, writing, re-encoding). Reports
/// progress, stops at the first byte beyond the blob's size, and returns the worker's
/// result — or the stream's error, which is the cause when both fail.
pub(crate) async fn pump_blob<T, W>(
    source: &dyn ImageSource,
    blob: &BlobInfo,
    reporter: Arc<dyn Reporter>,
    worker: W,
) -> Result<T>
where
    T: Send + 'static,
    W: FnOnce(tokio::sync::mpsc::Receiver<Bytes>) -> Result<T> + Send + 'static,
{
    reporter.report(Event::BlobStarted {
        digest: blob.digest.clone(),
        size: blob.size,
    });
    let mut stream = source.blob(blob).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(CHANNEL_DEPTH);
    let worker = tokio::task::spawn_blocking(move || worker(rx));
    let mut received: u64 = 0;
    let mut stream_error = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                stream_error = Some(TransportError::io(
                    format!("downloading {}", blob.digest),
                    e,
                ));
                break;
            }
        };
        received += chunk.len() as u64;
        if received > blob.size {
            stream_error = Some(TransportError::Verify(VerifyError::Size {
                what: blob.digest.to_string(),
                expected: blob.size,
                actual: received,
            }));
            break;
        }
        let delta = chunk.len() as u64;
        if tx.send(chunk).await.is_err() {
            break; // the worker failed; its error is reported below
        }
        reporter.report(Event::BlobProgress {
            digest: blob.digest.clone(),
            delta,
        });
    }
    drop(tx);
    let outcome = worker
        .await
        .map_err(|e| TransportError::io("worker thread", std::io::Error::other(e)));
    if let Some(e) = stream_error {
        return Err(e);
    }
    let value = outcome??;
    reporter.report(Event::BlobDone {
        digest: blob.digest.clone(),
    });
    Ok(value)
}
