//! Running one skiff process for a scenario: bounded in time, optionally interrupted by
//! a signal at a chosen moment or started with a low open-files limit, and measured
//! (exit status, stderr, peak RSS).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Run {
    /// Exit code, or 128 + signal number when killed by a signal.
    pub code: i32,
    pub stderr: String,
    /// Peak resident set size of skiff, KiB: `VmHWM` sampled every few milliseconds once
    /// the child runs skiff (wait4's `ru_maxrss` would count the forked test process).
    pub peak_rss_kib: u64,
    /// Killed by the watchdog after the time limit.
    pub hung: bool,
    pub elapsed: Duration,
}

impl Run {
    /// A Rust panic: exit code 101, or its message on stderr.
    pub fn panicked(&self) -> bool {
        self.code == 101 || self.stderr.contains("panicked at")
    }
}

/// What to do to the process while it runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Disturb {
    /// Send this signal after this long.
    pub signal: Option<(i32, Duration)>,
    /// `RLIMIT_NOFILE` for the child.
    pub max_open_files: Option<u64>,
}

/// Runs `skiff args` with `HOME` at `home` and `env`, killing it after `limit`.
pub fn run(
    skiff: &Path,
    home: &Path,
    env: &[(&str, std::path::PathBuf)],
    args: &[String],
    disturb: Disturb,
    limit: Duration,
) -> std::io::Result<Run> {
    let stderr_file = tempfile::tempfile()?;
    let mut cmd = Command::new(skiff);
    cmd.args(args)
        .env("HOME", home)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr_file.try_clone()?);
    if let Some(n) = disturb.max_open_files {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let start = Instant::now();
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut signalled = false;
    let mut hung = false;
    let mut peak_rss_kib = 0;
    let skiff = std::fs::canonicalize(skiff)?;
    let status = loop {
        peak_rss_kib = peak_rss_kib.max(high_water_kib(pid, &skiff));
        let mut status = 0;
        // SAFETY: waiting on our own child, with a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break status;
        }
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let elapsed = start.elapsed();
        if let Some((sig, after)) = disturb.signal {
            if !signalled && elapsed >= after {
                // SAFETY: kill(2) on our own, not yet reaped child.
                unsafe { libc::kill(pid, sig) };
                signalled = true;
            }
        }
        if elapsed >= limit && !hung {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            hung = true;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    let stderr = std::fs::read(proc_fd_path(&stderr_file))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Ok(Run {
        code,
        stderr,
        peak_rss_kib,
        hung,
        elapsed,
    })
}

/// `VmHWM` of process `pid` once it runs `program`, else 0.
fn high_water_kib(pid: libc::pid_t, program: &Path) -> u64 {
    if std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .as_deref()
        != Some(program)
    {
        return 0;
    }
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn proc_fd_path(f: &std::fs::File) -> std::path::PathBuf {
    use std::os::fd::AsRawFd;
    std::path::PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()))
}
