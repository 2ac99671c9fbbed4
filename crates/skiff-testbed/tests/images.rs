//! The image builders: entries read back with the tar crate, configs and
//! layouts checked with skopeo and umoci.

mod common;

use std::io::Read;
use std::process::Command;

use skiff_testbed::busybox_image;
use skiff_testbed::image::{
    large_image, multi_arch, sha256_digest, write_oci_layout, write_oci_layout_index, Compression,
    Format, ImageBuilder, LayerBuilder, LongName,
};
use tar::EntryType;

#[test]
fn layer_entries_come_out_as_written() {
    let long = format!("usr/share/{}/file.txt", "d".repeat(120));
    let long_pax = format!("opt/{}/pax.txt", "p".repeat(150));
    let tar = LayerBuilder::new()
        .dir("/etc", 0o755)
        .mtime(42)
        .xattr("etc/cap", "security.capability", b"\x01\x02")
        .xattr("etc/cap", "user.note", b"hi")
        .file_owned("etc/cap", 0o4755, 1000, 1001, b"bin")
        .symlink("etc/link", "/etc/cap")
        .hardlink("etc/hard", "etc/cap")
        .whiteout("var/old")
        .opaque("srv")
        .fifo("run/fifo")
        .char_device("dev/null", 1, 3)
        .block_device("dev/sda", 8, 0)
        .long_name_file(&long, 0o644, b"gnu", LongName::Gnu)
        .long_name_file(&long_pax, 0o600, b"pax", LongName::Pax)
        .raw_entry(b"../../escape", EntryType::Regular, 0o644, b"", b"evil")
        .raw_entry(
            b"/abs/path",
            EntryType::Symlink,
            0o777,
            b"../../../../etc",
            b"",
        )
        .build();

    let mut ar = tar::Archive::new(tar.as_slice());
    let mut seen = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let ty = e.header().entry_type();
        let xattrs: Vec<(String, Vec<u8>)> = e
            .pax_extensions()
            .unwrap()
            .map(|exts| {
                exts.filter_map(|x| {
                    let x = x.unwrap();
                    let k = x.key().unwrap().strip_prefix("SCHILY.xattr.")?.to_string();
                    Some((k, x.value_bytes().to_vec()))
                })
                .collect()
            })
            .unwrap_or_default();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        seen.push((
            path,
            ty,
            e.header().mode().unwrap(),
            e.header().mtime().unwrap(),
            xattrs,
            data,
            e.header().clone(),
        ));
    }
    let names: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "etc",
            "etc/cap",
            "etc/link",
            "etc/hard",
            "var/.wh.old",
            "srv/.wh..wh..opq",
            "run/fifo",
            "dev/null",
            "dev/sda",
            &long,
            &long_pax,
            "../../escape",
            "/abs/path"
        ]
    );
    assert_eq!(seen[0].3, skiff_testbed::image::DEFAULT_MTIME);
    let cap = &seen[1];
    assert_eq!((cap.2, cap.3, cap.5.as_slice()), (0o4755, 42, &b"bin"[..]));
    assert_eq!((cap.6.uid().unwrap(), cap.6.gid().unwrap()), (1000, 1001));
    assert_eq!(
        cap.4,
        vec![
            ("security.capability".to_string(), vec![1, 2]),
            ("user.note".to_string(), b"hi".to_vec())
        ]
    );
    assert_eq!(seen[2].1, EntryType::Symlink);
    assert_eq!(seen[2].6.link_name_bytes().unwrap().as_ref(), b"/etc/cap");
    assert_eq!(seen[3].1, EntryType::Link);
    assert_eq!(seen[6].1, EntryType::Fifo);
    assert_eq!(
        (
            seen[7].1,
            seen[7].6.device_major().unwrap(),
            seen[7].6.device_minor().unwrap()
        ),
        (EntryType::Char, Some(1), Some(3))
    );
    assert_eq!(seen[8].1, EntryType::Block);
    assert_eq!(seen[9].5, b"gnu");
    assert_eq!((seen[10].2, seen[10].5.as_slice()), (0o600, &b"pax"[..]));
    assert_eq!(seen[11].5, b"evil");
    assert_eq!(
        seen[12].6.link_name_bytes().unwrap().as_ref(),
        b"../../../../etc"
    );
}

#[test]
#[should_panic(expected = "never added")]
fn unattached_xattr_is_an_error() {
    LayerBuilder::new()
        .xattr("nope", "user.a", b"1")
        .file("other", 0o644, b"")
        .build();
}

#[test]
fn configs_manifests_and_determinism() {
    let tar = LayerBuilder::new().file("a", 0o644, b"hello").build();
    let build = |f, c| {
        ImageBuilder::new(f)
            .layer(tar.clone(), c)
            .layer(tar.clone(), Compression::None)
            .empty_history("ENV A=b")
            .entrypoint(&["/x"])
            .user("1000:1000")
            .label("k", "v")
            .build()
    };
    for (f, c, media) in [
        (
            Format::Oci,
            Compression::Zstd,
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
        (
            Format::Oci,
            Compression::Gzip,
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
        (
            Format::Docker,
            Compression::Gzip,
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ),
    ] {
        let a = build(f, c);
        let b = build(f, c);
        assert_eq!(a.manifest, b.manifest, "deterministic");
        assert_eq!(a.manifest_digest, sha256_digest(&a.manifest));
        assert_eq!(a.layers[0].media_type, media);
        let config: serde_json::Value = serde_json::from_slice(&a.config.data).unwrap();
        let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(diff_ids, vec![sha256_digest(&tar), sha256_digest(&tar)]);
        assert_eq!(a.diff_ids(), diff_ids);
        assert_eq!(a.layer_tars()[0], tar);
        assert_eq!(config["history"].as_array().unwrap().len(), 3);
        assert_eq!(config["config"]["User"], "1000:1000");
        let manifest: serde_json::Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(manifest["config"]["digest"], a.config.digest.as_str());
        assert_eq!(manifest["layers"][1]["size"], a.layers[1].data.len());
    }
}

#[test]
fn busybox_layout_unpacks_with_umoci_and_runs() {
    let image = busybox_image(Format::Oci);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, "v1", &image).unwrap();
    let arm = skiff_testbed::image::busybox_builder(Format::Oci)
        .platform("linux", "arm64", Some("v8"))
        .build();
    write_oci_layout_index(
        &layout,
        "multi",
        &multi_arch(Format::Oci, vec![image.clone(), arm]),
    )
    .unwrap();
    // Re-writing a tag replaces it; other tags stay.
    write_oci_layout(&layout, "v1", &image).unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);

    let v: serde_json::Value = serde_json::from_str(&common::skopeo(&[
        "inspect",
        &format!("oci:{}:v1", layout.display()),
    ]))
    .unwrap();
    assert_eq!(v["Digest"], image.manifest_digest.as_str());

    let bundle = dir.path().join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:v1", layout.display())])
        .arg(&bundle)
        .output()
        .expect("umoci is installed");
    assert!(
        out.status.success(),
        "umoci: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rootfs = bundle.join("rootfs");
    assert!(std::fs::read_to_string(rootfs.join("etc/passwd"))
        .unwrap()
        .contains("app:x:1000:1000"));
    let out = Command::new(rootfs.join("bin/sh"))
        .args(["-c", "echo hello from skiff"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from skiff\n");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["cwd"], "/srv");
}

#[test]
fn large_image_is_deterministic_and_incompressible() {
    let a = large_image(4_000_000, 2, 7);
    let b = large_image(4_000_000, 2, 7);
    assert_eq!(a.manifest_digest, b.manifest_digest);
    assert_ne!(
        a.manifest_digest,
        large_image(4_000_000, 2, 8).manifest_digest
    );
    let tars = a.layer_tars();
    let raw: usize = tars.iter().map(Vec::len).sum();
    let packed: usize = a.layers.iter().map(|l| l.data.len()).sum();
    assert!(raw >= 4_000_000, "{raw}");
    assert!(
        packed * 10 > raw * 8,
        "should compress poorly: {packed} of {raw}"
    );
    let files = tar::Archive::new(tars[0].as_slice())
        .entries()
        .unwrap()
        .count();
    assert!(files > 20, "many files per layer: {files}");
}
