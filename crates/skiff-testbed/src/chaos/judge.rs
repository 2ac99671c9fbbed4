//! Running one scenario and judging it by skiff's promises: the output is the older
//! destination (or absent) or the complete new one, nothing is left behind, a failure is
//! one clear message (naming the blob when a blob failed), the documented outcome holds
//! (recovered with the retries counted, or refused), and a rerun succeeds.

use std::path::Path;
use std::process::Command;

use super::deploy;
use super::exec::{Disturb, Run};
use super::matrix::{Codec, Expect, FaultKind, Kind, Op, Phase, Scenario};
use super::snapshot::{self, Snapshot};
use super::world::World;
use crate::fault::{Fault, Target};
use crate::Image;

/// How a scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Succeeded with the complete new output.
    Recovered,
    /// Failed (or was interrupted) with the older destination or nothing left.
    FailedCleanly,
    /// An output that is neither the old one, nor absent, nor the complete new one.
    Corrupt,
    Panic,
    Hung,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub verdict: Verdict,
    /// Temporary or staging files left in the run directory, scratch or the output.
    pub leftovers: Vec<String>,
    /// Why the documented outcome did not hold, if it did not.
    pub unexpected: Option<String>,
    /// Faults that struck (each one a retry or resume skiff had to make).
    pub struck: usize,
    pub secs: f64,
    pub peak_rss_kib: u64,
    /// skiff's last stderr line.
    pub message: String,
}

/// The state of a destination against the references.
enum State {
    New,
    Old,
    /// Some parts (containers of an apply) new, the others old.
    Mixed,
    /// The new or old output plus these stray entries.
    WithStrays(Vec<String>),
    Other,
}

/// The older destination plus the new image's signatures: what a signed copy that failed
/// at its manifest push leaves (its signatures are written, complete, just before it).
fn signed_ahead(new: &Snapshot, old: &Snapshot) -> Snapshot {
    let mut s = old.clone();
    s.extend(
        new.iter()
            .filter(|(k, _)| k.contains("/signature-"))
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    s
}

/// The first component of a snapshot key: one container of an apply.
fn part(key: &str) -> &str {
    key.split('/').next().unwrap_or(key)
}

/// The entries of `s` in part `p`.
fn part_of(s: &Snapshot, p: &str) -> Snapshot {
    s.iter()
        .filter(|(k, _)| part(k) == p)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The state when each part is judged on its own: every part old or new, plus the parts
/// neither reference has (strays).
fn state_by_part(actual: &Snapshot, new: &Snapshot, old: &Snapshot) -> State {
    let known: std::collections::BTreeSet<&str> =
        new.keys().chain(old.keys()).map(|k| part(k)).collect();
    let (mut any_new, mut any_old) = (false, false);
    for p in &known {
        let a = part_of(actual, p);
        if a == part_of(new, p) {
            any_new = true;
        } else if a == part_of(old, p) {
            any_old = true;
        } else {
            return State::Other;
        }
    }
    let mut strays: Vec<String> = actual
        .keys()
        .map(|k| part(k))
        .filter(|p| !known.contains(p))
        .map(str::to_string)
        .collect();
    strays.dedup();
    match (strays.is_empty(), any_new, any_old) {
        (false, _, _) => State::WithStrays(strays),
        (true, true, false) => State::New,
        (true, false, true) => State::Old,
        _ => State::Mixed,
    }
}

fn state(actual: &Snapshot, new: &Snapshot, old: &Snapshot, by_part: bool) -> State {
    if actual == new {
        return State::New;
    }
    if actual == old {
        return State::Old;
    }
    if by_part {
        return state_by_part(actual, new, old);
    }
    for base in [new, old] {
        if base.iter().all(|(k, v)| actual.get(k) == Some(v)) {
            let strays = actual
                .keys()
                .filter(|k| !base.contains_key(*k))
                .cloned()
                .collect();
            return State::WithStrays(strays);
        }
    }
    State::Other
}

fn target(image: &Image, phase: Phase, times: usize) -> Target {
    let config = image.config.digest.clone();
    let blob = biggest_layer(image);
    match phase {
        Phase::Token => Target::new(Some("GET"), "/token", times),
        Phase::Manifest => Target::new(Some("GET"), "/manifests/", times),
        Phase::Config => Target::new(Some("GET"), &format!("/blobs/{config}"), times),
        Phase::Blob => Target::new(Some("GET"), &format!("/blobs/{blob}"), times),
        Phase::UploadPost => Target::new(Some("POST"), "/blobs/uploads/", times),
        Phase::UploadPut => Target::new(Some("PUT"), "/blobs/uploads/", times),
        Phase::ManifestPut => Target::new(Some("PUT"), "/manifests/", times),
    }
}

fn biggest_layer(image: &Image) -> String {
    image
        .layers
        .iter()
        .max_by_key(|l| l.data.len())
        .map(|l| l.digest.clone())
        .unwrap_or_default()
}

/// Where the S3-like host serves a blob of the source registry.
fn blob_host_url(world: &World, digest: &str) -> String {
    let hex = digest.trim_start_matches("sha256:");
    format!(
        "{}docker/registry/v2/blobs/sha256/{}/{hex}/data",
        world.blob_host.base_url(),
        &hex[..2]
    )
}

fn mount_tmpfs(dir: &Path, options: &str) -> Result<(), String> {
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", options, "tmpfs"])
        .arg(dir)
        .status()
        .map_err(|e| format!("mount: {e}"))?;
    if !status.success() {
        return Err(format!("mount -t tmpfs -o {options} failed (root needed)"));
    }
    Ok(())
}

fn mount_tmpfs_remount_ro(dir: &Path) -> Result<(), String> {
    let status = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(dir)
        .status()
        .map_err(|e| format!("mount: {e}"))?;
    if !status.success() {
        return Err("mount -o remount,ro failed".into());
    }
    Ok(())
}

fn umount(dir: &Path) {
    let _ = Command::new("umount").arg(dir).status();
}

/// Runs scenario number `index`.
pub fn run(world: &mut World, sc: &Scenario, index: usize) -> Result<Outcome, String> {
    let dest_repo = format!("chaos/s{index}");
    // A small filesystem is mounted over the run directory before the older destination
    // is put in it (and made read-only after).
    let small_fs = matches!(sc.kind, Kind::Full | Kind::ReadOnly);
    world.prepare(sc.op, sc.older && !small_fs, &dest_repo)?;
    for p in [&world.src_proxy, &world.token_proxy, &world.dest_proxy] {
        p.set_faults(vec![]);
    }
    let reference = world
        .refs
        .get(&sc.op)
        .ok_or_else(|| format!("no reference run for {}", sc.op.name()))?;
    let (new, old) = if sc.older {
        (reference.over_old.clone(), reference.old.clone())
    } else {
        (reference.fresh.clone(), Snapshot::new())
    };
    let clean_secs = reference.duration;
    let token = matches!(
        sc.kind,
        Kind::Fault(Phase::Token, _) | Kind::Fault(_, FaultKind::ExpireToken)
    );
    let image = world.image_of(sc.op).clone();
    let mut source = world.source(World::repos(sc.op).0, token);
    let mut disturb = Disturb::default();
    let mut pre: Vec<String> = Vec::new();
    let mut mounted = false;
    match sc.kind {
        Kind::Fault(phase, f) => {
            let proxy = if phase.upload() {
                &world.dest_proxy
            } else if token {
                &world.token_proxy
            } else {
                &world.src_proxy
            };
            let location = match phase {
                Phase::Config => Some(blob_host_url(world, &image.config.digest)),
                Phase::Blob => Some(blob_host_url(world, &biggest_layer(&image))),
                _ => None,
            };
            proxy.set_faults(vec![Fault::Rule {
                target: target(&image, phase, f.times()),
                action: f.action(location),
            }]);
        }
        Kind::Signal(sig, permille) => {
            disturb.signal = Some((sig, clean_secs * permille as u32 / 1000));
        }
        Kind::Timeout(permille) => {
            let ms = (clean_secs * permille as u32 / 1000).as_millis().max(1);
            pre = vec!["--command-timeout".into(), format!("{ms}ms")];
        }
        Kind::Full | Kind::ReadOnly => {
            // Room for the older destination (1 MB) but not for the new image (3 MB).
            mount_tmpfs(&world.run_dir(), "size=2m")?;
            mounted = true;
            if sc.older {
                world.place_older(sc.op, &dest_repo)?;
            }
            if sc.kind == Kind::ReadOnly {
                mount_tmpfs_remount_ro(&world.run_dir())?;
            }
        }
        Kind::FewFiles(n) => disturb.max_open_files = Some(n),
        Kind::Bomb(Codec::Gzip) => source = world.source("chaos/bomb-gzip", false),
        Kind::Bomb(Codec::Zstd) => source = world.source("chaos/bomb-zstd", false),
        Kind::Bomb(_) => {}
    }
    let mut args = pre;
    args.extend(world.args(sc.op, &source, token, &dest_repo)?);
    if let Kind::Bomb(codec @ (Codec::Xz | Codec::Bzip2)) = sc.kind {
        args = vec![
            "--tmpdir".into(),
            world.scratch().display().to_string(),
            "copy".into(),
            format!("docker-archive:{}", world.bomb_archive(codec).display()),
            format!("oci:{}:v1", world.out().display()),
        ];
    }
    let result = world.exec(sc.op, &args, disturb);
    let actual = world.snapshot(sc.op, &dest_repo);
    let mut leftovers: Vec<String> = snapshot::strays(&world.run_dir(), &["out"]);
    leftovers.extend(
        snapshot::strays(&world.scratch(), &[])
            .into_iter()
            .map(|n| format!("scratch/{n}")),
    );
    leftovers.extend(
        snapshot::strays(&world.cache().join("tmp"), &[])
            .into_iter()
            .map(|n| format!("cache/tmp/{n}")),
    );
    if mounted {
        umount(&world.run_dir());
    }
    let run = result.map_err(|e| format!("running skiff: {e}"))?;
    world.peak_rss_kib = world.peak_rss_kib.max(run.peak_rss_kib);
    let struck: usize = [&world.src_proxy, &world.token_proxy, &world.dest_proxy]
        .iter()
        .map(|p| p.fired().iter().sum::<usize>())
        .sum();
    for p in [&world.src_proxy, &world.token_proxy, &world.dest_proxy] {
        p.set_faults(vec![]);
    }
    let mut st = state(&actual, &new, &old, sc.op == Op::Apply);
    if sc.op == Op::SignedCopy && actual == signed_ahead(&new, &old) {
        st = State::Old;
    }
    if let State::WithStrays(s) = &st {
        leftovers.extend(s.iter().map(|n| format!("out/{n}")));
    }
    let complete = matches!(st, State::New | State::WithStrays(_)) && actual != old;
    let verdict = if run.hung {
        Verdict::Hung
    } else if run.panicked() {
        Verdict::Panic
    } else if run.code == 0 {
        if matches!(st, State::New) || (complete && !leftovers.is_empty()) {
            Verdict::Recovered
        } else {
            Verdict::Corrupt
        }
    } else if matches!(st, State::Old | State::Mixed | State::WithStrays(_))
        || (matches!(st, State::New) && matches!(sc.kind, Kind::Signal(..) | Kind::Timeout(_)))
    {
        Verdict::FailedCleanly
    } else {
        Verdict::Corrupt
    };
    let mut unexpected = documented(&image, sc, &run, verdict, struck);
    // unpack, lxc create and pve pull refuse an existing target, so only a rerun after a
    // run that left nothing can succeed.
    let refuses_existing = matches!(sc.op, Op::Unpack | Op::LxcCreate | Op::PvePull) && complete;
    if unexpected.is_none()
        && !refuses_existing
        && matches!(sc.kind, Kind::Signal(..) | Kind::Timeout(_))
    {
        unexpected = rerun(world, sc, &args, &dest_repo, &new);
    }
    Ok(Outcome {
        name: sc.name(),
        verdict,
        leftovers,
        unexpected,
        struck,
        secs: run.elapsed.as_secs_f64(),
        peak_rss_kib: run.peak_rss_kib,
        message: run.stderr.trim().lines().last().unwrap_or("").to_string(),
    })
}

/// Whether the documented outcome held; why not if it did not.
fn documented(
    image: &Image,
    sc: &Scenario,
    run: &Run,
    verdict: Verdict,
    struck: usize,
) -> Option<String> {
    let failed = verdict == Verdict::FailedCleanly;
    let err = run.stderr.to_lowercase();
    // A signal that arrives before skiff's handlers are installed ends it silently, with
    // nothing written yet.
    let signal = matches!(sc.kind, Kind::Signal(..));
    if failed && !signal && run.stderr.trim().is_empty() {
        return Some("failed without a message".into());
    }
    match sc.kind {
        Kind::Fault(phase, f) => {
            if struck == 0 {
                return Some("the fault never struck".into());
            }
            match f.expect() {
                Expect::Recover if verdict != Verdict::Recovered => {
                    return Some("expected to recover".into())
                }
                Expect::Fail if verdict == Verdict::Recovered => {
                    return Some("expected a clear error".into())
                }
                _ => {}
            }
            if failed && run.code != 1 {
                return Some(format!("exit code {}", run.code));
            }
            let digest = match phase {
                Phase::Config => Some(image.config.digest.clone()),
                Phase::Blob => Some(biggest_layer(image)),
                _ => None,
            };
            if let Some(d) = digest {
                if failed && !run.stderr.contains(&d[7..19]) {
                    return Some("the error does not name the blob".into());
                }
            }
            None
        }
        Kind::Signal(sig, _) => (![0, 128 + sig].contains(&run.code))
            .then(|| format!("exit code {} after signal {sig}", run.code)),
        Kind::Timeout(_) => (![0, 1].contains(&run.code))
            .then(|| format!("exit code {} after --command-timeout", run.code)),
        Kind::Full => {
            (!(failed && err.contains("no space"))).then(|| "expected a \"no space\" error".into())
        }
        Kind::ReadOnly => (!(failed && err.contains("read-only")))
            .then(|| "expected a \"read-only\" error".into()),
        Kind::FewFiles(_) => (failed && !err.contains("open files"))
            .then(|| "failed, but not with \"too many open files\"".into()),
        Kind::Bomb(_) => (!(failed && (err.contains("ratio") || err.contains("bomb"))))
            .then(|| "expected the bomb refused".into()),
    }
}

/// After an interrupt: the same command again, without any disturbance, must succeed
/// with the complete new output.
fn rerun(
    world: &World,
    sc: &Scenario,
    args: &[String],
    dest_repo: &str,
    new: &Snapshot,
) -> Option<String> {
    let args: Vec<String> = match sc.kind {
        Kind::Timeout(_) => args[2..].to_vec(),
        _ => args.to_vec(),
    };
    match world.exec(sc.op, &args, Disturb::default()) {
        Ok(r) if r.code == 0 => {
            let actual = world.snapshot(sc.op, dest_repo);
            let running = match sc.op {
                Op::Apply => deploy::not_running(&world.out()),
                _ => None,
            };
            first_difference(&actual, new)
                .map(|d| format!("the rerun's output is not the new one: {d}"))
                .or(running.map(|r| format!("after the rerun {r}")))
        }
        Ok(r) => Some(format!(
            "the rerun failed: {}",
            r.stderr.trim().lines().last().unwrap_or("")
        )),
        Err(e) => Some(format!("the rerun did not start: {e}")),
    }
}

/// The first entry where two snapshots differ, for the report.
fn first_difference(actual: &Snapshot, expected: &Snapshot) -> Option<String> {
    let keys = actual.keys().chain(expected.keys());
    keys.into_iter()
        .find(|k| actual.get(*k) != expected.get(*k))
        .map(|k| {
            format!(
                "{k}: {} instead of {}",
                actual.get(k).map_or("absent", String::as_str),
                expected.get(k).map_or("absent", String::as_str)
            )
        })
}
