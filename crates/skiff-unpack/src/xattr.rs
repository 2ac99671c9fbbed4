//! Extended attributes that embed ids, shifted like the file owners.
//!
//! * `security.capability` (file capabilities): a v3 value carries the uid of the
//!   namespace root it is valid for (`rootid`); it is shifted. A v2 value written from the
//!   initial namespace is only honoured for the host root, so under a non-identity map it
//!   is converted to v3 with `rootid` = the mapped container root — exactly what the kernel
//!   does when pct's extraction writes it from inside the container's user namespace.
//! * `system.posix_acl_access` / `system.posix_acl_default`: the ids of ACL_USER and
//!   ACL_GROUP entries are shifted.

use crate::IdMap;

const CAP_NAME: &[u8] = b"security.capability";
const VFS_CAP_REVISION_MASK: u32 = 0xFF00_0000;
const VFS_CAP_REVISION_2: u32 = 0x0200_0000;
const VFS_CAP_REVISION_3: u32 = 0x0300_0000;
const CAP_V2_LEN: usize = 20;
const CAP_V3_LEN: usize = 24;

const ACL_VERSION: u32 = 2;
const ACL_USER: u16 = 0x02;
const ACL_GROUP: u16 = 0x08;

/// Why an xattr could not be shifted.
#[derive(Debug)]
pub(crate) enum ShiftError {
    Unmapped { kind: &'static str, id: u64 },
    Malformed(&'static str),
}

/// Returns the value to write for `name` under `map`.
pub(crate) fn shift(name: &[u8], value: &[u8], map: &IdMap) -> Result<Vec<u8>, ShiftError> {
    if map.is_identity() {
        return Ok(value.to_vec());
    }
    match name {
        CAP_NAME => shift_capability(value, map),
        b"system.posix_acl_access" | b"system.posix_acl_default" => shift_acl(value, map),
        _ => Ok(value.to_vec()),
    }
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn shift_capability(value: &[u8], map: &IdMap) -> Result<Vec<u8>, ShiftError> {
    let magic = le32(value, 0).ok_or(ShiftError::Malformed("capability too short"))?;
    let (rootid, body) = match (magic & VFS_CAP_REVISION_MASK, value.len()) {
        (VFS_CAP_REVISION_2, CAP_V2_LEN) => (0u64, &value[4..CAP_V2_LEN]),
        (VFS_CAP_REVISION_3, CAP_V3_LEN) => (
            le32(value, 20).ok_or(ShiftError::Malformed("capability too short"))? as u64,
            &value[4..20],
        ),
        // v1 and anything unknown: the kernel rejects or ignores it; keep the bytes.
        _ => return Ok(value.to_vec()),
    };
    let host = map.uid(rootid).ok_or(ShiftError::Unmapped {
        kind: "capability rootid",
        id: rootid,
    })?;
    let flags = magic & !VFS_CAP_REVISION_MASK;
    let mut out = Vec::with_capacity(CAP_V3_LEN);
    out.extend_from_slice(&(VFS_CAP_REVISION_3 | flags).to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&host.to_le_bytes());
    Ok(out)
}

fn shift_acl(value: &[u8], map: &IdMap) -> Result<Vec<u8>, ShiftError> {
    if le32(value, 0) != Some(ACL_VERSION) || !(value.len() - 4).is_multiple_of(8) {
        return Err(ShiftError::Malformed(
            "POSIX ACL xattr has an unknown layout",
        ));
    }
    let mut out = value.to_vec();
    for entry in out[4..].chunks_exact_mut(8) {
        let tag = u16::from_le_bytes([entry[0], entry[1]]);
        let id = u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]) as u64;
        let mapped = match tag {
            ACL_USER => map.uid(id).ok_or(ShiftError::Unmapped {
                kind: "ACL uid",
                id,
            })?,
            ACL_GROUP => map.gid(id).ok_or(ShiftError::Unmapped {
                kind: "ACL gid",
                id,
            })?,
            _ => continue,
        };
        entry[4..8].copy_from_slice(&mapped.to_le_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_v2_becomes_v3_with_mapped_root() {
        let mut v2 = VFS_CAP_REVISION_2.to_le_bytes().to_vec();
        v2[0] = 1; // effective flag
        v2.extend_from_slice(&[0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let out = shift(CAP_NAME, &v2, &IdMap::proxmox_unprivileged()).unwrap();
        assert_eq!(out.len(), 24);
        assert_eq!(le32(&out, 0), Some(VFS_CAP_REVISION_3 | 1));
        assert_eq!(&out[4..20], &v2[4..20]);
        assert_eq!(le32(&out, 20), Some(100_000));
        // A v3 rootid is shifted like any uid; one outside the map is refused.
        let mut v3 = out.clone();
        v3[20..24].copy_from_slice(&1000u32.to_le_bytes());
        let again = shift(CAP_NAME, &v3, &IdMap::proxmox_unprivileged()).unwrap();
        assert_eq!(le32(&again, 20), Some(101_000));
        assert!(matches!(
            shift(CAP_NAME, &out, &IdMap::proxmox_unprivileged()),
            Err(ShiftError::Unmapped { .. })
        ));
        assert_eq!(shift(CAP_NAME, &v2, &IdMap::identity()).unwrap(), v2);
    }

    #[test]
    fn acl_ids_shift() {
        let mut acl = ACL_VERSION.to_le_bytes().to_vec();
        for (tag, id) in [
            (0x01u16, u32::MAX),
            (ACL_USER, 1000),
            (ACL_GROUP, 50),
            (0x20, u32::MAX),
        ] {
            acl.extend_from_slice(&tag.to_le_bytes());
            acl.extend_from_slice(&7u16.to_le_bytes());
            acl.extend_from_slice(&id.to_le_bytes());
        }
        let out = shift(
            b"system.posix_acl_access",
            &acl,
            &IdMap::proxmox_unprivileged(),
        )
        .unwrap();
        assert_eq!(le32(&out, 4 + 8 + 4), Some(101_000));
        assert_eq!(le32(&out, 4 + 16 + 4), Some(100_050));
        assert_eq!(le32(&out, 4 + 4), Some(u32::MAX));
        assert!(matches!(
            shift(
                b"system.posix_acl_access",
                &acl[..7],
                &IdMap::proxmox_unprivileged()
            ),
            Err(ShiftError::Malformed(_))
        ));
    }
}
