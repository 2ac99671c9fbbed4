//! What a person reads when something goes wrong: the message, the hint and the exit
//! status, against real docker-registry processes. Hints must name the flag that helps
//! (and only that one), and printing must never crash the command.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;
use skiff_testbed::image::{multi_arch, Compression, Format, Image, ImageBuilder, LayerBuilder};
use skiff_testbed::push::{push_image, push_multi_arch};
use skiff_testbed::{RegistryServer, Setup};

fn image(arch: &str, variant: Option<&str>) -> Image {
    ImageBuilder::new(Format::Oci)
        .platform("linux", arch, variant)
        .layer(
            LayerBuilder::new()
                .file("arch", 0o644, arch.as_bytes())
                .build(),
            Compression::Gzip,
        )
        .build()
}

/// A layer big enough that the copy takes a moment and prints several lines.
fn big_image() -> Image {
    let big: Vec<u8> = (0..2_000_000u32)
        .flat_map(|i| i.wrapping_mul(2654435761).to_le_bytes())
        .collect();
    ImageBuilder::new(Format::Oci)
        .layer(
            LayerBuilder::new().file("big.bin", 0o644, &big).build(),
            Compression::Gzip,
        )
        .layer(
            LayerBuilder::new().file("small", 0o644, b"x").build(),
            Compression::Gzip,
        )
        .build()
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The hint line of a failure's stderr ("" when there is none).
fn hint_of(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.trim_start().starts_with("hint:"))
        .unwrap_or_default()
        .to_string()
}

/// A local port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn refused_and_unresolvable_registries_never_suggest_turning_tls_off() {
    for host in [
        format!("127.0.0.1:{}", closed_port()),
        "no-such-registry.invalid".to_string(),
    ] {
        let out = skiff(&[
            "inspect",
            "--retry-times",
            "0",
            &format!("docker://{host}/app:v1"),
        ]);
        let stderr = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{host}: {stderr}");
        assert!(stderr.starts_with("skiff: "), "{stderr}");
        assert!(!stderr.contains("tls-verify"), "{host}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// The one case where turning TLS verification off is the fix: the registry speaks plain
/// HTTP. The hint names the flag of the side that talks to it. (Needs the registry
/// client to classify the handshake failure as `ConnectKind::PlainHttp`.)
#[test]
fn a_plain_http_registry_hints_the_tls_verify_flag_of_its_side() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    push_image(&reg.host(), "app", "v1", &image("amd64", None), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let image = format!("docker://{}/app:v1", reg.host());
    let archive = format!("oci-archive:{}", dir.path().join("app.tar").display());
    let cases = [
        (
            vec!["inspect", "--retry-times", "0", &image],
            "--tls-verify=false",
            "--src-",
        ),
        (
            vec!["copy", "--retry-times", "0", &image, &archive],
            "--src-tls-verify=false",
            "--dest-",
        ),
    ];
    for (args, wanted, unwanted) in cases {
        let out = skiff(&args);
        let stderr = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        let hint = hint_of(&stderr);
        assert!(hint.contains(wanted), "{args:?}: {stderr}");
        assert!(!hint.contains(unwanted), "{args:?}: {stderr}");
    }
    skiff_ok(&["copy", "--src-tls-verify=false", &image, &archive]);
    let out = skiff(&[
        "copy",
        "--retry-times",
        "0",
        &archive,
        &format!("docker://{}/pushed:v1", reg.host()),
    ]);
    let stderr = stderr_of(&out);
    let hint = hint_of(&stderr);
    assert!(hint.contains("--dest-tls-verify=false"), "{stderr}");
    assert!(!hint.contains("--src-"), "{stderr}");
}

#[test]
fn a_failed_push_hints_the_destination_flags() {
    let reg = RegistryServer::start(Setup::Htpasswd {
        user: "alice".into(),
        password: "wonderland".into(),
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("app.tar");
    let open = RegistryServer::start(Setup::Open).unwrap();
    push_image(&open.host(), "app", "v1", &image("amd64", None), None).unwrap();
    skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/app:v1", open.host()),
        &format!("oci-archive:{}", archive.display()),
    ]);
    let out = skiff(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci-archive:{}", archive.display()),
        &format!("docker://{}/pushed:v1", reg.host()),
    ]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let hint = hint_of(&stderr);
    assert!(hint.contains("--dest-creds"), "{stderr}");
    assert!(!hint.contains("--src-"), "{stderr}");
}

#[test]
fn no_matching_platform_says_what_skopeo_says_and_lists_the_platforms() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let list = multi_arch(
        Format::Oci,
        vec![image("amd64", None), image("arm64", Some("v8"))],
    );
    push_multi_arch(&reg.host(), "multi", "latest", &list, None).unwrap();
    let out = skiff(&[
        "--override-arch",
        "s390x",
        "inspect",
        "--tls-verify=false",
        &format!("docker://{}/multi:latest", reg.host()),
    ]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            r#"choosing image instance: no image found in manifest list for architecture "s390x", variant "", OS "linux""#
        ),
        "{stderr}"
    );
    let hint = hint_of(&stderr);
    for wanted in [
        "linux/amd64",
        "linux/arm64/v8",
        "--override-arch",
        "--override-os",
    ] {
        assert!(hint.contains(wanted), "{wanted}: {stderr}");
    }
}

#[test]
fn invoked_as_skopeo_it_never_tells_the_user_to_run_skiff() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let bin = tempfile::tempdir().unwrap();
    let skopeo = bin.path().join("skopeo");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_skiff"), &skopeo).unwrap();
    let out = Command::new(&skopeo)
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{}/nothing:here", reg.host()),
        ])
        .env("HOME", scratch_home())
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("skopeo: "), "{stderr}");
    assert!(stderr.contains("`skopeo list-tags docker://"), "{stderr}");
    assert!(!stderr.contains("skiff"), "{stderr}");
}

#[test]
fn an_absurd_command_timeout_is_a_usage_error_not_a_panic() {
    let out = skiff(&[
        "--command-timeout",
        "99999999999999999999h",
        "inspect",
        "docker://127.0.0.1:1/app:v1",
    ]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("too long"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Names in `dir`, for checking that no staging file was left behind.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `skiff copy … 2>&1 | head -1`: the reader goes away while skiff still has lines to
/// print. The copy must finish (or clean up), not die of a print that failed.
#[test]
fn a_closed_stderr_does_not_kill_the_copy_or_leave_staging_files() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    push_image(&reg.host(), "big", "v1", &big_image(), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("big.tar");
    let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args([
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{}/big:v1", reg.host()),
            &format!("oci-archive:{}", dest.display()),
        ])
        .env("HOME", scratch_home())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read the first line, as `head -1` does, then close the pipe.
    let mut stderr = child.stderr.take().unwrap();
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    while stderr.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        first.push(byte[0]);
    }
    assert_eq!(first, b"Getting image source signatures");
    drop(stderr);
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "exit {status:?} (134/101: a print panicked)"
    );
    assert_eq!(names(dir.path()), vec!["big.tar".to_string()]);
}
