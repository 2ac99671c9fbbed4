//! The containers configuration lookup both policy.json and registries.d follow: the user's
//! copy under `$HOME/.config/containers/` replaces the system one under `/etc/containers/`
//! when it exists (no merging), so a user can tighten or loosen trust for themselves only.

use std::path::{Path, PathBuf};

/// `$HOME/.config/containers/NAME` if it exists, else `/etc/containers/NAME`.
pub(crate) fn user_or_system(name: &str) -> PathBuf {
    if let Some(home) = std::env::var_os("HOME") {
        let user = Path::new(&home).join(".config/containers").join(name);
        if user.exists() {
            return user;
        }
    }
    Path::new("/etc/containers").join(name)
}
