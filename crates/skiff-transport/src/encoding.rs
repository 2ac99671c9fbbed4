//! What layers should become (`--dest-compress-format`, `--dest-compress-level`,
//! `--dest-compress`, `--dest-decompress`): the policy alone, as a leaf that destinations
//! (their default encoding), planning and the re-encoder all consult. The encoding itself
//! is the `recompress` module's.

use skiff_oci::media_type::{self, layer_compression, Compression};

use crate::error::{Result, TransportError};

/// What the layers of a copy should become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerEncoding {
    /// The compression to write.
    pub format: Compression,
    /// Only change layers that are uncompressed (`--dest-compress` without a format).
    pub only_uncompressed: bool,
    /// Compression level (gzip 1–9, zstd 1–22); the algorithm's default when absent.
    pub level: Option<i32>,
}

impl LayerEncoding {
    /// Uncompressed layers become gzip, others stay as they are: what skopeo does to the
    /// layers of a `docker save` archive it pushes or writes to an OCI layout.
    pub fn gzip_uncompressed() -> LayerEncoding {
        LayerEncoding {
            format: Compression::Gzip,
            only_uncompressed: true,
            level: None,
        }
    }

    /// Checks the level against what the algorithm accepts.
    pub fn validate(&self) -> Result<()> {
        let Some(range) = skiff_codec::level_range(self.format) else {
            return Ok(());
        };
        match self.level {
            Some(l) if !range.contains(&l) => Err(TransportError::Unsupported(format!(
                "--dest-compress-level {l}: {:?} takes levels {} to {}",
                self.format,
                range.start(),
                range.end()
            ))),
            _ => Ok(()),
        }
    }

    /// Gives the layers this encoding will change the media type they will have, so that
    /// a format conversion planned before the re-encoding (`--format v2s2` of zstd layers
    /// that become gzip) judges the layers as they will be written.
    pub fn anticipate(&self, manifest: &mut oci_spec::image::ImageManifest) {
        let layers = manifest
            .layers()
            .iter()
            .map(|l| {
                let mut l = l.clone();
                if self.changes(l.media_type().as_ref()) {
                    l.set_media_type(media_type::oci_layer_for(self.format).into());
                }
                l
            })
            .collect();
        manifest.set_layers(layers);
    }

    /// Whether a layer of `media_type` is one this encoding re-encodes.
    pub(crate) fn changes(&self, media_type: &str) -> bool {
        if !media_type::is_plain_layer(media_type) {
            return false;
        }
        let current = layer_compression(media_type);
        if self.only_uncompressed {
            current == Compression::None && self.format != Compression::None
        } else {
            current != self.format
        }
    }
}
