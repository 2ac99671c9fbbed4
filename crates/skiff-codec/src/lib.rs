//! # skiff-codec: layer compression, in one place, with limits
//!
//! Layers arrive gzip- or zstd-compressed (or plain) and are decoded in three places:
//! unpacking into a root filesystem, re-encoding for `copy --dest-compress-format` /
//! `--dest-decompress`, and writing a `docker-archive:` (which stores layers
//! uncompressed). A layer is input from outside, so each of those must refuse a
//! decompression bomb before it fills a disk; this crate is where that rule lives, so it
//! holds everywhere with the same defaults and the same wording:
//!
//! * [`detect`] — the compression of a blob by its magic bytes, when no media type says;
//!   [`detect_archive`] — that of a whole archive file (also xz and bzip2, which
//!   `docker save | xz` produces but no layer uses).
//! * [`Decoder`] — a `Read` adapter (pull: unpack, re-encoding) and [`DecodingWriter`] —
//!   a `Write` adapter (push: a destination that receives chunks), both enforcing
//!   [`Limits`] and failing with an `io::Error` that carries a [`LimitExceeded`]
//!   (recovered with [`limit_exceeded`] after it has passed through other layers such as
//!   a tar parser).
//! * [`encoder`] — the gzip / zstd encoders and their level ranges.
//! * [`ChunkPool`] — the reusable buffers decoded and read bytes travel in, so a stream
//!   of chunks costs no allocation per chunk.
//!
//! Compressed input is counted where the decoder *consumes* it, not where it is read
//! ahead, so the ratio check is exact enough to catch a deflate bomb whose ratio sits near
//! deflate's ~1032:1 ceiling.

mod archive;
mod chunk_pool;
mod detect;
mod encode;
mod limits;
mod read;
mod write;

pub use archive::{detect_archive, ArchiveCompression, ARCHIVE_MAGIC_LEN};
pub use chunk_pool::ChunkPool;
pub use detect::detect;
pub use encode::{encoder, level_range, Encoder};
pub use limits::{limit_exceeded, LimitExceeded, Limits};
pub use read::Decoder;
pub use skiff_oci::media_type::Compression;
pub use write::DecodingWriter;

#[cfg(test)]
mod tests;
