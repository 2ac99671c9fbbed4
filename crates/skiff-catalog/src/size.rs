//! Memory and disk sizes: a plain number in the field's unit (MiB for memory, GiB for
//! disk, as Proxmox's `--memory` and `rootfs STORAGE:N` take them) or a string with a
//! binary unit suffix (`512M`, `2G`, `1T`; `MiB`/`GiB`/`TiB` too).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const UNITS: &[(&str, u64)] = &[
    ("MiB", 1),
    ("GiB", 1024),
    ("TiB", 1024 * 1024),
    ("M", 1),
    ("G", 1024),
    ("T", 1024 * 1024),
];

/// Parses `text` to MiB; a bare number is in units of `unit_mib` MiB.
fn parse_mib(text: &str, unit_mib: u64) -> Result<u64, String> {
    let t = text.trim();
    let (digits, mult) = UNITS
        .iter()
        .find_map(|(suffix, m)| t.strip_suffix(suffix).map(|d| (d.trim_end(), *m)))
        .unwrap_or((t, unit_mib));
    let n: u64 = digits.parse().map_err(|_| {
        format!("bad size {text:?}: use a whole number, optionally with M, G or T (e.g. 2G)")
    })?;
    let mib = n
        .checked_mul(mult)
        .ok_or_else(|| format!("size {text:?} is too large"))?;
    if mib == 0 {
        return Err(format!("size {text:?} is zero"));
    }
    Ok(mib)
}

/// Visits a number or a string (no untagged buffering: errors keep their position).
struct SizeVisitor(u64);

impl serde::de::Visitor<'_> for SizeVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a size: a whole number, or a string such as \"2G\"")
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<u64, E> {
        parse_mib(&n.to_string(), self.0).map_err(E::custom)
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<u64, E> {
        parse_mib(&n.to_string(), self.0).map_err(E::custom)
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<u64, E> {
        parse_mib(s, self.0).map_err(E::custom)
    }
}

fn raw_mib<'de, D: Deserializer<'de>>(d: D, unit_mib: u64) -> Result<u64, D::Error> {
    d.deserialize_any(SizeVisitor(unit_mib))
}

/// Memory in MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MemoryMib(pub u64);

impl<'de> Deserialize<'de> for MemoryMib {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        raw_mib(d, 1).map(MemoryMib)
    }
}

impl Serialize for MemoryMib {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// Disk size in whole GiB (Proxmox allocates root filesystems in GiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DiskGib(pub u64);

impl<'de> Deserialize<'de> for DiskGib {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mib = raw_mib(d, 1024)?;
        if mib % 1024 != 0 {
            return Err(serde::de::Error::custom(format!(
                "disk size of {mib} MiB is not a whole number of GiB"
            )));
        }
        Ok(DiskGib(mib / 1024))
    }
}

impl Serialize for DiskGib {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_every_form() {
        let mem = |y: &str| serde_yaml::from_str::<MemoryMib>(y).map(|m| m.0);
        let disk = |y: &str| serde_yaml::from_str::<DiskGib>(y).map(|m| m.0);
        assert_eq!(mem("2048").unwrap(), 2048);
        assert_eq!(mem("2G").unwrap(), 2048);
        assert_eq!(mem("\"512M\"").unwrap(), 512);
        assert_eq!(mem("1 GiB").unwrap(), 1024);
        assert_eq!(disk("8").unwrap(), 8);
        assert_eq!(disk("8G").unwrap(), 8);
        assert_eq!(disk("1T").unwrap(), 1024);
        assert_eq!(disk("2048M").unwrap(), 2);
        for bad in ["0", "2X", "-1", "1.5G", "\"\""] {
            assert!(mem(bad).is_err(), "{bad}");
        }
        assert!(disk("1500M")
            .unwrap_err()
            .to_string()
            .contains("whole number of GiB"));
    }
}
