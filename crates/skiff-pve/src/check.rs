//! The syntax checks of Proxmox's container options that [`crate::spec`] applies before
//! anything runs: DNS names, tags, storage ids, netN and features property strings.

use crate::PveError;

pub(crate) fn range(option: &str, value: Option<u32>, min: u32, max: u32) -> Result<(), PveError> {
    match value {
        Some(v) if v < min || v > max => Err(PveError::invalid(
            option,
            format!("{v} is outside {min}–{max}"),
        )),
        _ => Ok(()),
    }
}

pub(crate) fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Proxmox's storage id (`[a-z][a-z0-9\-_.]*`, any case).
pub fn valid_storage_id(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic())
        && c.all(|x| x.is_ascii_alphanumeric() || matches!(x, '-' | '_' | '.'))
}

pub(crate) fn valid_hostname(h: &str) -> bool {
    h.len() <= 255
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

pub(crate) fn valid_tag(t: &str) -> bool {
    let mut c = t.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphanumeric() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || matches!(x, '_' | '+' | '.' | '-'))
}

/// `netN`: known keys, a `name`, `ip` dhcp|manual|v4 CIDR, no host-managed with ip6=auto.
pub(crate) fn validate_net(net: &str) -> Result<(), PveError> {
    let bad = |m: String| PveError::invalid(format!("--net {net}"), m);
    let mut name = false;
    let (mut host_managed, mut ip6_auto) = (false, false);
    for part in net.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| bad(format!("{part:?} is not KEY=VALUE")))?;
        match k {
            "name" => name = !v.is_empty() && v.len() <= 15,
            "ip" => {
                if !matches!(v, "dhcp" | "manual") && !is_v4_cidr(v) {
                    return Err(bad(format!("ip={v} is not dhcp, manual or A.B.C.D/NN")));
                }
            }
            "ip6" => ip6_auto = v == "auto",
            "host-managed" => host_managed = v == "1",
            "bridge" | "gw" | "gw6" | "firewall" | "tag" | "rate" | "mtu" | "hwaddr" | "type"
            | "link_down" | "trunks" => {}
            other => return Err(bad(format!("unknown key {other:?}"))),
        }
    }
    if !name {
        return Err(bad("needs name=IFNAME (at most 15 characters)".into()));
    }
    if host_managed && ip6_auto {
        return Err(bad("host-managed=1 cannot be combined with ip6=auto".into()));
    }
    Ok(())
}

pub(crate) fn is_v4_cidr(v: &str) -> bool {
    let Some((addr, len)) = v.split_once('/') else {
        return false;
    };
    addr.parse::<std::net::Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 32)
}

/// `features`: nesting, keyctl, fuse, mknod, force_rw_sys as 0|1, mount as `fs;fs`.
pub(crate) fn validate_features(f: &str) -> Result<(), PveError> {
    for part in f.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| PveError::invalid("--features", format!("{part:?} is not KEY=VALUE")))?;
        let ok = match k {
            "nesting" | "keyctl" | "fuse" | "mknod" | "force_rw_sys" => matches!(v, "0" | "1"),
            "mount" => v
                .split(';')
                .all(|fs| !fs.is_empty() && fs.bytes().all(|b| b.is_ascii_alphanumeric())),
            _ => false,
        };
        if !ok {
            return Err(PveError::invalid(
                "--features",
                format!("{part:?} is not a container feature"),
            ));
        }
    }
    Ok(())
}
