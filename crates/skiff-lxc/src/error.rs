//! Why an image cannot become a container config.

/// A refused image configuration or a failed write.
#[derive(Debug, thiserror::Error)]
pub enum LxcError {
    /// A value Proxmox would refuse too: control characters break config files.
    #[error("{field} contains a control character: {value:?}")]
    ControlCharacter {
        /// Which field.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// The image's User names someone its /etc/passwd (or /etc/group) does not know.
    #[error("user {0:?} of the image config cannot be resolved: {1}")]
    UnknownUser(String, String),
    /// A file inside the root filesystem could not be read or written safely.
    #[error("{path}: {source}")]
    Io {
        /// The path (inside the root where it applies).
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A container with that name already exists.
    #[error("{0} already exists; choose another name or remove it first")]
    Exists(String),
    /// An invalid name or option.
    #[error("{0}")]
    Invalid(String),
}
