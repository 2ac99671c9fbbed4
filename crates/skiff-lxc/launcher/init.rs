//! skiff's container launcher, installed as `/.skiff/init` and named by `lxc.init.cmd`
//! and `lxc.execute.cmd`.
//!
//! WHY it exists: LXC 5.0.2 splits `lxc.init.cmd` on spaces and ignores quotes (and
//! mangles some quoting in `lxc.execute.cmd`), so an entrypoint such as
//! `/bin/sh -c 'echo "a b"'` cannot be PID 1 of an `lxc-start`ed container directly, and
//! many images have no shell to lean on. This program receives
//! the argv exactly instead: it reads `/.skiff/argv` (the words, each ended by a NUL
//! byte) and replaces itself with that command. LXC has already applied the environment,
//! working directory and user before it runs, and the exec keeps them; a program name
//! without a `/` is looked up in the container's PATH, as LXC's own execvp does.
//!
//! It is built by skiff-lxc's build.rs as a static binary (images may have no libc) and
//! embedded in skiff; it is not part of any crate's module tree.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

const ARGV_FILE: &str = "/.skiff/argv";

fn fail(message: &str) -> ExitCode {
    // Only stderr (the container console) can tell the admin why the container stopped.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("skiff init: {message}\n").as_bytes(),
    );
    ExitCode::from(127)
}

fn main() -> ExitCode {
    let bytes = match std::fs::read(ARGV_FILE) {
        Ok(b) => b,
        Err(e) => return fail(&format!("cannot read {ARGV_FILE}: {e}")),
    };
    let Some(body) = bytes.strip_suffix(b"\0") else {
        return fail(&format!("{ARGV_FILE} is empty or not NUL-terminated"));
    };
    let mut words = body
        .split(|b| *b == 0)
        .map(|w| OsString::from_vec(w.to_vec()));
    let Some(program) = words.next() else {
        return fail(&format!("{ARGV_FILE} names no program"));
    };
    let err = Command::new(&program).args(words).exec();
    fail(&format!(
        "cannot execute {}: {err}",
        program.to_string_lossy()
    ))
}
