//! How an `lxc-start`ed container runs the image's entrypoint as its init (PID 1), as
//! Proxmox does with `lxc.init.cmd`.
//!
//! LXC 5.0.2 splits `lxc.init.cmd` on spaces and ignores quotes (TESTBED.md), so the
//! command goes there directly only when no word needs quoting. Otherwise skiff puts a
//! small static launcher into the root filesystem that executes the exact argv from a
//! NUL-separated file (see `launcher/init.rs`); `lxc.execute.cmd` uses the same command,
//! since LXC 5.0.2 also mangles shell quoting such as `'it'\''s'` there.
//!
//! Both files live in `/.skiff/` of the rootfs: unlike `/dev/.lxc` (a tmpfs LXC mounts at
//! each start) it survives restarts, it belongs to the container's own filesystem under
//! every id mapping, and no image uses the name. A new rootfs (an image update) gets its
//! own copy when its config is written.

use std::path::Path;

use crate::rootfs;
use crate::LxcError;

/// The launcher inside the container.
pub const LAUNCHER_PATH: &str = "/.skiff/init";
/// The NUL-separated argv the launcher executes.
pub const ARGV_PATH: &str = "/.skiff/argv";

/// The static launcher executable, built by build.rs.
static LAUNCHER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/skiff-init"));

/// What runs when the image names no command (as with `lxc.execute.cmd`).
const DEFAULT_COMMAND: &str = "/bin/sh";

/// Whether LXC's space splitting would pass `word` unchanged: non-empty, with no
/// whitespace and no quoting characters (LXC 6 may interpret quotes; 5.0.2 does not).
fn passes_unquoted(word: &str) -> bool {
    !word.is_empty()
        && !word
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '\'' | '"' | '\\'))
}

/// Whether `argv` needs the launcher to run with its words intact.
pub fn needs_launcher(argv: &[String]) -> bool {
    !argv.iter().all(|w| passes_unquoted(w))
}

/// The `lxc.init.cmd` value for `argv`: the words themselves, or the launcher.
pub fn init_cmd(argv: &[String]) -> String {
    if argv.is_empty() {
        DEFAULT_COMMAND.to_string()
    } else if needs_launcher(argv) {
        LAUNCHER_PATH.to_string()
    } else {
        argv.join(" ")
    }
}

/// Installs the launcher and its argv file into `rootfs` when `argv` needs them (files
/// owned by `owner`, the container's root on the host); otherwise does nothing.
pub fn install(rootfs: &Path, argv: &[String], owner: Option<(u32, u32)>) -> Result<(), LxcError> {
    if !needs_launcher(argv) {
        return Ok(());
    }
    let mut file = Vec::new();
    for word in argv {
        file.extend_from_slice(word.as_bytes());
        file.push(0);
    }
    rootfs::write_file(rootfs, ARGV_PATH, &file, 0o644, owner)?;
    rootfs::write_file(rootfs, LAUNCHER_PATH, LAUNCHER, 0o755, owner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_words_go_directly_into_init_cmd() {
        assert_eq!(init_cmd(&v(&["/bin/sleep", "3"])), "/bin/sleep 3");
        assert_eq!(init_cmd(&v(&["nginx", "--opt=x"])), "nginx --opt=x");
        assert_eq!(init_cmd(&[]), "/bin/sh");
        for argv in [
            v(&["/bin/sh", "-c", "sleep 2"]),
            v(&["/x", "it's"]),
            v(&["/x", "\"q\""]),
            v(&["/x", ""]),
            v(&["/x", "a\\b"]),
            v(&["/x", "tab\there"]),
        ] {
            assert_eq!(init_cmd(&argv), LAUNCHER_PATH, "{argv:?}");
        }
    }

    #[test]
    fn the_launcher_and_its_argv_are_installed_only_when_needed() {
        let d = tempfile::tempdir().unwrap();
        install(d.path(), &v(&["/bin/sleep", "3"]), None).unwrap();
        assert!(!d.path().join(".skiff").exists());
        install(d.path(), &v(&["/bin/sh", "-c", "echo \"a b\""]), None).unwrap();
        assert_eq!(
            std::fs::read(d.path().join(".skiff/argv")).unwrap(),
            b"/bin/sh\0-c\0echo \"a b\"\0"
        );
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(d.path().join(".skiff/init")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o755);
        assert_eq!(meta.len() as usize, LAUNCHER.len());
        assert_eq!(&LAUNCHER[..4], b"\x7fELF");
    }
}
