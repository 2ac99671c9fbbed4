//! The container options `POST /nodes/{node}/lxc` and `PUT …/config` accept, checked as
//! pve-container's schema checks them (PROXMOX.md, "Creating and managing containers"):
//! unknown keys, create-only keys on update, value syntax, and what only root@pam may
//! set. An error names the parameter, as Proxmox's `errors` object does.

use std::collections::BTreeMap;

/// Keys accepted on create only.
const CREATE_ONLY: &[&str] = &[
    "ostemplate",
    "storage",
    "password",
    "ssh-public-keys",
    "start",
    "pool",
    "unique",
    "unprivileged",
];
/// Keys without an index that create and update accept.
const PLAIN: &[&str] = &[
    "arch",
    "cmode",
    "cores",
    "cpulimit",
    "cpuunits",
    "description",
    "entrypoint",
    "env",
    "features",
    "hookscript",
    "hostname",
    "memory",
    "nameserver",
    "onboot",
    "ostype",
    "protection",
    "rootfs",
    "searchdomain",
    "swap",
    "tags",
    "timezone",
    "tty",
    "console",
];

fn indexed(key: &str, prefix: &str, max: u32) -> bool {
    key.strip_prefix(prefix)
        .and_then(|n| {
            (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then(|| n.parse::<u32>().ok())
        })
        .flatten()
        .is_some_and(|n| n <= max)
}

fn int_in(v: &str, lo: u64, hi: u64) -> Result<(), String> {
    match v.parse::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(()),
        Ok(_) => Err(format!(
            "value must have a minimum value of {lo} and a maximum value of {hi}"
        )),
        Err(_) => Err(format!("type check ('integer') failed - got '{v}'")),
    }
}

fn bool01(v: &str) -> Result<(), String> {
    match v {
        "0" | "1" => Ok(()),
        _ => Err(format!("type check ('boolean') failed - got '{v}'")),
    }
}

/// `k=v,k=v` with the first item possibly bare (the default key).
fn props(v: &str, default_key: Option<&str>) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for (i, item) in v.split(',').enumerate() {
        match (item.split_once('='), default_key) {
            (Some((k, val)), _) => {
                if map.insert(k.to_string(), val.to_string()).is_some() {
                    return Err(format!(
                        "duplicate key in comma-separated list property: {k}"
                    ));
                }
            }
            (None, Some(d)) if i == 0 => {
                map.insert(d.to_string(), item.to_string());
            }
            (None, _) => {
                return Err(format!(
                    "value without key, but schema does not define a default key: {item}"
                ))
            }
        }
    }
    Ok(map)
}

fn only_keys(map: &BTreeMap<String, String>, allowed: &[&str]) -> Result<(), String> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "invalid format - format error\n{k}: property is not defined in schema"
        )),
        None => Ok(()),
    }
}

/// `STORAGE:N` (a new N GiB volume) or an existing volume id.
fn volume(v: &str) -> Result<(), String> {
    let (storage, rest) = v
        .split_once(':')
        .ok_or_else(|| format!("invalid volume '{v}'"))?;
    if storage.is_empty() || rest.is_empty() {
        return Err(format!("invalid volume '{v}'"));
    }
    if rest.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || rest.contains('/')
        || rest.starts_with("subvol-")
        || rest.starts_with("vm-")
    {
        Ok(())
    } else {
        Err(format!(
            "invalid volume size or id '{v}' (a size takes no unit: STORAGE:8)"
        ))
    }
}

fn check_value(key: &str, v: &str) -> Result<(), String> {
    if v.chars().any(|c| {
        c.is_control() && !(key == "env" && c == '\0') && !(key == "description" && c == '\n')
    }) {
        return Err("value contains control characters".into());
    }
    match key {
        "memory" => int_in(v, 16, u64::MAX >> 1),
        "swap" => int_in(v, 0, u64::MAX >> 1),
        "cores" => int_in(v, 1, 8192),
        "cpulimit" => int_in(v, 0, 8192),
        "onboot" | "unprivileged" | "start" | "protection" | "unique" => bool01(v),
        "hostname" => {
            let ok = !v.is_empty()
                && v.split('.').all(|l| {
                    !l.is_empty()
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "value does not match the regex pattern (dns name): '{v}'"
                ))
            }
        }
        "cmode" => match v {
            "tty" | "console" | "shell" => Ok(()),
            _ => Err(format!(
                "value '{v}' does not have a value in the enumeration 'shell, console, tty'"
            )),
        },
        "tags" => {
            let ok = v.split([';', ',', ' ']).filter(|t| !t.is_empty()).all(|t| {
                let mut b = t.bytes();
                b.next()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
                    && b.all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || b"_+.-".contains(&c)
                    })
            });
            if ok {
                Ok(())
            } else {
                Err(format!("invalid tag list '{v}'"))
            }
        }
        "features" => {
            let map = props(v, None)?;
            only_keys(
                &map,
                &[
                    "nesting",
                    "keyctl",
                    "fuse",
                    "mount",
                    "mknod",
                    "force_rw_sys",
                ],
            )
        }
        "rootfs" => {
            let map = props(v, Some("volume"))?;
            only_keys(
                &map,
                &[
                    "volume",
                    "size",
                    "acl",
                    "quota",
                    "ro",
                    "replicate",
                    "shared",
                    "mountoptions",
                ],
            )?;
            volume(map.get("volume").map(String::as_str).unwrap_or(""))
        }
        "env" => {
            for entry in v.split('\0') {
                let name = entry.split_once('=').map(|(n, _)| n).unwrap_or("");
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    return Err(format!(
                        "invalid environment entry '{entry}' (expected NAME=value)"
                    ));
                }
            }
            Ok(())
        }
        k if indexed(k, "net", 31) => {
            let map = props(v, None)?;
            only_keys(
                &map,
                &[
                    "name",
                    "bridge",
                    "hwaddr",
                    "ip",
                    "gw",
                    "ip6",
                    "gw6",
                    "firewall",
                    "tag",
                    "trunks",
                    "rate",
                    "mtu",
                    "type",
                    "link_down",
                    "host-managed",
                ],
            )?;
            if !map.contains_key("name") {
                return Err("missing property - 'name'".into());
            }
            if map.get("host-managed").map(String::as_str) == Some("1")
                && map.get("ip6").map(String::as_str) == Some("auto")
            {
                return Err("host-managed networking does not support ip6=auto".into());
            }
            Ok(())
        }
        k if indexed(k, "mp", 255) => {
            let map = props(v, Some("volume"))?;
            only_keys(
                &map,
                &[
                    "volume",
                    "mp",
                    "ro",
                    "backup",
                    "size",
                    "acl",
                    "quota",
                    "replicate",
                    "shared",
                    "mountoptions",
                ],
            )?;
            let mp = map.get("mp").ok_or("missing property - 'mp'")?;
            if !mp.starts_with('/') || mp.split('/').any(|c| c == "..") {
                return Err(format!("invalid mount point '{mp}'"));
            }
            let source = map.get("volume").map(String::as_str).unwrap_or("");
            if source.starts_with('/') {
                Ok(())
            } else {
                volume(source)
            }
        }
        k if indexed(k, "dev", 255) => {
            let map = props(v, Some("path"))?;
            only_keys(&map, &["path", "mode", "uid", "gid", "deny-write"])?;
            match map.get("path") {
                Some(p) if p.starts_with("/dev/") => Ok(()),
                _ => Err("device path must start with /dev/".into()),
            }
        }
        _ => Ok(()),
    }
}

/// Whether `key` is `PREFIXn` with n at most `max` (`net0`, `mp12`, `dev3`).
pub fn indexed_key(key: &str, prefix: &str, max: u32) -> bool {
    indexed(key, prefix, max)
}

/// `k=v,k=v` with a bare first item as `default_key` (`volume`, `path`), as Proxmox's
/// property strings are read.
pub fn property_string(
    v: &str,
    default_key: Option<&str>,
) -> Result<BTreeMap<String, String>, String> {
    props(v, default_key)
}

/// Why only root@pam may set `key = value`, if it is such a key.
fn root_only(key: &str, value: &str) -> Option<String> {
    if indexed(key, "mp", 255) {
        let source = props(value, Some("volume")).ok()?.remove("volume")?;
        return source
            .starts_with('/')
            .then(|| "mount point type bind is only allowed for root@pam".to_string());
    }
    if indexed(key, "dev", 255) {
        return Some("configuring device passthrough is only allowed for root@pam".into());
    }
    if key == "features" {
        let map = props(value, None).ok()?;
        return map.keys().any(|k| k != "nesting").then(|| {
            "changing feature flags (except nesting) is only allowed for root@pam".to_string()
        });
    }
    (key == "hookscript")
        .then(|| "changing the hookscript is only allowed for root@pam".to_string())
}

/// A refused request: the HTTP status and message, and per-parameter errors.
pub struct Refusal {
    pub status: u16,
    pub message: String,
    pub errors: BTreeMap<String, String>,
}

/// Checks the options of a create (`create`) or update. `user` is the caller; API
/// tokens are never root@pam.
pub fn check(options: &BTreeMap<String, String>, create: bool, user: &str) -> Result<(), Refusal> {
    let mut errors = BTreeMap::new();
    for (key, value) in options {
        let known = PLAIN.contains(&key.as_str())
            || CREATE_ONLY.contains(&key.as_str())
            || indexed(key, "net", 31)
            || indexed(key, "mp", 255)
            || indexed(key, "dev", 255)
            || (!create && (key == "delete" || key == "digest"));
        if !known {
            errors.insert(key.clone(), "property is not defined in schema and the schema does not allow additional properties".to_string());
        } else if !create && CREATE_ONLY.contains(&key.as_str()) {
            errors.insert(
                key.clone(),
                format!("unable to modify read-only option: '{key}'"),
            );
        } else if let Err(e) = check_value(key, value) {
            errors.insert(key.clone(), e);
        }
    }
    if !errors.is_empty() {
        return Err(Refusal {
            status: 400,
            message: "Parameter verification failed.".into(),
            errors,
        });
    }
    if user != "root@pam" {
        if let Some(why) = options.iter().find_map(|(k, v)| root_only(k, v)) {
            return Err(Refusal {
                status: 403,
                message: format!("Permission check failed ({why})"),
                errors,
            });
        }
    }
    Ok(())
}
