//! pct, Proxmox's container CLI, for a [`CreateSpec`]: the command lines (`pct create`,
//! `pct set` for the overrides, `pct start`), printing them for `--dry-run`, and running
//! them. `SKIFF_PCT` names another program (tests use a stand-in).
//!
//! One override cannot go through pct: `env` holds NUL-separated entries and a command
//! line argument cannot carry NUL, so `pct set --env` sets a single variable and drops the
//! image's others. skiff writes the merged value into the container's config as PVE's
//! API would store it ([`Step::WriteEnv`]), atomically, right after the create while the
//! container is stopped.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::spec::{CreateSpec, VmidChoice};
use crate::{NodeRoot, PveError};

/// The environment variable naming the pct program.
pub const PCT_ENV: &str = "SKIFF_PCT";

/// One step of a create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Run pct with these arguments.
    Pct(Vec<String>),
    /// Set `env:` in the container's config to this NUL-separated value.
    WriteEnv {
        /// The container.
        vmid: u32,
        /// The value.
        value: String,
    },
}

/// The steps of creating `spec` as `vmid`; `image_env` is the image's Env (the base
/// the `--env` overrides are set over).
pub fn plan(spec: &CreateSpec, vmid: u32, image_env: &[String]) -> Result<Vec<Step>, PveError> {
    let mut create = vec![
        "create".to_string(),
        vmid.to_string(),
        spec.ostemplate.clone(),
    ];
    for (k, v) in spec.create_options()? {
        create.push(format!("--{k}"));
        create.push(v);
    }
    let mut steps = vec![Step::Pct(create)];
    let mut set = vec!["set".to_string(), vmid.to_string()];
    for (k, v) in spec.overrides(image_env) {
        if k == "env" {
            steps.push(Step::WriteEnv { vmid, value: v });
        } else {
            set.push(format!("--{k}"));
            set.push(v);
        }
    }
    if set.len() > 2 {
        // pct set first: it rewrites the config, the env write comes after.
        steps.insert(1, Step::Pct(set));
    }
    if spec.start {
        steps.push(Step::Pct(vec!["start".to_string(), vmid.to_string()]));
    }
    Ok(steps)
}

/// The pct program: `$SKIFF_PCT` or `pct`.
#[derive(Debug, Clone)]
pub struct Pct {
    program: OsString,
}

impl Pct {
    /// From the environment.
    pub fn from_env() -> Self {
        Pct {
            program: std::env::var_os(PCT_ENV)
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "pct".into()),
        }
    }

    /// `step` as a shell line, exactly as it would run.
    pub fn display(&self, step: &Step, root: &NodeRoot) -> String {
        match step {
            Step::Pct(args) => std::iter::once(self.program.to_string_lossy().into_owned())
                .chain(args.iter().cloned())
                .map(|a| shell_quote(&a))
                .collect::<Vec<_>>()
                .join(" "),
            Step::WriteEnv { vmid, value } => format!(
                "# set in {}: env: {}",
                root.lxc_conf(*vmid).display(),
                value.replace('\0', "\\0")
            ),
        }
    }

    /// Runs `step`; pct's stdout is returned.
    pub fn run(&self, step: &Step, root: &NodeRoot) -> Result<String, PveError> {
        match step {
            Step::Pct(args) => {
                let output = Command::new(&self.program)
                    .args(args)
                    .output()
                    .map_err(|source| PveError::Spawn {
                        program: self.program.to_string_lossy().into_owned(),
                        source,
                    })?;
                if !output.status.success() {
                    return Err(PveError::Pct {
                        command: self.display(step, root),
                        status: output.status.to_string(),
                        stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
                    });
                }
                Ok(String::from_utf8_lossy(&output.stdout).into_owned())
            }
            Step::WriteEnv { vmid, value } => {
                write_env(&root.lxc_conf(*vmid), value)?;
                Ok(String::new())
            }
        }
    }
}

/// Replaces (or adds) the `env:` line of the config's main section, written beside and
/// renamed so that the config is never seen half-written.
fn write_env(conf: &Path, value: &str) -> Result<(), PveError> {
    let text = std::fs::read_to_string(conf).map_err(|e| PveError::io("reading", conf, e))?;
    let main_end = text
        .lines()
        .position(|l| l.starts_with('['))
        .unwrap_or(usize::MAX);
    let mut lines: Vec<String> = Vec::new();
    let mut placed = false;
    for (i, line) in text.lines().enumerate() {
        if i < main_end && line.starts_with("env:") {
            if !placed {
                lines.push(format!("env: {value}"));
                placed = true;
            }
            continue;
        }
        if i == main_end && !placed {
            lines.push(format!("env: {value}"));
            lines.push(String::new());
            placed = true;
        }
        lines.push(line.to_string());
    }
    if !placed {
        lines.push(format!("env: {value}"));
    }
    let mut out = lines.join("\n");
    out.push('\n');
    let dir = conf.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".skiff-env")
        .tempfile_in(dir)
        .map_err(|e| PveError::io("writing beside", conf, e))?;
    temp.write_all(out.as_bytes())
        .map_err(|e| PveError::io("writing beside", conf, e))?;
    temp.persist(conf)
        .map_err(|e| PveError::io("renaming into place", conf, e.error))?;
    Ok(())
}

/// POSIX shell quoting, for printing command lines that can be pasted.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-+=/.,:@%^".contains(&b));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// The VMID to use: the given one, or the lowest free from 100 — a VMID is taken when
/// any node of the cluster has a guest config of that number (Proxmox's `nextid` rule;
/// not reserved, so a create that finds it taken asks again).
pub fn choose_vmid(choice: VmidChoice, root: &NodeRoot) -> Result<u32, PveError> {
    match choice {
        VmidChoice::Id(id) => Ok(id),
        VmidChoice::Auto => {
            let taken = taken_vmids(root)?;
            (100..=999_999_999u32)
                .find(|id| !taken.contains(id))
                .ok_or(PveError::NoFreeVmid)
        }
    }
}

fn taken_vmids(root: &NodeRoot) -> Result<std::collections::BTreeSet<u32>, PveError> {
    let mut taken = std::collections::BTreeSet::new();
    for dir in root.guest_dirs() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(PveError::io("reading", &dir, e)),
        };
        for entry in entries.flatten() {
            let name = PathBuf::from(entry.file_name());
            if name.extension().is_some_and(|e| e == "conf") {
                if let Some(id) = name.file_stem().and_then(|s| s.to_str()?.parse().ok()) {
                    taken.insert(id);
                }
            }
        }
    }
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CreateSpec {
        CreateSpec::new(
            VmidChoice::Id(120),
            "local:vztmpl/app_1.tar",
            ("local-lvm".into(), 8),
        )
    }

    #[test]
    fn plan_orders_create_set_env_start() {
        let mut s = spec();
        s.entrypoint = Some("/app --port 80".into());
        s.env = vec![("A".into(), "1".into())];
        s.start = true;
        let steps = plan(&s, 120, &["PATH=/bin".into()]).unwrap();
        let pct = Pct {
            program: "pct".into(),
        };
        let root = NodeRoot::at("/r");
        let shown: Vec<String> = steps.iter().map(|s| pct.display(s, &root)).collect();
        assert_eq!(
            shown,
            [
                "pct create 120 local:vztmpl/app_1.tar --rootfs local-lvm:8 --net0 name=eth0,bridge=vmbr0,ip=dhcp --unprivileged 1",
                "pct set 120 --entrypoint '/app --port 80'",
                "# set in /r/etc/pve/lxc/120.conf: env: PATH=/bin\\0A=1",
                "pct start 120",
            ]
        );
    }

    #[test]
    fn env_is_written_in_the_main_section() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("120.conf");
        std::fs::write(
            &conf,
            "arch: amd64\nenv: PATH=/bin\nlxc.init.cwd: /\n\n[snap]\nenv: OLD=1\n",
        )
        .unwrap();
        write_env(&conf, "PATH=/bin\0A=1").unwrap();
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "arch: amd64\nenv: PATH=/bin\0A=1\nlxc.init.cwd: /\n\n[snap]\nenv: OLD=1\n"
        );
    }

    #[test]
    fn auto_skips_every_nodes_guests() {
        let dir = tempfile::tempdir().unwrap();
        let root = NodeRoot::at(dir.path());
        assert_eq!(choose_vmid(VmidChoice::Auto, &root).unwrap(), 100);
        for p in [
            "etc/pve/lxc/100.conf",
            "etc/pve/nodes/b/qemu-server/101.conf",
        ] {
            let p = dir.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        assert_eq!(choose_vmid(VmidChoice::Auto, &root).unwrap(), 102);
        assert_eq!(choose_vmid(VmidChoice::Id(100), &root).unwrap(), 100);
    }
}
