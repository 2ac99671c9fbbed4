//! Verification of content read from a source, through the one size + digest check
//! ([`skiff_oci::Verifier`]): whole small blobs, and a `Read` of a streamed blob.
//!
//! A leaf below the trait modules: [`crate::ImageSource::small_blob`] and the re-encoder
//! use it; it knows neither.

use std::io::Read;

use bytes::Bytes;
use futures_util::StreamExt;
use skiff_oci::{Verifier, VerifyError};

use crate::blob::{BlobInfo, BlobStream};
use crate::error::{Result, TransportError};

/// Configs larger than this are refused rather than read into memory.
const MAX_SMALL_BLOB: u64 = 64 << 20;

/// Refuses a "small" blob (a config) too large to be read into memory.
pub(crate) fn check_small(blob: &BlobInfo) -> Result<()> {
    if blob.size > MAX_SMALL_BLOB {
        return Err(TransportError::Unsupported(format!(
            "{} is {} bytes, too large for a config blob",
            blob.digest, blob.size
        )));
    }
    Ok(())
}

/// Reads a small blob (a config, accepted by [`check_small`]) whole, refusing it as soon
/// as it overruns its size, and verifies it.
pub(crate) async fn read_small(blob: &BlobInfo, mut stream: BlobStream) -> Result<Vec<u8>> {
    check_small(blob)?;
    let mut verifier = blob.verifier();
    // At most MAX_SMALL_BLOB, checked above.
    let mut out = Vec::with_capacity(blob.size as usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| TransportError::io(format!("reading {}", blob.digest), e))?;
        verifier.update(&chunk)?;
        out.extend_from_slice(&chunk);
    }
    verifier.finish()?;
    Ok(out)
}

/// A blob's bytes, arriving as chunks from the pipeline's pump, as a `Read` that verifies
/// them on the way: it fails as soon as they overrun the size, and [`finish`] checks size
/// and digest once the decoder has read what it wants.
///
/// [`finish`]: VerifyingReader::finish
pub(crate) struct VerifyingReader {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
    verifier: Verifier,
    /// The overrun that stopped reading, reported by `finish` as what it is.
    overrun: Option<VerifyError>,
}

impl VerifyingReader {
    /// Reads the chunks of `blob` from `rx` (on a blocking thread).
    pub(crate) fn new(rx: tokio::sync::mpsc::Receiver<Bytes>, blob: &BlobInfo) -> Self {
        VerifyingReader {
            rx,
            current: Bytes::new(),
            verifier: blob.verifier(),
            overrun: None,
        }
    }

    /// Reads what the consumer left unread (it still belongs to the blob) and checks the
    /// whole against the blob's size and digest.
    pub(crate) fn finish(mut self, what: &str) -> Result<()> {
        let drained = std::io::copy(&mut self, &mut std::io::sink());
        if let Some(e) = self.overrun {
            return Err(e.into());
        }
        drained.map_err(|e| TransportError::io(what.to_string(), e))?;
        self.verifier.finish()?;
        Ok(())
    }
}

impl Read for VerifyingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(c) => self.current = c,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        let chunk = self.current.split_to(n);
        if let Err(e) = self.verifier.update(&chunk) {
            self.overrun = Some(e.clone());
            return Err(std::io::Error::other(e));
        }
        buf[..n].copy_from_slice(&chunk);
        Ok(n)
    }
}

/// What the pipeline checks of a layer as it streams: size and digest, or the size alone
/// for a destination that refuses a wrong digest itself
/// ([`crate::ImageDestination::verifies_digests`]). Either way an overrun is refused as
/// soon as it arrives and a short blob at the end.
pub(crate) enum BlobCheck {
    /// Size and digest, hashed here.
    Full(Box<Verifier>),
    /// The size; the destination checks the digest.
    Size {
        /// The blob's digest, naming it in errors.
        what: String,
        /// Its size.
        expected: u64,
        /// Bytes accepted so far.
        seen: u64,
    },
}

impl BlobCheck {
    /// The check of `blob`; `hash` unless its destination verifies digests itself.
    pub(crate) fn new(blob: &BlobInfo, hash: bool) -> BlobCheck {
        if hash {
            return BlobCheck::Full(Box::new(blob.verifier()));
        }
        BlobCheck::Size {
            what: blob.digest.to_string(),
            expected: blob.size,
            seen: 0,
        }
    }

    /// Takes the next bytes, or refuses them when they overrun the size.
    pub(crate) fn update(&mut self, bytes: &[u8]) -> std::result::Result<(), VerifyError> {
        match self {
            BlobCheck::Full(v) => v.update(bytes),
            BlobCheck::Size {
                what,
                expected,
                seen,
            } => {
                let now = seen.saturating_add(bytes.len() as u64);
                if now > *expected {
                    return Err(size_error(what, *expected, now));
                }
                *seen = now;
                Ok(())
            }
        }
    }

    /// Checks the total (and the digest, when hashed).
    pub(crate) fn finish(self) -> std::result::Result<(), VerifyError> {
        match self {
            BlobCheck::Full(v) => v.finish().map(|_| ()),
            BlobCheck::Size {
                what,
                expected,
                seen,
            } if seen != expected => Err(size_error(&what, expected, seen)),
            BlobCheck::Size { .. } => Ok(()),
        }
    }
}

fn size_error(what: &str, expected: u64, actual: u64) -> VerifyError {
    VerifyError::Size {
        what: what.to_string(),
        expected,
        actual,
    }
}
