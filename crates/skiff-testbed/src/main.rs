//! `skiff-testbed`: a seeded real registry (or OCI layout) for the README's
//! demo and the benchmarks.
//!
//! ```text
//! skiff-testbed serve [--setup open|htpasswd|token] [--seed demo|big[:BYTES]] [--repo NAME:TAG]
//!                     [--user U] [--password P]
//! skiff-testbed layout DIR [--seed demo|big[:BYTES]] [--tag TAG]
//! skiff-testbed pve-api
//! skiff-testbed chaos --skiff PATH [--seed N] [--full true] [--repeats N] [--only TEXT]
//! ```
//!
//! `pve-api` starts the Proxmox VE API stand-in (nodes pve1, pve2) and prints
//! `PVE_API=URL`, `PVE_TOKEN=…` and `PVE_FINGERPRINT=…`, then serves until a signal.
//!
//! `serve` prints exactly one line, `REGISTRY=127.0.0.1:PORT`, to stdout once
//! the registry is seeded, then serves until SIGTERM, SIGINT or SIGHUP; the
//! `docker-registry` child dies with it (even on SIGKILL, via PDEATHSIG).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use skiff_testbed::image::{busybox_builder, write_oci_layout_index};
use skiff_testbed::{
    busybox_image, large_image, multi_arch, push_image, push_multi_arch, write_oci_layout, Format,
    Image, RegistryServer, Setup,
};

const USAGE: &str = "usage:
  skiff-testbed serve [--setup open|htpasswd|token] [--seed demo|big[:BYTES]] [--repo NAME:TAG]
                      [--user USER] [--password PASSWORD]
  skiff-testbed layout DIR [--seed demo|big[:BYTES]] [--tag TAG]
  skiff-testbed pve-api
  skiff-testbed chaos --skiff PATH [--seed N] [--full true|false] [--repeats N] [--only TEXT]
                      (the reliability matrix; the CI subset unless --full true; exit 1
                      if a promise broke)

seeds:
  demo        busybox image (OCI) at NAME:TAG, its Docker v2s2 variant at NAME:docker,
              a linux/amd64 + linux/arm64 index at NAME:multi  (default NAME:TAG skiff/busybox:latest)
  big[:BYTES] a synthetic image of BYTES (default 320M) in 8 gzip layers
              (default NAME:TAG skiff/big:latest); BYTES takes K, M, G suffixes (powers of 1000)";

/// Large-image size when `big` has no size: about a mid-sized distro image.
const DEFAULT_BIG: u64 = 320_000_000;
const BIG_LAYERS: usize = 8;

#[derive(Clone, Copy)]
enum Seed {
    Demo,
    Big(u64),
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&s[..s.len() - 1], 1_000),
        Some('M') => (&s[..s.len() - 1], 1_000_000),
        Some('G') => (&s[..s.len() - 1], 1_000_000_000),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .map(|n| n * mult)
        .map_err(|_| format!("bad size {s:?}"))
}

fn parse_seed(s: &str) -> Result<Seed, String> {
    match s.split_once(':') {
        None if s == "demo" => Ok(Seed::Demo),
        None if s == "big" => Ok(Seed::Big(DEFAULT_BIG)),
        Some(("big", size)) => parse_size(size).map(Seed::Big),
        _ => Err(format!("unknown seed {s:?} (demo, big, big:BYTES)")),
    }
}

struct Args {
    positional: Vec<String>,
    flags: Vec<(String, String)>,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut flags = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(name) = a.strip_prefix("--") {
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => (
                    name.to_string(),
                    it.next().ok_or(format!("--{name} needs a value"))?.clone(),
                ),
            };
            flags.push((name, value));
        } else {
            positional.push(a.clone());
        }
    }
    Ok(Args { positional, flags })
}

impl Args {
    fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn check(&self, allowed: &[&str]) -> Result<(), String> {
        match self
            .flags
            .iter()
            .find(|(n, _)| !allowed.contains(&n.as_str()))
        {
            Some((n, _)) => Err(format!("unknown option --{n}")),
            None => Ok(()),
        }
    }
}

fn seed_image(seed: Seed) -> Image {
    match seed {
        Seed::Demo => busybox_image(Format::Oci),
        Seed::Big(bytes) => large_image(bytes, BIG_LAYERS, 1),
    }
}

fn default_repo(seed: Seed) -> &'static str {
    match seed {
        Seed::Demo => "skiff/busybox:latest",
        Seed::Big(_) => "skiff/big:latest",
    }
}

/// Blocks the termination signals in this thread before any other thread
/// exists, so every thread inherits the mask and `sigwait` receives them.
fn block_signals() -> libc::sigset_t {
    // SAFETY: plain libc signal-set manipulation on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_for_signal(set: &libc::sigset_t) -> i32 {
    let mut sig = 0;
    // SAFETY: `set` is initialised and blocked in every thread.
    unsafe { libc::sigwait(set, &mut sig) };
    sig
}

fn serve(args: &Args) -> Result<(), String> {
    args.check(&["setup", "seed", "repo", "user", "password"])?;
    let signals = block_signals();
    let seed = parse_seed(args.flag("seed").unwrap_or("demo"))?;
    let user = args.flag("user").unwrap_or("skiff").to_string();
    let password = args
        .flag("password")
        .unwrap_or("skiff-password")
        .to_string();
    let setup = match args.flag("setup").unwrap_or("open") {
        "open" => Setup::Open,
        "htpasswd" => Setup::Htpasswd {
            user: user.clone(),
            password: password.clone(),
        },
        "token" => Setup::TokenWithRedirect {
            user: user.clone(),
            password: password.clone(),
        },
        other => return Err(format!("unknown setup {other:?} (open, htpasswd, token)")),
    };
    let repo_tag = args.flag("repo").unwrap_or(default_repo(seed));
    let (repo, tag) = repo_tag
        .rsplit_once(':')
        .ok_or(format!("--repo wants NAME:TAG, got {repo_tag:?}"))?;

    let reg = RegistryServer::start(setup).map_err(|e| format!("starting docker-registry: {e}"))?;
    let creds = reg.credentials();
    let creds = creds.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
    let host = reg.host();
    let image = seed_image(seed);
    push_image(&host, repo, tag, &image, creds)?;
    eprintln!(
        "skiff-testbed: {host}/{repo}:{tag} = {}",
        image.manifest_digest
    );
    if let Seed::Demo = seed {
        let docker = busybox_image(Format::Docker);
        push_image(&host, repo, "docker", &docker, creds)?;
        eprintln!(
            "skiff-testbed: {host}/{repo}:docker = {} (Docker v2s2)",
            docker.manifest_digest
        );
        let arm = busybox_builder(Format::Oci)
            .platform("linux", "arm64", Some("v8"))
            .build();
        let m = multi_arch(Format::Oci, vec![image, arm]);
        push_multi_arch(&host, repo, "multi", &m, creds)?;
        eprintln!(
            "skiff-testbed: {host}/{repo}:multi = {} (linux/amd64 + linux/arm64/v8)",
            m.digest
        );
    }
    if let Some((u, p)) = creds {
        eprintln!("skiff-testbed: credentials {u}:{p}");
    }
    if let Some(bh) = reg.blob_host() {
        eprintln!("skiff-testbed: blobs redirected to {}", bh.base_url());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "REGISTRY={host}")
        .and_then(|_| out.flush())
        .map_err(|e| e.to_string())?;
    drop(out);
    let sig = wait_for_signal(&signals);
    eprintln!("skiff-testbed: signal {sig}, stopping");
    drop(reg);
    Ok(())
}

/// `pve-api`: the Proxmox VE API stand-in, for bench/pve_api.sh.
fn pve_api(args: &Args) -> Result<(), String> {
    args.check(&[])?;
    let signals = block_signals();
    let api = skiff_testbed::pve_api::PveApiServer::start(Default::default())
        .map_err(|e| format!("starting the PVE API stand-in: {e}"))?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "PVE_API={}\nPVE_TOKEN={}\nPVE_FINGERPRINT={}",
        api.url(),
        api.token(),
        api.fingerprint()
    )
    .and_then(|_| out.flush())
    .map_err(|e| e.to_string())?;
    drop(out);
    let sig = wait_for_signal(&signals);
    eprintln!("skiff-testbed: signal {sig}, stopping");
    drop(api);
    Ok(())
}

fn layout(args: &Args) -> Result<(), String> {
    args.check(&["seed", "tag"])?;
    let [dir] = args.positional.as_slice() else {
        return Err("layout wants exactly one DIR".into());
    };
    let seed = parse_seed(args.flag("seed").unwrap_or("demo"))?;
    let tag = args.flag("tag").unwrap_or("latest");
    let dir = PathBuf::from(dir);
    let image = seed_image(seed);
    write_oci_layout(&dir, tag, &image).map_err(|e| format!("writing {}: {e}", dir.display()))?;
    eprintln!(
        "skiff-testbed: {}:{tag} = {}",
        dir.display(),
        image.manifest_digest
    );
    if let Seed::Demo = seed {
        let arm = busybox_builder(Format::Oci)
            .platform("linux", "arm64", Some("v8"))
            .build();
        let m = multi_arch(Format::Oci, vec![image, arm]);
        write_oci_layout_index(&dir, &format!("{tag}-multi"), &m)
            .map_err(|e| format!("writing {}: {e}", dir.display()))?;
        eprintln!(
            "skiff-testbed: {}:{tag}-multi = {} (linux/amd64 + linux/arm64/v8)",
            dir.display(),
            m.digest
        );
    }
    Ok(())
}

fn chaos(args: &Args) -> Result<bool, String> {
    args.check(&["skiff", "seed", "full", "repeats", "only"])?;
    let number = |name: &str, default: u64| -> Result<u64, String> {
        args.flag(name).map_or(Ok(default), |v| {
            v.parse().map_err(|_| format!("bad --{name} {v:?}"))
        })
    };
    let config = skiff_testbed::chaos::Config {
        skiff: PathBuf::from(args.flag("skiff").ok_or("chaos needs --skiff PATH")?),
        seed: number("seed", 1)?,
        full: args.flag("full") == Some("true"),
        repeats: number("repeats", 3)? as usize,
        filter: args.flag("only").map(str::to_string),
        verbose: true,
    };
    let report = skiff_testbed::chaos::run(&config)?;
    let problems = report.problems();
    if !problems.is_empty() {
        println!("broken promises:");
        for p in &problems {
            println!("  {p}");
        }
    }
    print!("{report}");
    Ok(report.clean())
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = match argv.first().map(String::as_str) {
        Some("serve") => parse_args(&argv[1..]).and_then(|a| serve(&a)),
        Some("layout") => parse_args(&argv[1..]).and_then(|a| layout(&a)),
        Some("pve-api") => parse_args(&argv[1..]).and_then(|a| pve_api(&a)),
        Some("chaos") => match parse_args(&argv[1..]).and_then(|a| chaos(&a)) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err("missing or unknown command".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("skiff-testbed: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}
