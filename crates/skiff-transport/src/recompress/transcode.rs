//! Re-encoding one layer: source bytes (verified while read) → the one decoder with
//! limits (`skiff-codec`) → encoder → scratch file, hashed on the way.

use std::io::{BufReader, Read, Write};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use skiff_oci::media_type::{self, layer_compression};

use super::CHUNK;
use crate::blob::BlobInfo;
use crate::encoding::LayerEncoding;
use crate::error::{Result, TransportError};
use crate::progress::Reporter;
use crate::pump::pump_blob;
use crate::source::ImageSource;
use crate::verify::VerifyingReader;

/// Streams one layer from the source into its re-encoded scratch file at `path`,
/// verifying the source bytes; returns the new blob.
pub(super) async fn reencode_blob(
    source: &dyn ImageSource,
    blob: &BlobInfo,
    encoding: LayerEncoding,
    path: &Path,
    reporter: Arc<dyn Reporter>,
) -> Result<BlobInfo> {
    let (worker_blob, worker_path) = (blob.clone(), path.to_path_buf());
    let encoded = pump_blob(source, blob, reporter, move |rx| {
        encode_file(rx, &worker_blob, encoding, &worker_path)
    })
    .await?;
    source.blob_verified(blob);
    Ok(encoded)
}

/// A writer that hashes and counts what passes through.
struct HashingWriter<W> {
    inner: W,
    hasher: skiff_oci::DigestHasher,
    total: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.total += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The encoder thread of one layer: decode the source, encode into `path`, verify the
/// source's size and digest, return the new blob. On error the caller's scratch
/// directory, and the file with it, is removed.
fn encode_file(
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    blob: &BlobInfo,
    encoding: LayerEncoding,
    path: &Path,
) -> Result<BlobInfo> {
    let what = format!("re-encoding layer {}", blob.digest);
    let io = |e| TransportError::io(what.clone(), e);
    let mut input = VerifyingReader::new(rx, blob);
    let file = std::fs::File::create(path).map_err(io)?;
    let mut output = HashingWriter {
        inner: std::io::BufWriter::with_capacity(CHUNK, file),
        hasher: skiff_oci::DigestHasher::new(skiff_oci::Algorithm::Sha256),
        total: 0,
    };
    let encoded = transcode(&mut input, &blob.media_type, encoding, &mut output);
    // Whatever the decoder left unread still belongs to the blob, and a blob that is not
    // what its digest says is the error to report, before any decoding error it caused.
    input.finish(&what)?;
    encoded.map_err(io)?;
    output.flush().map_err(io)?;
    Ok(BlobInfo {
        digest: output.hasher.finish(),
        size: output.total,
        media_type: media_type::oci_layer_for(encoding.format).to_string(),
    })
}

/// Decodes `input` (compressed as `media_type` says, within the default decompression
/// limits — the same as unpack's) and encodes it into `output`.
fn transcode(
    input: &mut dyn Read,
    media_type: &str,
    encoding: LayerEncoding,
    output: &mut dyn Write,
) -> std::io::Result<()> {
    let mut decoder = skiff_codec::Decoder::new(
        BufReader::with_capacity(CHUNK, input),
        layer_compression(media_type),
        &skiff_codec::Limits::default(),
    )?;
    let mut encoder = skiff_codec::encoder(output, encoding.format, encoding.level)?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = decoder.read(&mut buf)?;
        if n == 0 {
            break;
        }
        encoder.write_all(&buf[..n])?;
    }
    encoder.finish()
}
