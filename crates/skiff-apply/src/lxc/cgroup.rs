//! Memory, swap and CPU limits in the cgroup language of the host. Proxmox and current
//! distributions run the unified hierarchy (cgroup v2: `memory.max`, `memory.swap.max`,
//! `cpu.max`); hosts still on the v1 or hybrid layout (this test machine) only honour
//! the v1 files (`memory.limit_in_bytes`, `memory.memsw.limit_in_bytes` = memory + swap,
//! `cpu.cfs_quota_us`). LXC silently skips keys of the other version, so writing the wrong
//! one would be a limit accepted and ignored.

use std::collections::BTreeMap;
use std::path::Path;

const MIB: u64 = 1024 * 1024;
/// CPU period: `cores` = quota / period.
const CPU_PERIOD: u64 = 100_000;

/// The limits of one container, in the file's units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    /// MiB.
    pub memory: Option<u64>,
    /// MiB.
    pub swap: Option<u64>,
    /// Cores.
    pub cores: Option<u32>,
}

/// Which cgroup layout the host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cgroup {
    /// Legacy or hybrid: controllers on v1 hierarchies.
    V1,
    /// Unified.
    V2,
}

impl Cgroup {
    /// The host's layout: unified when the cgroup root itself is a cgroup2 mount.
    pub(crate) fn detect() -> Self {
        if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            Cgroup::V2
        } else {
            Cgroup::V1
        }
    }

    /// The config key prefix (`lxc.cgroup2.` / `lxc.cgroup.`).
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Cgroup::V1 => "lxc.cgroup.",
            Cgroup::V2 => "lxc.cgroup2.",
        }
    }

    /// The controller files to set for `l`, in an order that is valid starting from no
    /// limit (v1 refuses a memory+swap limit below the memory limit). An unset limit is
    /// written as "no limit", so that removing a key from the file lifts the limit.
    pub(crate) fn settings(self, l: Limits) -> Vec<(&'static str, String)> {
        let bytes =
            |m: Option<u64>, none: &str| m.map_or(none.to_string(), |m| (m * MIB).to_string());
        match self {
            Cgroup::V2 => vec![
                ("memory.max", bytes(l.memory, "max")),
                ("memory.swap.max", bytes(l.swap, "max")),
                (
                    "cpu.max",
                    l.cores.map_or("max".into(), |c| {
                        format!("{} {CPU_PERIOD}", u64::from(c) * CPU_PERIOD)
                    }),
                ),
            ],
            Cgroup::V1 => {
                // No swap limit is "no memory+swap limit", not "no swap".
                let memsw = l.memory.zip(l.swap).map(|(m, s)| m + s);
                vec![
                    ("memory.limit_in_bytes", bytes(l.memory, "-1")),
                    ("memory.memsw.limit_in_bytes", bytes(memsw, "-1")),
                    ("cpu.cfs_period_us", CPU_PERIOD.to_string()),
                    (
                        "cpu.cfs_quota_us",
                        l.cores
                            .map_or("-1".into(), |c| (u64::from(c) * CPU_PERIOD).to_string()),
                    ),
                ]
            }
        }
    }

    /// The settings for a running container moving to `l`: on v1 the memory+swap limit
    /// is lifted first, so that raising the memory limit above it is allowed.
    pub(crate) fn live_settings(self, l: Limits) -> Vec<(&'static str, String)> {
        let mut s = self.settings(l);
        if self == Cgroup::V1 {
            s.insert(0, ("memory.memsw.limit_in_bytes", "-1".into()));
        }
        s
    }

    /// Reads the limits back from the config's `(key, value)` pairs (prefix removed),
    /// as fields: `memory`, `swap`, `cores`.
    pub(crate) fn fields(values: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let num = |k: &str| {
            values
                .get(k)
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        };
        let mut f = BTreeMap::new();
        let memory = num("memory.max").or(num("memory.limit_in_bytes"));
        if let Some(m) = memory {
            f.insert("memory".into(), format!("{}M", m / MIB));
        }
        let swap =
            num("memory.swap.max").or_else(|| Some(num("memory.memsw.limit_in_bytes")? - memory?));
        if let Some(s) = swap {
            f.insert("swap".into(), format!("{}M", s / MIB));
        }
        if let Some(q) = num("cpu.max").or(num("cpu.cfs_quota_us")) {
            f.insert("cores".into(), (q / CPU_PERIOD).to_string());
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(c: Cgroup, l: Limits) -> BTreeMap<String, String> {
        let values = c
            .settings(l)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        Cgroup::fields(&values)
    }

    #[test]
    fn limits_read_back_as_written_on_both_layouts() {
        let l = Limits {
            memory: Some(512),
            swap: Some(256),
            cores: Some(2),
        };
        for c in [Cgroup::V1, Cgroup::V2] {
            let f = read(c, l);
            assert_eq!(f["memory"], "512M");
            assert_eq!(f["swap"], "256M");
            assert_eq!(f["cores"], "2");
            assert!(
                read(c, Limits::default()).is_empty(),
                "{c:?}: no limits, no fields"
            );
        }
        assert_eq!(
            Cgroup::V1.settings(l)[1],
            ("memory.memsw.limit_in_bytes", (768 * MIB).to_string())
        );
        assert_eq!(
            Cgroup::V1.live_settings(l)[0],
            ("memory.memsw.limit_in_bytes", "-1".to_string())
        );
    }
}
