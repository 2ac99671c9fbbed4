//! The one error type of the crate: what went wrong on the node, said so that the user
//! can act on it.

use std::path::PathBuf;

/// Errors of storage lookup, template placement, create validation and pct runs.
#[derive(Debug, thiserror::Error)]
pub enum PveError {
    /// A file of the node could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done ("reading", "renaming into place", …).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// storage.cfg is not in Proxmox's section format.
    #[error("{}:{line}: {message}", path.display())]
    StorageCfg {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// No storage of that id.
    #[error("storage {0:?} does not exist in /etc/pve/storage.cfg")]
    NoStorage(String),
    /// The storage exists but cannot hold what was asked.
    #[error("storage {id:?} has no {content:?} content (it has: {has}); choose a storage whose content includes {content}")]
    WrongContent {
        /// The storage.
        id: String,
        /// The content type needed (`vztmpl`, `rootdir`).
        content: &'static str,
        /// What it offers.
        has: String,
    },
    /// The storage has no local path (a block storage such as lvmthin, zfspool, rbd).
    #[error("storage {id:?} ({kind}) has no file system path for templates")]
    NoPath {
        /// The storage.
        id: String,
        /// Its type.
        kind: String,
    },
    /// Proxmox never overwrites a template: neither does skiff.
    #[error("{} already exists; remove it first or choose another --filename", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A name that normalises to nothing usable.
    #[error("{0:?} does not give a template file name")]
    BadFilename(String),
    /// An OCI template that cannot be read.
    #[error("{}: {message}", path.display())]
    Archive {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A create option Proxmox would refuse.
    #[error("{option}: {message}")]
    Invalid {
        /// The option, as the user spelt it.
        option: String,
        /// Why it is refused.
        message: String,
    },
    /// pct could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        source: std::io::Error,
    },
    /// pct ran and failed.
    #[error("{command} failed ({status}): {stderr}")]
    Pct {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it said.
        stderr: String,
    },
    /// No free VMID below Proxmox's limit.
    #[error("no free VMID between 100 and 999999999")]
    NoFreeVmid,
}

impl PveError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PveError::Io {
            what,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(option: impl Into<String>, message: impl Into<String>) -> Self {
        PveError::Invalid {
            option: option.into(),
            message: message.into(),
        }
    }
}
