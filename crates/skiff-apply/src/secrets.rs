//! `${secret:NAME}` and `${host:NAME}` in env values: how containers of an app pass
//! values to each other without secrets in the file.
//!
//! A secret is generated once per app (32 random letters and digits from the kernel's
//! CSPRNG), stored 0600 as `SECRETS_DIR/APP/NAME` and reused by every later apply, so a
//! database password and the server that uses it always agree. The directory is not
//! state in Terraform's sense: losing it loses passwords, never the knowledge of what
//! runs (that is read from the live system).

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::ApplyError;

/// Length of a generated secret.
const SECRET_LEN: usize = 32;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The secrets of every app, under one directory.
#[derive(Debug, Clone)]
pub struct Secrets {
    dir: PathBuf,
}

/// Whether a missing secret may be generated now (apply) or only reported (plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plan: a missing secret is shown as to be generated; nothing is written.
    Plan,
    /// Apply: a missing secret is generated and stored.
    Apply,
}

impl Secrets {
    /// Secrets kept under `dir`.
    pub fn new(dir: &Path) -> Self {
        Secrets {
            dir: dir.to_path_buf(),
        }
    }

    /// The secret `name` of `app`, generated and stored in [`Mode::Apply`] when missing.
    pub fn get(&self, app: &str, name: &str, mode: Mode) -> Result<String, ApplyError> {
        let path = self.dir.join(app).join(name);
        match std::fs::read_to_string(&path) {
            Ok(s) => return Ok(s.trim_end().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ApplyError::io("reading secret", &path)(e)),
        }
        if mode == Mode::Plan {
            return Ok("(generated at apply)".into());
        }
        let dir = self.dir.join(app);
        std::fs::create_dir_all(&dir).map_err(ApplyError::io("creating", &dir))?;
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(ApplyError::io("restricting", &dir))?;
        let value = generate()?;
        // Written beside and linked into place: a concurrent apply that got there first
        // wins, and both then use its value.
        let tmp = dir.join(format!(".{name}.skiff-tmp-{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(ApplyError::io("creating", &tmp))?;
        f.write_all(value.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(ApplyError::io("writing", &tmp))?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(value),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => self.get(app, name, mode),
            Err(e) => Err(ApplyError::io("storing secret", &path)(e)),
        }
    }
}

/// 32 characters from /dev/urandom, without modulo bias (bytes ≥ 248 are drawn again).
fn generate() -> Result<String, ApplyError> {
    let path = Path::new("/dev/urandom");
    let mut f = std::fs::File::open(path).map_err(ApplyError::io("opening", path))?;
    let mut out = String::with_capacity(SECRET_LEN);
    let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
    while out.len() < SECRET_LEN {
        let mut buf = [0u8; 64];
        f.read_exact(&mut buf)
            .map_err(ApplyError::io("reading", path))?;
        for b in buf.into_iter().filter(|b| *b < limit) {
            if out.len() < SECRET_LEN {
                out.push(ALPHABET[usize::from(b) % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

/// Whether `template` uses a generated secret (its value is then never printed).
pub fn is_sensitive(template: &str) -> bool {
    template.contains("${secret:")
}

/// Expands `${secret:NAME}` (from `secrets`, per `app`) and `${host:NAME}` (through
/// `host`, which answers `None` for a name the app does not have) in `template`.
/// Anything else in `${…}` is an error, so a typo is not passed on as text.
pub fn expand(
    template: &str,
    app: &str,
    secrets: &Secrets,
    mode: Mode,
    host: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed ${{ in {template:?}"))?;
        let (kind, name) = after[..end].split_once(':').ok_or_else(|| {
            format!(
                "${{{}}}: use ${{secret:NAME}} or ${{host:CONTAINER}}",
                &after[..end]
            )
        })?;
        let ok_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
        if !ok_name {
            return Err(format!(
                "${{{kind}:{name}}}: names are letters, digits, '_' and '-'"
            ));
        }
        match kind {
            "secret" => out.push_str(&secrets.get(app, name, mode).map_err(|e| e.to_string())?),
            "host" => out.push_str(
                &host(name)
                    .ok_or_else(|| format!("${{host:{name}}}: no container {name} in this app"))?,
            ),
            _ => {
                return Err(format!(
                    "${{{kind}:{name}}}: use ${{secret:NAME}} or ${{host:CONTAINER}}"
                ))
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secrets_are_generated_once_private_and_reused() {
        let d = tempfile::tempdir().unwrap();
        let s = Secrets::new(d.path());
        assert_eq!(
            s.get("immich", "db", Mode::Plan).unwrap(),
            "(generated at apply)"
        );
        assert!(!d.path().join("immich/db").exists(), "plan writes nothing");
        let a = s.get("immich", "db", Mode::Apply).unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(s.get("immich", "db", Mode::Apply).unwrap(), a);
        let mode = std::fs::metadata(d.path().join("immich/db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_ne!(s.get("other", "db", Mode::Apply).unwrap(), a);
    }

    #[test]
    fn templates_expand_and_refuse_typos() {
        let d = tempfile::tempdir().unwrap();
        let s = Secrets::new(d.path());
        let host = |n: &str| (n == "postgres").then(|| "127.0.0.1".to_string());
        let v = expand(
            "postgres://u:${secret:pw}@${host:postgres}:5432",
            "app",
            &s,
            Mode::Apply,
            &host,
        )
        .unwrap();
        let pw = s.get("app", "pw", Mode::Plan).unwrap();
        assert_eq!(v, format!("postgres://u:{pw}@127.0.0.1:5432"));
        assert!(expand("${host:redis}", "app", &s, Mode::Apply, &host).is_err());
        assert!(expand("${secrets:pw}", "app", &s, Mode::Apply, &host).is_err());
        assert!(expand("${secret:../x}", "app", &s, Mode::Apply, &host).is_err());
        assert!(expand("${secret:pw", "app", &s, Mode::Apply, &host).is_err());
        assert_eq!(
            expand("plain $HOME", "app", &s, Mode::Apply, &host).unwrap(),
            "plain $HOME"
        );
    }
}
