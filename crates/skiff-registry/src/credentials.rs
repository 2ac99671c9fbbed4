//! Registry credentials in containers-auth.json(5) / Docker config.json files and
//! credential helpers — read for pulls, written by login and logout.
//!
//! Lookup order (skopeo's): `--authfile` alone when given; else `$REGISTRY_AUTH_FILE`,
//! `${XDG_RUNTIME_DIR}/containers/auth.json`, `~/.config/containers/auth.json`,
//! `~/.docker/config.json`. In each file a credential helper named in `credHelpers` for the
//! registry is asked first, then `auths` (the most specific `host/namespace` key wins), then
//! the file's `credsStore` helper. Writes are atomic, mode 0600, and keep other entries.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::{json, Map, Value};
use skiff_oci::local_file::{read_capped_string, MAX_CONFIG_FILE};

/// A username and password (or identity token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The username (`<token>` for identity tokens from helpers).
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why credentials could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A file is not valid JSON of the expected shape.
    #[error("{path}: invalid credentials file: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A credential helper failed.
    #[error("credential helper docker-credential-{helper}: {message}")]
    Helper {
        /// The helper's name.
        helper: String,
        /// What it said.
        message: String,
    },
}

/// The files to read, in order.
pub fn read_paths(auth_file: Option<&Path>) -> Vec<PathBuf> {
    if let Some(p) = auth_file {
        return vec![p.to_path_buf()];
    }
    let mut paths = Vec::new();
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE") {
        paths.push(PathBuf::from(p));
    }
    if let Some(d) = runtime_dir(std::env::var_os("XDG_RUNTIME_DIR")) {
        paths.push(d.join("containers/auth.json"));
    }
    if let Some(h) = std::env::var_os("HOME") {
        let h = PathBuf::from(h);
        paths.push(h.join(".config/containers/auth.json"));
        paths.push(h.join(".docker/config.json"));
    }
    paths
}

/// The file login writes by default: `$REGISTRY_AUTH_FILE`, else
/// `${XDG_RUNTIME_DIR}/containers/auth.json`, else `/run/containers/$UID/auth.json`.
pub fn write_path(auth_file: Option<&Path>) -> PathBuf {
    if let Some(p) = auth_file {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE") {
        return PathBuf::from(p);
    }
    match runtime_dir(std::env::var_os("XDG_RUNTIME_DIR")) {
        Some(d) => d.join("containers/auth.json"),
        // SAFETY: getuid has no preconditions.
        None => PathBuf::from(format!("/run/containers/{}/auth.json", unsafe {
            libc::getuid()
        })),
    }
}

/// `$XDG_RUNTIME_DIR` when it is usable. The XDG base-directory spec says a relative (or
/// empty) value is invalid and must be ignored; taking it would put credentials under the
/// current directory (`./containers/auth.json`), where nobody looks for them.
fn runtime_dir(value: Option<std::ffi::OsString>) -> Option<PathBuf> {
    value.map(PathBuf::from).filter(|d| d.is_absolute())
}

/// Normalises an `auths` key: scheme, trailing slash and Docker Hub's legacy
/// `index.docker.io/v1/` spelling removed.
fn normalise_key(key: &str) -> String {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let k = k.trim_end_matches('/');
    let k = k
        .strip_suffix("/v1")
        .or_else(|| k.strip_suffix("/v2"))
        .unwrap_or(k);
    match k {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        other => other
            .strip_prefix("index.docker.io/")
            .map_or_else(|| other.to_string(), |r| format!("docker.io/{r}")),
    }
}

fn read_json(path: &Path) -> Result<Option<Map<String, Value>>, CredentialsError> {
    let text = match read_capped_string(path, MAX_CONFIG_FILE) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CredentialsError::Io {
                path: path.display().to_string(),
                source: e,
            })
        }
    };
    if text.trim().is_empty() {
        return Ok(Some(Map::new()));
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        Ok(_) => Err(CredentialsError::Invalid {
            path: path.display().to_string(),
            message: "not a JSON object".into(),
        }),
        Err(e) => Err(CredentialsError::Invalid {
            path: path.display().to_string(),
            message: e.to_string(),
        }),
    }
}

/// Credentials for `registry` (host[:port]), optionally for a repository below it (more
/// specific `auths` keys such as `host/namespace` win).
pub fn lookup(
    auth_file: Option<&Path>,
    registry: &str,
) -> Result<Option<Credentials>, CredentialsError> {
    lookup_for(auth_file, registry, None)
}

/// Like [`lookup`], considering namespace-scoped entries for `repository`.
pub fn lookup_for(
    auth_file: Option<&Path>,
    registry: &str,
    repository: Option<&str>,
) -> Result<Option<Credentials>, CredentialsError> {
    let registry = normalise_key(registry);
    for path in read_paths(auth_file) {
        let Some(file) = read_json(&path)? else {
            continue;
        };
        if let Some(helper) = file
            .get("credHelpers")
            .and_then(|h| h.get(&registry))
            .and_then(Value::as_str)
        {
            if let Some(c) = helper_get(helper, &registry)? {
                return Ok(Some(c));
            }
        }
        if let Some(auths) = file.get("auths").and_then(Value::as_object) {
            let mut best: Option<(usize, &Value)> = None;
            for (key, entry) in auths {
                let key = normalise_key(key);
                let matches = key == registry
                    || repository.is_some_and(|r| {
                        let full = format!("{registry}/{r}");
                        full == key || full.starts_with(&format!("{key}/"))
                    });
                if matches && best.is_none_or(|(len, _)| key.len() > len) {
                    best = Some((key.len(), entry));
                }
            }
            if let Some((_, entry)) = best {
                if let Some(c) = decode_entry(entry, &path)? {
                    return Ok(Some(c));
                }
            }
        }
        if let Some(store) = file.get("credsStore").and_then(Value::as_str) {
            if let Some(c) = helper_get(store, &registry)? {
                return Ok(Some(c));
            }
        }
    }
    Ok(None)
}

fn decode_entry(entry: &Value, path: &Path) -> Result<Option<Credentials>, CredentialsError> {
    let invalid = |m: &str| CredentialsError::Invalid {
        path: path.display().to_string(),
        message: m.to_string(),
    };
    if let Some(token) = entry
        .get("identitytoken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        return Ok(Some(Credentials {
            username: "<token>".into(),
            password: token.to_string(),
        }));
    }
    let Some(auth) = entry
        .get("auth")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| invalid("an \"auth\" value is not base64"))?;
    let text = String::from_utf8(bytes).map_err(|_| invalid("an \"auth\" value is not UTF-8"))?;
    let (u, p) = text
        .split_once(':')
        .ok_or_else(|| invalid("an \"auth\" value is not USER:PASSWORD"))?;
    Ok(Some(Credentials {
        username: u.to_string(),
        password: p.to_string(),
    }))
}

fn run_helper(
    helper: &str,
    verb: &str,
    input: &str,
) -> Result<(bool, String, String), CredentialsError> {
    let program = format!("docker-credential-{helper}");
    let fail = |m: String| CredentialsError::Helper {
        helper: helper.to_string(),
        message: m,
    };
    let mut child = Command::new(&program)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn helper_get(helper: &str, registry: &str) -> Result<Option<Credentials>, CredentialsError> {
    let (ok, stdout, stderr) = run_helper(helper, "get", registry)?;
    if !ok {
        // Helpers say "credentials not found in native keychain" for unknown servers.
        if stdout.contains("not found") || stderr.contains("not found") {
            return Ok(None);
        }
        return Err(CredentialsError::Helper {
            helper: helper.to_string(),
            message: format!("get failed: {}{}", stdout.trim(), stderr.trim()),
        });
    }
    let v: Value = serde_json::from_str(&stdout).map_err(|e| CredentialsError::Helper {
        helper: helper.to_string(),
        message: format!("invalid answer: {e}"),
    })?;
    let username = v
        .get("Username")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let password = v
        .get("Secret")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if username.is_empty() && password.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials { username, password }))
}

/// The helper configured for `registry` in `file`, if any.
fn helper_for<'a>(file: &'a Map<String, Value>, registry: &str) -> Option<&'a str> {
    file.get("credHelpers")
        .and_then(|h| h.get(registry))
        .and_then(Value::as_str)
        .or_else(|| file.get("credsStore").and_then(Value::as_str))
}

/// Saves credentials for `registry` (through its credential helper when one is
/// configured). Returns the file written.
pub fn store(
    auth_file: Option<&Path>,
    registry: &str,
    creds: &Credentials,
) -> Result<PathBuf, CredentialsError> {
    let registry = normalise_key(registry);
    let path = write_path(auth_file);
    let mut file = read_json(&path)?.unwrap_or_default();
    if let Some(helper) = helper_for(&file, &registry) {
        let input =
            json!({"ServerURL": registry, "Username": creds.username, "Secret": creds.password})
                .to_string();
        let (ok, stdout, stderr) = run_helper(helper, "store", &input)?;
        if !ok {
            return Err(CredentialsError::Helper {
                helper: helper.to_string(),
                message: format!("store failed: {}{}", stdout.trim(), stderr.trim()),
            });
        }
        return Ok(path);
    }
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", creds.username, creds.password));
    let auths = file
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(auths) = auths else {
        return Err(CredentialsError::Invalid {
            path: path.display().to_string(),
            message: "\"auths\" is not an object".into(),
        });
    };
    auths.insert(registry, json!({ "auth": auth }));
    write_atomic(&path, &file)?;
    Ok(path)
}

/// Removes the credentials for `registry`; false when there were none.
pub fn erase(auth_file: Option<&Path>, registry: &str) -> Result<bool, CredentialsError> {
    let registry = normalise_key(registry);
    let path = write_path(auth_file);
    let Some(mut file) = read_json(&path)? else {
        return Ok(false);
    };
    if let Some(helper) = helper_for(&file, &registry) {
        let (ok, _, _) = run_helper(helper, "erase", &registry)?;
        return Ok(ok);
    }
    let removed = file
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .map(|auths| {
            let keys: Vec<String> = auths
                .keys()
                .filter(|k| normalise_key(k) == registry)
                .cloned()
                .collect();
            for k in &keys {
                auths.remove(k);
            }
            !keys.is_empty()
        })
        .unwrap_or(false);
    if removed {
        write_atomic(&path, &file)?;
    }
    Ok(removed)
}

/// Removes every saved credential from the file (helpers are not asked, as skopeo).
pub fn erase_all(auth_file: Option<&Path>) -> Result<(), CredentialsError> {
    let path = write_path(auth_file);
    let Some(mut file) = read_json(&path)? else {
        return Ok(());
    };
    file.insert("auths".into(), Value::Object(Map::new()));
    write_atomic(&path, &file)
}

/// Writes JSON beside the target with mode 0600 and renames it into place.
fn write_atomic(path: &Path, file: &Map<String, Value>) -> Result<(), CredentialsError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let io = |e| CredentialsError::Io {
        path: path.display().to_string(),
        source: e,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(io)?;
    }
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let bytes = serde_json::to_vec_pretty(&Value::Object(file.clone()))
        .map_err(|e| io(std::io::Error::other(e)))?;
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn creds(u: &str, p: &str) -> Credentials {
        Credentials {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn relative_or_empty_runtime_dir_is_ignored() {
        assert_eq!(runtime_dir(None), None);
        assert_eq!(runtime_dir(Some("".into())), None);
        assert_eq!(runtime_dir(Some("run/user".into())), None);
        assert_eq!(runtime_dir(Some("./x".into())), None);
        assert_eq!(
            runtime_dir(Some("/run/user/1000".into())),
            Some(PathBuf::from("/run/user/1000"))
        );
    }

    #[test]
    fn store_lookup_erase_round_trip_keeps_other_entries() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub/auth.json");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(
            &f,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOnNlY3JldA=="}},"other":1}"#,
        )
        .unwrap();
        store(
            Some(&f),
            "localhost:5000",
            &creds("alice", "pw:with:colons"),
        )
        .unwrap();
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            lookup(Some(&f), "localhost:5000").unwrap(),
            Some(creds("alice", "pw:with:colons"))
        );
        assert_eq!(
            lookup(Some(&f), "docker.io").unwrap(),
            Some(creds("hub", "secret")),
            "legacy Docker Hub key"
        );
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        assert_eq!(v["other"], 1);
        assert!(erase(Some(&f), "localhost:5000").unwrap());
        assert!(!erase(Some(&f), "localhost:5000").unwrap());
        assert_eq!(lookup(Some(&f), "localhost:5000").unwrap(), None);
        erase_all(Some(&f)).unwrap();
        assert_eq!(lookup(Some(&f), "docker.io").unwrap(), None);
    }

    #[test]
    fn namespace_entries_are_more_specific() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("auth.json");
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        std::fs::write(
            &f,
            format!(
                r#"{{"auths":{{"quay.io":{{"auth":"{}"}},"quay.io/team":{{"auth":"{}"}}}}}}"#,
                b("all:1"),
                b("team:2")
            ),
        )
        .unwrap();
        assert_eq!(
            lookup_for(Some(&f), "quay.io", Some("team/app")).unwrap(),
            Some(creds("team", "2"))
        );
        assert_eq!(
            lookup_for(Some(&f), "quay.io", Some("other/app")).unwrap(),
            Some(creds("all", "1"))
        );
    }

    #[test]
    fn malformed_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("auth.json");
        std::fs::write(&f, r#"{"auths":{"x":{"auth":"%%%"}}}"#).unwrap();
        assert!(lookup(Some(&f), "x")
            .unwrap_err()
            .to_string()
            .contains("base64"));
        std::fs::write(&f, "[1]").unwrap();
        assert!(lookup(Some(&f), "x").is_err());
    }

    #[test]
    fn credential_helpers_are_asked() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-skifftest");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread server\nif [ \"$1\" = get ] && [ \"$server\" = helped.example ]; then echo '{\"ServerURL\":\"helped.example\",\"Username\":\"bot\",\"Secret\":\"s3\"}'; else echo 'credentials not found in native keychain'; exit 1; fi\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let f = dir.path().join("config.json");
        std::fs::write(&f, r#"{"credHelpers":{"helped.example":"skifftest"}}"#).unwrap();
        let path = format!(
            "{}:{}",
            dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        // Run the lookup in a child environment: PATH must include the helper.
        std::env::set_var("PATH", &path);
        assert_eq!(
            lookup(Some(&f), "helped.example").unwrap(),
            Some(creds("bot", "s3"))
        );
        assert_eq!(lookup(Some(&f), "other.example").unwrap(), None);
    }
}
