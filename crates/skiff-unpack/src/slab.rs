//! Reusable buffers for layer content on its way from the decompression threads to the
//! writers.
//!
//! Content used to travel as one `Vec` per small file and per chunk, allocated on a
//! decompression thread and freed on a writer thread. glibc's malloc keeps such memory
//! in the allocating thread's arena, so peak RSS came out at about twice the bytes
//! actually in flight. Now a batch's content is read into one slab of [`SLAB_BYTES`];
//! files and chunks are `Bytes` slices of it, and when the last slice is dropped the
//! slab goes back to the pool instead of to the allocator. The pool holds at most as
//! many slabs as were ever in flight at once, which the lookahead budget bounds.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

/// Room for one message batch: a batch is sent once it holds
/// [`MESSAGE_BATCH_BYTES`](crate::pipeline::MESSAGE_BATCH_BYTES), and the entry that
/// crosses that line is at most one chunk.
pub(crate) const SLAB_BYTES: usize = crate::pipeline::MESSAGE_BATCH_BYTES + crate::pipeline::CHUNK;

/// Slabs not in use.
#[derive(Default)]
pub(crate) struct SlabPool(Mutex<Vec<Vec<u8>>>);

impl SlabPool {
    /// A buffer of [`SLAB_BYTES`] to read a batch into, reused when one is free. Its
    /// bytes are initialised (zeroes when new, old content when reused), so reading into
    /// it needs no zeroing: `read_to_end` into spare capacity zeroed every time.
    pub(crate) fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| vec![0; SLAB_BYTES])
    }

    /// Freezes a filled buffer; it returns to `pool` when the last slice of it is dropped.
    pub(crate) fn freeze(pool: &Arc<SlabPool>, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Slab {
            buf,
            pool: pool.clone(),
        })
    }
}

/// A filled buffer shared by the slices of a batch.
struct Slab {
    buf: Vec<u8>,
    pool: Arc<SlabPool>,
}

impl AsRef<[u8]> for Slab {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Slab {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        // A buffer that grew past a slab's size came from an oversized read; let it go.
        if buf.len() == SLAB_BYTES {
            self.pool
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slab_returns_to_the_pool_when_its_last_slice_is_dropped() {
        let pool = Arc::new(SlabPool::default());
        let mut buf = pool.take();
        buf[..10].copy_from_slice(b"helloworld");
        let address = buf.as_ptr();
        let whole = SlabPool::freeze(&pool, buf);
        let (hello, world) = (whole.slice(..5), whole.slice(5..10));
        drop(whole);
        drop(hello);
        assert!(pool.0.lock().unwrap().is_empty(), "a slice is still alive");
        assert_eq!(&world[..], b"world");
        drop(world);
        let again = pool.take();
        assert_eq!(
            again.as_ptr(),
            address,
            "the same buffer is handed out again"
        );
        assert_eq!(again.len(), SLAB_BYTES);
    }
}
