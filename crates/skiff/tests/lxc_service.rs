//! A `skiff lxc create` container runs as a service: `lxc-start -d` and `lxc-start -F` run
//! the image's entrypoint as the container's init with its exact argv (through skiff's
//! launcher when a word holds spaces or quotes), environment, working directory and user
//! — and `lxc-execute` still works.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use skiff_testbed::image::{busybox_builder, Format};

/// Writes what the container sees to /tmp/probe.out (a file: a daemon's console is not
/// captured), then stays up as a service while /srv/stay exists.
const SCRIPT: &str = "exec > /tmp/probe.out; echo \"[$0]\" \"[$1]\"; echo GREETING=$GREETING; \
    pwd; id -u; id -g; echo done; test -e /srv/stay && exec sleep 60; true";

const EXPECTED: &str =
    "[zero 0] [it's \"quoted\"  twice]\nGREETING=hello world\n/srv\n1000\n1000\ndone\n";

fn lxc(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} (Debian package lxc) must be installed: {e}"))
}

fn lxc_ok(program: &str, args: &[&str]) {
    let out = lxc(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn state(name: &str, lxcpath: &str) -> String {
    let out = lxc("lxc-info", &["-n", name, "-P", lxcpath, "-s"]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Creates container `name` from a local layout of `image`, with this machine's LXC
/// settings (no bridge, no AppArmor).
fn create(dir: &Path, name: &str, image: skiff_testbed::image::Image) -> String {
    let layout = dir.join(format!("{name}-layout"));
    skiff_testbed::image::write_oci_layout(&layout, "v1", &image).unwrap();
    let lxcpath = dir.join("lxc").to_str().unwrap().to_string();
    skiff_ok(&[
        "lxc",
        "create",
        "-q",
        "-P",
        &lxcpath,
        "--set",
        "lxc.net.0.type=none",
        "--set",
        "lxc.apparmor.profile=unconfined",
        name,
        &format!("oci:{}:v1", layout.display()),
    ]);
    lxcpath
}

/// Stops the container when the test ends, passed or not.
struct Stop<'a>(&'a str, &'a str);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        let _ = lxc("lxc-stop", &["-k", "-n", self.0, "-P", self.1]);
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_entrypoint_with_spaces_and_quotes_runs_exactly_under_lxc_start_and_lxc_execute() {
    let img = busybox_builder(Format::Oci)
        .user("app")
        .cmd(&[SCRIPT, "zero 0", "it's \"quoted\"  twice"])
        .build();
    let dir = tempfile::tempdir().unwrap();
    let lxcpath = create(dir.path(), "svc", img);
    let root = Path::new(&lxcpath).join("svc/rootfs");
    let config = std::fs::read_to_string(Path::new(&lxcpath).join("svc/config")).unwrap();
    assert!(
        config.lines().any(|l| l == "lxc.init.cmd = /.skiff/init"),
        "{config}"
    );
    let out = root.join("tmp/probe.out");
    let run = |program: &str, args: &[&str]| {
        let _ = std::fs::remove_file(&out);
        lxc_ok(program, args);
    };

    // In the foreground, to completion.
    run("lxc-start", &["-F", "-n", "svc", "-P", &lxcpath]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), EXPECTED);

    // One-shot through LXC's own init.
    run("lxc-execute", &["-n", "svc", "-P", &lxcpath]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), EXPECTED);

    // As a service.
    std::fs::write(root.join("srv/stay"), "").unwrap();
    let _stop = Stop("svc", &lxcpath);
    run("lxc-start", &["-d", "-n", "svc", "-P", &lxcpath]);
    wait_for("the service's output", || {
        std::fs::read_to_string(&out).is_ok_and(|s| s.ends_with("done\n"))
    });
    assert_eq!(std::fs::read_to_string(&out).unwrap(), EXPECTED);
    assert_eq!(state("svc", &lxcpath), "State:          RUNNING");
    lxc_ok("lxc-stop", &["-k", "-n", "svc", "-P", &lxcpath]);
    assert_eq!(state("svc", &lxcpath), "State:          STOPPED");
}

#[test]
fn a_plain_entrypoint_is_the_init_itself() {
    let img = busybox_builder(Format::Oci)
        .entrypoint(&["/bin/sleep"])
        .cmd(&["60"])
        .build();
    let dir = tempfile::tempdir().unwrap();
    let lxcpath = create(dir.path(), "sleeper", img);
    let config = std::fs::read_to_string(Path::new(&lxcpath).join("sleeper/config")).unwrap();
    assert!(
        config.lines().any(|l| l == "lxc.init.cmd = /bin/sleep 60"),
        "{config}"
    );
    assert!(
        !Path::new(&lxcpath).join("sleeper/rootfs/.skiff").exists(),
        "no launcher needed"
    );
    let _stop = Stop("sleeper", &lxcpath);
    lxc_ok("lxc-start", &["-d", "-n", "sleeper", "-P", &lxcpath]);
    wait_for("the container to run", || {
        state("sleeper", &lxcpath) == "State:          RUNNING"
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(state("sleeper", &lxcpath), "State:          RUNNING");
}

/// A program named without a path is found in the image's PATH, as LXC's own execvp
/// finds it: the launcher keeps that behaviour.
#[test]
fn the_launcher_finds_a_bare_program_name_in_the_image_path() {
    let img = busybox_builder(Format::Oci)
        .entrypoint(&["sh", "-c"])
        .cmd(&["echo \"found  in PATH\" > /tmp/probe.out; exec sleep 60"])
        .build();
    let dir = tempfile::tempdir().unwrap();
    let lxcpath = create(dir.path(), "bare", img);
    let out = Path::new(&lxcpath).join("bare/rootfs/tmp/probe.out");
    let _stop = Stop("bare", &lxcpath);
    lxc_ok("lxc-start", &["-d", "-n", "bare", "-P", &lxcpath]);
    wait_for("the service's output", || out.exists());
    wait_for("the whole line", || {
        std::fs::read_to_string(&out).is_ok_and(|s| s.ends_with('\n'))
    });
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "found  in PATH\n");
    assert_eq!(state("bare", &lxcpath), "State:          RUNNING");
}
