//! Read buffers for streaming local files, used again instead of allocated per chunk.
//!
//! A layer read from disk flows through the pipeline as chunks that the HTTP client
//! (or a destination file) consumes and drops moments later. Allocated afresh, every
//! chunk of 256 KiB is a new mapping (glibc maps blocks of that size, see the binary's
//! `malloc` module): 64 page faults to fill it and a TLB shootdown to unmap it — a fifth
//! of the CPU of a push (perf, bench/push.sh). A chunk here is a [`Bytes`] that owns its
//! buffer and hands it back to a small shared stock when the last reference goes, so the
//! same few mappings carry every layer. The stock is bounded: buffers beyond it are
//! freed, and memory stays what the chunks in flight need.

use std::sync::Mutex;

use bytes::Bytes;

/// Size of every buffer, and the largest chunk.
pub const CHUNK: usize = 256 << 10;
/// Buffers kept for reuse at most (8 MiB): more than the chunks in flight when six
/// layers stream at once, each with a few chunks queued in its connection.
const STOCK: usize = 32;

static FREE: Mutex<Vec<Box<[u8]>>> = Mutex::new(Vec::new());

/// A buffer of [`CHUNK`] bytes, from the stock when one is free.
pub fn take() -> Box<[u8]> {
    let reused = FREE.lock().ok().and_then(|mut free| free.pop());
    reused.unwrap_or_else(|| vec![0u8; CHUNK].into_boxed_slice())
}

/// The first `len` bytes of `buffer` as a chunk; the buffer goes back to the stock when
/// the chunk and all its clones are dropped.
pub fn freeze(buffer: Box<[u8]>, len: usize) -> Bytes {
    let len = len.min(buffer.len());
    Bytes::from_owner(Returned { buffer, len })
}

/// A buffer on loan as a chunk: its first `len` bytes are the data.
struct Returned {
    buffer: Box<[u8]>,
    len: usize,
}

impl AsRef<[u8]> for Returned {
    fn as_ref(&self) -> &[u8] {
        &self.buffer[..self.len]
    }
}

impl Drop for Returned {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.buffer);
        if let Ok(mut free) = FREE.lock() {
            if free.len() < STOCK {
                free.push(buffer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_chunk_gives_its_buffer_back() {
        let mut buffer = take();
        buffer[..3].copy_from_slice(b"abc");
        let address = buffer.as_ptr();
        let chunk = freeze(buffer, 3);
        assert_eq!(&chunk[..], b"abc");
        let clone = chunk.slice(1..);
        drop(chunk);
        assert_eq!(&clone[..], b"bc", "a clone keeps the buffer alive");
        drop(clone);
        // Other tests may take buffers concurrently: look for ours in the stock.
        let free = FREE.lock().unwrap();
        assert!(free.iter().any(|b| b.as_ptr() == address));
    }

    #[test]
    fn the_stock_is_bounded() {
        let chunks: Vec<Bytes> = (0..STOCK + 8).map(|_| freeze(take(), 1)).collect();
        drop(chunks);
        assert!(FREE.lock().unwrap().len() <= STOCK);
    }
}
