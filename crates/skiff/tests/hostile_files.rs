//! Files named by outside input that are not what they claim: a FIFO or device in place of
//! a manifest, blob or configuration file, or one far larger than any real one. Each must
//! fail at once with a clear message, never hang or read without bound.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use skiff_testbed::image::{busybox_builder, write_oci_layout, Format};

/// Runs skiff under timeout(1), so a hang fails the test instead of stalling it.
fn skiff_bounded(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new("timeout")
        .arg("30")
        .arg(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .env("HOME", common::scratch_home())
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run timeout(1) and skiff");
    let mut input = child.stdin.take().unwrap();
    if let Some(data) = stdin {
        use std::io::Write;
        // skiff may stop reading early: a broken pipe here is expected.
        let _ = input.write_all(data);
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn fails_with(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(124), "skiff hung: {stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

#[test]
fn a_fifo_in_place_of_a_layout_manifest_or_index_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let img = busybox_builder(Format::Oci).build();
    write_oci_layout(&layout, "v1", &img).unwrap();
    let hex = img.manifest_digest.trim_start_matches("sha256:");
    let blob = layout.join("blobs/sha256").join(hex);
    std::fs::remove_file(&blob).unwrap();
    mkfifo(&blob);
    let image = format!("oci:{}:v1", layout.display());
    fails_with(&skiff_bounded(&["inspect", &image], None), "FIFO");

    std::fs::remove_file(layout.join("index.json")).unwrap();
    mkfifo(&layout.join("index.json"));
    // Not a file, so not a layout: reported as not found, without opening the FIFO.
    let out = skiff_bounded(&["inspect", &image], None);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no index.json"));
}

#[test]
fn devices_and_fifos_as_configuration_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("auth.json");
    mkfifo(&fifo);
    let fifo = fifo.to_str().unwrap();
    for authfile in ["/dev/zero", fifo] {
        let out = skiff_bounded(
            &[
                "login",
                "--get-login",
                "--authfile",
                authfile,
                "example.com",
            ],
            None,
        );
        fails_with(&out, "not a regular file");
    }
    let out = skiff_bounded(&["manifest-digest", "/dev/zero"], None);
    fails_with(&out, "not a regular file");
}

#[test]
fn a_manifest_larger_than_a_registry_accepts_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(skiff_registry::MAX_MANIFEST as u64 + 1).unwrap();
    let out = skiff_bounded(&["manifest-digest", big.to_str().unwrap()], None);
    fails_with(&out, "limit");
}

#[test]
fn an_oversized_password_on_stdin_is_refused_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.json");
    let password = vec![b'p'; 200 << 10];
    let out = skiff_bounded(
        &[
            "login",
            "--username",
            "u",
            "--password-stdin",
            "--authfile",
            auth.to_str().unwrap(),
            "localhost:1",
        ],
        Some(&password),
    );
    fails_with(&out, "longer than");
    assert!(!auth.exists());
}
