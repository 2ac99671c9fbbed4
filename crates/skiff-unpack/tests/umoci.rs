//! The same image unpacked by the real `umoci unpack` (0.4.7) and by skiff must give the
//! same tree: path, type, mode, owner, size, content, link target, xattrs, device
//! numbers, and mtimes (of directories too: a lower directory that a later layer only
//! passed through keeps its own).
//!
//! umoci is a peer CI installs: when it is missing these tests fail, never pass.
//!
//! Layouts are written and trees compared with skiff-testbed's helpers.

mod common;

use std::process::Command;

use common::*;
use skiff_testbed::image::{write_oci_layout, Compression as TbC, Format, Image, ImageBuilder};
use skiff_testbed::tree::{describe, differences};
use skiff_unpack::LayerSource;
use tar::EntryType;

/// The layers of a testbed image as unpack sources, with their diff_ids to verify.
fn layer_sources(img: &Image) -> Vec<LayerSource> {
    img.layers
        .iter()
        .zip(img.diff_ids())
        .map(|(blob, diff)| LayerSource {
            name: blob.digest.clone(),
            compression: skiff_oci::media_type::layer_compression(&blob.media_type),
            expected_diff_id: Some(diff.parse().unwrap()),
            reader: Box::new(std::io::Cursor::new(blob.data.clone())),
        })
        .collect()
}

fn image() -> Vec<Vec<u8>> {
    let mut cap = 0x0200_0001u32.to_le_bytes().to_vec();
    cap.extend_from_slice(&[0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let big: Vec<u8> = (0..1_500_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let long_gnu = format!("{}/{}", "g".repeat(110), "n".repeat(120));
    let long_pax = format!("{}/pax-file", "p".repeat(180));
    let mut l1 = Layer::new();
    l1.dir("etc/", 0o755)
        .file_owned("etc/passwd", b"root:x:0:0\n", 0o644, 0, 0)
        .file_owned("etc/shadow", b"root:*:1\n", 0o640, 0, 42)
        .dir("usr/", 0o755)
        .dir("usr/bin/", 0o755)
        .file("usr/bin/su", b"ELF su", 0o4755)
        .file("usr/bin/wall", b"ELF wall", 0o2755)
        .file_owned("usr/bin/owned", b"x", 0o750, 1000, 50)
        .dir("tmp/", 0o1777)
        .file("big.bin", &big, 0o644)
        .symlink("usr/bin/sh", "busybox")
        .symlink("abs-link", "/etc/passwd")
        .hardlink("etc/passwd-hl", "etc/passwd")
        .node("dev/null", EntryType::Char, 0o666, 1, 3)
        .node("dev/sda", EntryType::Block, 0o660, 8, 0)
        .node("run/initctl", EntryType::Fifo, 0o600, 0, 0)
        .pax(&[
            ("SCHILY.xattr.user.comment", b"hello"),
            ("SCHILY.xattr.security.capability", &cap),
        ])
        .file("usr/bin/ping", b"ELF ping", 0o755)
        .file(&long_gnu, b"gnu long name", 0o644)
        .pax(&[("path", long_pax.as_bytes())])
        .file("short", b"pax long name", 0o644)
        .file("replace-me-with-dir", b"f", 0o644)
        .file("replace-me-with-file/inner", b"i", 0o644)
        .dir("keep-dir/", 0o700)
        .file("keep-dir/old", b"o", 0o644)
        .file("opaque/lower1", b"l", 0o644)
        .file("opaque/sub/lower2", b"l", 0o644)
        .file("wh/gone", b"g", 0o644)
        .file("wh/stays", b"s", 0o644)
        .file("whdir/a", b"a", 0o644)
        .file("implicit/parent/file", b"i", 0o644);
    let l1 = l1.finish();
    let l2 = Layer::new()
        .dir("replace-me-with-dir/", 0o751)
        .file("replace-me-with-dir/child", b"c", 0o644)
        .file("replace-me-with-file", b"now file", 0o600)
        .dir("keep-dir/", 0o755)
        .file("opaque/upper-before", b"u", 0o644)
        .file("opaque/.wh..wh..opq", b"", 0o644)
        .file("opaque/upper-after", b"u", 0o644)
        .file("wh/.wh.gone", b"", 0o644)
        .file(".wh.whdir", b"", 0o644)
        .hardlink("usr/bin/su-hl", "usr/bin/su")
        .symlink("etc/shadow", "/dev/null")
        .finish();
    let l3 = Layer::new()
        .file("etc/hostname", b"skiff\n", 0o644)
        .file(".wh.abs-link", b"", 0o644)
        .finish();
    vec![l1, l2, l3]
}

/// Runs `umoci unpack` of tag `t`; panics when umoci cannot be run at all.
fn umoci_unpack(layout: &std::path::Path, bundle: &std::path::Path) -> std::process::Output {
    Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:t", layout.display()))
        .arg(bundle)
        .output()
        .expect("umoci (Debian package umoci) must be installed for this test")
}

#[test]
fn same_tree_as_umoci() {
    let tars = image();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    // Two gzip layers and one plain layer.
    let compressions = [TbC::Gzip, TbC::Gzip, TbC::None];
    let mut builder = ImageBuilder::new(Format::Oci);
    for (t, c) in tars.iter().zip(compressions) {
        builder = builder.layer(t.clone(), c);
    }
    let img = builder.build();
    write_oci_layout(&layout, "t", &img).unwrap();
    let bundle = dir.path().join("bundle");
    let out = umoci_unpack(&layout, &bundle);
    assert!(
        out.status.success(),
        "umoci failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let ours = dir.path().join("ours");
    std::fs::create_dir(&ours).unwrap();
    let rep = skiff_unpack::unpack_layers(&ours, layer_sources(&img), &opts()).unwrap();
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);

    let theirs = describe(&bundle.join("rootfs"));
    let mine = describe(&ours);
    let diffs = differences(&theirs, &mine);
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    assert!(
        theirs.len() > 30,
        "the comparison covered {} paths",
        theirs.len()
    );
}

/// The same comparison on an image built with skiff-testbed's builders (gzip and plain
/// layers, written by its `write_oci_layout`).
#[test]
fn same_tree_as_umoci_testbed_image() {
    use skiff_testbed::image::{LayerBuilder, LongName};
    let l1 = LayerBuilder::new()
        .dir("etc", 0o755)
        .file("etc/passwd", 0o644, b"root:x:0:0\n")
        .file_owned("home/u/f", 0o600, 1000, 100, b"u")
        .file("bin/su", 0o4755, b"su")
        .dir("tmp", 0o1777)
        .symlink("bin/sh", "/bin/busybox")
        .hardlink("etc/passwd.hl", "etc/passwd")
        .fifo("run/fifo")
        .char_device("dev/null", 1, 3)
        .block_device("dev/sda", 8, 0)
        .xattr("x", "user.k", b"v")
        .file("x", 0o644, b"x")
        .long_name_file(
            &format!("{}/gnu", "a".repeat(150)),
            0o644,
            b"g",
            LongName::Gnu,
        )
        .long_name_file(
            &format!("{}/pax", "b".repeat(150)),
            0o644,
            b"p",
            LongName::Pax,
        )
        .file("gone", 0o644, b"g")
        .file("opq/lower", 0o644, b"l")
        .build();
    let l2 = LayerBuilder::new()
        .whiteout("gone")
        .file("opq/upper", 0o644, b"u")
        .opaque("opq")
        .dir("etc/passwd.hl", 0o700)
        .build();
    let l3 = LayerBuilder::new()
        .file("bin/su", 0o755, b"new su")
        .hardlink("bin/su2", "bin/su")
        .build();
    let tars = [l1, l2, l3];
    // umoci 0.4.7 cannot read zstd layers (zstd is covered in semantics.rs).
    let comps = [TbC::Gzip, TbC::Gzip, TbC::None];
    let mut b = ImageBuilder::new(Format::Oci);
    for (t, c) in tars.iter().zip(comps) {
        b = b.layer(t.clone(), c);
    }
    let img = b.build();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, "t", &img).unwrap();
    let bundle = dir.path().join("bundle");
    let out = umoci_unpack(&layout, &bundle);
    assert!(
        out.status.success(),
        "umoci failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = dir.path().join("ours");
    std::fs::create_dir(&ours).unwrap();
    skiff_unpack::unpack_layers(&ours, layer_sources(&img), &opts()).unwrap();
    let diffs = differences(&describe(&bundle.join("rootfs")), &describe(&ours));
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
