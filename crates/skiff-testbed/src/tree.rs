//! Comparing root filesystems entry by entry, so that skiff's unpack can be checked
//! against a reference unpacker (umoci) and hostile-layer tests can prove that nothing
//! outside a root changed.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Every entry below `root` (the root itself excluded) as `path → description`: type,
/// permission bits, owner, size, content sha256 or link target or device number, sorted
/// xattrs, and the mtime — of directories too, so that a comparison checks that an
/// unpacker restored the mtime of a lower-layer directory a later layer only passed
/// through (added or removed something inside).
///
/// One exception, where no two unpackers can agree: a directory no layer lists (an
/// implicit parent such as `dev/` for `dev/null`) has no time of its own and keeps the
/// moment it was created — umoci and skiff alike. Such a directory's mtime is written as
/// `recent` (within [`RECENT`] of now); test images carry fixed times years old
/// (`image::layer::DEFAULT_MTIME`), so every directory an image does list keeps its exact time.
pub fn describe(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let rel = p
            .strip_prefix(root)
            .map(|r| r.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ft = md.file_type();
        let (kind, extra) = if ft.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&p) {
                stack.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
            }
            ("dir", String::new())
        } else if ft.is_symlink() {
            (
                "symlink",
                format!("-> {:?}", std::fs::read_link(&p).unwrap_or_default()),
            )
        } else if ft.is_file() {
            (
                "file",
                hex::encode(Sha256::digest(std::fs::read(&p).unwrap_or_default())),
            )
        } else {
            ("special", format!("rdev={:x}", md.rdev()))
        };
        if rel.is_empty() {
            continue; // the root directory itself: each unpacker gives it its own defaults
        }
        let mtime = if ft.is_dir() && is_recent(md.mtime()) {
            "recent".to_string()
        } else {
            format!("{}.{}", md.mtime(), md.mtime_nsec())
        };
        out.insert(
            rel,
            format!(
                "{kind} mode={:o} {}:{} size={} {extra} xattrs={:?} mtime={mtime}",
                md.mode() & 0o7777,
                md.uid(),
                md.gid(),
                if ft.is_dir() { 0 } else { md.size() },
                xattrs(&p)
            ),
        );
    }
    out
}

/// How close to now a directory mtime must be to count as "created while unpacking".
pub const RECENT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// How far ahead of the clock a "recent" mtime may be. A time that went through a tar
/// header can come back rounded up to the next second (umoci's layers do): described
/// within that second, a directory just made looked a second old in the future, and
/// the umoci comparison failed now and then.
const AHEAD: i64 = 60;

fn is_recent(mtime: i64) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let age = i64::try_from(now).unwrap_or(i64::MAX).saturating_sub(mtime);
    (-AHEAD..RECENT.as_secs() as i64).contains(&age)
}

/// The paths whose descriptions differ, each with both descriptions, for an assertion
/// message; empty when the trees are the same.
pub fn differences(
    expected: &BTreeMap<String, String>,
    actual: &BTreeMap<String, String>,
) -> Vec<String> {
    expected
        .keys()
        .chain(actual.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| expected.get(*k) != actual.get(*k))
        .map(|k| {
            format!(
                "{k}:\n  expected: {:?}\n  actual:   {:?}",
                expected.get(k),
                actual.get(k)
            )
        })
        .collect()
}

fn xattrs(p: &Path) -> Vec<String> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = CString::new(p.as_os_str().as_bytes()) else {
        return Vec::new();
    };
    let mut names = vec![0u8; 65536];
    // SAFETY: valid path and buffer of the given length.
    let n = unsafe { libc::llistxattr(path.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    let n = usize::try_from(n).unwrap_or(0);
    let mut out: Vec<String> = names[..n]
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(|name| {
            let cname = CString::new(name).unwrap_or_default();
            let mut v = vec![0u8; 65536];
            // SAFETY: valid path, name and buffer of the given length.
            let vn = unsafe {
                libc::lgetxattr(
                    path.as_ptr(),
                    cname.as_ptr(),
                    v.as_mut_ptr().cast(),
                    v.len(),
                )
            };
            let vn = usize::try_from(vn).unwrap_or(0);
            format!("{}={:?}", String::from_utf8_lossy(name), &v[..vn])
        })
        .collect();
    out.sort();
    out
}
