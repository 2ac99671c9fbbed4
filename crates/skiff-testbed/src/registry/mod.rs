//! Real `docker-registry` (CNCF distribution 2.8.2) processes for tests.
//!
//! Each [`RegistryServer`] gets its own temporary directory and a port the
//! registry picks itself (`127.0.0.1:0`, read back from its log), so tests
//! can run in parallel. Three setups cover the registries skiff must work
//! with: open, htpasswd Basic auth, and Docker-Hub-like token auth with blobs
//! redirected to an S3-like host. Any of them can speak HTTPS with a CA of its own, and
//! require client certificates ([`Tls`]).

mod blobhost;
pub(crate) mod tls;
mod token;

pub use blobhost::{BlobHost, BlobRequest, AUTH_REJECTED_BODY};
pub use tls::{Tls, TlsFiles};
pub use token::{TokenRequest, TokenServer, DISTRIBUTION_LEEWAY_SECS, ISSUER, SERVICE};

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the registry authenticates clients.
#[derive(Debug, Clone)]
pub enum Setup {
    /// No authentication at all.
    Open,
    /// Basic auth from an htpasswd file (`htpasswd -Bbn`, bcrypt).
    Htpasswd { user: String, password: String },
    /// Docker-Hub-like: token auth (our token server issuing RS256 JWTs with
    /// an `x5c` header; anonymous => pull only, Basic user/password =>
    /// pull,push,delete) AND the `redirect` storage middleware pointing at
    /// our [`BlobHost`], which answers any request carrying an Authorization
    /// header with 400 and [`AUTH_REJECTED_BODY`].
    TokenWithRedirect { user: String, password: String },
}

/// Knobs beyond the setup.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long a token is accepted by the registry (token setup), also sent
    /// as `expires_in`. Default 300, like Docker Hub.
    pub token_lifetime_secs: u64,
    /// Subtracted from the JWT `exp` to cancel distribution's clock-skew
    /// leeway ([`DISTRIBUTION_LEEWAY_SECS`]), so that a token really stops
    /// working `token_lifetime_secs` after issue. Note the JWT's `exp` may
    /// then lie before `iat`; a client should go by `expires_in`. Set 0 for
    /// an honest `exp` (tokens then work 60 s longer than announced).
    pub leeway_compensation_secs: u64,
    /// How long to wait for the registry to come up.
    pub startup_timeout: Duration,
    /// Plain HTTP (default) or HTTPS with a CA of its own.
    pub tls: Tls,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            token_lifetime_secs: 300,
            leeway_compensation_secs: DISTRIBUTION_LEEWAY_SECS,
            startup_timeout: Duration::from_secs(30),
            tls: Tls::Off,
        }
    }
}

/// A running registry. Drop kills the process and removes its directory.
pub struct RegistryServer {
    child: Child,
    host: String,
    data_dir: PathBuf,
    credentials: Option<(String, String)>,
    log: Arc<Mutex<Vec<String>>>,
    // Dropped after the child is killed (field order), then the directory.
    token: Option<TokenServer>,
    blob_host: Option<BlobHost>,
    tls: Option<TlsFiles>,
    dir: tempfile::TempDir,
}

impl RegistryServer {
    pub fn start(setup: Setup) -> io::Result<RegistryServer> {
        Self::start_with(setup, Options::default())
    }

    pub fn start_with(setup: Setup, options: Options) -> io::Result<RegistryServer> {
        let dir = tempfile::Builder::new()
            .prefix("skiff-registry-")
            .tempdir()?;
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir)?;
        let mut token = None;
        let mut blob_host = None;
        let mut credentials = None;
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n",
            data = yaml_str(&data_dir)
        );
        match &setup {
            Setup::Open => {}
            Setup::Htpasswd { user, password } => {
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, htpasswd(user, password)?)?;
                write!(
                    config,
                    "auth:\n  htpasswd:\n    realm: skiff-testbed\n    path: {}\n",
                    yaml_str(&file)
                )
                .unwrap();
                credentials = Some((user.clone(), password.clone()));
            }
            Setup::TokenWithRedirect { user, password } => {
                let ts = TokenServer::start(
                    user,
                    password,
                    options.token_lifetime_secs,
                    options.leeway_compensation_secs,
                )?;
                let cert = dir.path().join("token-root.pem");
                TokenServer::write_root_cert(&cert)?;
                let bh = BlobHost::start(&data_dir)?;
                write!(
                    config,
                    "  redirect:\n    disable: false\n\
                     auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {cert}\n\
                     middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: {base}\n",
                    realm = ts.realm(),
                    cert = yaml_str(&cert),
                    base = bh.base_url(),
                )
                .unwrap();
                token = Some(ts);
                blob_host = Some(bh);
                credentials = Some((user.clone(), password.clone()));
            }
        }
        config.push_str("http:\n  addr: 127.0.0.1:0\n  secret: skiff-testbed-not-secret\n");
        let tls = match options.tls {
            Tls::Off => None,
            mode => {
                let files = if mode == Tls::SelfSigned {
                    tls::write_self_signed_files(&dir.path().join("tls"))?
                } else {
                    tls::write_tls_files(&dir.path().join("tls"))?
                };
                write!(
                    config,
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    yaml_str(&files.server_cert),
                    yaml_str(&files.server_key)
                )
                .unwrap();
                if mode == Tls::ClientCertificates {
                    writeln!(
                        config,
                        "    clientcas:\n      - {}",
                        yaml_str(&files.ca_cert)
                    )
                    .unwrap();
                }
                Some(files)
            }
        };
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, &config)?;

        let mut cmd = Command::new("docker-registry");
        cmd.arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env_remove("REGISTRY_HTTP_ADDR")
            .env("OTEL_TRACES_EXPORTER", "none");
        let mut child = crate::spawn::spawn_tied(cmd).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run docker-registry ({e}); apt-get install docker-registry"),
            )
        })?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped stderr");
        let log2 = log.clone();
        // Keeps draining stderr for the registry's whole life: a full pipe
        // would block it.
        std::thread::Builder::new()
            .name("skiff-registry-log".into())
            .spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(addr) = listening_addr(&line) {
                        let _ = tx.send(addr);
                    }
                    let mut l = log2.lock().unwrap_or_else(|e| e.into_inner());
                    if l.len() < 20_000 {
                        l.push(line);
                    }
                }
            })?;
        let mut server = RegistryServer {
            child,
            host: String::new(),
            data_dir,
            credentials,
            log,
            token,
            blob_host,
            tls,
            dir,
        };
        let deadline = Instant::now() + options.startup_timeout;
        server.host = match rx.recv_timeout(options.startup_timeout) {
            Ok(addr) => addr,
            Err(_) => return Err(server.startup_error("never logged \"listening on\"")),
        };
        while !answers_v2(&server.host) {
            if Instant::now() > deadline || server.child.try_wait()?.is_some() {
                return Err(server.startup_error("does not answer GET /v2/"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    fn startup_error(&mut self, what: &str) -> io::Error {
        let status = self.child.try_wait().ok().flatten();
        io::Error::other(format!(
            "docker-registry {what} (exit: {status:?}); config:\n{}\nlog:\n{}",
            std::fs::read_to_string(self.dir.path().join("config.yml")).unwrap_or_default(),
            self.logs()
        ))
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        self.host.clone()
    }

    /// `http://127.0.0.1:PORT`, or `https://…` when it speaks TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.host)
    }

    /// The CA and certificates of a registry started with TLS.
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// The storage root (`docker/registry/v2/...` lives below it).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The redirect target, for [`Setup::TokenWithRedirect`].
    pub fn blob_host(&self) -> Option<&BlobHost> {
        self.blob_host.as_ref()
    }

    /// The token server, for [`Setup::TokenWithRedirect`].
    pub fn token_server(&self) -> Option<&TokenServer> {
        self.token.as_ref()
    }

    /// User and password for the htpasswd and token setups.
    pub fn credentials(&self) -> Option<(String, String)> {
        self.credentials.clone()
    }

    /// Everything the registry logged so far (for failure messages).
    pub fn logs(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }

    /// The registry's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Path of the file that stores a blob, e.g. to damage it on purpose.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.data_dir
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2.min(hex.len())])
            .join(hex)
            .join("data")
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Quotes a path for YAML (single quotes, doubled inside).
fn yaml_str(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "''"))
}

/// `htpasswd -Bbn USER PASSWORD`: distribution only accepts bcrypt.
fn htpasswd(user: &str, password: &str) -> io::Result<Vec<u8>> {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run htpasswd ({e}); apt-get install apache2-utils"),
            )
        })?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "htpasswd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(out.stdout)
}

/// Extracts `127.0.0.1:PORT` from `... msg="listening on 127.0.0.1:PORT" ...`.
fn listening_addr(line: &str) -> Option<String> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let addr: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != ',')
        .collect();
    let port_ok = addr
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
    port_ok.then_some(addr)
}

/// Any HTTP answer to `GET /v2/` (401 included) means the registry is up; a TLS
/// listener answers this plain request with an `HTTP/1.0 400`, which counts too.
fn answers_v2(host: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(host) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(
        format!("GET /v2/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_line() {
        let l = r#"time="2024-01-01T00:00:00Z" level=info msg="listening on 127.0.0.1:41234" go.version=go1.19"#;
        assert_eq!(listening_addr(l).as_deref(), Some("127.0.0.1:41234"));
        assert_eq!(
            listening_addr("level=info msg=\"listening on [::]:5000\""),
            Some("[::]:5000".into())
        );
        assert_eq!(listening_addr("nothing"), None);
    }
}
