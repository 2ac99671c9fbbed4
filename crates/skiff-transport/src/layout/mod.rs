//! The OCI image layout, as a directory (`oci:`) and as a tar archive (`oci-archive:`).
//!
//! Reading shares one implementation over [`files::LayoutFiles`], which hides whether the
//! layout's files are directory entries or byte ranges of an uncompressed tar (an archive
//! is indexed once and then read in place — never extracted to a temporary directory; a
//! compressed one is decoded to one temporary file first, see [`decompress`]).

pub mod archive_writer;
pub mod decompress;
pub mod files;
pub mod index;
pub mod layout_writer;
pub mod source;

/// The annotation that names an image inside a layout (`oci:PATH:REF`).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The content of the `oci-layout` file.
pub const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
