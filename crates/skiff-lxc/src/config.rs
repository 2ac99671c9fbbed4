//! Writing the configs: Proxmox's `VMID.conf` lines and a plain LXC container.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use skiff_unpack::IdMap;

use crate::launcher;
use crate::quote::pve_shell_quote;
use crate::rootfs;
use crate::{ContainerSpec, LxcError};

/// The option lines `pct create` writes for an OCI template (Proxmox VE 9.1), in the order
/// Proxmox writes them: options sorted by name, then the raw `lxc.*` keys. `env` holds
/// the entries separated by NUL bytes, as pve-container stores them.
pub fn pve_config_fragment(spec: &ContainerSpec) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "arch: {}", spec.arch);
    if spec.is_application() {
        let _ = writeln!(out, "cmode: console");
        let _ = writeln!(out, "entrypoint: {}", pve_shell_quote(&spec.entrypoint));
    }
    if !spec.env.is_empty() {
        let _ = writeln!(out, "env: {}", spec.env.join("\0"));
    }
    if let Some(cwd) = &spec.cwd {
        let _ = writeln!(out, "lxc.init.cwd: {cwd}");
    }
    if let Some(u) = &spec.user {
        let _ = writeln!(out, "lxc.init.uid: {}", u.uid);
        let _ = writeln!(out, "lxc.init.gid: {}", u.gid);
        if !u.groups.is_empty() {
            let _ = writeln!(out, "lxc.init.groups: {}", join_ids(&u.groups));
        }
    }
    let _ = writeln!(out, "lxc.signal.halt: {}", spec.stop_signal);
    out
}

fn join_ids(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// What a plain LXC config needs beyond the image.
#[derive(Debug, Clone)]
pub struct LxcConfigOptions {
    /// Container name (`lxc.uts.name`).
    pub name: String,
    /// The root filesystem directory.
    pub rootfs: PathBuf,
    /// The id map; its explicit ranges become `lxc.idmap` entries.
    pub id_map: IdMap,
    /// Extra raw `key = value` lines (e.g. `lxc.net.0.type = none`).
    pub extra: Vec<(String, String)>,
}

/// A plain LXC config running the image's entrypoint with its environment, working
/// directory and user, like LXC's lxc-oci template; `/bin/sh` when the image names no
/// command.
///
/// The command goes to `lxc.init.cmd` (PID 1 under `lxc-start`, as Proxmox runs OCI
/// containers) and to `lxc.execute.cmd` (run by `lxc-execute` through LXC's own init) —
/// through skiff's launcher when a word needs quoting: LXC 5.0.2 splits `lxc.init.cmd` on
/// spaces and mangles shell quoting such as `'it'\''s'` in `lxc.execute.cmd` (see
/// [`crate::launcher`]; [`write_container`] installs it).
pub fn lxc_config(spec: &ContainerSpec, options: &LxcConfigOptions) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Written by skiff from an OCI image configuration.");
    let _ = writeln!(out, "lxc.uts.name = {}", options.name);
    let _ = writeln!(out, "lxc.rootfs.path = dir:{}", options.rootfs.display());
    let _ = writeln!(out, "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed");
    // One command for both ways to run the container (see launcher.rs for why).
    let cmd = launcher::init_cmd(&spec.entrypoint);
    let _ = writeln!(out, "lxc.execute.cmd = {cmd}");
    let _ = writeln!(out, "lxc.init.cmd = {cmd}");
    let _ = writeln!(out, "lxc.environment = TERM=linux");
    for e in &spec.env {
        let _ = writeln!(out, "lxc.environment = {e}");
    }
    let _ = writeln!(out, "lxc.init.cwd = {}", spec.cwd.as_deref().unwrap_or("/"));
    if let Some(u) = &spec.user {
        let _ = writeln!(out, "lxc.init.uid = {}", u.uid);
        let _ = writeln!(out, "lxc.init.gid = {}", u.gid);
        if !u.groups.is_empty() {
            let _ = writeln!(out, "lxc.init.groups = {}", join_ids(&u.groups));
        }
    }
    let _ = writeln!(out, "lxc.signal.halt = {}", spec.stop_signal);
    let kinds = [
        ('u', options.id_map.uid_ranges()),
        ('g', options.id_map.gid_ranges()),
    ];
    for (kind, ranges) in kinds {
        for r in ranges.unwrap_or_default() {
            let _ = writeln!(
                out,
                "lxc.idmap = {kind} {} {} {}",
                r.container, r.host, r.count
            );
        }
    }
    for (k, v) in &options.extra {
        let _ = writeln!(out, "{k} = {v}");
    }
    out
}

/// Writes `LXCPATH/NAME/config` (atomically) for the root filesystem already unpacked at
/// `options.rootfs`, `/etc/hostname` and `/etc/hosts` inside it as lxc-oci does, and the
/// init launcher when the entrypoint needs it.
/// An existing config is never replaced.
pub fn write_container(
    lxcpath: &Path,
    spec: &ContainerSpec,
    options: &LxcConfigOptions,
    owner: Option<(u32, u32)>,
) -> Result<PathBuf, LxcError> {
    validate_name(&options.name)?;
    let dir = lxcpath.join(&options.name);
    let config = dir.join("config");
    if config.exists() {
        return Err(LxcError::Exists(config.display().to_string()));
    }
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |e| LxcError::Io { path: p, source: e }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    write_identity(&options.rootfs, &options.name, owner)?;
    launcher::install(&options.rootfs, &spec.entrypoint, owner)?;
    let tmp = dir.join(".config.skiff-tmp");
    std::fs::write(&tmp, lxc_config(spec, options)).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &config).map_err(io(&config))?;
    Ok(config)
}

/// Writes `/etc/hostname` and `/etc/hosts` naming the container inside `rootfs`, as
/// lxc-oci does: images ship without them, and many programs look their host up.
pub fn write_identity(
    rootfs: &Path,
    name: &str,
    owner: Option<(u32, u32)>,
) -> Result<(), LxcError> {
    rootfs::write_file(
        rootfs,
        "/etc/hostname",
        format!("{name}\n").as_bytes(),
        0o644,
        owner,
    )?;
    let hosts = format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    );
    rootfs::write_file(rootfs, "/etc/hosts", hosts.as_bytes(), 0o644, owner)
}

/// Container names become directory names and `lxc.uts.name`: keep them simple. Callers
/// check a name before writing anything (a name like `x/../../esc` would otherwise place a
/// whole rootfs outside LXCPATH before [`write_container`] refuses it).
pub fn validate_name(name: &str) -> Result<(), LxcError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(LxcError::Invalid(format!(
            "invalid container name {name:?}: use letters, digits, '-', '_' and '.'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ResolvedUser;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            entrypoint: vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo \"a b\" > /tmp/out".into(),
            ],
            env: vec!["PATH=/bin".into(), "GREETING=hello world".into()],
            cwd: Some("/srv".into()),
            user: Some(ResolvedUser {
                uid: 1000,
                gid: 1000,
                groups: vec![29],
            }),
            stop_signal: "SIGTERM".into(),
            volumes: vec![],
            arch: "amd64".into(),
        }
    }

    #[test]
    fn pve_fragment_matches_what_pct_writes() {
        assert_eq!(
            pve_config_fragment(&spec()),
            "arch: amd64\ncmode: console\nentrypoint: /bin/sh -c 'echo \"a b\" > /tmp/out'\nenv: PATH=/bin\0GREETING=hello world\n\
             lxc.init.cwd: /srv\nlxc.init.uid: 1000\nlxc.init.gid: 1000\nlxc.init.groups: 29\nlxc.signal.halt: SIGTERM\n"
        );
        let mut init = spec();
        init.entrypoint = vec!["/sbin/init".into()];
        init.env.clear();
        init.cwd = None;
        init.user = None;
        assert_eq!(
            pve_config_fragment(&init),
            "arch: amd64\nlxc.signal.halt: SIGTERM\n"
        );
    }

    #[test]
    fn lxc_config_has_every_key() {
        let o = LxcConfigOptions {
            name: "web".into(),
            rootfs: "/var/lib/lxc/web/rootfs".into(),
            id_map: IdMap::proxmox_unprivileged(),
            extra: vec![("lxc.net.0.type".into(), "none".into())],
        };
        let c = lxc_config(&spec(), &o);
        for line in [
            "lxc.uts.name = web",
            "lxc.rootfs.path = dir:/var/lib/lxc/web/rootfs",
            "lxc.execute.cmd = /.skiff/init",
            "lxc.init.cmd = /.skiff/init",
            "lxc.environment = GREETING=hello world",
            "lxc.init.cwd = /srv",
            "lxc.init.uid = 1000",
            "lxc.signal.halt = SIGTERM",
            "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed",
            "lxc.idmap = u 0 100000 65536",
            "lxc.idmap = g 0 100000 65536",
            "lxc.net.0.type = none",
        ] {
            assert!(c.lines().any(|l| l == line), "missing {line:?} in\n{c}");
        }
    }

    #[test]
    fn names_are_checked_and_configs_never_replaced() {
        let d = tempfile::tempdir().unwrap();
        let rootfs = d.path().join("c1/rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        let mut o = LxcConfigOptions {
            name: "c1".into(),
            rootfs: rootfs.clone(),
            id_map: IdMap::identity(),
            extra: vec![],
        };
        write_container(d.path(), &spec(), &o, None).unwrap();
        assert_eq!(
            std::fs::read_to_string(rootfs.join("etc/hostname")).unwrap(),
            "c1\n"
        );
        assert!(matches!(
            write_container(d.path(), &spec(), &o, None),
            Err(LxcError::Exists(_))
        ));
        o.name = "../evil".into();
        assert!(write_container(d.path(), &spec(), &o, None).is_err());
    }
}
