//! Hostile layers: each is refused or contained, and after each nothing outside the
//! rootfs (the sibling `sentinel/` and the tempdir itself) was created or changed.

mod common;

use std::os::unix::fs::MetadataExt;

use common::*;
use skiff_oci::media_type::Compression;
use skiff_unpack::{LayerSource, UnpackError};
use tar::EntryType;

#[test]
fn dotdot_escape_is_refused() {
    let sb = Sandbox::new();
    for name in [
        &b"../escape"[..],
        b"a/../../escape",
        b"/../sentinel/secret",
        b"./../sentinel/secret",
    ] {
        let l = Layer::new()
            .raw(EntryType::Regular, name, b"", b"pwned")
            .finish();
        let err = sb.unpack(vec![gz_source("sha256:hostile", l)]).unwrap_err();
        assert!(
            matches!(&err, UnpackError::Traversal { layer, .. } if layer == "sha256:hostile"),
            "{err}"
        );
        assert!(err.to_string().contains("escape") || err.to_string().contains("secret"));
        sb.assert_outside_untouched();
    }
}

#[test]
fn absolute_paths_land_inside() {
    let sb = Sandbox::new();
    let abs = format!("{}/secret", sb.sentinel_str());
    let l = Layer::new()
        .raw(EntryType::Regular, b"/abs/escape", b"", b"inside")
        .raw(EntryType::Regular, abs.as_bytes(), b"", b"inside too")
        .finish();
    sb.unpack(vec![gz_source("l", l)]).unwrap();
    assert_eq!(
        std::fs::read(sb.root.join("abs/escape")).unwrap(),
        b"inside"
    );
    assert_eq!(
        std::fs::read(sb.root.join(abs.trim_start_matches('/'))).unwrap(),
        b"inside too"
    );
    sb.assert_outside_untouched();
}

#[test]
fn writes_through_escaping_symlinks_stay_inside() {
    let sb = Sandbox::new();
    let s = sb.sentinel_str();
    let up = "../".repeat(20);
    let l1 = Layer::new()
        .symlink("evil", "/")
        .symlink("rel", &up)
        .symlink("sent", &s)
        .symlink("sentrel", &format!("{up}{}", s.trim_start_matches('/')))
        .symlink("dangling", &format!("{s}/newdir"))
        .finish();
    // Same layer and the next one.
    let l2 = Layer::new()
        .file("evil/file", b"1", 0o644)
        .file("rel/file2", b"2", 0o644)
        .file("sent/secret", b"overwritten?", 0o644)
        .file("sentrel/sub/passwd", b"overwritten?", 0o644)
        .dir("sent/sub/", 0o777)
        .file("dangling/created", b"3", 0o644)
        .finish();
    sb.unpack(vec![gz_source("l1", l1), gz_source("l2", l2)])
        .unwrap();
    let r = &sb.root;
    assert_eq!(std::fs::read(r.join("file")).unwrap(), b"1");
    assert_eq!(std::fs::read(r.join("file2")).unwrap(), b"2");
    let inside = r.join(s.trim_start_matches('/'));
    assert_eq!(
        std::fs::read(inside.join("secret")).unwrap(),
        b"overwritten?"
    );
    assert_eq!(
        std::fs::read(inside.join("sub/passwd")).unwrap(),
        b"overwritten?"
    );
    assert_eq!(std::fs::read(inside.join("newdir/created")).unwrap(), b"3");
    // The symlinks themselves are kept exactly as written.
    assert_eq!(
        std::fs::read_link(r.join("sent")).unwrap().to_str(),
        Some(s.as_str())
    );
    sb.assert_outside_untouched();
}

#[test]
fn replacing_or_chmodding_a_symlink_never_follows_it() {
    let sb = Sandbox::new();
    let s = sb.sentinel_str();
    let l1 = Layer::new()
        .symlink("f", &format!("{s}/secret"))
        .symlink("d", &format!("{s}/sub"))
        .symlink("h", &format!("{s}/secret"))
        .finish();
    let l2 = Layer::new()
        .file("f", b"replaced the link", 0o4777)
        .dir("d/", 0o777)
        .hardlink("h2", "h")
        .symlink("f2", &format!("{s}/secret"))
        .finish();
    sb.unpack(vec![gz_source("l1", l1), gz_source("l2", l2)])
        .unwrap();
    assert!(std::fs::symlink_metadata(sb.root.join("f"))
        .unwrap()
        .is_file());
    assert!(std::fs::symlink_metadata(sb.root.join("d"))
        .unwrap()
        .is_dir());
    // A hard link to a symlink links the symlink itself.
    assert!(std::fs::symlink_metadata(sb.root.join("h2"))
        .unwrap()
        .file_type()
        .is_symlink());
    sb.assert_outside_untouched();
}

#[test]
fn hardlinks_out_of_the_root_are_refused() {
    let sb = Sandbox::new();
    let s = sb.sentinel_str();
    let l = Layer::new()
        .raw(EntryType::Link, b"pw", b"../../etc/passwd", b"")
        .finish();
    let err = sb.unpack(vec![gz_source("sha256:hl", l)]).unwrap_err();
    assert!(
        matches!(&err, UnpackError::HardlinkOutside { layer, entry, .. } if layer == "sha256:hl" && entry == "pw"),
        "{err}"
    );
    // Through a symlink that points out: resolved inside the root, where nothing exists.
    let l1 = Layer::new().symlink("out", &s).finish();
    let l2 = Layer::new().hardlink("stolen", "out/secret").finish();
    let err = sb
        .unpack(vec![gz_source("l1", l1), gz_source("l2", l2)])
        .unwrap_err();
    assert!(matches!(&err, UnpackError::HardlinkOutside { .. }), "{err}");
    assert!(!sb.root.join("stolen").exists());
    // Absolute target outside: also resolved inside, so refused as missing.
    let abs = format!("{s}/secret");
    let l = Layer::new()
        .raw(EntryType::Link, b"abs", abs.as_bytes(), b"")
        .finish();
    assert!(matches!(
        sb.unpack(vec![gz_source("l", l)]),
        Err(UnpackError::HardlinkOutside { .. })
    ));
    assert_eq!(
        std::fs::metadata(sb.sentinel.join("secret"))
            .unwrap()
            .nlink(),
        1
    );
    sb.assert_outside_untouched();
}

#[test]
fn bad_whiteouts_are_refused() {
    let sb = Sandbox::new();
    for name in [
        &b".wh.."[..],
        b".wh...",
        b"dir/.wh.",
        b".wh.../x",
        b"a/.wh.b/c",
    ] {
        let l = Layer::new()
            .raw(EntryType::Regular, name, b"", b"")
            .finish();
        let err = sb.unpack(vec![gz_source("sha256:wh", l)]).unwrap_err();
        assert!(
            matches!(&err, UnpackError::BadWhiteout { layer, .. } if layer == "sha256:wh"),
            "{}: {err}",
            String::from_utf8_lossy(name)
        );
        sb.assert_outside_untouched();
    }
}

#[test]
fn whiteouts_through_symlinks_stay_inside() {
    let sb = Sandbox::new();
    let s = sb.sentinel_str();
    let l1 = Layer::new()
        .symlink("out", &s)
        .symlink("top", "/")
        .symlink("up", "../../..")
        .finish();
    let l2 = Layer::new()
        .file("out/.wh.secret", b"", 0o644)
        .file("out/sub/.wh..wh..opq", b"", 0o644)
        .file("up/.wh.sentinel", b"", 0o644)
        .file("top/.wh..wh..opq", b"", 0o644)
        .finish();
    sb.unpack(vec![gz_source("l1", l1), gz_source("l2", l2)])
        .unwrap();
    sb.assert_outside_untouched();
}

#[test]
fn symlink_loops_are_an_error_not_a_hang() {
    let sb = Sandbox::new();
    let l = Layer::new()
        .symlink("a", "b")
        .symlink("b", "a")
        .file("a/x", b"", 0o644)
        .finish();
    let err = sb.unpack(vec![gz_source("loop", l)]).unwrap_err();
    assert!(
        matches!(&err, UnpackError::SymlinkEscape { entry, .. } if entry == "a/x"),
        "{err}"
    );
    sb.assert_outside_untouched();
}

#[test]
fn decompression_bomb_is_refused() {
    let sb = Sandbox::new();
    // 200 MB of zeros in one file, gzipped at the best ratio deflate can do.
    struct Zeros(u64);
    impl std::io::Read for Zeros {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0 as usize);
            buf[..n].fill(0);
            self.0 -= n as u64;
            Ok(n)
        }
    }
    let size = 200u64 << 20;
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(EntryType::Regular);
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::best(),
    ));
    b.append_data(&mut h, "bomb", Zeros(size)).unwrap();
    let gz = b.into_inner().unwrap().finish().unwrap();
    let layer = LayerSource {
        name: "sha256:bomb".into(),
        compression: Compression::Gzip,
        expected_diff_id: None,
        reader: Box::new(std::io::Cursor::new(gz)),
    };
    let err = sb.unpack(vec![layer]).unwrap_err();
    assert!(
        matches!(&err, UnpackError::RatioExceeded { layer, .. } if layer == "sha256:bomb"),
        "{err}"
    );
    // Refused early, not after writing 200 MB.
    let written = std::fs::metadata(sb.root.join("bomb"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(
        written < 64 << 20,
        "{written} bytes written before the refusal"
    );
    sb.assert_outside_untouched();

    // zstd reaches far higher ratios.
    let tar = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = h.clone();
        b.append_data(&mut h, "zbomb", Zeros(size)).unwrap();
        b.into_inner().unwrap()
    };
    let layer = LayerSource {
        name: "sha256:zbomb".into(),
        compression: Compression::Zstd,
        expected_diff_id: None,
        reader: Box::new(std::io::Cursor::new(
            zstd::encode_all(&tar[..], 19).unwrap(),
        )),
    };
    assert!(matches!(
        sb.unpack(vec![layer]),
        Err(UnpackError::RatioExceeded { .. })
    ));
}

#[test]
fn non_directory_root_entries_and_odd_types_are_refused() {
    let sb = Sandbox::new();
    let l = Layer::new()
        .raw(EntryType::Regular, b"./", b"", b"x")
        .finish();
    assert!(matches!(
        sb.unpack(vec![gz_source("l", l)]),
        Err(UnpackError::Invalid { .. })
    ));
    let l = Layer::new()
        .raw(EntryType::Symlink, b"/", b"/etc", b"")
        .finish();
    assert!(matches!(
        sb.unpack(vec![gz_source("l", l)]),
        Err(UnpackError::Invalid { .. })
    ));
    let l = Layer::new()
        .raw(EntryType::Link, b"dir-link", b"", b"")
        .finish();
    assert!(sb.unpack(vec![gz_source("l", l)]).is_err());
    sb.assert_outside_untouched();
}
