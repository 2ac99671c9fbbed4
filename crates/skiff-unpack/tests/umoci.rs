//! The same image unpacked by the real `umoci unpack` (0.4.7) and by skiff must give the
//! same tree: path, type, mode, owner, size, content, link target, xattrs, device
//! numbers, and mtimes of everything but directories.
//!
//! The OCI layout is written by a small local writer below; switch to
//! `skiff_testbed::image` once that crate lands (its API was not there yet).

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::*;
use skiff_oci::media_type::Compression;
use skiff_oci::Digest;
use skiff_unpack::LayerSource;
use tar::EntryType;

struct Blob {
    media_type: &'static str,
    bytes: Vec<u8>,
}

fn put(dir: &Path, bytes: &[u8]) -> Digest {
    let d = Digest::sha256(bytes);
    let p = dir.join(d.layout_path());
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
    d
}

/// Writes an OCI layout with one manifest tagged `tag`; layers are (media type, blob,
/// uncompressed tar).
fn write_layout(dir: &Path, tag: &str, layers: &[(Blob, Vec<u8>)]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|(_, t)| format!("\"{}\"", Digest::sha256(t)))
        .collect();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":[{}]}},"history":[]}}"#,
        diff_ids.join(",")
    );
    let cd = put(dir, config.as_bytes());
    let descs: Vec<String> = layers
        .iter()
        .map(|(b, _)| {
            let d = put(dir, &b.bytes);
            format!(
                r#"{{"mediaType":"{}","digest":"{d}","size":{}}}"#,
                b.media_type,
                b.bytes.len()
            )
        })
        .collect();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{}}},"layers":[{}]}}"#,
        config.len(),
        descs.join(",")
    );
    let md = put(dir, manifest.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{md}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"{tag}"}}}}]}}"#,
        manifest.len()
    );
    std::fs::write(dir.join("index.json"), index).unwrap();
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

fn describe(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = std::fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let ft = md.file_type();
        let (kind, extra) = if ft.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
            ("dir", String::new())
        } else if ft.is_symlink() {
            (
                "symlink",
                format!("-> {:?}", std::fs::read_link(&p).unwrap()),
            )
        } else if ft.is_file() {
            (
                "file",
                Digest::sha256(&std::fs::read(&p).unwrap()).to_string(),
            )
        } else {
            ("special", format!("rdev={:x}", md.rdev()))
        };
        let mut xattrs = Vec::new();
        let mut names = vec![0u8; 65536];
        let n = rustix::fs::llistxattr(&p, &mut names).unwrap_or(0);
        for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
            let mut v = vec![0u8; 65536];
            let vn = rustix::fs::lgetxattr(&p, name, &mut v).unwrap_or(0);
            xattrs.push(format!("{}={:?}", String::from_utf8_lossy(name), &v[..vn]));
        }
        xattrs.sort();
        let mtime = if ft.is_dir() {
            String::new()
        } else {
            format!("{}.{}", md.mtime(), md.mtime_nsec())
        };
        if rel.is_empty() {
            continue; // the root directory itself: umoci gives it the bundle's defaults
        }
        out.insert(
            rel,
            format!(
                "{kind} mode={:o} {}:{} size={} {extra} xattrs={xattrs:?} mtime={mtime}",
                md.mode() & 0o7777,
                md.uid(),
                md.gid(),
                if ft.is_dir() { 0 } else { md.size() }
            ),
        );
    }
    out
}

#[test]
fn same_tree_as_umoci() {
    if Command::new("umoci").arg("--version").output().is_err() {
        eprintln!("umoci not installed; skipping");
        return;
    }
    let tars = image();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let blobs: Vec<(Blob, Vec<u8>)> = tars
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let blob = if i == 2 {
                Blob {
                    media_type: "application/vnd.oci.image.layer.v1.tar",
                    bytes: t.clone(),
                }
            } else {
                Blob {
                    media_type: "application/vnd.oci.image.layer.v1.tar+gzip",
                    bytes: gzip(t),
                }
            };
            (blob, t.clone())
        })
        .collect();
    write_layout(&layout, "t", &blobs);
    let bundle = dir.path().join("bundle");
    let out = Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:t", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "umoci failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let ours = dir.path().join("ours");
    std::fs::create_dir(&ours).unwrap();
    let sources: Vec<LayerSource> = blobs
        .into_iter()
        .enumerate()
        .map(|(i, (b, t))| LayerSource {
            name: format!("layer{i}"),
            compression: if i == 2 {
                Compression::None
            } else {
                Compression::Gzip
            },
            expected_diff_id: Some(Digest::sha256(&t)),
            reader: Box::new(std::io::Cursor::new(b.bytes)),
        })
        .collect();
    let rep = skiff_unpack::unpack_layers(&ours, sources, &opts()).unwrap();
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);

    let theirs = describe(&bundle.join("rootfs"));
    let mine = describe(&ours);
    let mut diffs = Vec::new();
    for k in theirs
        .keys()
        .chain(mine.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (a, b) = (theirs.get(k), mine.get(k));
        if a != b {
            diffs.push(format!("{k}:\n  umoci: {a:?}\n  skiff: {b:?}"));
        }
    }
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

/// The same comparison on an image built with skiff-testbed's builders (gzip, zstd and
/// plain layers, written by its `write_oci_layout`).
#[test]
fn same_tree_as_umoci_testbed_image() {
    use skiff_testbed::image::{
        write_oci_layout, Compression as TbC, Format, ImageBuilder, LayerBuilder, LongName,
    };
    if Command::new("umoci").arg("--version").output().is_err() {
        return;
    }
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
    let out = Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:t", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("zstd") {
        eprintln!("this umoci cannot read zstd layers; skipping");
        return;
    }
    assert!(
        out.status.success(),
        "umoci failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = dir.path().join("ours");
    std::fs::create_dir(&ours).unwrap();
    let sources: Vec<LayerSource> = img
        .layers
        .iter()
        .zip(img.diff_ids())
        .map(|(blob, diff)| LayerSource {
            name: blob.digest.clone(),
            compression: skiff_oci::media_type::layer_compression(&blob.media_type),
            expected_diff_id: Some(diff.parse().unwrap()),
            reader: Box::new(std::io::Cursor::new(blob.data.clone())),
        })
        .collect();
    skiff_unpack::unpack_layers(&ours, sources, &opts()).unwrap();
    let (theirs, mine) = (describe(&bundle.join("rootfs")), describe(&ours));
    let diffs: Vec<String> = theirs
        .keys()
        .chain(mine.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| theirs.get(*k) != mine.get(*k))
        .map(|k| {
            format!(
                "{k}:\n  umoci: {:?}\n  skiff: {:?}",
                theirs.get(k),
                mine.get(k)
            )
        })
        .collect();
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
