//! Helpers shared by the integration tests: layer builders (tar crate as a writer, raw
//! headers for names the builder refuses) and a snapshot of everything outside the root.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use skiff_oci::media_type::Compression;
use skiff_oci::Digest;
use skiff_unpack::{LayerSource, UnpackError, UnpackOptions, UnpackReport};
use tar::{EntryType, Header};

pub const MTIME: u64 = 1_600_000_000;

pub struct Layer {
    b: tar::Builder<Vec<u8>>,
}

impl Default for Layer {
    fn default() -> Self {
        Self::new()
    }
}

fn header(ty: EntryType, mode: u32, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(ty);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h
}

impl Layer {
    pub fn new() -> Self {
        Layer {
            b: tar::Builder::new(Vec::new()),
        }
    }

    pub fn entry(&mut self, mut h: Header, path: &str, data: &[u8]) -> &mut Self {
        self.b.append_data(&mut h, path, data).unwrap();
        self
    }

    pub fn file(&mut self, path: &str, data: &[u8], mode: u32) -> &mut Self {
        self.entry(
            header(EntryType::Regular, mode, data.len() as u64),
            path,
            data,
        )
    }

    pub fn file_owned(
        &mut self,
        path: &str,
        data: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> &mut Self {
        let mut h = header(EntryType::Regular, mode, data.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        self.entry(h, path, data)
    }

    pub fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        self.entry(header(EntryType::Directory, mode, 0), path, b"")
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = header(EntryType::Symlink, 0o777, 0);
        self.b.append_link(&mut h, path, target).unwrap();
        self
    }

    pub fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = header(EntryType::Link, 0o644, 0);
        self.b.append_link(&mut h, path, target).unwrap();
        self
    }

    pub fn node(
        &mut self,
        path: &str,
        ty: EntryType,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> &mut Self {
        let mut h = header(ty, mode, 0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.entry(h, path, b"")
    }

    /// A PAX-extended entry (xattrs, long names, big ids).
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        self.b
            .append_pax_extensions(records.iter().map(|(k, v)| (*k, *v)))
            .unwrap();
        self
    }

    /// An entry whose name (and link name) bytes are written into the header as they
    /// are, bypassing the builder's checks — for hostile names.
    pub fn raw(&mut self, ty: EntryType, name: &[u8], link: &[u8], data: &[u8]) -> &mut Self {
        let mut h = header(ty, 0o644, data.len() as u64);
        {
            let old = h.as_old_mut();
            old.name = [0; 100];
            old.name[..name.len()].copy_from_slice(name);
            old.linkname = [0; 100];
            old.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.b, tar::Builder::new(Vec::new()));
        b.into_inner().unwrap()
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A gzip layer source with the correct diff_id.
pub fn gz_source(name: &str, tar: Vec<u8>) -> LayerSource {
    LayerSource {
        name: name.to_string(),
        compression: Compression::Gzip,
        expected_diff_id: Some(Digest::sha256(&tar)),
        reader: Box::new(std::io::Cursor::new(gzip(&tar))),
    }
}

pub fn opts() -> UnpackOptions {
    UnpackOptions {
        rootless: false,
        ..UnpackOptions::default()
    }
}

/// A tempdir holding `root/` (the rootfs) and `sentinel/` (must never change), with a
/// file and a directory in the sentinel for hostile layers to aim at.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub sentinel: PathBuf,
    before: BTreeMap<PathBuf, String>,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let sentinel = dir.path().join("sentinel");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir_all(sentinel.join("sub")).unwrap();
        std::fs::write(sentinel.join("secret"), b"do not touch").unwrap();
        std::fs::write(sentinel.join("sub/passwd"), b"root:x:0:0").unwrap();
        let before = snapshot_outside(dir.path());
        Sandbox {
            dir,
            root,
            sentinel,
            before,
        }
    }

    pub fn unpack(&self, layers: Vec<LayerSource>) -> Result<UnpackReport, UnpackError> {
        skiff_unpack::unpack_layers(&self.root, layers, &opts())
    }

    /// Asserts that nothing outside `root/` was created, removed or changed.
    pub fn assert_outside_untouched(&self) {
        let after = snapshot_outside(self.dir.path());
        assert_eq!(self.before, after, "something outside the rootfs changed");
    }

    pub fn sentinel_str(&self) -> String {
        self.sentinel.to_str().unwrap().to_string()
    }
}

/// Every path under `top` except `top/root`, with type, mode, owner, size, link count,
/// mtime and content.
fn snapshot_outside(top: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![top.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = std::fs::symlink_metadata(&p).unwrap();
        let content = if md.is_file() {
            format!("{:?}", std::fs::read(&p).unwrap())
        } else if md.file_type().is_symlink() {
            format!("{:?}", std::fs::read_link(&p).unwrap())
        } else {
            String::new()
        };
        out.insert(
            p.clone(),
            format!(
                "{:o} {}:{} {} nlink={} mtime={}.{} {}",
                md.mode(),
                md.uid(),
                md.gid(),
                md.size(),
                md.nlink(),
                md.mtime(),
                md.mtime_nsec(),
                content
            ),
        );
        if md.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                let e = e.unwrap().path();
                if e != top.join("root") {
                    stack.push(e);
                }
            }
        }
    }
    // The tempdir itself changes mtime only if something was created in it.
    out
}
