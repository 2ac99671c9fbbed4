//! Which cluster to talk to and as whom: the API address, the API token and the pinned
//! certificate fingerprint, from flags, the environment (`SKIFF_PVE_API`,
//! `SKIFF_PVE_TOKEN`, `SKIFF_PVE_FINGERPRINT`) or a config file, in that order per value.
//!
//! The config file (`$XDG_CONFIG_HOME/skiff/pve.toml`, else `~/.config/skiff/pve.toml`,
//! else `/etc/skiff/pve.toml`) holds a secret, so it is refused when group or others may
//! read it, as ssh refuses a private key:
//!
//! ```toml
//! api = "https://pve1.example:8006"
//! token = "skiff@pve!deploy=6f0e…"
//! fingerprint = "AB:CD:…"   # optional: `pvenode cert info` on the node
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

use super::error::ApiError;

/// An API token secret: never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the `Authorization` header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A Proxmox VE API token, `USER@REALM!TOKENID=SECRET`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// `USER@REALM`.
    pub user: String,
    /// The token id after `!`.
    pub id: String,
    secret: Secret,
}

impl Token {
    /// Parses `USER@REALM!TOKENID=SECRET`; the error never repeats the secret.
    pub fn parse(text: &str) -> Result<Token, ApiError> {
        let bad = |why: &str| {
            ApiError::Setup(format!(
                "the API token must read USER@REALM!TOKENID=SECRET (as Datacenter → \
                 Permissions → API Tokens shows it): {why}"
            ))
        };
        let (name, secret) = text.trim().split_once('=').ok_or_else(|| bad("no '='"))?;
        let (user, id) = name
            .rsplit_once('!')
            .ok_or_else(|| bad("no '!' before the token id"))?;
        let (uname, realm) = user
            .rsplit_once('@')
            .ok_or_else(|| bad("no '@REALM' in the user"))?;
        if uname.is_empty() || realm.is_empty() || id.is_empty() || secret.is_empty() {
            return Err(bad("a part is empty"));
        }
        if name.chars().any(|c| c.is_whitespace() || c.is_control())
            || secret.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad("it contains white space"));
        }
        Ok(Token {
            user: user.to_string(),
            id: id.to_string(),
            secret: Secret(secret.to_string()),
        })
    }

    /// `USER@REALM!TOKENID`: the token's name, safe to show.
    pub fn name(&self) -> String {
        format!("{}!{}", self.user, self.id)
    }

    /// The `Authorization` header value.
    pub(crate) fn header(&self) -> String {
        format!("PVEAPIToken={}={}", self.name(), self.secret.expose())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({}=[redacted])", self.name())
    }
}

/// Where the API is and how to trust and use it.
#[derive(Debug, Clone)]
pub struct ApiTarget {
    /// The API root, `https://HOST:8006/api2/json/`.
    pub base: Url,
    /// The API token.
    pub token: Token,
    /// The node certificate's SHA-256 fingerprint, pinned (else the system roots decide).
    pub fingerprint: Option<String>,
}

/// The values as given on the command line (or `None`).
#[derive(Debug, Default, Clone)]
pub struct TargetArgs {
    /// `--api`.
    pub api: Option<String>,
    /// `--token`.
    pub token: Option<String>,
    /// `--fingerprint`.
    pub fingerprint: Option<String>,
}

/// The config file's keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileValues {
    api: Option<String>,
    token: Option<String>,
    fingerprint: Option<String>,
}

/// Where the config file is looked for, first found wins.
pub fn config_paths() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => paths.push(PathBuf::from(dir).join("skiff/pve.toml")),
        None => {
            if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                paths.push(PathBuf::from(home).join(".config/skiff/pve.toml"));
            }
        }
    }
    paths.push(PathBuf::from("/etc/skiff/pve.toml"));
    paths
}

/// The process environment, empty values as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl ApiTarget {
    /// The target from `args`, then the environment (`env`, normally [`process_env`]),
    /// then the first config file of `config_paths`. `Ok(None)` when no API address is
    /// given anywhere: one-node mode.
    pub fn resolve(
        args: &TargetArgs,
        env: impl Fn(&str) -> Option<String>,
        config_paths: &[PathBuf],
    ) -> Result<Option<Self>, ApiError> {
        let file = match config_paths.iter().find(|p| p.exists()) {
            Some(path) => read_config(path)?,
            None => FileValues::default(),
        };
        let api = args
            .api
            .clone()
            .or_else(|| env("SKIFF_PVE_API"))
            .or(file.api);
        let token = args
            .token
            .clone()
            .or_else(|| env("SKIFF_PVE_TOKEN"))
            .or(file.token);
        let fingerprint = args
            .fingerprint
            .clone()
            .or_else(|| env("SKIFF_PVE_FINGERPRINT"))
            .or(file.fingerprint);
        let Some(api) = api else {
            if token.is_some() || fingerprint.is_some() {
                return Err(ApiError::Setup(
                    "an API token or fingerprint is given but no API address: add --api \
                     https://HOST:8006 (or SKIFF_PVE_API)"
                        .into(),
                ));
            }
            return Ok(None);
        };
        let token = token.ok_or_else(|| {
            ApiError::Setup(
                "--api needs an API token: --token USER@REALM!TOKENID=SECRET, \
                 SKIFF_PVE_TOKEN, or `token` in the config file"
                    .into(),
            )
        })?;
        if let Some(f) = &fingerprint {
            if skiff_registry::parse_fingerprint(f).is_none() {
                return Err(ApiError::Setup(format!(
                    "{f:?} is not a SHA-256 fingerprint: 32 hex pairs as `pvenode cert info` \
                     prints them (AB:CD:…)"
                )));
            }
        }
        Ok(Some(ApiTarget {
            base: api_base(&api)?,
            token: Token::parse(&token)?,
            fingerprint,
        }))
    }
}

/// `https://HOST[:PORT][/api2/json]` → `https://HOST:PORT/api2/json/` (port 8006 when
/// none is given, as pveproxy listens there). Plain http is refused: the token would
/// travel in clear text, and pveproxy does not serve it anyway.
pub fn api_base(text: &str) -> Result<Url, ApiError> {
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("https://{text}")
    };
    let mut url = Url::parse(&with_scheme)
        .map_err(|e| ApiError::Setup(format!("--api {text:?}: {e} (e.g. https://pve1:8006)")))?;
    if url.scheme() != "https" {
        return Err(ApiError::Setup(format!(
            "--api {text:?}: only https is supported: the API token must not travel in clear text"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) || url.query().is_some() {
        return Err(ApiError::Setup(format!(
            "--api {text:?}: expected https://HOST:8006"
        )));
    }
    if url.port().is_none() {
        let _ = url.set_port(Some(8006));
    }
    let path = url.path().trim_end_matches('/').to_string();
    let path = match path.as_str() {
        "" => "/api2/json/".to_string(),
        p if p.ends_with("/api2/json") => format!("{p}/"),
        p => {
            return Err(ApiError::Setup(format!(
                "--api {text:?}: unexpected path {p:?} (give https://HOST:8006)"
            )))
        }
    };
    url.set_path(&path);
    Ok(url)
}

fn read_config(path: &Path) -> Result<FileValues, ApiError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| ApiError::io(path, e))?;
    let text = std::fs::read_to_string(path).map_err(|e| ApiError::io(path, e))?;
    let values: FileValues = toml::from_str(&text)
        .map_err(|e| ApiError::Setup(format!("{}: {}", path.display(), e.message())))?;
    let mode = meta.mode() & 0o7777;
    if values.token.is_some() && mode & 0o077 != 0 {
        return Err(ApiError::ConfigPermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_and_never_show_their_secret() {
        let t = Token::parse("skiff@pve!deploy=0b5f-77aa").unwrap();
        assert_eq!(t.user, "skiff@pve");
        assert_eq!(t.id, "deploy");
        assert_eq!(t.header(), "PVEAPIToken=skiff@pve!deploy=0b5f-77aa");
        assert!(!format!("{t:?}").contains("0b5f"));
        for bad in [
            "root@pam=x",
            "root!id=x",
            "root@pam!id=",
            "@pam!id=x",
            "a@b!c= x",
        ] {
            let e = Token::parse(bad).unwrap_err().to_string();
            assert!(!e.contains("x\""), "{e}");
            assert!(e.contains("USER@REALM!TOKENID=SECRET"), "{e}");
        }
    }

    #[test]
    fn api_addresses_are_completed_and_http_is_refused() {
        let u = |t| api_base(t).map(|u| u.to_string());
        assert_eq!(u("pve1").unwrap(), "https://pve1:8006/api2/json/");
        assert_eq!(
            u("https://10.0.0.2:8006").unwrap(),
            "https://10.0.0.2:8006/api2/json/"
        );
        assert_eq!(
            u("https://pve1:8006/api2/json/").unwrap(),
            "https://pve1:8006/api2/json/"
        );
        assert!(u("http://pve1:8006").is_err());
        assert!(u("https://pve1:8006/other").is_err());
    }

    #[test]
    fn a_config_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pve.toml");
        std::fs::write(
            &path,
            "api = \"https://pve1:8006\"\ntoken = \"a@pam!b=secret\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let args = TargetArgs::default();
        let no_env = |_: &str| None;
        let files = [dir.path().join("absent.toml"), path.clone()];
        let e = ApiTarget::resolve(&args, no_env, &files).unwrap_err();
        assert!(
            matches!(e, ApiError::ConfigPermissions { mode: 0o644, .. }),
            "{e}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let t = ApiTarget::resolve(&args, no_env, &files).unwrap().unwrap();
        assert_eq!(
            (t.base.as_str(), t.token.name().as_str()),
            ("https://pve1:8006/api2/json/", "a@pam!b")
        );

        // A flag wins over the environment, which wins over the file.
        let env = |k: &str| (k == "SKIFF_PVE_TOKEN").then(|| "e@pve!x=y".to_string());
        let args = TargetArgs {
            api: Some("https://pve2".into()),
            ..TargetArgs::default()
        };
        let t = ApiTarget::resolve(&args, env, &files).unwrap().unwrap();
        assert_eq!(
            (t.base.as_str(), t.token.name().as_str()),
            ("https://pve2:8006/api2/json/", "e@pve!x")
        );

        // Nothing anywhere: one-node mode; a token without an address: an error.
        let none: [PathBuf; 0] = [];
        assert!(ApiTarget::resolve(&TargetArgs::default(), no_env, &none)
            .unwrap()
            .is_none());
        assert!(ApiTarget::resolve(&TargetArgs::default(), env, &none).is_err());
    }
}
