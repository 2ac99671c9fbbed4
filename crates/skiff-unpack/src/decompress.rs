//! The layer byte stream: compressed bytes → limit-checking decoder (`skiff-codec`, the
//! one decoder every crate uses) → reusable chunks → tar parser, with the hashing of the
//! uncompressed bytes beside it on its own thread.

use std::io::{self, BufReader, Read};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use bytes::{Buf, Bytes};

use skiff_codec::{ChunkPool, Compression, Decoder};
use skiff_oci::{Algorithm, Digest, DigestHasher};

use crate::Limits;

/// Uncompressed bytes are produced in chunks of this size, shared with the hashing thread.
const CHUNK_BYTES: usize = 128 << 10;
/// Chunks queued for the hashing thread.
const HASH_QUEUE: usize = 4;
/// Free chunks kept: those queued for hashing, the one being read, one being decoded.
const CHUNKS_KEPT: usize = HASH_QUEUE + 2;

/// The uncompressed layer stream: enforces limits, and hashes everything it yields on a
/// thread of its own — sha256 was a fifth of the decompression thread's time, and that
/// thread is the critical path of a large layer (a gzip stream inflates on one core).
/// The decoder writes into reusable chunks that the reader and the hasher share, so
/// nothing is copied for the hasher.
pub(crate) struct LayerStream {
    decoder: Decoder<BufReader<Box<dyn Read + Send>>>,
    hashing: Option<(SyncSender<Bytes>, JoinHandle<DigestHasher>)>,
    chunks: ChunkPool,
    /// What the current chunk has left to read.
    current: Bytes,
}

impl LayerStream {
    pub(crate) fn new(
        reader: Box<dyn Read + Send>,
        compression: Compression,
        algorithm: Algorithm,
        limits: &Limits,
    ) -> io::Result<Self> {
        // 64 KiB reads of compressed input: the decoder's input buffer.
        let decoder = Decoder::new(
            BufReader::with_capacity(64 << 10, reader),
            compression,
            &limits.decode(),
        )?;
        let (tx, rx) = sync_channel::<Bytes>(HASH_QUEUE);
        let hasher = std::thread::Builder::new()
            .name("skiff-hash".into())
            .spawn(move || {
                let mut hasher = DigestHasher::new(algorithm);
                for chunk in rx {
                    hasher.update(&chunk);
                }
                hasher
            })?;
        Ok(LayerStream {
            decoder,
            hashing: Some((tx, hasher)),
            chunks: ChunkPool::new(CHUNK_BYTES, CHUNKS_KEPT),
            current: Bytes::new(),
        })
    }

    /// Reads to the end (tar padding after the end-of-archive marker is part of the
    /// diff_id) and returns the digest and uncompressed size.
    pub(crate) fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        let (tx, hasher) = self.hashing.take().expect("finish is called once");
        drop(tx);
        let hasher = hasher
            .join()
            .map_err(|_| io::Error::other("the hashing thread panicked"))?;
        Ok((hasher.finish(), self.decoder.decompressed()))
    }

    /// Decodes the next chunk (as full as the decoder will fill it before it runs dry)
    /// and queues it for hashing; an empty chunk at the end of the stream.
    fn refill(&mut self) -> io::Result<()> {
        let mut buf = self.chunks.take();
        let mut filled = 0;
        while filled < buf.len() / 2 {
            match self.decoder.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.current = self.chunks.freeze(buf, filled);
        if filled > 0 {
            let (tx, _) = self.hashing.as_ref().expect("not finished");
            tx.send(self.current.clone())
                .map_err(|_| io::Error::other("the hashing thread stopped"))?;
        }
        Ok(())
    }
}

impl Read for LayerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.current.is_empty() {
            self.refill()?;
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}
