//! # skiff-cache: the host's content-addressed blob cache
//!
//! Layers pulled from registries are kept on the host, named by their digest, so the next
//! `copy`, `unpack` or `lxc create` of an image that shares them reads them from disk
//! instead of the network. The cache owns exactly one concern — storing blobs safely —
//! and knows nothing of registries or images:
//!
//! * **Verified on read.** An entry is hashed before it is handed out; one that does not
//!   match its name (a disk error, a hand edit) is removed and reported as a miss, so the
//!   caller fetches the blob again. A corrupt entry is never used.
//! * **Atomic writes.** A blob is written to `tmp/` while it streams, hashed on the way
//!   (or by the caller, who hashes the same bytes anyway), and renamed to `blobs/ALG/HEX`
//!   only when its size and digest are right; a writer that is dropped (an error,
//!   Ctrl-C) leaves nothing in `blobs/`.
//! * **Safe between processes** without a global lock: entries only ever appear by
//!   `rename` and disappear by `unlink`, so a reader holding an entry open keeps reading
//!   the same bytes whatever other processes do. Each temporary file is held under an
//!   exclusive `flock` by its writer; pruning removes only temporary files whose lock it
//!   can take (their writer is gone).
//! * **Bounded.** Every hit refreshes the entry's modification time; [`Cache::prune`]
//!   removes the least recently used entries until the cache fits its size limit, and
//!   writers call it after each new entry.
//!
//! Where it lives and how big it may grow come from the environment ([`CacheConfig`]):
//! `SKIFF_CACHE_DIR`, else `/var/cache/skiff` for root, else `$XDG_CACHE_HOME/skiff` or
//! `~/.cache/skiff`; `SKIFF_CACHE_MAX_SIZE` (default 10G).

mod config;
mod error;
mod store;
mod writer;

pub use config::{parse_size, CacheConfig, DEFAULT_MAX_SIZE};
pub use error::CacheError;
pub use store::{Cache, Entry, Hit, PruneReport};
pub use writer::CacheWriter;
