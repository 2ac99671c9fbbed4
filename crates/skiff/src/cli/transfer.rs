//! Flags of the commands that move images: copy and sync, and their value enums.

use std::path::PathBuf;

use clap::Args;

use super::{CacheArgs, DestRegistryArgs, RetryArgs, SignArgs, SrcRegistryArgs};

/// `copy SOURCE-IMAGE DESTINATION-IMAGE`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Where to read: docker://REF, oci:DIR[:REF], oci-archive:FILE[:REF], dir:DIR,
    /// docker-archive:FILE[:REF|@INDEX].
    pub source: String,
    /// Where to write: docker://REF, oci-archive:FILE[:REF], oci:DIR[:REF], dir:DIR,
    /// docker-archive:FILE[:REF].
    pub destination: String,
    /// Copy every platform of a manifest list and keep the list (same as --multi-arch=all).
    #[arg(short, long)]
    pub all: bool,
    /// Which images of a manifest list to copy: system (the host's), all, index-only.
    #[arg(long, value_name = "WHICH")]
    pub multi_arch: Option<MultiArch>,
    /// Manifest format to write. Without it oci: and oci-archive: get OCI and every other
    /// destination keeps the source's format; v2s2 converts OCI images to Docker's format
    /// (refused for zstd layers, which Docker cannot express).
    #[arg(short = 'f', long, value_name = "FORMAT")]
    pub format: Option<FormatArg>,
    /// Print no progress.
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the digest of the copied manifest to this file.
    #[arg(long, value_name = "PATH")]
    pub digestfile: Option<PathBuf>,
    /// Re-encode every layer that is not already in this compression: gzip or zstd.
    #[arg(long, value_name = "FORMAT")]
    pub dest_compress_format: Option<CompressArg>,
    /// Compression level for re-encoded layers (gzip 1-9, zstd 1-22).
    #[arg(long, value_name = "LEVEL", allow_negative_numbers = true)]
    pub dest_compress_level: Option<i32>,
    /// Compress uncompressed layers (gzip unless --dest-compress-format says otherwise).
    #[arg(long)]
    pub dest_compress: bool,
    /// Store every layer uncompressed.
    #[arg(long, conflicts_with_all = ["dest_compress", "dest_compress_format", "dest_compress_level"])]
    pub dest_decompress: bool,
    /// Write uncompressed layers to oci: / oci-archive: as they are (by default they are
    /// gzip-compressed, as skopeo does).
    #[arg(long)]
    pub dest_oci_accept_uncompressed_layers: bool,
    /// With an oci: source, read its blobs from DIR (ALG/HEX) instead of the layout's
    /// blobs/ (a directory shared between layouts).
    #[arg(long, value_name = "DIR")]
    pub src_shared_blob_dir: Option<PathBuf>,
    /// With an oci: destination, write its blobs to DIR (ALG/HEX), shared between layouts,
    /// instead of the layout's blobs/; blobs already there are not fetched again.
    #[arg(long, value_name = "DIR")]
    pub dest_shared_blob_dir: Option<PathBuf>,
    /// Another name (NAME:TAG) for the image in a docker-archive: destination; repeatable,
    /// or several separated by commas.
    #[arg(
        long = "additional-tag",
        value_name = "NAME:TAG",
        value_delimiter = ','
    )]
    pub additional_tags: Vec<String>,
    /// Refuse any change of digests (fail instead of converting Docker manifests to OCI).
    #[arg(long)]
    pub preserve_digests: bool,
    /// Do not copy the source's signatures.
    #[arg(long)]
    pub remove_signatures: bool,
    /// Signing the image as it is written.
    #[command(flatten)]
    pub sign: SignArgs,
    /// How many layers move at once.
    #[arg(long, value_name = "N")]
    pub image_parallel_copies: Option<usize>,
    /// Retries.
    #[command(flatten)]
    pub retry: RetryArgs,
    /// The host's blob cache.
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Credentials file for both sides.
    #[arg(long, value_name = "PATH")]
    pub authfile: Option<PathBuf>,
    /// Source registry options.
    #[command(flatten)]
    pub src: SrcRegistryArgs,
    /// Destination registry options.
    #[command(flatten)]
    pub dest: DestRegistryArgs,
}

/// `sync --src KIND --dest KIND SOURCE DESTINATION`, with skopeo's flags.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// docker: REGISTRY/REPOSITORY[:TAG] (no tag: every tag); dir: a directory of dir:
    /// images; yaml: a YAML file listing images per registry.
    pub source: String,
    /// docker: REGISTRY[/NAMESPACE]; dir: a directory.
    pub destination: String,
    /// What SOURCE is.
    #[arg(short = 's', long = "src", value_name = "TRANSPORT")]
    pub src_kind: SyncSourceArg,
    /// What DESTINATION is.
    #[arg(short = 'd', long = "dest", value_name = "TRANSPORT")]
    pub dest_kind: SyncDestArg,
    /// Copy every platform of a manifest list and keep the list.
    #[arg(short, long)]
    pub all: bool,
    /// Name images at DESTINATION by their full source name (registry and path).
    #[arg(long)]
    pub scoped: bool,
    /// Append this to every destination name.
    #[arg(long, value_name = "SUFFIX", default_value = "")]
    pub append_suffix: String,
    /// List the images that would be copied; copy nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Go on after an image fails (the sync still exits 1 at the end).
    #[arg(long)]
    pub keep_going: bool,
    /// Refuse any change of digests.
    #[arg(long)]
    pub preserve_digests: bool,
    /// Do not copy the source images' signatures.
    #[arg(long)]
    pub remove_signatures: bool,
    /// Manifest format to write (default: the source's).
    #[arg(short = 'f', long, value_name = "FORMAT")]
    pub format: Option<FormatArg>,
    /// Retries.
    #[command(flatten)]
    pub retry: RetryArgs,
    /// The host's blob cache.
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Images copied at once (skiff; skopeo copies one after the other).
    #[arg(long, value_name = "N")]
    pub parallel_images: Option<usize>,
    /// How many layers of one image move at once.
    #[arg(long, value_name = "N")]
    pub image_parallel_copies: Option<usize>,
    /// Not supported by skiff sync yet (refused rather than ignored).
    #[arg(long, value_name = "PATH")]
    pub digestfile: Option<PathBuf>,
    /// Signing every image as it is written.
    #[command(flatten)]
    pub sign: SignArgs,
    /// Credentials file for both sides.
    #[arg(long, value_name = "PATH")]
    pub authfile: Option<PathBuf>,
    /// Source registry options.
    #[command(flatten)]
    pub src: SrcRegistryArgs,
    /// Destination registry options.
    #[command(flatten)]
    pub dest: DestRegistryArgs,
}

/// skopeo sync's source transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncSourceArg {
    /// A registry repository.
    Docker,
    /// A directory of dir: images.
    Dir,
    /// A YAML file.
    Yaml,
}

/// skopeo sync's destination transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncDestArg {
    /// A registry (and namespace).
    Docker,
    /// A directory.
    Dir,
}

/// skopeo's --multi-arch values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MultiArch {
    /// The image for the host (or --override-*) platform.
    System,
    /// Every image and the list.
    All,
    /// Only the list itself.
    IndexOnly,
}

/// skopeo's --dest-compress-format values (`zstd:chunked` is not written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressArg {
    /// gzip (what every runtime reads).
    Gzip,
    /// zstd (smaller and faster to unpack; OCI manifests only).
    Zstd,
}

/// skopeo's --format values (schema 1, `v2s1`, is deprecated and not written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// OCI image manifest and index.
    Oci,
    /// Docker v2 schema 2 manifest and manifest list.
    V2s2,
}
