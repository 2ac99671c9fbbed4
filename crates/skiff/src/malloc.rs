//! glibc's allocator, kept from hoarding the streaming buffers.
//!
//! Blobs move through the pipelines in chunks of a few hundred KiB, allocated on one
//! thread and freed on another. glibc serves blocks of 128 KiB and more with their own
//! mappings, returned on free — but it raises that threshold each time such a block is
//! freed (up to 32 MiB), after which the chunks come from per-thread arenas that keep
//! their memory. A sync of 20 images into directories peaked at 66–76 MiB that way,
//! 24 MiB with the threshold held at glibc's own default; the time was the same within
//! the noise (bench/sync.sh). Setting the threshold explicitly is what holds it.

/// glibc's default mmap threshold, which `mallopt` then keeps from rising.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 << 10;

/// Holds the allocator's mmap threshold at its default; called first thing in `main`.
pub fn hold_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before any other
    // thread exists, and a refusal (0) leaves the allocator as it was.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}
