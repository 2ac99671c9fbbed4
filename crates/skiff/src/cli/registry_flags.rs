//! The registry flags every command that talks to a registry takes, declared once and
//! stamped out per side (`--src-…`, `--dest-…`, plain) by a macro.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Defines one side's registry options (`--src-*`, `--dest-*`, or unprefixed for
/// inspect / list-tags / delete), so the flags are declared once whatever their prefix.
macro_rules! registry_args {
    ($name:ident, $prefix:literal, $side:literal) => {
        #[doc = concat!("Registry options for the ", $side, ".")]
        #[derive(Debug, Args, Clone)]
        pub struct $name {
            #[arg(id = concat!($prefix, "authfile"), long = concat!($prefix, "authfile"), value_name = "PATH",
                  help = concat!("Credentials file for the ", $side))]
            pub authfile: Option<PathBuf>,
            #[arg(id = concat!($prefix, "creds"), long = concat!($prefix, "creds"), value_name = "USER[:PASS]",
                  help = concat!("Credentials for the ", $side, " registry"))]
            pub creds: Option<String>,
            #[arg(id = concat!($prefix, "username"), long = concat!($prefix, "username"), value_name = "USER",
                  help = concat!("Username for the ", $side, " registry"))]
            pub username: Option<String>,
            #[arg(id = concat!($prefix, "password"), long = concat!($prefix, "password"), value_name = "PASS",
                  help = concat!("Password for the ", $side, " registry"))]
            pub password: Option<String>,
            #[arg(id = concat!($prefix, "no-creds"), long = concat!($prefix, "no-creds"),
                  help = concat!("Access the ", $side, " registry anonymously"))]
            pub no_creds: bool,
            #[arg(id = concat!($prefix, "registry-token"), long = concat!($prefix, "registry-token"), value_name = "TOKEN",
                  help = concat!("Bearer token for the ", $side, " registry"))]
            pub registry_token: Option<String>,
            #[arg(id = concat!($prefix, "tls-verify"), long = concat!($prefix, "tls-verify"), value_name = "BOOL",
                  num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = crate::argv::parse_go_bool,
                  help = concat!("Require HTTPS and verify certificates for the ", $side, " (=false allows plain HTTP)"))]
            pub tls_verify: Option<bool>,
            #[arg(id = concat!($prefix, "cert-dir"), long = concat!($prefix, "cert-dir"), value_name = "DIR",
                  help = concat!("CA certificates (*.crt) and client certificate/key (*.cert, *.key) for the ", $side))]
            pub cert_dir: Option<PathBuf>,
        }

        impl $name {
            /// These flags as library-neutral registry flags.
            pub fn flags(&self, authfile: Option<&PathBuf>, retry_times: u32, retry_delay: Option<Duration>) -> crate::options::RegistryFlags {
                crate::options::RegistryFlags {
                    authfile: self.authfile.clone().or_else(|| authfile.cloned()),
                    creds: self.creds.clone(),
                    username: self.username.clone(),
                    password: self.password.clone(),
                    no_creds: self.no_creds,
                    registry_token: self.registry_token.clone(),
                    tls_verify: self.tls_verify,
                    cert_dir: self.cert_dir.clone(),
                    retry_times,
                    retry_delay,
                    quiet: false,
                }
            }
        }
    };
}

registry_args!(SrcRegistryArgs, "src-", "source");
registry_args!(DestRegistryArgs, "dest-", "destination");
registry_args!(RegistryArgs, "", "registry");

/// `--retry-times` and `--retry-delay`, as every command that talks to a registry takes them.
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// How often to retry a failed request or interrupted transfer.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retry_times: u32,
    /// Fixed delay between retries (default: exponential backoff, honouring Retry-After).
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration)]
    pub retry_delay: Option<Duration>,
}
