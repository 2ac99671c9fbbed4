//! Helpers shared by the binary's integration tests: running skiff and the peers, and
//! looking inside what they wrote.
#![allow(dead_code)]

pub mod pve;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the skiff binary built for this test run, with a blob cache of its own that is
/// gone afterwards: a test never sees blobs another test (or the host) cached, so what
/// it counts at a registry or breaks in a proxy really reaches skiff.
pub fn skiff(args: &[&str]) -> Output {
    let cache = tempfile::tempdir().expect("a cache directory");
    skiff_cached(args, cache.path())
}

/// Runs skiff with its blob cache in `cache_dir` (tests of the cache itself).
pub fn skiff_cached(args: &[&str], cache_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .env("HOME", scratch_home())
        .env("SKIFF_CACHE_DIR", cache_dir)
        .env_remove("SKIFF_CACHE_MAX_SIZE")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .expect("run skiff")
}

/// A HOME without credentials, so tests never pick up the machine's auth files.
pub fn scratch_home() -> PathBuf {
    let p = std::env::temp_dir().join(format!("skiff-test-home-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&p);
    p
}

/// Runs skiff and asserts success, returning stderr for further checks.
pub fn skiff_ok(args: &[&str]) -> String {
    let out = skiff(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "skiff {args:?} failed: {stderr}");
    stderr
}

/// Runs a peer tool (skopeo, umoci) and asserts success, returning stdout.
pub fn peer_ok(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The entry names of a tar file, in order.
pub fn tar_entries(path: &Path) -> Vec<String> {
    let file = std::fs::File::open(path).expect("open tar");
    let mut archive = tar::Archive::new(file);
    archive
        .entries()
        .expect("tar entries")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// Reads one entry of a tar file.
pub fn tar_read(path: &Path, name: &str) -> Vec<u8> {
    use std::io::Read;
    let file = std::fs::File::open(path).expect("open tar");
    let mut archive = tar::Archive::new(file);
    for e in archive.entries().expect("entries") {
        let mut e = e.expect("entry");
        if e.path().expect("path").to_string_lossy() == name {
            let mut buf = Vec::new();
            e.read_to_end(&mut buf).expect("read entry");
            return buf;
        }
    }
    panic!("{name} not in {}", path.display());
}

/// Parses JSON bytes.
pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}

/// Names in a directory (to prove nothing was left behind).
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A proxy in front of `registry_host` that answers every blob request 429 with a long
/// Retry-After: a command pulling through it is mid-copy, waiting, for 30 s.
pub fn stalling_blob_proxy(registry_host: &str) -> skiff_testbed::FaultProxy {
    skiff_testbed::FaultProxy::start(
        registry_host,
        vec![skiff_testbed::Fault::TooManyRequests {
            path_contains: "/blobs/".into(),
            times: 100,
            retry_after_secs: 30,
        }],
    )
    .expect("start the fault proxy")
}

/// Sends `signal` (SIGINT, SIGTERM) to `child` once it has asked `proxy` for a blob (not
/// during the manifest fetch: waits for that event, not for a fixed time) and returns its
/// exit code.
pub fn interrupt_mid_blob(
    proxy: &skiff_testbed::FaultProxy,
    child: &mut std::process::Child,
    signal: i32,
) -> Option<i32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while proxy.fired() == vec![0] {
        assert!(
            std::time::Instant::now() < deadline,
            "skiff never asked for a blob"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    child.wait().expect("wait for skiff").code()
}

/// A sleeper image: busybox whose entrypoint sleeps an hour; `version` changes its
/// config, so its digest.
pub fn sleeper(format: skiff_testbed::image::Format, version: &str) -> skiff_testbed::Image {
    skiff_testbed::image::busybox_builder(format)
        .entrypoint(&["/bin/sleep"])
        .cmd(&["3600"])
        .env(&format!("VERSION={version}"))
        .build()
}

/// An open docker-registry behind a recording proxy: tests talk to the proxy, so they
/// can count (and break) what reaches the registry.
pub struct RecordedRegistry {
    pub registry: skiff_testbed::RegistryServer,
    pub proxy: skiff_testbed::FaultProxy,
}

impl RecordedRegistry {
    pub fn start() -> RecordedRegistry {
        let registry = skiff_testbed::RegistryServer::start(skiff_testbed::Setup::Open).unwrap();
        let proxy = skiff_testbed::FaultProxy::start(&registry.host(), vec![]).unwrap();
        RecordedRegistry { registry, proxy }
    }

    /// Pushes `image` as `repo:tag` (through the proxy).
    pub fn push(&self, repo: &str, tag: &str, image: &skiff_testbed::Image) {
        skiff_testbed::push::push_image(&self.proxy.host(), repo, tag, image, None).unwrap();
    }
}
