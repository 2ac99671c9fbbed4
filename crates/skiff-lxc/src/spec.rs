//! The runtime facts of an image, validated and with the user resolved.

use std::path::Path;

use skiff_oci::ImageConfiguration;

use crate::rootfs;
use crate::LxcError;

/// How the container's process runs, taken from the image configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    /// Entrypoint followed by Cmd.
    pub entrypoint: Vec<String>,
    /// Env entries, in order.
    pub env: Vec<String>,
    /// WorkingDir.
    pub cwd: Option<String>,
    /// User, resolved through the image's /etc/passwd and /etc/group.
    pub user: Option<ResolvedUser>,
    /// StopSignal, or SIGTERM.
    pub stop_signal: String,
    /// Volume paths, sorted.
    pub volumes: Vec<String>,
    /// The image architecture (amd64, arm64, …).
    pub arch: String,
}

/// Numeric ids of the image's User.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids (from /etc/group memberships).
    pub groups: Vec<u32>,
}

fn check(field: &'static str, value: &str) -> Result<(), LxcError> {
    if value.chars().any(char::is_control) {
        return Err(LxcError::ControlCharacter {
            field,
            value: value.to_string(),
        });
    }
    Ok(())
}

impl ContainerSpec {
    /// Reads the facts from `config`, resolving User inside `rootfs`. Refuses values
    /// with control characters (as Proxmox does) and users the image does not define.
    pub fn from_image_config(
        config: &ImageConfiguration,
        rootfs: &Path,
    ) -> Result<ContainerSpec, LxcError> {
        let c = config.config().clone().unwrap_or_default();
        let mut entrypoint = c.entrypoint().clone().unwrap_or_default();
        entrypoint.extend(c.cmd().clone().unwrap_or_default());
        for a in &entrypoint {
            check("Entrypoint/Cmd", a)?;
        }
        let env = c.env().clone().unwrap_or_default();
        for e in &env {
            check("Env", e)?;
        }
        let cwd = c.working_dir().clone().filter(|w| !w.is_empty());
        if let Some(w) = &cwd {
            check("WorkingDir", w)?;
        }
        let stop_signal = c
            .stop_signal()
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "SIGTERM".to_string());
        check("StopSignal", &stop_signal)?;
        let mut volumes = c.volumes().clone().unwrap_or_default();
        for v in &volumes {
            check("Volumes", v)?;
        }
        volumes.sort();
        volumes.dedup();
        let user = match c.user().as_deref().filter(|u| !u.is_empty()) {
            Some(u) => {
                check("User", u)?;
                Some(resolve_user(u, rootfs)?)
            }
            None => None,
        };
        Ok(ContainerSpec {
            entrypoint,
            env,
            cwd,
            user,
            stop_signal,
            volumes,
            arch: config.architecture().to_string(),
        })
    }

    /// Whether the image runs an application (rather than a system's init), which makes
    /// Proxmox use console mode and host-managed networking.
    pub fn is_application(&self) -> bool {
        match self.entrypoint.as_slice() {
            [] => false,
            [only] => only != "/sbin/init",
            _ => true,
        }
    }

    /// Creates a directory in the root filesystem for each volume (Proxmox creates the
    /// directory only, no mount point), inside the root whatever symlinks the image has.
    pub fn create_volume_dirs(
        &self,
        rootfs: &Path,
        owner: Option<(u32, u32)>,
    ) -> Result<(), LxcError> {
        for v in &self.volumes {
            rootfs::create_dir_all(rootfs, v, owner)?;
        }
        Ok(())
    }
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

fn passwd(rootfs: &Path) -> Result<Vec<PasswdEntry>, LxcError> {
    let text = rootfs::read_file(rootfs, "/etc/passwd")?.unwrap_or_default();
    Ok(text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
            })
        })
        .collect())
}

/// (name, gid, members) of /etc/group.
fn groups(rootfs: &Path) -> Result<Vec<(String, u32, Vec<String>)>, LxcError> {
    let text = rootfs::read_file(rootfs, "/etc/group")?.unwrap_or_default();
    Ok(text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let members = f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?, members))
        })
        .collect())
}

/// Resolves `user`, `uid`, `user:group`, `uid:gid` (and mixes) as container runtimes do:
/// a numeric uid needs no passwd entry (its group then defaults to 0); names must exist.
fn resolve_user(spec: &str, rootfs: &Path) -> Result<ResolvedUser, LxcError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let entries = passwd(rootfs)?;
    let unknown = |why: &str| LxcError::UnknownUser(spec.to_string(), why.to_string());
    let (uid, mut gid, name) = match user.parse::<u32>() {
        Ok(uid) => match entries.iter().find(|e| e.uid == uid) {
            Some(e) => (uid, e.gid, Some(e.name.clone())),
            None => (uid, 0, None),
        },
        Err(_) => {
            let e = entries
                .iter()
                .find(|e| e.name == user)
                .ok_or_else(|| unknown("no such user in the image's /etc/passwd"))?;
            (e.uid, e.gid, Some(e.name.clone()))
        }
    };
    let group_list = groups(rootfs)?;
    if let Some(g) = group.filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_list
                .iter()
                .find(|(n, _, _)| n == g)
                .map(|(_, gid, _)| *gid)
                .ok_or_else(|| unknown("no such group in the image's /etc/group"))?,
        };
    }
    let mut supplementary: Vec<u32> = match &name {
        Some(n) => group_list
            .iter()
            .filter(|(_, _, m)| m.contains(n))
            .map(|(_, g, _)| *g)
            .filter(|g| *g != gid)
            .collect(),
        None => Vec::new(),
    };
    supplementary.sort_unstable();
    supplementary.dedup();
    Ok(ResolvedUser {
        uid,
        gid,
        groups: supplementary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/srv:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n").unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\napp:x:1000:\nwww:x:33:app\naudio:x:29:app,www\n",
        )
        .unwrap();
        d
    }

    fn config(json: &str) -> ImageConfiguration {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn users_resolve_in_every_form() {
        let r = rootfs();
        let u = |s: &str| resolve_user(s, r.path());
        assert_eq!(
            u("app").unwrap(),
            ResolvedUser {
                uid: 1000,
                gid: 1000,
                groups: vec![29, 33]
            }
        );
        assert_eq!(u("1000").unwrap().gid, 1000);
        assert_eq!(
            u("4242").unwrap(),
            ResolvedUser {
                uid: 4242,
                gid: 0,
                groups: vec![]
            }
        );
        assert_eq!(u("app:www").unwrap().gid, 33);
        assert_eq!(u("app:777").unwrap().gid, 777);
        assert_eq!(u("33:33").unwrap().uid, 33);
        assert!(u("nobody").unwrap_err().to_string().contains("nobody"));
        assert!(u("app:nogroup").is_err());
    }

    #[test]
    fn spec_takes_entrypoint_cmd_env_cwd_signal_volumes() {
        let r = rootfs();
        let c = config(
            r#"{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},
            "config":{"Entrypoint":["/init"],"Cmd":["--flag"],"Env":["A=1","B=two words"],"WorkingDir":"/srv",
            "User":"app","StopSignal":"SIGQUIT","Volumes":{"/data":{},"/config":{}}}}"#,
        );
        let s = ContainerSpec::from_image_config(&c, r.path()).unwrap();
        assert_eq!(s.entrypoint, ["/init", "--flag"]);
        assert_eq!(s.env, ["A=1", "B=two words"]);
        assert_eq!(s.cwd.as_deref(), Some("/srv"));
        assert_eq!(s.stop_signal, "SIGQUIT");
        assert_eq!(s.volumes, ["/config", "/data"]);
        assert_eq!(s.arch, "arm64");
        assert_eq!(s.user.as_ref().unwrap().uid, 1000);
        let d = config(
            r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Entrypoint":["/sbin/init"]}}"#,
        );
        let s = ContainerSpec::from_image_config(&d, r.path()).unwrap();
        assert_eq!(s.stop_signal, "SIGTERM");
        assert!(!s.is_application());
    }

    #[test]
    fn control_characters_are_refused() {
        let r = rootfs();
        let c = config(
            r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Env":["A=1\nlxc.hook = /evil"]}}"#,
        );
        let err = ContainerSpec::from_image_config(&c, r.path()).unwrap_err();
        assert!(err.to_string().contains("control character"));
    }

    #[test]
    fn volume_dirs_and_passwd_stay_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        let r = rootfs();
        std::os::unix::fs::symlink(outside.path(), r.path().join("data")).unwrap();
        std::fs::remove_file(r.path().join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", r.path().join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/", r.path().join("up")).unwrap();
        let spec = |v: &str| ContainerSpec {
            entrypoint: vec![],
            env: vec![],
            cwd: None,
            user: None,
            stop_signal: "SIGTERM".into(),
            volumes: vec![v.into()],
            arch: "amd64".into(),
        };
        // A link to a host path resolves inside the root, where it dangles: its target
        // is created inside the root (as the unpacker and umoci's MkdirAll do), which is
        // where the container sees /data/vol.
        spec("/data/vol")
            .create_volume_dirs(r.path(), None)
            .unwrap();
        assert!(
            std::fs::read_dir(outside.path()).unwrap().next().is_none(),
            "nothing created outside"
        );
        let inside = r.path().join(outside.path().strip_prefix("/").unwrap());
        assert!(
            inside.join("vol").is_dir(),
            "created at the link's target in the root"
        );
        // A link to "/" is the root itself.
        spec("/up/vol").create_volume_dirs(r.path(), None).unwrap();
        assert!(r.path().join("vol").is_dir());
        spec("/var/lib/x")
            .create_volume_dirs(r.path(), Some((100_000, 100_000)))
            .unwrap();
        assert!(r.path().join("var/lib/x").is_dir());
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            std::fs::metadata(r.path().join("var/lib")).unwrap().uid(),
            100_000
        );
        // The absolute link /etc/passwd resolves to the image's own /etc/passwd (which
        // is the link itself, so: no file), never to the host's.
        assert!(resolve_user("root", r.path()).is_err());
    }
}
