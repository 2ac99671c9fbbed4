//! `skiff unpack` end to end: the CLI streams layers from a source into a new root
//! filesystem; compared with the real `umoci unpack`; hostile and corrupt input refused
//! without leaving anything behind.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::*;
use skiff_testbed::image::{
    write_oci_layout, Compression, Format, Image, ImageBuilder, LayerBuilder,
};
use skiff_testbed::push::push_image;
use skiff_testbed::tree::{describe, differences};
use skiff_testbed::{RegistryServer, Setup};

fn layered_image() -> Image {
    let l1 = LayerBuilder::new()
        .dir("etc", 0o755)
        .file(
            "etc/passwd",
            0o644,
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/srv:/bin/sh\n",
        )
        .file_owned("srv/data", 0o640, 1000, 1000, b"owned by app")
        .file("usr/bin/su", 0o4755, b"setuid")
        .dir("tmp", 0o1777)
        .symlink("usr/bin/sh", "/bin/busybox")
        .hardlink("etc/passwd.lnk", "etc/passwd")
        .fifo("run/fifo")
        .char_device("dev/null", 1, 3)
        .xattr("usr/bin/ping", "user.note", b"xattr kept")
        .file("usr/bin/ping", 0o755, b"ping")
        .file("old/file", 0o644, b"old")
        .file("opq/lower", 0o644, b"lower")
        .build();
    let l2 = LayerBuilder::new()
        .whiteout("old")
        .opaque("opq")
        .file("opq/upper", 0o644, b"upper")
        .file("etc/hostname", 0o644, b"skiff\n")
        .build();
    ImageBuilder::new(Format::Oci)
        .layer(l1, Compression::Gzip)
        .layer(l2, Compression::None)
        .build()
}

fn umoci_rootfs(
    layout: &Path,
    tag: &str,
    bundle: &Path,
) -> std::collections::BTreeMap<String, String> {
    peer_ok(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:{tag}", layout.display()),
            bundle.to_str().unwrap(),
        ],
    );
    describe(&bundle.join("rootfs"))
}

#[test]
fn unpack_from_a_layout_and_from_a_registry_equals_umoci() {
    let img = layered_image();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, "t", &img).unwrap();
    let expected = umoci_rootfs(&layout, "t", &dir.path().join("bundle"));
    assert!(expected.len() > 10);

    let from_layout = dir.path().join("from-layout");
    skiff_ok(&[
        "unpack",
        &format!("oci:{}:t", layout.display()),
        from_layout.to_str().unwrap(),
    ]);
    let diffs = differences(&expected, &describe(&from_layout));
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));

    let reg = RegistryServer::start(Setup::Open).unwrap();
    push_image(&reg.host(), "layered", "v1", &img, None).unwrap();
    let from_registry = dir.path().join("from-registry");
    skiff_ok(&[
        "unpack",
        "--src-tls-verify=false",
        &format!("docker://{}/layered:v1", reg.host()),
        from_registry.to_str().unwrap(),
    ]);
    let diffs = differences(&expected, &describe(&from_registry));
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// `umoci insert` (0.4.7) ends its layers right after the last file's data, without the
/// padding and end-of-archive blocks GNU tar expects; its digests and diff_ids cover
/// exactly those bytes, and Go readers accept them. skiff must too.
#[test]
fn layers_written_by_umoci_insert_unpack_as_umoci_unpacks_them() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("a/sub")).unwrap();
    std::fs::write(src.join("a/sub/odd-size"), b"not a multiple of 512").unwrap();
    std::fs::create_dir_all(src.join("b")).unwrap();
    std::fs::write(src.join("b/last"), vec![7u8; 1000]).unwrap();
    let layout = dir.path().join("layout");
    let image = format!("{}:t", layout.display());
    peer_ok("umoci", &["init", "--layout", layout.to_str().unwrap()]);
    peer_ok("umoci", &["new", "--image", &image]);
    for (from, to) in [("a", "/opt/a"), ("b", "/opt/b")] {
        let from = src.join(from);
        peer_ok(
            "umoci",
            &["insert", "--image", &image, from.to_str().unwrap(), to],
        );
    }
    let expected = umoci_rootfs(&layout, "t", &dir.path().join("bundle"));
    let rootfs = dir.path().join("rootfs");
    skiff_ok(&["unpack", &format!("oci:{image}"), rootfs.to_str().unwrap()]);
    let diffs = differences(&expected, &describe(&rootfs));
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    assert_eq!(
        std::fs::read(rootfs.join("opt/b/last")).unwrap(),
        vec![7u8; 1000]
    );
}

#[test]
fn unprivileged_unpack_shifts_every_owner() {
    let img = layered_image();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, "t", &img).unwrap();
    let rootfs = dir.path().join("rootfs");
    skiff_ok(&[
        "unpack",
        "--unprivileged",
        &format!("oci:{}:t", layout.display()),
        rootfs.to_str().unwrap(),
    ]);
    let md = std::fs::metadata(rootfs.join("etc/passwd")).unwrap();
    assert_eq!((md.uid(), md.gid()), (100_000, 100_000));
    let md = std::fs::metadata(rootfs.join("srv/data")).unwrap();
    assert_eq!((md.uid(), md.gid()), (101_000, 101_000));
    let md = std::fs::symlink_metadata(rootfs.join("usr/bin/sh")).unwrap();
    assert_eq!(md.uid(), 100_000, "symlinks are shifted too");
    assert_eq!(
        std::fs::metadata(rootfs.join("usr/bin/su")).unwrap().mode() & 0o7777,
        0o4755,
        "setuid survives chown"
    );

    let custom = dir.path().join("custom");
    skiff_ok(&[
        "unpack",
        "--uidmap",
        "0:200000:65536",
        "--gidmap",
        "0:300000:65536",
        &format!("oci:{}:t", layout.display()),
        custom.to_str().unwrap(),
    ]);
    let md = std::fs::metadata(custom.join("srv/data")).unwrap();
    assert_eq!((md.uid(), md.gid()), (201_000, 301_000));
}

#[test]
fn a_corrupt_layer_blob_fails_and_leaves_nothing() {
    let img = layered_image();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, "t", &img).unwrap();
    let blob = layout.join("blobs/sha256").join(&img.layers[1].digest[7..]);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 2000;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let out = skiff(&[
        "unpack",
        &format!("oci:{}:t", layout.display()),
        work.join("rootfs").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&img.layers[1].digest),
        "names the layer: {stderr}"
    );
    assert!(
        dir_names(&work).is_empty(),
        "no rootfs and no staging directory left: {:?}",
        dir_names(&work)
    );
}

#[test]
fn hostile_layers_are_refused_and_nothing_outside_changes() {
    let dir = tempfile::tempdir().unwrap();
    let sentinel = dir.path().join("sentinel");
    std::fs::create_dir(&sentinel).unwrap();
    std::fs::write(sentinel.join("keep"), b"untouched").unwrap();
    let before = describe(dir.path());
    let target = sentinel.to_str().unwrap().to_string();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "symlink-then-write",
            LayerBuilder::new()
                .symlink("evil", &target)
                .file("evil/keep", 0o644, b"pwned")
                .build(),
        ),
        (
            "hardlink-outside",
            LayerBuilder::new()
                .hardlink("stolen", "../../../../../../etc/passwd")
                .build(),
        ),
    ];
    for (i, (what, tar)) in cases.into_iter().enumerate() {
        let img = ImageBuilder::new(Format::Oci)
            .layer(tar, Compression::Gzip)
            .build();
        let layout = dir.path().join(format!("layout{i}"));
        write_oci_layout(&layout, "t", &img).unwrap();
        let rootfs = dir.path().join(format!("rootfs{i}"));
        let out = skiff(&[
            "unpack",
            &format!("oci:{}:t", layout.display()),
            rootfs.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            // Contained rather than refused: the write landed inside the root.
            assert!(rootfs.exists(), "{what}");
        } else {
            assert!(
                stderr.contains(&img.layers[0].digest),
                "{what}: names the layer: {stderr}"
            );
            assert!(!rootfs.exists(), "{what}: no partial rootfs");
        }
        assert_eq!(
            std::fs::read(sentinel.join("keep")).unwrap(),
            b"untouched",
            "{what}"
        );
    }
    let after = describe(dir.path());
    let outside_changes: Vec<String> = differences(&before, &after)
        .into_iter()
        .filter(|d| d.starts_with("sentinel"))
        .collect();
    assert!(outside_changes.is_empty(), "{outside_changes:?}");
}

#[test]
fn an_existing_non_empty_rootfs_is_refused() {
    let img = layered_image();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, "t", &img).unwrap();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    std::fs::write(rootfs.join("precious"), b"data").unwrap();
    let out = skiff(&[
        "unpack",
        &format!("oci:{}:t", layout.display()),
        rootfs.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    assert_eq!(std::fs::read(rootfs.join("precious")).unwrap(), b"data");
}

/// Without a terminal, `unpack` says what it does as it goes (layers fetched and
/// applied); with --quiet it says nothing.
#[test]
fn unpack_reports_progress_unless_quiet() {
    let img = layered_image();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, "t", &img).unwrap();
    let image = format!("oci:{}:t", layout.display());
    let loud = dir.path().join("loud");
    let stderr = skiff_ok(&["unpack", &image, loud.to_str().unwrap()]);
    let short = |d: &str| format!("sha256:{}", &d[7..19]);
    for line in [
        "Unpacking 2 layer(s)".to_string(),
        format!("Fetching layer 1/2 {}", short(&img.layers[0].digest)),
        format!("Fetching layer 2/2 {}", short(&img.layers[1].digest)),
        "Applied layer 1/2:".to_string(),
        "Applied layer 2/2:".to_string(),
        "Unpacked 2 layer(s)".to_string(),
    ] {
        assert!(
            stderr.lines().any(|l| l.starts_with(&line)),
            "missing {line:?} in:\n{stderr}"
        );
    }
    let applied = |n| stderr.find(&format!("Applied layer {n}/2")).unwrap();
    assert!(applied(1) < applied(2), "in order:\n{stderr}");
    let quiet = dir.path().join("quiet");
    let stderr = skiff_ok(&["unpack", "-q", &image, quiet.to_str().unwrap()]);
    assert_eq!(stderr, "", "--quiet prints nothing");
}

/// A refused layer names the flag that would let it through.
#[test]
fn limit_and_id_map_errors_name_their_flag() {
    let img = layered_image();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, "t", &img).unwrap();
    let image = format!("oci:{}:t", layout.display());
    let cases: [(&[&str], &str); 3] = [
        (&["--max-layer-bytes", "1024"], "--max-layer-bytes"),
        (
            &["--uidmap", "0:100000:10", "--gidmap", "0:100000:10"],
            "--uidmap/--gidmap",
        ),
        (&["--uidmap", "0:4294967295:2"], "overflows"),
    ];
    for (i, (flags, expected)) in cases.into_iter().enumerate() {
        let rootfs = dir.path().join(format!("r{i}"));
        let mut args = vec!["unpack"];
        args.extend_from_slice(flags);
        args.push(&image);
        args.push(rootfs.to_str().unwrap());
        let out = skiff(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flags:?}: {stderr}");
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
        assert!(!rootfs.exists(), "{flags:?}: no partial rootfs");
    }
}

/// A registry whose second layer of `layered_image` never arrives: every GET of it is
/// told to come back in 30 s. Returns the registry (keep it alive), the proxy in front of
/// it, and the image's reference through the proxy.
fn stalled_second_layer() -> (RegistryServer, skiff_testbed::fault::FaultProxy, String) {
    use skiff_testbed::fault::{Fault, FaultProxy};
    let img = layered_image();
    let reg = RegistryServer::start(Setup::Open).unwrap();
    push_image(&reg.host(), "slow", "v1", &img, None).unwrap();
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::TooManyRequests {
            path_contains: img.layers[1].digest.clone(),
            times: 100,
            retry_after_secs: 30,
        }],
    )
    .unwrap();
    let image = format!("docker://{}/slow:v1", proxy.host());
    (reg, proxy, image)
}

/// Ctrl-C while a layer is still arriving: the unpacker stops before its staging tree is
/// removed, and neither the staging tree nor the target remains.
#[test]
fn an_interrupted_unpack_leaves_nothing() {
    use std::io::BufRead;
    let (_reg, _proxy, image) = stalled_second_layer();
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args([
            "unpack",
            "--src-tls-verify=false",
            &image,
            work.join("rootfs").to_str().unwrap(),
        ])
        .env("HOME", scratch_home())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the event: the first layer is in the staging tree, the second is awaited.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("Applied layer 1/2") {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "skiff ended early: {seen}"
        );
        seen.push_str(&line);
    }
    assert_eq!(
        dir_names(&work).len(),
        1,
        "a staging directory while unpacking"
    );
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(status.code(), Some(130), "{seen}{rest}");
    assert!(
        dir_names(&work).is_empty(),
        "no staging directory and no target: {:?}\n{seen}{rest}",
        dir_names(&work)
    );
}

/// --command-timeout while a layer is still arriving: the same clean end as Ctrl-C.
#[test]
fn a_timed_out_unpack_leaves_nothing() {
    let (_reg, _proxy, image) = stalled_second_layer();
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let out = skiff(&[
        "--command-timeout",
        "5s",
        "unpack",
        "--src-tls-verify=false",
        &image,
        work.join("rootfs").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--command-timeout"), "{stderr}");
    assert!(
        stderr.contains("Applied layer 1/2"),
        "the timeout hit the second layer: {stderr}"
    );
    assert!(dir_names(&work).is_empty(), "{:?}", dir_names(&work));
}
