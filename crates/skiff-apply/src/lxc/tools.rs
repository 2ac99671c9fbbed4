//! LXC's own tools (lxc-start, lxc-wait, lxc-info, lxc-cgroup, lxc-attach, lxc-stop,
//! lxc-destroy): apply drives containers the way an administrator would, so what it does
//! can be repeated by hand and nothing depends on liblxc's C API.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::ApplyError;

/// How long a container may take to reach RUNNING after `lxc-start -d`.
const START_TIMEOUT_SECS: u32 = 30;
/// How long `lxc-stop` waits for a clean shutdown before killing.
const STOP_TIMEOUT_SECS: u32 = 10;
/// How long a health command is retried.
pub(crate) const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `program` with `args` plus `-n NAME -P LXCPATH`; its stdout, or its stderr as
/// the error.
pub(crate) fn lxc(
    program: &str,
    name: &str,
    lxcpath: &Path,
    args: &[&str],
) -> Result<String, ApplyError> {
    let mut cmd = Command::new(program);
    cmd.arg("-n").arg(name).arg("-P").arg(lxcpath).args(args);
    let line = format!(
        "{program} -n {name} -P {} {}",
        lxcpath.display(),
        args.join(" ")
    );
    let out = cmd.output().map_err(|e| ApplyError::Tool {
        command: line.clone(),
        message: format!("cannot run {program} ({e}); install the Debian package lxc"),
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        return Err(ApplyError::Tool {
            command: line,
            message: format!("{} {}", stderr.trim(), stdout.trim())
                .trim()
                .to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether the container runs now.
pub(crate) fn running(name: &str, lxcpath: &Path) -> Result<bool, ApplyError> {
    Ok(lxc("lxc-info", name, lxcpath, &["-s", "-H"])?.trim() == "RUNNING")
}

/// `lxc-start -d`, then `lxc-wait` for RUNNING.
pub(crate) fn start(name: &str, lxcpath: &Path) -> Result<(), ApplyError> {
    lxc("lxc-start", name, lxcpath, &["-d"])?;
    let t = START_TIMEOUT_SECS.to_string();
    lxc("lxc-wait", name, lxcpath, &["-s", "RUNNING", "-t", &t]).map(drop)
}

/// `lxc-stop` (clean, then killed after a timeout) when running.
pub(crate) fn stop(name: &str, lxcpath: &Path) -> Result<(), ApplyError> {
    if running(name, lxcpath)? {
        let t = STOP_TIMEOUT_SECS.to_string();
        lxc("lxc-stop", name, lxcpath, &["-t", &t])?;
    }
    Ok(())
}

/// Sets a cgroup2 value of the running container (`memory.max`, `cpu.max`).
pub(crate) fn cgroup(name: &str, lxcpath: &Path, key: &str, value: &str) -> Result<(), ApplyError> {
    // `--`: a value of -1 (v1's "no limit") is not an option.
    lxc("lxc-cgroup", name, lxcpath, &["--", key, value]).map(drop)
}

/// Runs `command` with the image's /bin/sh inside until it exits 0.
pub(crate) fn health(name: &str, lxcpath: &Path, command: &str) -> Result<(), ApplyError> {
    let begun = Instant::now();
    loop {
        let last = match lxc(
            "lxc-attach",
            name,
            lxcpath,
            &["--", "/bin/sh", "-c", command],
        ) {
            Ok(_) => return Ok(()),
            Err(e) => e.to_string(),
        };
        if begun.elapsed() >= HEALTH_TIMEOUT {
            return Err(ApplyError::Unhealthy {
                container: name.to_string(),
                command: command.to_string(),
                seconds: HEALTH_TIMEOUT.as_secs(),
                output: last,
            });
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
