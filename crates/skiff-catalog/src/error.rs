//! Why a catalog entry or directory was refused.

/// A catalog that cannot be read or an entry that does not validate.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// An entry file is not valid YAML, has an unknown key or a bad value, or breaks a
    /// rule of the schema (names, references, sizes, depends_on, placeholders).
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        /// The entry's file (`builtin:NAME.yaml` for an embedded one).
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A catalog directory or file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// No entry of that name.
    #[error("no app {name:?} in the catalog")]
    NotFound {
        /// The name asked for.
        name: String,
    },
}
