//! One tar entry, parsed and validated on the decompression thread, in a form the
//! applying thread can act on without touching the tar stream again.

use tar::EntryType;

use crate::path::CleanPath;
use crate::{Limits, UnpackError};

/// What the entry asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink(Vec<u8>),
    Hardlink(CleanPath),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
    /// `.wh.NAME`: remove NAME (the entry's path is already NAME).
    Whiteout,
    /// `.wh..wh..opq`: empty the directory (the entry's path is the directory).
    Opaque,
    /// Nothing to do (aufs metadata, PAX global headers, unknown types we may skip).
    Skip,
}

/// A parsed entry. Ids are container ids (mapped by the applier).
#[derive(Debug, Clone)]
pub(crate) struct EntryMeta {
    /// The name as written in the archive, for messages.
    pub(crate) raw: String,
    pub(crate) path: CleanPath,
    pub(crate) kind: Kind,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) mtime: (i64, u32),
    pub(crate) xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) size: u64,
}

const WH: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
const AUFS_META: &[u8] = b".wh..wh.";

/// Parses a tar entry's header and PAX records.
pub(crate) fn parse<R: std::io::Read>(
    entry: &mut tar::Entry<'_, R>,
    layer: &str,
    limits: &Limits,
) -> Result<EntryMeta, UnpackError> {
    let raw_bytes = entry.path_bytes().into_owned();
    let raw = String::from_utf8_lossy(&raw_bytes).into_owned();
    let invalid = |what: String| UnpackError::Invalid {
        layer: layer.to_string(),
        entry: raw.clone(),
        what,
    };
    if raw_bytes.len() > limits.max_path_len {
        return Err(UnpackError::PathTooLong {
            layer: layer.into(),
            entry: raw,
            limit: limits.max_path_len,
        });
    }
    let hdr = entry.header();
    let etype = hdr.entry_type();
    let mode = hdr
        .mode()
        .map_err(|e| invalid(format!("bad mode field: {e}")))?
        & 0o7777;
    let old = hdr.as_old();
    let mut uid =
        lenient(hdr.uid(), &old.uid).map_err(|e| invalid(format!("bad uid field: {e}")))?;
    let mut gid =
        lenient(hdr.gid(), &old.gid).map_err(|e| invalid(format!("bad gid field: {e}")))?;
    let mut mtime = (
        lenient(hdr.mtime(), &old.mtime).map_err(|e| invalid(format!("bad mtime field: {e}")))?
            as i64,
        0u32,
    );
    let dev = |f: std::io::Result<Option<u32>>| {
        f.map(|d| d.unwrap_or(0))
            .map_err(|e| invalid(format!("bad device number: {e}")))
    };
    let (major, minor) = match etype {
        EntryType::Char | EntryType::Block => (dev(hdr.device_major())?, dev(hdr.device_minor())?),
        _ => (0, 0),
    };
    let link = entry.link_name_bytes().map(|l| l.into_owned());
    let size = entry.size();

    let mut xattrs = Vec::new();
    if let Some(exts) = entry
        .pax_extensions()
        .map_err(|e| invalid(format!("bad PAX header: {e}")))?
    {
        for ext in exts {
            let ext = ext.map_err(|e| invalid(format!("bad PAX record: {e}")))?;
            let (k, v) = (ext.key_bytes(), ext.value_bytes());
            let num = |v: &[u8]| {
                std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
            };
            match k {
                b"uid" => uid = num(v).ok_or_else(|| invalid("bad PAX uid".into()))?,
                b"gid" => gid = num(v).ok_or_else(|| invalid("bad PAX gid".into()))?,
                b"mtime" => mtime = pax_time(v).ok_or_else(|| invalid("bad PAX mtime".into()))?,
                _ => {
                    if let Some(name) = k.strip_prefix(b"SCHILY.xattr.") {
                        xattrs.push((name.to_vec(), v.to_vec()));
                    }
                }
            }
        }
    }

    let path = CleanPath::new(&raw_bytes).map_err(|_| UnpackError::Traversal {
        layer: layer.into(),
        entry: raw.clone(),
    })?;

    // Whiteouts are recognised by name whatever their type, as umoci and containerd do.
    let (_, base) = path.split();
    let mut kind = None;
    if let Some(hidden) = base.strip_prefix(WH) {
        let bad = |reason| UnpackError::BadWhiteout {
            layer: layer.into(),
            entry: raw.clone(),
            reason,
        };
        kind = Some(if base == OPAQUE {
            Kind::Opaque
        } else if base.starts_with(AUFS_META) {
            Kind::Skip
        } else if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(bad(
                "a whiteout must name a file ('.', '..' and empty names are refused)",
            ));
        } else {
            Kind::Whiteout
        });
    }
    let (parent, _) = path.split();
    if parent.split(|&b| b == b'/').any(|c| c.starts_with(WH)) {
        return Err(UnpackError::BadWhiteout {
            layer: layer.into(),
            entry: raw,
            reason: "a whiteout name is used as a directory",
        });
    }
    let path = match &kind {
        Some(Kind::Whiteout) => {
            let (dir, base) = path.split();
            CleanPath::new(dir)
                .unwrap_or_default()
                .join(&base[WH.len()..])
        }
        Some(Kind::Opaque) => path.parent().unwrap_or_default(),
        _ => path,
    };

    let kind = match kind {
        Some(k) => k,
        None => match etype {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => Kind::File,
            EntryType::Directory => Kind::Dir,
            EntryType::Symlink => {
                let target = link.ok_or_else(|| invalid("symlink without a target".into()))?;
                check_link_len(&target, layer, &raw, limits)?;
                if target.is_empty() {
                    return Err(invalid("symlink with an empty target".into()));
                }
                Kind::Symlink(target)
            }
            EntryType::Link => {
                let target = link.ok_or_else(|| invalid("hard link without a target".into()))?;
                check_link_len(&target, layer, &raw, limits)?;
                let t = CleanPath::new(&target).map_err(|_| UnpackError::HardlinkOutside {
                    layer: layer.into(),
                    entry: raw.clone(),
                    target: String::from_utf8_lossy(&target).into_owned(),
                    reason: "the target climbs out of the root with '..'".into(),
                })?;
                Kind::Hardlink(t)
            }
            EntryType::Char => Kind::Char(major, minor),
            EntryType::Block => Kind::Block(major, minor),
            EntryType::Fifo => Kind::Fifo,
            EntryType::XGlobalHeader => Kind::Skip,
            other => {
                return Err(invalid(format!(
                    "unsupported tar entry type {:?}",
                    other.as_byte() as char
                )))
            }
        },
    };
    if path.is_root() && !matches!(kind, Kind::Dir | Kind::Opaque | Kind::Skip) {
        return Err(invalid("only a directory may stand for the root".into()));
    }
    Ok(EntryMeta {
        raw,
        path,
        kind,
        mode,
        uid,
        gid,
        mtime,
        xattrs,
        size,
    })
}

/// An all-NUL/space numeric field reads as 0, as Go's archive/tar (hence umoci) does.
fn lenient(v: std::io::Result<u64>, raw: &[u8]) -> std::io::Result<u64> {
    match v {
        Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        v => v,
    }
}

fn check_link_len(t: &[u8], layer: &str, raw: &str, limits: &Limits) -> Result<(), UnpackError> {
    if t.len() > limits.max_path_len {
        return Err(UnpackError::PathTooLong {
            layer: layer.into(),
            entry: raw.into(),
            limit: limits.max_path_len,
        });
    }
    Ok(())
}

/// PAX times are decimal seconds with an optional fraction (`1700000000.123456789`).
fn pax_time(v: &[u8]) -> Option<(i64, u32)> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos = 0u32;
    let digits: String = frac.chars().take(9).collect();
    if !digits.is_empty() {
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        nanos = digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32);
    }
    // A negative fractional time means secs - frac; rare enough to round toward zero.
    Some((secs, nanos))
}

#[cfg(test)]
mod tests {
    #[test]
    fn pax_times() {
        assert_eq!(
            super::pax_time(b"1700000000.5"),
            Some((1_700_000_000, 500_000_000))
        );
        assert_eq!(super::pax_time(b"12"), Some((12, 0)));
        assert_eq!(super::pax_time(b"x"), None);
    }
}
