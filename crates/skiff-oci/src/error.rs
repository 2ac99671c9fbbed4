//! The one error type of this crate: every variant names what was wrong with the input.

/// Why a reference, digest, manifest or config was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A digest string that is not `algorithm:hex` with a supported algorithm and length.
    #[error("invalid digest {0:?}: {1}")]
    InvalidDigest(String, &'static str),
    /// An image reference that does not follow the Docker reference grammar.
    #[error("invalid image reference {0:?}: {1}")]
    InvalidReference(String, String),
    /// Manifest bytes that are not a manifest we understand.
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    /// Docker schema 1 manifests are deprecated and carry no config blob; we refuse them
    /// with a message that says so rather than failing obscurely later.
    #[error("manifest is Docker schema 1 ({0}), which skiff does not support; ask the image's publisher for a schema 2 or OCI image")]
    SchemaOne(String),
    /// An image that the requested manifest format cannot express (`--format v2s2` of an
    /// image with zstd layers, or of an OCI artifact).
    #[error("cannot convert to Docker v2 schema 2: {0}")]
    NotConvertible(String),
    /// An image configuration blob that is not valid JSON of the expected shape.
    #[error("invalid image configuration: {0}")]
    InvalidConfig(String),
    /// An index holds no manifest for the wanted platform.
    #[error(
        "no image found in manifest list for architecture {arch}, variant {variant:?}, OS {os}"
    )]
    NoMatchingPlatform {
        /// Wanted OS.
        os: String,
        /// Wanted architecture.
        arch: String,
        /// Wanted variant, if any.
        variant: Option<String>,
    },
}
