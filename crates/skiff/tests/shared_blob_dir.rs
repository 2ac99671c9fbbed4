//! `--dest-shared-blob-dir` / `--src-shared-blob-dir` as skopeo has them: an `oci:`
//! layout whose blobs live in a directory shared between layouts. skopeo is the peer, and
//! LXC's own lxc-oci template (Debian's lxc) runs with skiff as its `skopeo`.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use skiff_testbed::image::{busybox_builder, Format, LayerBuilder};
use skiff_testbed::push::push_image;
use skiff_testbed::{Compression, FaultProxy, Image, RegistryServer, Setup};

/// An image no other test or earlier run has (the seed is random), so a blob directory
/// that outlives the test (lxc-oci's /var/cache/lxc) cannot already hold its layer.
fn unique_image() -> (Image, String) {
    let seed = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let layer = LayerBuilder::new()
        .dir("data", 0o755)
        .file("data/seed", 0o644, seed.as_bytes())
        .build();
    let img = busybox_builder(Format::Oci)
        .layer(layer, Compression::Gzip)
        .build();
    (img, seed)
}

/// Layer GETs that reached the registry (a copy reads the small config to plan, always).
fn layer_gets(proxy: &FaultProxy, img: &Image) -> usize {
    proxy
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && img.layers.iter().any(|l| r.path.ends_with(&l.digest)))
        .count()
}

fn hex(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

#[test]
fn blobs_go_to_the_shared_directory_and_skopeo_reads_them_back() {
    let (img, seed) = unique_image();
    let reg = RegistryServer::start(Setup::Open).unwrap();
    push_image(&reg.host(), "app", "v1", &img, None).unwrap();
    let work = tempfile::tempdir().unwrap();
    let shared = work.path().join("shared");
    let layout = work.path().join("layout");
    skiff_ok(&[
        "copy",
        "-q",
        "--src-tls-verify=false",
        "--dest-shared-blob-dir",
        shared.to_str().unwrap(),
        &format!("docker://{}/app:v1", reg.host()),
        &format!("oci:{}:latest", layout.display()),
    ]);
    assert!(
        dir_names(&layout.join("blobs")).is_empty(),
        "the layout's blobs/ stays empty"
    );
    let in_shared = dir_names(&shared.join("sha256"));
    for b in img.blobs() {
        assert!(
            in_shared.contains(&hex(&b.digest).to_string()),
            "{in_shared:?}"
        );
    }
    assert_eq!(
        in_shared.len(),
        img.blobs().count() + 1,
        "blobs and the manifest"
    );

    // skopeo reads the layout through the shared directory, and so does skiff.
    let back = work.path().join("back");
    peer_ok(
        "skopeo",
        &[
            "copy",
            "--src-shared-blob-dir",
            shared.to_str().unwrap(),
            &format!("oci:{}:latest", layout.display()),
            &format!("oci:{}:x", back.display()),
        ],
    );
    let again = work.path().join("again.tar");
    skiff_ok(&[
        "copy",
        "-q",
        "--src-shared-blob-dir",
        shared.to_str().unwrap(),
        &format!("oci:{}:latest", layout.display()),
        &format!("oci-archive:{}", again.display()),
    ]);
    let layer = img.layers.last().unwrap();
    let name = format!("blobs/sha256/{}", hex(&layer.digest));
    assert_eq!(tar_read(&again, &name), layer.data);
    assert_eq!(std::fs::read(back.join(&name)).unwrap(), layer.data);

    // A layout skopeo wrote with a shared directory reads the same in skiff.
    let skopeo_shared = work.path().join("skopeo-shared");
    let skopeo_layout = work.path().join("skopeo-layout");
    peer_ok(
        "skopeo",
        &[
            "copy",
            "--dest-shared-blob-dir",
            skopeo_shared.to_str().unwrap(),
            &format!("oci:{}:x", back.display()),
            &format!("oci:{}:y", skopeo_layout.display()),
        ],
    );
    let rootfs = work.path().join("rootfs");
    let out = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["copy", "-q", "--src-shared-blob-dir"])
        .arg(&skopeo_shared)
        .arg(format!("oci:{}:y", skopeo_layout.display()))
        .arg(format!("dir:{}", rootfs.display()))
        .env("HOME", scratch_home())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(rootfs.join(hex(&layer.digest))).unwrap(),
        layer.data
    );
    let _ = seed;
}

#[test]
fn the_flags_are_refused_for_other_transports() {
    let work = tempfile::tempdir().unwrap();
    let out = skiff(&[
        "copy",
        "--dest-shared-blob-dir",
        work.path().to_str().unwrap(),
        "oci:/nonexistent:x",
        &format!("oci-archive:{}/a.tar", work.path().display()),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--dest-shared-blob-dir applies to oci: images only"),
        "{err}"
    );
    assert!(dir_names(work.path()).is_empty(), "nothing written");
}

#[test]
fn copy_help_names_the_flag_lxc_oci_greps_for() {
    let out = skiff(&["copy", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--dest-shared-blob-dir"), "{help}");
    assert!(help.contains("--src-shared-blob-dir"), "{help}");
}

/// Runs Debian's lxc-oci template through lxc-create with skiff on PATH as `skopeo`,
/// each run with a skiff blob cache of its own (so only lxc-oci's shared blob directory
/// can spare the second run its downloads).
fn lxc_oci(bin: &Path, conf: &Path, lxcpath: &Path, name: &str, url: &str) {
    let cache = tempfile::tempdir().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("lxc-create")
        .args(["-t", "oci", "-n", name, "-P"])
        .arg(lxcpath)
        .args(["--", "-u", url])
        .env("PATH", path)
        .env("CONTAINERS_REGISTRIES_CONF", conf)
        .env("SKIFF_CACHE_DIR", cache.path())
        .env("HOME", scratch_home())
        .output()
        .expect("lxc-create (Debian package lxc) must be installed");
    assert!(
        out.status.success(),
        "lxc-create -t oci: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(!log.contains("doesn't support blob caching"), "{log}");
}

#[test]
fn lxc_oci_reuses_layers_through_skiffs_shared_blob_dir() {
    let (img, seed) = unique_image();
    let reg = RegistryServer::start(Setup::Open).unwrap();
    push_image(&reg.host(), "app", "v1", &img, None).unwrap();
    let proxy = FaultProxy::start(&reg.host(), vec![]).unwrap();
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_skiff"), bin.join("skopeo")).unwrap();
    let conf = work.path().join("registries.conf");
    std::fs::write(
        &conf,
        format!(
            "[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
            proxy.host()
        ),
    )
    .unwrap();
    let lxcpath = work.path().join("lxc");
    std::fs::create_dir(&lxcpath).unwrap();
    let url = format!("docker://{}/app:v1", proxy.host());

    lxc_oci(&bin, &conf, &lxcpath, "first", &url);
    // busybox's layers may be in /var/cache/lxc from earlier runs; this image's own
    // layer cannot be, so the first run fetches it.
    let fetched = layer_gets(&proxy, &img);
    let own = &img.layers.last().unwrap().digest;
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.path.ends_with(own.as_str())),
        "the first run fetches the new layer"
    );
    lxc_oci(&bin, &conf, &lxcpath, "second", &url);
    assert_eq!(
        layer_gets(&proxy, &img),
        fetched,
        "the second run fetches no layer"
    );

    for name in ["first", "second"] {
        let rootfs = lxcpath.join(name).join("rootfs");
        assert_eq!(
            std::fs::read_to_string(rootfs.join("data/seed")).unwrap(),
            seed
        );
        assert!(rootfs.join("bin/busybox").is_file());
        let config = std::fs::read_to_string(lxcpath.join(name).join("config")).unwrap();
        assert!(config.contains("lxc.execute.cmd"), "{config}");
    }
}
