//! The choices of a copy, as skopeo's flags spell them: read by planning, re-encoding and
//! streaming alike, so they live below all three.

use std::path::PathBuf;
use std::time::Duration;

use skiff_oci::Platform;

use crate::destination::ManifestFormat;
use crate::encoding::LayerEncoding;

/// Choices of a copy, as skopeo's flags spell them.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// `--all`: copy every platform of an index and keep the index.
    pub all: bool,
    /// The platform to pick from an index when not `--all`.
    pub platform: Platform,
    /// `--image-parallel-copies`: layers moving at once.
    pub parallel: usize,
    /// `--preserve-digests`: refuse any conversion that would change a digest.
    pub preserve_digests: bool,
    /// `--format`: the manifest format to write, when the destination could hold either.
    pub format: Option<ManifestFormat>,
    /// `--dest-compress-format` and friends: how layers should be (re-)encoded; `None`
    /// keeps every layer's bytes.
    pub layer_encoding: Option<LayerEncoding>,
    /// `--tmpdir`: where re-encoded layers wait for the destination.
    pub scratch_dir: Option<PathBuf>,
    /// `--retry-times`: how often a layer whose upload broke off is sent again from its
    /// start (destinations that cannot resume, see
    /// [`crate::ImageDestination::restarts_failed_blobs`]).
    pub retry_times: u32,
    /// `--retry-delay`: a fixed wait between those attempts instead of the backoff.
    pub retry_delay: Option<Duration>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            all: false,
            platform: Platform::host(),
            parallel: 6,
            preserve_digests: false,
            format: None,
            layer_encoding: None,
            scratch_dir: None,
            retry_times: 3,
            retry_delay: None,
        }
    }
}
