//! Shifting container ids to host ids.
//!
//! Proxmox runs unprivileged containers in a user namespace whose root is host uid
//! 100000; a rootfs meant for it must be owned by the shifted ids, exactly as if it had
//! been extracted inside that namespace (which is what pct does).

use crate::UnpackError;

/// One contiguous range: container ids `container..container+count` map to
/// `host..host+count` (the format of `/proc/PID/uid_map` and of LXC's `lxc.idmap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub count: u32,
}

/// A uid map and a gid map. An id outside every range is an error, never silently kept:
/// a file owned by an unmapped id would be unreachable (nobody) inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMap {
    uids: Vec<IdRange>,
    gids: Vec<IdRange>,
}

impl Default for IdMap {
    fn default() -> Self {
        Self::identity()
    }
}

const ALL: IdRange = IdRange {
    container: 0,
    host: 0,
    count: u32::MAX,
};

impl IdMap {
    /// Every id maps to itself (what `umoci unpack` does as root).
    pub fn identity() -> Self {
        IdMap {
            uids: vec![ALL],
            gids: vec![ALL],
        }
    }

    /// Proxmox's default unprivileged map: container 0 → host 100000, 65536 ids.
    pub fn proxmox_unprivileged() -> Self {
        let r = IdRange {
            container: 0,
            host: 100_000,
            count: 65_536,
        };
        IdMap {
            uids: vec![r],
            gids: vec![r],
        }
    }

    /// A map from explicit ranges; an empty list means identity for that kind.
    pub fn from_ranges(uids: Vec<IdRange>, gids: Vec<IdRange>) -> Self {
        IdMap {
            uids: if uids.is_empty() { vec![ALL] } else { uids },
            gids: if gids.is_empty() { vec![ALL] } else { gids },
        }
    }

    /// Parses `CONT:HOST:COUNT` strings (skopeo/umoci `--uid-map` syntax). An empty list
    /// means identity for that kind of id.
    pub fn parse(uidmap: &[String], gidmap: &[String]) -> Result<Self, UnpackError> {
        Ok(Self::from_ranges(parse_list(uidmap)?, parse_list(gidmap)?))
    }

    /// The explicit uid ranges, or None when every uid maps to itself (an `lxc.idmap`
    /// is written only for explicit ranges).
    pub fn uid_ranges(&self) -> Option<&[IdRange]> {
        explicit(&self.uids)
    }

    /// The explicit gid ranges, or None when every gid maps to itself.
    pub fn gid_ranges(&self) -> Option<&[IdRange]> {
        explicit(&self.gids)
    }

    /// The host owner of the container's root directory, when it is someone other than
    /// the host's root: what files skiff adds to a rootfs must be owned by.
    pub fn container_root(&self) -> Option<(u32, u32)> {
        match (self.uid(0), self.gid(0)) {
            (Some(u), Some(g)) if (u, g) != (0, 0) => Some((u, g)),
            _ => None,
        }
    }

    /// Whether this map changes nothing.
    pub fn is_identity(&self) -> bool {
        self.uids == [ALL] && self.gids == [ALL]
    }

    /// The host uid for a container uid.
    pub fn uid(&self, id: u64) -> Option<u32> {
        map(&self.uids, id)
    }

    /// The host gid for a container gid.
    pub fn gid(&self, id: u64) -> Option<u32> {
        map(&self.gids, id)
    }
}

fn explicit(ranges: &[IdRange]) -> Option<&[IdRange]> {
    (ranges != [ALL]).then_some(ranges)
}

fn map(ranges: &[IdRange], id: u64) -> Option<u32> {
    let id = u32::try_from(id).ok()?;
    ranges.iter().find_map(|r| {
        let off = id.checked_sub(r.container)?;
        (off < r.count).then(|| r.host.checked_add(off)).flatten()
    })
}

fn parse_list(specs: &[String]) -> Result<Vec<IdRange>, UnpackError> {
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        let bad = |reason| UnpackError::IdMap {
            spec: spec.clone(),
            reason,
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let [c, h, n] = parts[..] else {
            return Err(bad("expected CONTAINER:HOST:COUNT"));
        };
        let num = |s: &str| s.trim().parse::<u32>().map_err(|_| bad("not a number"));
        let r = IdRange {
            container: num(c)?,
            host: num(h)?,
            count: num(n)?,
        };
        if r.count == 0 {
            return Err(bad("count must be at least 1"));
        }
        if r.container.checked_add(r.count - 1).is_none()
            || r.host.checked_add(r.count - 1).is_none()
        {
            return Err(bad("range overflows 32-bit ids"));
        }
        if out.iter().any(|o: &IdRange| {
            overlaps(o.container, o.count, r.container, r.count)
                || overlaps(o.host, o.count, r.host, r.count)
        }) {
            return Err(bad("overlaps an earlier range"));
        }
        out.push(r);
    }
    Ok(out)
}

fn overlaps(a: u32, an: u32, b: u32, bn: u32) -> bool {
    let (a, an, b, bn) = (a as u64, an as u64, b as u64, bn as u64);
    a < b + bn && b < a + an
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_and_refuses() {
        let m = IdMap::proxmox_unprivileged();
        assert_eq!(m.uid(0), Some(100_000));
        assert_eq!(m.gid(65_535), Some(165_535));
        assert_eq!(m.uid(65_536), None);
        assert_eq!(IdMap::identity().uid(4_000_000_000), Some(4_000_000_000));
        let p = IdMap::parse(&["0:1000:1".into(), "1:100001:65535".into()], &[]).unwrap();
        assert_eq!(p.uid(0), Some(1000));
        assert_eq!(p.uid(5), Some(100_005));
        assert_eq!(p.gid(7), Some(7));
        for bad in ["1:2", "a:1:1", "0:0:0", "0:4294967295:2"] {
            assert!(IdMap::parse(&[bad.into()], &[]).is_err(), "{bad}");
        }
        assert!(IdMap::parse(&["0:0:10".into(), "5:100:1".into()], &[]).is_err());
        assert_eq!(p.uid_ranges().map(<[_]>::len), Some(2));
        assert_eq!(p.gid_ranges(), None);
        assert_eq!(p.container_root(), Some((1000, 0)));
        assert_eq!(IdMap::identity().container_root(), None);
    }
}
