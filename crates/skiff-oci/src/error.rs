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
    /// An index holds no manifest for the wanted platform. Worded as skopeo words it
    /// (Go `%q` quoting, `variant ""` when none was asked for), so scripts that match
    /// skopeo's message keep working.
    #[error(
        "choosing image instance: no image found in manifest list for architecture {}, variant {}, OS {}",
        GoQuoted(arch),
        GoQuoted(variant.as_deref().unwrap_or_default()),
        GoQuoted(os)
    )]
    NoMatchingPlatform {
        /// Wanted OS.
        os: String,
        /// Wanted architecture.
        arch: String,
        /// Wanted variant, if any.
        variant: Option<String>,
        /// The platforms the index does have, in its order, so that the user can pick one.
        available: Vec<crate::Platform>,
    },
}

/// A string as Go's `%q` prints it: double-quoted, printable characters kept, the rest
/// escaped (`\n`, `\x1b`, `\u00ad`).
struct GoQuoted<'a>(&'a str);

impl std::fmt::Display for GoQuoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
                c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_matching_platform_reads_as_skopeo_says_it() {
        let e = Error::NoMatchingPlatform {
            os: "linux".into(),
            arch: "amd64".into(),
            variant: Some("v8".into()),
            available: Vec::new(),
        };
        assert_eq!(
            e.to_string(),
            r#"choosing image instance: no image found in manifest list for architecture "amd64", variant "v8", OS "linux""#
        );
        let e = Error::NoMatchingPlatform {
            os: "li\"nux\u{1b}".into(),
            arch: "s390x".into(),
            variant: None,
            available: Vec::new(),
        };
        assert_eq!(
            e.to_string(),
            r#"choosing image instance: no image found in manifest list for architecture "s390x", variant "", OS "li\"nux\x1b""#
        );
    }
}
