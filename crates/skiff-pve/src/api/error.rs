//! What can go wrong talking to a Proxmox VE cluster, in words a person can act on.

use std::path::PathBuf;

/// A failed Proxmox VE API operation.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API address, token, fingerprint or config file cannot be used.
    #[error("{0}")]
    Setup(String),
    /// The config file holds a token but others may read it.
    #[error(
        "{path}: holds an API token but is readable by others (mode {mode:o}); \
         run: chmod 600 {path}",
        path = path.display()
    )]
    ConfigPermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// No connection, or TLS refused the node's certificate.
    #[error("{url}: {message}")]
    Connect {
        /// The URL asked.
        url: String,
        /// Whether the certificate was the reason (the hint is `--fingerprint`).
        certificate: bool,
        /// What the HTTP stack said, with its causes.
        message: String,
    },
    /// The API refused the token (HTTP 401).
    #[error("{what}: the API token was refused (HTTP 401: {message})")]
    Unauthorized {
        /// The request.
        what: String,
        /// Proxmox's reason.
        message: String,
    },
    /// Any other HTTP error status, with Proxmox's message and per-parameter errors.
    #[error("{what}: HTTP {status}: {message}{}", params_text(errors))]
    Http {
        /// The request, e.g. `POST /nodes/pve1/lxc`.
        what: String,
        /// The status code.
        status: u16,
        /// Proxmox's message (the body's `message`, else the reason phrase).
        message: String,
        /// Parameter errors (`errors` in the body): name → message.
        errors: Vec<(String, String)>,
    },
    /// The answer was not what the API documents.
    #[error("{what}: invalid response: {message}")]
    InvalidResponse {
        /// The request.
        what: String,
        /// What was wrong.
        message: String,
    },
    /// A worker task ended with an error.
    #[error("task {upid} failed: {exitstatus}")]
    TaskFailed {
        /// The task id.
        upid: String,
        /// Proxmox's exit status: the error text.
        exitstatus: String,
    },
    /// What was asked cannot be done with an API token (Proxmox allows it to root@pam
    /// only); checked before anything is created.
    #[error(
        "{what} can only be set by root@pam, and an API token ({token}) counts as another \
         user in Proxmox VE; nothing was created. Create the container without it and add \
         it on the node as root (pct set), or run skiff on the node without --api"
    )]
    RootOnly {
        /// The refused settings, e.g. `mp0 (bind mount /srv/data)`.
        what: String,
        /// The token's id (never its secret).
        token: String,
    },
    /// A template of the same name is on the storage and cannot be shown to hold the
    /// same archive.
    #[error(
        "{volid} exists on node {node} and {reason}; nothing was uploaded. Remove it \
             (pvesm free {volid}) or choose another name with --filename"
    )]
    TemplateConflict {
        /// The volume id.
        volid: String,
        /// The node.
        node: String,
        /// Why it cannot be taken as the same file.
        reason: String,
    },
    /// The container was created, a later step (overrides, start) failed: it stays, as
    /// pct leaves it.
    #[error("container {vmid} was created on node {node}, but: {source}")]
    AfterCreate {
        /// The container.
        vmid: u32,
        /// Its node.
        node: String,
        /// What failed.
        source: Box<ApiError>,
    },
    /// No node can take the container.
    #[error("{0}")]
    NoNode(String),
    /// Reading or writing a local file (the archive, the upload record).
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn params_text(errors: &[(String, String)]) -> String {
    errors
        .iter()
        .map(|(k, v)| format!("\n  {k}: {}", v.trim_end()))
        .collect()
}

impl ApiError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ApiError::Io {
            path: path.into(),
            source,
        }
    }
}
