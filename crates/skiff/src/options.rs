//! From flags to library options.

use std::path::PathBuf;
use std::time::Duration;

use skiff_oci::Platform;
use skiff_registry::{ClientOptions, Credentials, ExchangeHook, RetryHook};

use crate::cli::GlobalOptions;
use crate::failure::Failure;

/// One side's registry flags, whatever their prefix (`--src-`, `--dest-`, none).
#[derive(Debug, Default, Clone)]
pub struct RegistryFlags {
    pub authfile: Option<PathBuf>,
    pub creds: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub no_creds: bool,
    pub registry_token: Option<String>,
    pub tls_verify: Option<bool>,
    pub cert_dir: Option<PathBuf>,
    pub retry_times: u32,
    pub retry_delay: Option<Duration>,
    /// `--quiet`: no retry notices either.
    pub quiet: bool,
}

impl RegistryFlags {
    /// The same flags for a command run with `--quiet` (when `quiet` is true).
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }
}

/// Splits `USER[:PASSWORD]` as skopeo does (at the first colon); a bare `USER` asks for
/// the password on the terminal, as skopeo does.
pub fn parse_creds(creds: &str) -> Result<Credentials, Failure> {
    match creds.split_once(':') {
        Some((u, p)) if !u.is_empty() => Ok(Credentials {
            username: u.to_string(),
            password: p.to_string(),
        }),
        None if !creds.is_empty() => Ok(Credentials {
            username: creds.to_string(),
            password: crate::tty::read_password("Password: ")?,
        }),
        _ => Err(
            Failure::new("credentials must be given as USERNAME[:PASSWORD]").hint(format!(
                "e.g. --creds alice:secret, or log in once with `{} login`",
                crate::cli::program_name()
            )),
        ),
    }
}

impl RegistryFlags {
    /// Builds registry client options.
    pub fn client_options(&self, global: &GlobalOptions) -> Result<ClientOptions, Failure> {
        let credentials = match (&self.creds, &self.username, &self.password) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(Failure::new(
                    "--creds and --username/--password are mutually exclusive",
                ))
            }
            (Some(c), None, None) => Some(parse_creds(c)?),
            (None, Some(u), Some(p)) => Some(Credentials {
                username: u.clone(),
                password: p.clone(),
            }),
            (None, Some(_), None) | (None, None, Some(_)) => {
                return Err(Failure::new(
                    "--username and --password must be given together",
                ))
            }
            (None, None, None) => None,
        };
        if self.no_creds && (credentials.is_some() || self.registry_token.is_some()) {
            return Err(Failure::new(
                "--no-creds cannot be combined with credentials or a registry token",
            ));
        }
        let user_agent = match &global.user_agent_prefix {
            Some(p) => format!("{p} skiff/{}", env!("CARGO_PKG_VERSION")),
            None => format!("skiff/{}", env!("CARGO_PKG_VERSION")),
        };
        Ok(ClientOptions {
            tls_verify: self.tls_verify,
            cert_dir: self.cert_dir.clone(),
            credentials,
            registry_token: self.registry_token.clone(),
            no_creds: self.no_creds,
            auth_file: self.authfile.clone(),
            retry_times: self.retry_times,
            retry_delay: self.retry_delay,
            user_agent,
            timeout: None,
            on_retry: (!self.quiet).then(retry_printer),
            on_exchange: global.debug.then(exchange_printer),
        })
    }
}

/// Prints each retry wait as one line on stderr, so a registry that is down or slow does
/// not look like a hang. Commands with `--quiet` set `on_retry` to `None`.
fn retry_printer() -> RetryHook {
    RetryHook::new(|notice| {
        use std::io::Write;
        // A closed stderr must not end the copy: the line is only news.
        let _ = writeln!(
            std::io::stderr(),
            "{}: {notice}",
            crate::cli::program_name()
        );
    })
}

/// `--debug`: prints each HTTP exchange (secrets already removed by the library) on
/// stderr, every line marked, so it can be told apart from the command's own messages.
pub(crate) fn exchange_printer() -> ExchangeHook {
    ExchangeHook::new(|notice| {
        use std::io::Write;
        let program = crate::cli::program_name();
        let mut text = String::new();
        for line in notice.to_string().lines() {
            text.push_str(&format!("{program}: debug: {line}\n"));
        }
        // One write per exchange, so parallel requests do not interleave line by line.
        let _ = std::io::stderr().write_all(text.as_bytes());
    })
}

/// The platform to pick from manifest lists: the host's, with --override-*.
pub fn platform(global: &GlobalOptions) -> Platform {
    Platform::host_with_overrides(
        global.override_os.as_deref(),
        global.override_arch.as_deref(),
        global.override_variant.as_deref(),
    )
}

/// Transport options for one side: registry client settings plus registries.conf
/// (`--registries-conf`, else the system's).
pub fn open_options(
    global: &GlobalOptions,
    flags: &RegistryFlags,
) -> Result<skiff_transport::OpenOptions, Failure> {
    let registries =
        skiff_registry::registries_conf::RegistriesConf::load(global.registries_conf.as_deref())
            .map_err(|e| Failure::new(e.to_string()))?;
    Ok(skiff_transport::OpenOptions {
        registry: flags.client_options(global)?,
        registries: std::sync::Arc::new(registries),
        additional_tags: Vec::new(),
        tmpdir: global.tmpdir.clone(),
        oci_accept_uncompressed_layers: false,
        shared_blob_dir: None,
        cache: None,
        mount_from: None,
        clients: None,
    })
}

/// The host's blob cache for a command that pulls, unless `--no-cache`. A cache that is
/// configured wrongly (`SKIFF_CACHE_MAX_SIZE=lots`) is an error; one whose directory
/// cannot be created is not — the command says so and pulls without it.
pub fn host_cache(args: &crate::cli::CacheArgs) -> Result<Option<skiff_cache::Cache>, Failure> {
    if args.no_cache {
        return Ok(None);
    }
    let config = skiff_cache::CacheConfig::from_env().map_err(|e| Failure::new(e.to_string()))?;
    match skiff_cache::Cache::open(&config) {
        Ok(cache) => Ok(Some(cache)),
        Err(e) => {
            crate::output::stderr_line(&format!(
                "{}: warning: {e}; pulling without the blob cache",
                crate::cli::program_name()
            ));
            Ok(None)
        }
    }
}
