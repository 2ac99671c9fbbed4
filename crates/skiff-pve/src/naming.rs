//! Proxmox's names for templates: the file name `oci-registry-pull` gives an image, and
//! the volume id (`STORAGE:vztmpl/FILE`) by which pct and the API refer to it.

use crate::PveError;

/// Proxmox's normalisation: everything up to the last `/` or `\` removed, every
/// character outside `[a-zA-Z0-9_.-]` replaced by `_`
/// (`docker.io/library/nginx:latest` → `nginx_latest`).
pub fn normalise_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The template file for `--filename` or, without it, the reference: normalised, plus
/// `.tar`. Refuses names that would be empty or a directory entry (`.`, `..`).
pub fn template_filename(filename: Option<&str>, reference: &str) -> Result<String, PveError> {
    let source = filename.unwrap_or(reference);
    let base = normalise_filename(source);
    if base.is_empty() || base.chars().all(|c| c == '.') {
        return Err(PveError::BadFilename(source.to_string()));
    }
    Ok(format!("{base}.tar"))
}

/// `STORAGE:vztmpl/FILE`.
pub fn volid(storage: &str, file: &str) -> String {
    format!("{storage}:vztmpl/{file}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxmox_examples() {
        assert_eq!(
            template_filename(None, "docker.io/library/nginx:latest").unwrap(),
            "nginx_latest.tar"
        );
        assert_eq!(
            template_filename(None, "nginx:1.27").unwrap(),
            "nginx_1.27.tar"
        );
        assert_eq!(
            template_filename(Some("my web@1"), "x:y").unwrap(),
            "my_web_1.tar"
        );
        assert_eq!(
            template_filename(Some("a\\b/c d"), "x:y").unwrap(),
            "c_d.tar"
        );
        assert_eq!(
            template_filename(None, "ghcr.io/o/app:v1@x").unwrap(),
            "app_v1_x.tar"
        );
        assert!(template_filename(Some("dir/"), "x").is_err());
        assert!(template_filename(Some(".."), "x").is_err());
        assert_eq!(
            volid("local", "nginx_1.27.tar"),
            "local:vztmpl/nginx_1.27.tar"
        );
    }
}
