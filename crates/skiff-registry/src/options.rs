//! The settings of a client, as the command line gives them.

use std::path::PathBuf;
use std::time::Duration;

use crate::credentials::Credentials;
use crate::debug::ExchangeHook;
use crate::retry::RetryHook;

/// Settings of a client, from the command line.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `Some(false)`: accept invalid certificates and fall back to plain HTTP (skopeo's
    /// `--tls-verify=false`). `None`: verify (the default).
    pub tls_verify: Option<bool>,
    /// `--cert-dir`: `*.crt` CA roots, `*.cert` + `*.key` client identity. Default:
    /// `/etc/containers/certs.d/HOST[:PORT]` and `/etc/docker/certs.d/HOST[:PORT]`.
    pub cert_dir: Option<PathBuf>,
    /// `--creds`: used instead of any saved credentials.
    pub credentials: Option<Credentials>,
    /// `--registry-token`: a bearer token used as is.
    pub registry_token: Option<String>,
    /// `--no-creds`: anonymous, ignoring saved credentials.
    pub no_creds: bool,
    /// `--authfile`: the one credentials file to read.
    pub auth_file: Option<PathBuf>,
    /// `--retry-times`: retries of a failed request or broken transfer.
    pub retry_times: u32,
    /// `--retry-delay`: a fixed delay instead of exponential backoff.
    pub retry_delay: Option<Duration>,
    /// The User-Agent header.
    pub user_agent: String,
    /// Read inactivity timeout (default 60 s).
    pub timeout: Option<Duration>,
    /// Told before every wait for a retry or resume, so that a registry that is down
    /// does not look like a hang. `None`: retry silently.
    pub on_retry: Option<RetryHook>,
    /// Told every HTTP exchange, secrets removed (`--debug`). `None`: silent.
    pub on_exchange: Option<ExchangeHook>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            tls_verify: None,
            cert_dir: None,
            credentials: None,
            registry_token: None,
            no_creds: false,
            auth_file: None,
            retry_times: 3,
            retry_delay: None,
            user_agent: concat!("skiff/", env!("CARGO_PKG_VERSION")).to_string(),
            timeout: None,
            on_retry: None,
            on_exchange: None,
        }
    }
}
