//! The scenarios: every operation × phase × fault of the proxy, interrupts at seeded
//! points, and resource exhaustion; and the bounded subset the test suite runs.

use std::collections::BTreeSet;
use std::time::Duration;

use super::Rng;
use crate::fault::{Action, At};

/// Where a copy writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dest {
    OciArchive,
    Oci,
    Dir,
    DockerArchive,
    Docker,
}

pub const DESTS: [Dest; 5] = [
    Dest::OciArchive,
    Dest::Oci,
    Dest::Dir,
    Dest::DockerArchive,
    Dest::Docker,
];

/// A skiff command under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Copy(Dest),
    Unpack,
    LxcCreate,
    Sync,
    /// `apply` of a two-container file on the lxc backend (the second depends on the
    /// first); over an older one it replaces both root filesystems.
    Apply,
    /// `pve pull` into the template cache of a pct-less node root (`SKIFF_PVE_ROOT`).
    PvePull,
    /// `copy --sign-by` to `docker://` with a `file://` lookaside.
    SignedCopy,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Copy(Dest::OciArchive) => "copy oci-archive:",
            Op::Copy(Dest::Oci) => "copy oci:",
            Op::Copy(Dest::Dir) => "copy dir:",
            Op::Copy(Dest::DockerArchive) => "copy docker-archive:",
            Op::Copy(Dest::Docker) => "copy docker://",
            Op::Unpack => "unpack",
            Op::LxcCreate => "lxc create",
            Op::Sync => "sync",
            Op::Apply => "apply",
            Op::PvePull => "pve pull",
            Op::SignedCopy => "copy --sign-by docker://",
        }
    }

    /// Whether an older destination can exist for this command to leave untouched
    /// (unpack and lxc create refuse an existing target instead).
    pub fn has_older(self) -> bool {
        matches!(self, Op::Copy(_) | Op::Apply | Op::PvePull | Op::SignedCopy)
    }

    /// Whether the older destination is put in place by running a command (a push, a
    /// fault-free run of skiff) rather than by copying a saved tree: registries, and
    /// running containers.
    pub fn older_by_running(self) -> bool {
        matches!(self, Op::Copy(Dest::Docker) | Op::Apply | Op::SignedCopy)
    }
}

/// Which request a fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Token,
    Manifest,
    Config,
    /// The largest layer.
    Blob,
    UploadPost,
    UploadPut,
    ManifestPut,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Token => "token",
            Phase::Manifest => "manifest",
            Phase::Config => "config",
            Phase::Blob => "blob",
            Phase::UploadPost => "upload POST",
            Phase::UploadPut => "upload PUT",
            Phase::ManifestPut => "manifest PUT",
        }
    }

    /// Whether the fault strikes the destination registry rather than the source.
    pub fn upload(self) -> bool {
        matches!(
            self,
            Phase::UploadPost | Phase::UploadPut | Phase::ManifestPut
        )
    }
}

/// How a `Retry-After` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    Seconds,
    HttpDate,
}

/// A misbehaviour, before it is aimed at a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Reset,
    StallTrickle,
    TooMany(Wait),
    Unavailable(Wait),
    ServerErrorOnce,
    Truncate { at: At, content_length: bool },
    Overlong { content_length: bool },
    WrongBytes(At),
    ExpireToken,
    RedirectLoop,
    RedirectToCredentialRejectingHost,
}

/// What the documentation promises for a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Retried or resumed: the copy succeeds.
    Recover,
    /// A clear error, nothing written.
    Fail,
    /// Either, as long as the output is complete or absent.
    Either,
}

impl FaultKind {
    pub fn name(self) -> String {
        let at = |a: At| match a {
            At::Start => "start",
            At::Middle => "middle",
            At::End => "end",
        };
        let wait = |w: Wait| match w {
            Wait::Seconds => "seconds",
            Wait::HttpDate => "HTTP date",
        };
        match self {
            FaultKind::Reset => "connection reset".into(),
            FaultKind::StallTrickle => "stall, then 1 KiB/s".into(),
            FaultKind::TooMany(w) => format!("429 Retry-After {}", wait(w)),
            FaultKind::Unavailable(w) => format!("503 Retry-After {}", wait(w)),
            FaultKind::ServerErrorOnce => "500 once".into(),
            FaultKind::Truncate {
                at: a,
                content_length,
            } => format!(
                "truncated at {} ({})",
                at(a),
                if content_length {
                    "with length"
                } else {
                    "no length"
                }
            ),
            FaultKind::Overlong { content_length } => format!(
                "longer than announced ({})",
                if content_length {
                    "with length"
                } else {
                    "no length"
                }
            ),
            FaultKind::WrongBytes(a) => format!("wrong byte at {}", at(a)),
            FaultKind::ExpireToken => "token expired".into(),
            FaultKind::RedirectLoop => "redirect loop".into(),
            FaultKind::RedirectToCredentialRejectingHost => {
                "redirect to a host rejecting credentials".into()
            }
        }
    }

    pub fn expect(self) -> Expect {
        match self {
            FaultKind::Reset
            | FaultKind::StallTrickle
            | FaultKind::TooMany(_)
            | FaultKind::Unavailable(_)
            | FaultKind::ServerErrorOnce
            | FaultKind::Truncate {
                content_length: true,
                ..
            }
            | FaultKind::ExpireToken
            | FaultKind::RedirectToCredentialRejectingHost => Expect::Recover,
            FaultKind::RedirectLoop => Expect::Fail,
            _ => Expect::Either,
        }
    }

    /// The proxy action; `location` is where a credential-rejecting redirect points.
    pub fn action(self, location: Option<String>) -> Action {
        let status = |code, w| Action::Status {
            code,
            retry_after: Some(match w {
                Wait::Seconds => "1".to_string(),
                Wait::HttpDate => http_date_in(2),
            }),
        };
        match self {
            FaultKind::Reset => Action::Reset,
            FaultKind::StallTrickle => Action::StallTrickle {
                stall: Duration::from_secs(2),
                bytes_per_sec: 1024,
                total: Duration::from_secs(4),
            },
            FaultKind::TooMany(w) => status(429, w),
            FaultKind::Unavailable(w) => status(503, w),
            FaultKind::ServerErrorOnce => Action::Status {
                code: 500,
                retry_after: None,
            },
            FaultKind::Truncate { at, content_length } => Action::Truncate { at, content_length },
            FaultKind::Overlong { content_length } => Action::Overlong {
                extra: 4096,
                content_length,
            },
            FaultKind::WrongBytes(at) => Action::WrongBytes { at },
            FaultKind::ExpireToken => Action::ExpireToken,
            FaultKind::RedirectLoop => Action::Redirect { location: None },
            FaultKind::RedirectToCredentialRejectingHost => Action::Redirect { location },
        }
    }

    /// How many requests it strikes: once, or every one for faults that never heal.
    pub fn times(self) -> usize {
        match self {
            FaultKind::RedirectLoop | FaultKind::RedirectToCredentialRejectingHost => 10_000,
            _ => 1,
        }
    }
}

/// `Retry-After` as an IMF-fixdate `secs` from now.
fn http_date_in(secs: u64) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        + secs;
    let (days, rem) = (t / 86_400, t % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// A decoder a decompression bomb goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Gzip,
    Zstd,
    Xz,
    Bzip2,
}

/// What a scenario does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Fault(Phase, FaultKind),
    /// SIGINT or SIGTERM after this fraction (per mille) of a clean run's time.
    Signal(i32, u64),
    /// `--command-timeout` of this fraction (per mille) of a clean run's time.
    Timeout(u64),
    /// The destination is a tmpfs too small for the image.
    Full,
    /// The destination is a read-only filesystem.
    ReadOnly,
    /// `ulimit -n` this low.
    FewFiles(u64),
    /// The image is a decompression bomb.
    Bomb(Codec),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    pub op: Op,
    pub kind: Kind,
    /// Whether an older destination exists beforehand.
    pub older: bool,
}

impl Scenario {
    pub fn name(&self) -> String {
        let what = match self.kind {
            Kind::Fault(phase, f) => format!("{}: {}", phase.name(), f.name()),
            Kind::Signal(sig, at) => format!(
                "{} at {}.{}x",
                if sig == libc::SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                },
                at / 1000,
                at % 1000 / 100
            ),
            Kind::Timeout(at) => format!("--command-timeout at {}.{}x", at / 1000, at % 1000 / 100),
            Kind::Full => "destination fills up".into(),
            Kind::ReadOnly => "read-only destination".into(),
            Kind::FewFiles(n) => format!("ulimit -n {n}"),
            Kind::Bomb(c) => format!("{c:?} decompression bomb").to_lowercase(),
        };
        let older = if self.older {
            " (over an older one)"
        } else {
            ""
        };
        format!("{} — {what}{older}", self.op.name())
    }
}

fn source_faults(phase: Phase) -> Vec<FaultKind> {
    let mut v = vec![
        FaultKind::Reset,
        FaultKind::StallTrickle,
        FaultKind::TooMany(Wait::Seconds),
        FaultKind::TooMany(Wait::HttpDate),
        FaultKind::Unavailable(Wait::Seconds),
        FaultKind::Unavailable(Wait::HttpDate),
        FaultKind::ServerErrorOnce,
    ];
    for at in [At::Start, At::Middle, At::End] {
        for content_length in [true, false] {
            v.push(FaultKind::Truncate { at, content_length });
        }
        v.push(FaultKind::WrongBytes(at));
    }
    v.push(FaultKind::Overlong {
        content_length: true,
    });
    v.push(FaultKind::Overlong {
        content_length: false,
    });
    v.push(FaultKind::RedirectLoop);
    if matches!(phase, Phase::Config | Phase::Blob) {
        v.push(FaultKind::RedirectToCredentialRejectingHost);
    }
    v
}

const UPLOAD_FAULTS: [FaultKind; 4] = [
    FaultKind::Reset,
    FaultKind::TooMany(Wait::Seconds),
    FaultKind::Unavailable(Wait::HttpDate),
    FaultKind::ServerErrorOnce,
];

const TOKEN_FAULTS: [FaultKind; 5] = [
    FaultKind::Reset,
    FaultKind::TooMany(Wait::Seconds),
    FaultKind::Unavailable(Wait::Seconds),
    FaultKind::ServerErrorOnce,
    FaultKind::Truncate {
        at: At::Middle,
        content_length: true,
    },
];

/// The faults `apply` meets at the manifest and config (each apply run starts
/// containers, so the whole list runs at the largest layer only).
const APPLY_FAULTS: [FaultKind; 6] = [
    FaultKind::Reset,
    FaultKind::Unavailable(Wait::Seconds),
    FaultKind::ServerErrorOnce,
    FaultKind::Truncate {
        at: At::Middle,
        content_length: false,
    },
    FaultKind::WrongBytes(At::Middle),
    FaultKind::RedirectLoop,
];

/// Every scenario, in a fixed order; `repeats` interrupts per command and signal.
pub fn full(rng: &mut Rng, repeats: usize) -> Vec<Scenario> {
    let mut v = Vec::new();
    let push = |v: &mut Vec<Scenario>, rng: &mut Rng, op: Op, kind: Kind| {
        let older = op.has_older() && rng.below(2) == 1;
        v.push(Scenario { op, kind, older });
    };
    let fault_ops: Vec<Op> = DESTS
        .iter()
        .map(|d| Op::Copy(*d))
        .chain([Op::Unpack, Op::Sync, Op::PvePull])
        .collect();
    for &op in &fault_ops {
        for phase in [Phase::Manifest, Phase::Config, Phase::Blob] {
            for f in source_faults(phase) {
                push(&mut v, rng, op, Kind::Fault(phase, f));
            }
        }
    }
    for op in [Op::Copy(Dest::OciArchive), Op::Unpack] {
        for f in TOKEN_FAULTS {
            push(&mut v, rng, op, Kind::Fault(Phase::Token, f));
        }
        // Blob requests reuse the token the manifest request got.
        for phase in [Phase::Config, Phase::Blob] {
            push(&mut v, rng, op, Kind::Fault(phase, FaultKind::ExpireToken));
        }
    }
    for phase in [Phase::Manifest, Phase::Config] {
        for f in APPLY_FAULTS {
            push(&mut v, rng, Op::Apply, Kind::Fault(phase, f));
        }
    }
    for f in source_faults(Phase::Blob) {
        push(&mut v, rng, Op::Apply, Kind::Fault(Phase::Blob, f));
    }
    // skiff uploads a blob in one PUT after the POST (no PATCH chunks), so a PATCH
    // fault would never strike.
    for op in [Op::Copy(Dest::Docker), Op::SignedCopy] {
        for phase in [Phase::UploadPost, Phase::UploadPut, Phase::ManifestPut] {
            for f in UPLOAD_FAULTS {
                push(&mut v, rng, op, Kind::Fault(phase, f));
            }
        }
    }
    for f in [FaultKind::Reset, FaultKind::WrongBytes(At::Middle)] {
        push(&mut v, rng, Op::SignedCopy, Kind::Fault(Phase::Blob, f));
    }
    let all_ops: Vec<Op> = fault_ops
        .iter()
        .copied()
        .chain([Op::LxcCreate, Op::Apply, Op::SignedCopy])
        .collect();
    for &op in &all_ops {
        for _ in 0..repeats {
            for sig in [libc::SIGINT, libc::SIGTERM] {
                let at = rng.below(1300);
                push(&mut v, rng, op, Kind::Signal(sig, at));
            }
            let at = rng.below(1300);
            push(&mut v, rng, op, Kind::Timeout(at));
        }
    }
    for op in [
        Op::Copy(Dest::OciArchive),
        Op::Copy(Dest::Oci),
        Op::Copy(Dest::Dir),
        Op::Copy(Dest::DockerArchive),
        Op::Unpack,
    ] {
        push(&mut v, rng, op, Kind::Full);
        push(&mut v, rng, op, Kind::ReadOnly);
        push(&mut v, rng, op, Kind::FewFiles(24));
    }
    for codec in [Codec::Gzip, Codec::Zstd] {
        push(&mut v, rng, Op::Unpack, Kind::Bomb(codec));
    }
    for codec in [Codec::Xz, Codec::Bzip2] {
        push(&mut v, rng, Op::Copy(Dest::Oci), Kind::Bomb(codec));
    }
    v
}

/// A bounded, representative subset: every fault kind, phase and command at least
/// once, one interrupt of each kind per command, every resource case; picked by `rng`.
pub fn subset(all: &[Scenario], rng: &mut Rng) -> Vec<Scenario> {
    let key = |s: &Scenario| -> Vec<String> {
        match s.kind {
            Kind::Fault(p, f) => vec![
                format!("fault {}", f.name()),
                format!("phase {}", p.name()),
                format!("op {}", s.op.name()),
            ],
            Kind::Signal(sig, _) => vec![format!("signal {sig} {}", s.op.name())],
            Kind::Timeout(_) => vec![format!("timeout {}", s.op.name())],
            Kind::Full | Kind::ReadOnly | Kind::FewFiles(_) => {
                vec![format!("{:?}", s.kind)]
            }
            Kind::Bomb(_) => vec![format!("{:?}", s.kind)],
        }
    };
    // Slow cases (a stall, an HTTP-date wait) are covered once each.
    let mut order: Vec<usize> = (0..all.len()).collect();
    rng.shuffle(&mut order);
    let mut covered = BTreeSet::new();
    let mut picked = BTreeSet::new();
    for i in order {
        let keys = key(&all[i]);
        if keys.iter().any(|k| !covered.contains(k)) {
            covered.extend(keys);
            picked.insert(i);
        }
    }
    picked.into_iter().map(|i| all[i]).collect()
}
