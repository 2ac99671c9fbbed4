//! Layer tarballs with exactly the entries a test asks for.
//!
//! The unpacker has to cope with every kind of entry a real layer may carry
//! (whiteouts, hard links, device nodes, xattrs, long names) and with hostile
//! ones, so this builder writes entries in call order and never "fixes" them.

use std::collections::BTreeMap;
use std::path::Path;

use tar::{EntryType, Header};

/// Default modification time of entries: a fixed instant so that layers (and
/// therefore digests) are identical from run to run.
pub const DEFAULT_MTIME: u64 = 1_700_000_000;

/// How [`LayerBuilder::long_name_file`] encodes a name longer than the 100
/// bytes of the classic tar header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongName {
    /// GNU `././@LongLink` entry (what GNU tar and the tar crate write).
    Gnu,
    /// PAX extended header with a `path` record (what Go's archive/tar writes).
    Pax,
}

/// Builds an uncompressed layer tarball, entry by entry, in call order.
///
/// Paths are written relative (a leading `/` is stripped) because that is how
/// image layers store them; use [`LayerBuilder::raw`] or
/// [`LayerBuilder::raw_entry`] to write anything else (absolute names, `..`).
///
/// Owner is root (0:0) and the modification time is [`DEFAULT_MTIME`] unless
/// set otherwise. Extended attributes are declared with [`LayerBuilder::xattr`]
/// *before* the entry they belong to; they are written as PAX
/// `SCHILY.xattr.NAME` records in front of that entry.
pub struct LayerBuilder {
    tar: tar::Builder<Vec<u8>>,
    mtime: u64,
    pending_xattrs: BTreeMap<String, Vec<(String, Vec<u8>)>>,
}

impl Default for LayerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

fn rel(path: &str) -> &str {
    let p = path.trim_start_matches('/');
    assert!(
        !p.is_empty(),
        "skiff-testbed: empty path in layer entry {path:?}"
    );
    p
}

/// Encodes PAX extended header records; each record states its own length,
/// including the length digits themselves.
pub fn pax_records(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        out.extend_from_slice(format!("{len} {key}=").as_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

impl LayerBuilder {
    pub fn new() -> Self {
        let mut tar = tar::Builder::new(Vec::new());
        tar.mode(tar::HeaderMode::Complete);
        LayerBuilder {
            tar,
            mtime: DEFAULT_MTIME,
            pending_xattrs: BTreeMap::new(),
        }
    }

    fn header(&self, ty: EntryType, mode: u32, size: u64) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(ty);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(self.mtime);
        h.set_size(size);
        h
    }

    /// Writes the PAX header carrying the xattrs declared for `path`, if any.
    fn flush_xattrs(&mut self, path: &str) {
        let Some(attrs) = self.pending_xattrs.remove(path) else {
            return;
        };
        let keys: Vec<(String, &[u8])> = attrs
            .iter()
            .map(|(n, v)| (format!("SCHILY.xattr.{n}"), v.as_slice()))
            .collect();
        let recs: Vec<(&str, &[u8])> = keys.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        self.pax(path, &recs);
    }

    fn pax(&mut self, path: &str, records: &[(&str, &[u8])]) {
        let data = pax_records(records);
        let mut h = self.header(EntryType::XHeader, 0o644, data.len() as u64);
        let name = format!("PaxHeaders.0/{}", path.rsplit('/').next().unwrap_or(path));
        let name = &name.as_bytes()[..name.len().min(99)];
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        self.tar.append(&h, data.as_slice()).expect("write to Vec");
    }

    fn data_entry(mut self, path: &str, mut h: Header, data: &[u8]) -> Self {
        let path = rel(path);
        self.flush_xattrs(path);
        self.tar
            .append_data(&mut h, path, data)
            .unwrap_or_else(|e| {
                panic!(
                    "skiff-testbed: tar refused entry {path:?}: {e} (use raw() for hostile names)"
                )
            });
        self
    }

    fn link_entry(mut self, ty: EntryType, path: &str, target: &str) -> Self {
        let path = rel(path);
        self.flush_xattrs(path);
        let mut h = self.header(ty, 0o777, 0);
        self.tar
            .append_link(&mut h, path, target)
            .unwrap_or_else(|e| {
                panic!("skiff-testbed: tar refused link {path:?} -> {target:?}: {e}")
            });
        self
    }

    /// A directory.
    pub fn dir(self, path: &str, mode: u32) -> Self {
        let h = self.header(EntryType::Directory, mode, 0);
        self.data_entry(path, h, &[])
    }

    /// A regular file owned by root.
    pub fn file(self, path: &str, mode: u32, contents: &[u8]) -> Self {
        self.file_owned(path, mode, 0, 0, contents)
    }

    /// A regular file with the given owner.
    pub fn file_owned(self, path: &str, mode: u32, uid: u64, gid: u64, contents: &[u8]) -> Self {
        let mut h = self.header(EntryType::Regular, mode, contents.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        self.data_entry(path, h, contents)
    }

    /// A copy of a file of this machine (e.g. `/bin/busybox`), keeping its
    /// permission bits. Panics if the file cannot be read: the test cannot run.
    pub fn host_file(self, path: &str, host_path: &Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let data = std::fs::read(host_path)
            .unwrap_or_else(|e| panic!("skiff-testbed: cannot read {}: {e}", host_path.display()));
        let mode = std::fs::metadata(host_path)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o755);
        self.file(path, mode, &data)
    }

    /// A symbolic link; `target` is stored verbatim (may be absolute or
    /// contain `..`, like real images do).
    pub fn symlink(self, path: &str, target: &str) -> Self {
        self.link_entry(EntryType::Symlink, path, target)
    }

    /// A hard link to an earlier entry (`target` is a path inside the layer).
    pub fn hardlink(self, path: &str, target: &str) -> Self {
        self.link_entry(EntryType::Link, path, rel(target))
    }

    /// An AUFS/OCI whiteout deleting `path` from lower layers: an empty file
    /// named `dir/.wh.NAME`.
    pub fn whiteout(self, path: &str) -> Self {
        let path = rel(path);
        let wh = match path.rsplit_once('/') {
            Some((dir, name)) => format!("{dir}/.wh.{name}"),
            None => format!(".wh.{path}"),
        };
        self.file(&wh, 0o644, &[])
    }

    /// An opaque-directory marker `dir/.wh..wh..opq`: hides everything lower
    /// layers put in `dir`.
    pub fn opaque(self, dir: &str) -> Self {
        let dir = rel(dir).trim_end_matches('/');
        self.file(&format!("{dir}/.wh..wh..opq"), 0o644, &[])
    }

    /// A named pipe.
    pub fn fifo(self, path: &str) -> Self {
        let h = self.header(EntryType::Fifo, 0o644, 0);
        self.data_entry(path, h, &[])
    }

    fn device(self, ty: EntryType, path: &str, major: u32, minor: u32) -> Self {
        let mut h = self.header(ty, 0o666, 0);
        h.set_device_major(major)
            .expect("gnu header has device fields");
        h.set_device_minor(minor)
            .expect("gnu header has device fields");
        self.data_entry(path, h, &[])
    }

    /// A character device node.
    pub fn char_device(self, path: &str, major: u32, minor: u32) -> Self {
        self.device(EntryType::Char, path, major, minor)
    }

    /// A block device node.
    pub fn block_device(self, path: &str, major: u32, minor: u32) -> Self {
        self.device(EntryType::Block, path, major, minor)
    }

    /// Declares an extended attribute (e.g. `user.foo`, `security.capability`)
    /// for the entry at `path`, which must be added *after* this call. Several
    /// calls for the same path accumulate. [`LayerBuilder::build`] panics if a
    /// declared xattr was never attached, so a typo cannot go unnoticed.
    pub fn xattr(mut self, path: &str, name: &str, value: &[u8]) -> Self {
        self.pending_xattrs
            .entry(rel(path).to_string())
            .or_default()
            .push((name.to_string(), value.to_vec()));
        self
    }

    /// Modification time (seconds since the epoch) for the entries added after
    /// this call.
    pub fn mtime(mut self, secs: u64) -> Self {
        self.mtime = secs;
        self
    }

    /// Appends `header` and `data` exactly as given: nothing is validated and
    /// the checksum is *not* recomputed (call `header.set_cksum()` unless a bad
    /// checksum is the point). Use it for hostile layers.
    pub fn raw(mut self, header: Header, data: &[u8]) -> Self {
        self.tar.append(&header, data).expect("write to Vec");
        self
    }

    /// Appends an entry whose name (and link name) bytes are put in the header
    /// verbatim, bypassing the tar crate's checks: `../../etc/passwd`,
    /// `/etc/shadow`, `a/../../b`. Names are limited to 100 bytes. The checksum
    /// is computed. `link` is ignored unless non-empty.
    pub fn raw_entry(
        self,
        name: &[u8],
        ty: EntryType,
        mode: u32,
        link: &[u8],
        data: &[u8],
    ) -> Self {
        assert!(
            name.len() <= 100 && link.len() <= 100,
            "raw_entry names are limited to 100 bytes"
        );
        let mut h = self.header(ty, mode, data.len() as u64);
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..name.len()].copy_from_slice(name);
        old.linkname = [0; 100];
        old.linkname[..link.len()].copy_from_slice(link);
        h.set_cksum();
        self.raw(h, data)
    }

    /// A regular file whose path is longer than 100 bytes, encoded the way
    /// `style` says (GNU long-name entry or PAX `path` record).
    pub fn long_name_file(
        mut self,
        path: &str,
        mode: u32,
        contents: &[u8],
        style: LongName,
    ) -> Self {
        let path = rel(path);
        match style {
            LongName::Gnu => {
                // The tar crate switches to a GNU long-name entry by itself
                // once the name does not fit.
                let h = self.header(EntryType::Regular, mode, contents.len() as u64);
                self.data_entry(path, h, contents)
            }
            LongName::Pax => {
                let mut records: Vec<(String, Vec<u8>)> =
                    vec![("path".into(), path.as_bytes().to_vec())];
                if let Some(attrs) = self.pending_xattrs.remove(path) {
                    records.extend(
                        attrs
                            .into_iter()
                            .map(|(n, v)| (format!("SCHILY.xattr.{n}"), v)),
                    );
                }
                let recs: Vec<(&str, &[u8])> = records
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_slice()))
                    .collect();
                self.pax(path, &recs);
                let mut h = self.header(EntryType::Regular, mode, contents.len() as u64);
                let short = &path.as_bytes()[..path.len().min(100)];
                h.as_old_mut().name[..short.len()].copy_from_slice(short);
                h.set_cksum();
                self.tar.append(&h, contents).expect("write to Vec");
                self
            }
        }
    }

    /// Finishes the archive (two zero blocks) and returns the uncompressed tar.
    pub fn build(mut self) -> Vec<u8> {
        assert!(
            self.pending_xattrs.is_empty(),
            "skiff-testbed: xattrs declared for paths never added: {:?}",
            self.pending_xattrs.keys().collect::<Vec<_>>()
        );
        self.tar.finish().expect("write to Vec");
        self.tar.into_inner().expect("write to Vec")
    }
}
