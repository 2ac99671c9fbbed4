//! The `skiff-testbed` binary: serve prints one line, kill leaves no
//! registry behind; layout writes a layout skopeo reads.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_skiff-testbed");

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let c = std::fs::read_to_string(task.unwrap().path().join("children")).unwrap_or_default();
        out.extend(c.split_whitespace().map(|p| p.parse::<u32>().unwrap()));
    }
    out
}

fn alive(pid: u32) -> bool {
    // A zombie is dead already; it only waits for its new parent to reap it.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

#[test]
fn serve_prints_one_line_and_cleans_up_on_sigterm() {
    let mut child = Command::new(BIN)
        .args(["serve", "--setup", "htpasswd", "--repo", "demo/bb:v1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let host = line
        .trim()
        .strip_prefix("REGISTRY=")
        .expect("REGISTRY= line")
        .to_string();
    let regs = children(child.id());
    assert_eq!(regs.len(), 1, "one docker-registry child");

    for tag in ["v1", "docker", "multi"] {
        common::skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--creds",
            "skiff:skiff-password",
            &format!("docker://{host}/demo/bb:{tag}"),
        ]);
    }

    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(regs[0]) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(regs[0]), "docker-registry outlived skiff-testbed");
}

#[test]
fn sigkill_takes_the_registry_along() {
    let mut child = Command::new(BIN)
        .args(["serve", "--seed", "big:2M"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let host = line.trim().strip_prefix("REGISTRY=").unwrap().to_string();
    common::skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{host}/skiff/big:latest"),
    ]);
    let regs = children(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(regs[0]) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !alive(regs[0]),
        "docker-registry outlived a SIGKILLed skiff-testbed"
    );
}

#[test]
fn layout_command() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("l");
    let st = Command::new(BIN)
        .arg("layout")
        .arg(&layout)
        .args(["--tag", "t1"])
        .status()
        .unwrap();
    assert!(st.success());
    common::skopeo(&["inspect", &format!("oci:{}:t1", layout.display())]);
    common::skopeo(&[
        "inspect",
        "--raw",
        &format!("oci:{}:t1-multi", layout.display()),
    ]);
    let st = Command::new(BIN)
        .args(["layout", "x", "--bogus", "1"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!st.success());
}
