//! Buffers for byte streams, used again instead of allocated per chunk.
//!
//! Blobs move through skiff as chunks that a consumer (a socket write, a hasher, the tar
//! parser) drops moments after it got them. Allocated afresh, every chunk of 128 KiB or
//! more is a new mapping (glibc maps blocks that size; see the binary's `malloc`
//! module): page faults to fill it and a TLB shootdown to unmap it — a third of skiff's
//! CPU in a push (perf, bench/push.sh). A chunk from a [`ChunkPool`] is a [`Bytes`] that
//! owns its buffer and hands it back when the last reference drops, so the same few
//! buffers carry a whole stream. The layer decoder of skiff-unpack and the file reader of
//! skiff-transport take their chunks from pools.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

/// Buffers of one size, and the free ones among them. Clones share the buffers.
#[derive(Clone)]
pub struct ChunkPool(Arc<Stock>);

struct Stock {
    free: Mutex<Vec<Vec<u8>>>,
    size: usize,
    /// Free buffers kept at most; more are released.
    keep: usize,
}

impl ChunkPool {
    /// A pool of buffers of `size` bytes that keeps at most `keep` free ones: memory stays
    /// what the chunks in flight need.
    pub fn new(size: usize, keep: usize) -> ChunkPool {
        ChunkPool(Arc::new(Stock {
            free: Mutex::new(Vec::new()),
            size,
            keep,
        }))
    }

    /// A buffer of the pool's size, free or new. It is initialised memory (a reused one
    /// holds old bytes; it is not zeroed again): fill it, then [`freeze`](Self::freeze).
    pub fn take(&self) -> Vec<u8> {
        let free = self.free().pop();
        free.unwrap_or_else(|| vec![0; self.0.size])
    }

    /// The first `len` bytes of `buffer` (one [`take`](Self::take) gave) as a chunk; the
    /// buffer returns to the pool when the chunk and all its clones are dropped.
    pub fn freeze(&self, buffer: Vec<u8>, len: usize) -> Bytes {
        let len = len.min(buffer.len());
        Bytes::from_owner(Chunk {
            buffer,
            len,
            pool: self.clone(),
        })
    }

    /// How many free buffers the pool holds.
    pub fn free_buffers(&self) -> usize {
        self.free().len()
    }

    fn free(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.0.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A buffer on loan as a chunk: its first `len` bytes are the data.
struct Chunk {
    buffer: Vec<u8>,
    len: usize,
    pool: ChunkPool,
}

impl AsRef<[u8]> for Chunk {
    fn as_ref(&self) -> &[u8] {
        &self.buffer[..self.len]
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.buffer);
        let mut free = self.pool.free();
        if free.len() < self.pool.0.keep {
            free.push(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_chunk_gives_its_buffer_back() {
        let pool = ChunkPool::new(16, 4);
        let mut buffer = pool.take();
        buffer[..3].copy_from_slice(b"abc");
        let address = buffer.as_ptr();
        let chunk = pool.freeze(buffer, 3);
        assert_eq!(&chunk[..], b"abc");
        let clone = chunk.slice(1..);
        drop(chunk);
        assert_eq!(&clone[..], b"bc", "a clone keeps the buffer alive");
        assert_eq!(pool.free_buffers(), 0);
        drop(clone);
        assert_eq!(pool.free_buffers(), 1);
        let again = pool.take();
        assert_eq!(again.as_ptr(), address, "the same buffer again");
    }

    #[test]
    fn the_stock_is_bounded() {
        let pool = ChunkPool::new(16, 4);
        let chunks: Vec<Bytes> = (0..12).map(|_| pool.freeze(pool.take(), 1)).collect();
        drop(chunks);
        assert_eq!(pool.free_buffers(), 4);
    }
}
