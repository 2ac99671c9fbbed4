//! Layer semantics: every entry kind, metadata, whiteouts, replacement, id mapping.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use common::*;
use skiff_oci::media_type::Compression;
use skiff_oci::Digest;
use skiff_unpack::{IdMap, LayerSource, Limits, UnpackError, UnpackOptions};
use tar::EntryType;

fn lmeta(p: &std::path::Path) -> std::fs::Metadata {
    std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{p:?}: {e}"))
}

#[test]
fn every_entry_kind_with_metadata() {
    let sb = Sandbox::new();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut l = Layer::new();
    l.dir("etc/", 0o755)
        .file_owned("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o644, 0, 0)
        .file_owned("usr/bin/su", b"ELF", 0o4755, 0, 0)
        .file_owned("usr/bin/wall", b"ELF", 0o2755, 0, 5)
        .dir("tmp/", 0o1777)
        .file("big.bin", &big, 0o600)
        .symlink("etc/abs", "/etc/passwd")
        .symlink("etc/rel", "../usr/bin/su")
        .symlink("dangling", "/nowhere/at/all")
        .hardlink("etc/passwd.hl", "etc/passwd")
        .node("dev/null", EntryType::Char, 0o666, 1, 3)
        .node("dev/loop0", EntryType::Block, 0o660, 7, 0)
        .node("run/fifo", EntryType::Fifo, 0o620, 0, 0)
        .pax(&[
            ("SCHILY.xattr.user.skiff", b"hello"),
            ("SCHILY.xattr.trusted.x", b"t"),
        ])
        .file("xattr.txt", b"x", 0o644);
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(150));
    l.file(&long, b"long", 0o644);
    let pax_long = format!("{}/pax", "p".repeat(200));
    l.pax(&[("path", pax_long.as_bytes()), ("mtime", b"1700000000.25")])
        .file("placeholder", b"pax", 0o640);
    let report = sb
        .unpack(vec![gz_source("sha256:one", l.finish())])
        .unwrap();
    assert_eq!(report.layers, 1);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let r = &sb.root;

    assert_eq!(
        std::fs::read(r.join("etc/passwd")).unwrap(),
        b"root:x:0:0::/root:/bin/sh\n"
    );
    assert_eq!(std::fs::read(r.join("big.bin")).unwrap(), big);
    assert_eq!(lmeta(&r.join("big.bin")).mode() & 0o7777, 0o600);
    assert_eq!(lmeta(&r.join("usr/bin/su")).mode() & 0o7777, 0o4755);
    let wall = lmeta(&r.join("usr/bin/wall"));
    assert_eq!((wall.mode() & 0o7777, wall.gid()), (0o2755, 5));
    assert_eq!(lmeta(&r.join("tmp")).mode() & 0o7777, 0o1777);
    assert_eq!(lmeta(&r.join("etc/passwd")).mtime(), MTIME as i64);
    assert_eq!(
        lmeta(&r.join("etc")).mtime(),
        MTIME as i64,
        "directory mtime set after its contents"
    );
    // Implicit parents: 0755.
    assert_eq!(lmeta(&r.join("usr/bin")).mode() & 0o7777, 0o755);
    assert_eq!(
        std::fs::read_link(r.join("etc/abs")).unwrap().to_str(),
        Some("/etc/passwd")
    );
    assert_eq!(
        std::fs::read_link(r.join("etc/rel")).unwrap().to_str(),
        Some("../usr/bin/su")
    );
    assert_eq!(
        std::fs::read_link(r.join("dangling")).unwrap().to_str(),
        Some("/nowhere/at/all")
    );
    assert_eq!(lmeta(&r.join("etc/abs")).mtime(), MTIME as i64);
    assert_eq!(
        lmeta(&r.join("etc/passwd.hl")).ino(),
        lmeta(&r.join("etc/passwd")).ino()
    );
    let null = lmeta(&r.join("dev/null"));
    assert!(null.file_type().is_char_device());
    assert_eq!(
        (null.rdev(), null.mode() & 0o7777),
        (libc::makedev(1, 3), 0o666)
    );
    assert!(lmeta(&r.join("dev/loop0")).file_type().is_block_device());
    let fifo = lmeta(&r.join("run/fifo"));
    assert!(fifo.file_type().is_fifo(), "a FIFO must stay a FIFO");
    assert_eq!(fifo.mode() & 0o7777, 0o620);
    assert_eq!(
        xattr_get(&r.join("xattr.txt"), "user.skiff").as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(
        xattr_get(&r.join("xattr.txt"), "trusted.x").as_deref(),
        Some(&b"t"[..])
    );
    assert_eq!(std::fs::read(r.join(&long)).unwrap(), b"long");
    let pm = lmeta(&r.join(&pax_long));
    assert_eq!(
        (pm.mtime(), pm.mtime_nsec(), pm.mode() & 0o777),
        (1_700_000_000, 250_000_000, 0o640)
    );
}

pub fn xattr_get(p: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    let n = rustix::fs::lgetxattr(p, name, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

#[test]
fn whiteouts_hide_only_lower_layers() {
    let sb = Sandbox::new();
    let l1 = Layer::new()
        .file("a/x", b"x", 0o644)
        .file("a/sub/y", b"y", 0o644)
        .file("b/z", b"z", 0o644)
        .file("c", b"c", 0o644)
        .file("d/old", b"old", 0o644)
        .file("e/old", b"old", 0o644)
        .file("keep", b"keep", 0o644)
        .finish();
    let l2 = Layer::new()
        .file("a/new", b"new", 0o644)
        .file("a/.wh..wh..opq", b"", 0o644)
        .file("a/new2", b"new2", 0o644)
        .file(".wh.c", b"", 0o644)
        .file("b/.wh.z", b"", 0o644)
        .file("d/new", b"new", 0o644)
        .file(".wh.d", b"", 0o644)
        .file("e/.wh..wh..opq", b"", 0o644)
        .file(".wh.never-existed", b"", 0o644)
        .file("nodir/.wh.x", b"", 0o644)
        .file(".wh..wh.plnk", b"", 0o644)
        .finish();
    sb.unpack(vec![gz_source("l1", l1), gz_source("l2", l2)])
        .unwrap();
    let r = &sb.root;
    assert!(
        !r.join("a/x").exists() && !r.join("a/sub").exists(),
        "opaque removes lower content"
    );
    assert!(
        r.join("a/new").exists(),
        "an entry before the opaque marker survives"
    );
    assert!(r.join("a/new2").exists());
    assert!(!r.join("c").exists());
    assert!(r.join("b").is_dir() && !r.join("b/z").exists());
    assert!(
        !r.join("d/old").exists(),
        "whiteout of a dir removes lower content"
    );
    assert!(
        r.join("d/new").exists(),
        "…but not what the same layer put there"
    );
    assert!(r.join("e").is_dir() && !r.join("e/old").exists());
    assert!(r.join("keep").exists());
    assert!(!r.join("nodir").exists(), "a whiteout creates no parents");
    for p in ["a/.wh..wh..opq", ".wh.c", ".wh..wh.plnk"] {
        assert!(!r.join(p).exists(), "{p} must not be materialised");
    }
}

#[test]
fn replacements() {
    let sb = Sandbox::new();
    let l1 = Layer::new()
        .file("file-becomes-dir", b"f", 0o644)
        .file("dir-becomes-file/inner", b"i", 0o644)
        .dir("dir-stays/", 0o700)
        .file("dir-stays/kept", b"k", 0o644)
        .symlink("link-becomes-file", "/etc/passwd")
        .file("same", b"first", 0o644)
        .finish();
    let l2 = Layer::new()
        .dir("file-becomes-dir/", 0o750)
        .file("file-becomes-dir/child", b"c", 0o644)
        .file("dir-becomes-file", b"now a file", 0o644)
        .dir("dir-stays/", 0o755)
        .file("link-becomes-file", b"plain", 0o644)
        .file("same", b"second", 0o644)
        .file("same", b"third", 0o600)
        .finish();
    sb.unpack(vec![gz_source("l1", l1), gz_source("l2", l2)])
        .unwrap();
    let r = &sb.root;
    assert!(r.join("file-becomes-dir").is_dir());
    assert_eq!(lmeta(&r.join("file-becomes-dir")).mode() & 0o777, 0o750);
    assert_eq!(
        std::fs::read(r.join("dir-becomes-file")).unwrap(),
        b"now a file"
    );
    assert_eq!(std::fs::read(r.join("dir-stays/kept")).unwrap(), b"k");
    assert_eq!(lmeta(&r.join("dir-stays")).mode() & 0o777, 0o755);
    assert!(lmeta(&r.join("link-becomes-file")).is_file());
    assert_eq!(std::fs::read(r.join("same")).unwrap(), b"third");
    sb.assert_outside_untouched();
}

#[test]
fn hardlink_to_a_lower_layer_file() {
    let sb = Sandbox::new();
    let l1 = Layer::new().file("bin/busybox", b"BB", 0o755).finish();
    let l2 = Layer::new()
        .hardlink("bin/sh", "bin/busybox")
        .raw(tar::EntryType::Link, b"/bin/ls", b"/bin/busybox", b"")
        .finish();
    sb.unpack(vec![gz_source("l1", l1), gz_source("l2", l2)])
        .unwrap();
    let ino = lmeta(&sb.root.join("bin/busybox")).ino();
    assert_eq!(lmeta(&sb.root.join("bin/sh")).ino(), ino);
    assert_eq!(lmeta(&sb.root.join("bin/ls")).ino(), ino);
}

#[test]
fn id_map_shifts_owners_capabilities_and_acls() {
    let sb = Sandbox::new();
    // security.capability v2: cap_net_raw permitted + effective.
    let mut cap = 0x0200_0001u32.to_le_bytes().to_vec();
    cap.extend_from_slice(&[0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (1u16, 6u16, u32::MAX),
        (2, 6, 1000),
        (4, 4, u32::MAX),
        (8, 4, 33),
        (0x10, 6, u32::MAX),
        (0x20, 4, u32::MAX),
    ] {
        acl.extend_from_slice(&tag.to_le_bytes());
        acl.extend_from_slice(&perm.to_le_bytes());
        acl.extend_from_slice(&id.to_le_bytes());
    }
    let l = Layer::new()
        .file_owned("home/user/file", b"u", 0o640, 1000, 1000)
        .pax(&[("SCHILY.xattr.security.capability", &cap)])
        .file("bin/ping", b"ELF", 0o755)
        .pax(&[("SCHILY.xattr.system.posix_acl_access", &acl)])
        .file("acl", b"a", 0o664)
        .symlink("home/user/link", "file")
        .finish();
    let opts = UnpackOptions {
        id_map: IdMap::proxmox_unprivileged(),
        ..opts()
    };
    skiff_unpack::unpack_layers(&sb.root, vec![gz_source("l", l)], &opts).unwrap();
    let r = &sb.root;
    let f = lmeta(&r.join("home/user/file"));
    assert_eq!((f.uid(), f.gid()), (101_000, 101_000));
    let link = lmeta(&r.join("home/user/link"));
    assert_eq!((link.uid(), link.gid()), (100_000, 100_000));
    let implicit = lmeta(&r.join("home/user"));
    assert_eq!(
        (implicit.uid(), implicit.gid()),
        (100_000, 100_000),
        "implicit parents belong to the container root"
    );
    let c = xattr_get(&r.join("bin/ping"), "security.capability").unwrap();
    assert_eq!(c.len(), 24, "v2 becomes v3 with a rootid");
    assert_eq!(&c[20..24], &100_000u32.to_le_bytes());
    let a = xattr_get(&r.join("acl"), "system.posix_acl_access").unwrap();
    let ids: Vec<u32> = a[4..]
        .chunks(8)
        .map(|e| u32::from_le_bytes([e[4], e[5], e[6], e[7]]))
        .collect();
    assert!(ids.contains(&101_000) && ids.contains(&100_033), "{ids:?}");

    let bad = Layer::new().file_owned("x", b"", 0o644, 70_000, 0).finish();
    let err = skiff_unpack::unpack_layers(&sb.root, vec![gz_source("sha256:bad", bad)], &opts)
        .unwrap_err();
    assert!(
        matches!(&err, UnpackError::IdNotMapped { layer, entry, id: 70_000, .. } if layer == "sha256:bad" && entry == "x"),
        "{err}"
    );
}

#[test]
fn compressions_and_diff_ids() {
    let sb = Sandbox::new();
    let t1 = Layer::new().file("plain", b"p", 0o644).finish();
    let t2 = Layer::new().file("zstd", b"z", 0o644).finish();
    let layers = vec![
        LayerSource {
            name: "plain".into(),
            compression: Compression::None,
            expected_diff_id: Some(Digest::sha256(&t1)),
            reader: Box::new(std::io::Cursor::new(t1.clone())),
        },
        LayerSource {
            name: "zstd".into(),
            compression: Compression::Zstd,
            expected_diff_id: Some(Digest::sha256(&t2)),
            reader: Box::new(std::io::Cursor::new(zstd::encode_all(&t2[..], 3).unwrap())),
        },
    ];
    let rep = sb.unpack(layers).unwrap();
    assert_eq!(rep.per_layer[1].diff_id, Digest::sha256(&t2));
    assert!(sb.root.join("plain").exists() && sb.root.join("zstd").exists());

    let mut wrong = gz_source("sha256:wrong", t2.clone());
    wrong.expected_diff_id = Some(Digest::sha256(b"something else"));
    let err = sb.unpack(vec![gz_source("ok", t1), wrong]).unwrap_err();
    assert!(
        matches!(&err, UnpackError::DiffIdMismatch { layer, .. } if layer == "sha256:wrong"),
        "{err}"
    );
    assert!(err.to_string().contains("sha256:wrong"));

    let truncated = LayerSource {
        name: "trunc".into(),
        compression: Compression::Gzip,
        expected_diff_id: None,
        reader: Box::new(std::io::Cursor::new(gzip(&t2)[..20].to_vec())),
    };
    let err = sb.unpack(vec![truncated]).unwrap_err();
    assert!(
        matches!(&err, UnpackError::Read { layer, .. } if layer == "trunc"),
        "{err}"
    );
}

#[test]
fn rootless_skips_chown_and_devices_with_one_warning_each() {
    let sb = Sandbox::new();
    let l = Layer::new()
        .file_owned("a", b"a", 0o644, 33, 33)
        .file_owned("b", b"b", 0o644, 34, 34)
        .node("dev/null", EntryType::Char, 0o666, 1, 3)
        .node("dev/zero", EntryType::Char, 0o666, 1, 5)
        .node("fifo", EntryType::Fifo, 0o644, 0, 0)
        .dir("ro/", 0o555)
        .file("ro/inside", b"i", 0o444)
        .finish();
    let opts = UnpackOptions {
        rootless: true,
        ..opts()
    };
    let rep = skiff_unpack::unpack_layers(&sb.root, vec![gz_source("l", l)], &opts).unwrap();
    assert_eq!(rep.warnings.len(), 2, "{:?}", rep.warnings);
    assert!(!sb.root.join("dev/null").exists());
    assert!(lmeta(&sb.root.join("fifo")).file_type().is_fifo());
    assert_eq!(lmeta(&sb.root.join("a")).uid(), 0);
    assert_eq!(
        lmeta(&sb.root.join("ro")).permissions().mode() & 0o777,
        0o555
    );
    assert!(sb.root.join("ro/inside").exists());
}

#[test]
fn limits_on_entries_and_paths() {
    let sb = Sandbox::new();
    let mut l = Layer::new();
    for i in 0..20 {
        l.file(&format!("f{i}"), b"", 0o644);
    }
    let opts = UnpackOptions {
        limits: Limits {
            max_entries: 10,
            ..Limits::default()
        },
        ..opts()
    };
    let err = skiff_unpack::unpack_layers(&sb.root, vec![gz_source("many", l.finish())], &opts)
        .unwrap_err();
    assert!(matches!(err, UnpackError::TooManyEntries { .. }), "{err}");
    let l = Layer::new().file(&"x/".repeat(100), b"", 0o644).finish();
    let opts = UnpackOptions {
        limits: Limits {
            max_path_len: 64,
            ..Limits::default()
        },
        ..common::opts()
    };
    let err = skiff_unpack::unpack_layers(&sb.root, vec![gz_source("long", l)], &opts).unwrap_err();
    assert!(matches!(err, UnpackError::PathTooLong { .. }), "{err}");
}

#[test]
fn single_threaded_writer_gives_the_same_tree() {
    let sb = Sandbox::new();
    let l = Layer::new()
        .file("a/b", b"1", 0o644)
        .file("a/c", &[7u8; 600_000], 0o600)
        .finish();
    let opts = UnpackOptions {
        threads: 0,
        ..opts()
    };
    skiff_unpack::unpack_layers(&sb.root, vec![gz_source("l", l)], &opts).unwrap();
    assert_eq!(std::fs::read(sb.root.join("a/c")).unwrap().len(), 600_000);
}

/// Small files are created by the writer threads while the applying thread reads on;
/// whatever depends on one of them later in the layer must still see it, in archive
/// order.
#[test]
fn entries_after_queued_small_files_see_them() {
    let sb = Sandbox::new();
    let l1 = Layer::new()
        .file("d/old", b"o", 0o644)
        .file("lowerdir/inner", b"i", 0o644)
        .finish();
    let mut l2 = Layer::new();
    l2.file("x", b"a file first", 0o644)
        .dir("x/", 0o750)
        .file("x/y", b"y", 0o644)
        .file("t", b"T", 0o640)
        .hardlink("h", "t")
        .file("s", b"S", 0o644)
        .symlink("s", "elsewhere")
        .file("d/new", b"N", 0o644)
        .file("d/.wh.old", b"", 0o644)
        .file("lowerdir", b"now a file", 0o600)
        .hardlink("lowerdir-hl", "lowerdir");
    for i in 0..300 {
        l2.file(&format!("many/f{i}"), format!("{i}").as_bytes(), 0o644);
    }
    l2.hardlink("many-last", "many/f299");
    sb.unpack(vec![gz_source("l1", l1), gz_source("l2", l2.finish())])
        .unwrap();
    let r = &sb.root;
    assert!(lmeta(&r.join("x")).is_dir());
    assert_eq!(lmeta(&r.join("x")).mode() & 0o777, 0o750);
    assert_eq!(std::fs::read(r.join("x/y")).unwrap(), b"y");
    assert_eq!(lmeta(&r.join("h")).ino(), lmeta(&r.join("t")).ino());
    assert_eq!(std::fs::read(r.join("h")).unwrap(), b"T");
    assert_eq!(lmeta(&r.join("h")).mode() & 0o777, 0o640);
    assert_eq!(
        std::fs::read_link(r.join("s")).unwrap().to_str(),
        Some("elsewhere")
    );
    assert_eq!(std::fs::read(r.join("d/new")).unwrap(), b"N");
    assert!(!r.join("d/old").exists());
    assert_eq!(std::fs::read(r.join("lowerdir-hl")).unwrap(), b"now a file");
    assert_eq!(
        lmeta(&r.join("lowerdir-hl")).ino(),
        lmeta(&r.join("lowerdir")).ino()
    );
    for i in 0..300 {
        let got = std::fs::read(r.join(format!("many/f{i}"))).unwrap();
        assert_eq!(got, format!("{i}").as_bytes());
    }
    assert_eq!(std::fs::read(r.join("many-last")).unwrap(), b"299");
    sb.assert_outside_untouched();
}

/// A small file that replaces a lower directory, then an entry that still expects that
/// directory: refused as it would be without the writers' head start, never written
/// into the removed directory.
#[test]
fn an_entry_under_a_directory_replaced_by_a_queued_file_is_refused() {
    let sb = Sandbox::new();
    let l1 = Layer::new().file("a/b/t", b"t", 0o644).finish();
    let l2 = Layer::new()
        .hardlink("l", "a/b/t")
        .file("a", b"a file now", 0o644)
        .file("a/b/x", b"x", 0o644)
        .finish();
    let err = sb
        .unpack(vec![gz_source("l1", l1), gz_source("l2", l2)])
        .unwrap_err();
    assert!(err.to_string().contains("a/b/x"), "{err}");
    assert_eq!(std::fs::read(sb.root.join("a")).unwrap(), b"a file now");
    sb.assert_outside_untouched();
}
