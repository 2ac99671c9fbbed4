//! The peers every scenario runs against, set up once: a source registry with Basic
//! auth, a Docker-Hub-like token registry, a destination registry, one fault proxy in
//! front of each (the same host names throughout, so outputs compare byte for byte), an
//! S3-like host that rejects credentials, the bombs, the peers of [`deploy`] (apply's
//! LXC containers, a Proxmox node root, GnuPG); and the reference outputs of fault-free
//! runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::deploy;
use super::exec::{self, Disturb};
use super::images::{bomb_image, sleeper, write_archive_bomb};
use super::matrix::{Codec, Dest, Op};
use super::snapshot::{self, Snapshot};
use crate::gpg::Gpg;
use crate::image::Compression;
use crate::{large_image, push_image, BlobHost, FaultProxy, Image, RegistryServer, Setup};

pub const REPO: &str = "chaos/app";
pub const OLD_REPO: &str = "chaos/old";
/// What `apply` runs: an image with a program to run as the containers' init.
pub const SLEEPER_REPO: &str = "chaos/sleeper";
pub const OLD_SLEEPER_REPO: &str = "chaos/sleeper-old";
const USER: &str = "chaos";
const PASSWORD: &str = "chaos-password";
/// How long one run may take before it counts as hung.
pub const LIMIT: Duration = Duration::from_secs(120);

/// Outputs of fault-free runs of one command.
pub struct Reference {
    /// Into an empty place.
    pub fresh: Snapshot,
    /// Over the older destination.
    pub over_old: Snapshot,
    /// The older destination itself.
    pub old: Snapshot,
    /// A template of the older destination, copied into place before a run.
    pub old_template: Option<PathBuf>,
    pub duration: Duration,
}

pub struct World {
    pub skiff: PathBuf,
    pub work: tempfile::TempDir,
    /// Kept running for the proxies in front of them.
    _src: RegistryServer,
    pub src_proxy: FaultProxy,
    _token: RegistryServer,
    pub token_proxy: FaultProxy,
    pub dest: RegistryServer,
    pub dest_proxy: FaultProxy,
    pub blob_host: BlobHost,
    pub image: Image,
    pub old: Image,
    /// The image `apply` runs (the older one only differs in its config).
    pub sleeper: Image,
    /// The GnuPG home of signed copies and the fingerprint of its key.
    pub gpg: Gpg,
    signer: String,
    pub refs: HashMap<Op, Reference>,
    pub peak_rss_kib: u64,
    /// Seconds since the epoch when the world was set up.
    started: u64,
}

/// Names what failed in an I/O error.
pub(super) fn err(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl World {
    pub fn start(skiff: &Path, seed: u64) -> Result<World, String> {
        let work = tempfile::Builder::new()
            .prefix("skiff-chaos.")
            .tempdir_in("/var/tmp")
            .map_err(err("work directory"))?;
        std::fs::create_dir_all(work.path().join("home")).map_err(err("home"))?;
        let src = RegistryServer::start(Setup::Htpasswd {
            user: USER.into(),
            password: PASSWORD.into(),
        })
        .map_err(err("source registry"))?;
        let token = RegistryServer::start(Setup::TokenWithRedirect {
            user: USER.into(),
            password: PASSWORD.into(),
        })
        .map_err(err("token registry"))?;
        let dest = RegistryServer::start(Setup::Open).map_err(err("destination registry"))?;
        let image = large_image(3_000_000, 3, seed);
        let old = large_image(1_000_000, 2, seed.wrapping_add(1));
        let creds = Some((USER, PASSWORD));
        push_image(&src.host(), REPO, "v1", &image, creds)?;
        push_image(&src.host(), OLD_REPO, "v1", &old, creds)?;
        let runnable = sleeper("new");
        push_image(&src.host(), SLEEPER_REPO, "v1", &runnable, creds)?;
        push_image(&src.host(), OLD_SLEEPER_REPO, "v1", &sleeper("old"), creds)?;
        let gpg = Gpg::new();
        let signer = gpg.key("chaos");
        push_image(&token.host(), REPO, "v1", &image, creds)?;
        for (codec, compression) in [("gzip", Compression::Gzip), ("zstd", Compression::Zstd)] {
            push_image(
                &src.host(),
                &format!("chaos/bomb-{codec}"),
                "v1",
                &bomb_image(compression),
                creds,
            )?;
        }
        let token_host = token
            .token_server()
            .map(|t| t.realm())
            .and_then(|r| {
                Some(
                    r.strip_prefix("http://")?
                        .strip_suffix("/token")?
                        .to_string(),
                )
            })
            .ok_or("token registry without a token server")?;
        let world = World {
            skiff: skiff.to_path_buf(),
            src_proxy: FaultProxy::start(&src.host(), vec![]).map_err(err("proxy"))?,
            token_proxy: FaultProxy::start_with_token(&token.host(), &token_host, vec![])
                .map_err(err("proxy"))?,
            dest_proxy: FaultProxy::start(&dest.host(), vec![]).map_err(err("proxy"))?,
            blob_host: BlobHost::start(src.data_dir()).map_err(err("blob host"))?,
            work,
            _src: src,
            _token: token,
            dest,
            image,
            old,
            sleeper: runnable,
            gpg,
            signer,
            refs: HashMap::new(),
            peak_rss_kib: 0,
            started: now_secs(),
        };
        for codec in [Codec::Xz, Codec::Bzip2] {
            write_archive_bomb(&world.bomb_archive(codec), codec)?;
        }
        Ok(world)
    }

    pub fn home(&self) -> PathBuf {
        self.work.path().join("home")
    }

    /// Where every run writes (always the same path, so configs that name it compare).
    pub fn run_dir(&self) -> PathBuf {
        self.work.path().join("run")
    }

    pub fn out(&self) -> PathBuf {
        self.run_dir().join("out")
    }

    /// `--tmpdir` of every run: must be empty afterwards.
    pub fn scratch(&self) -> PathBuf {
        self.work.path().join("scratch")
    }

    /// The files of `apply` besides its containers: the apply file, volumes, secrets.
    fn apply_dir(&self) -> PathBuf {
        self.work.path().join("apply")
    }

    /// The repositories `op` reads: the new image and the older one.
    pub fn repos(op: Op) -> (&'static str, &'static str) {
        match op {
            Op::Apply => (SLEEPER_REPO, OLD_SLEEPER_REPO),
            _ => (REPO, OLD_REPO),
        }
    }

    /// The image `op` reads (that faults are aimed at).
    pub fn image_of(&self, op: Op) -> &Image {
        match op {
            Op::Apply => &self.sleeper,
            _ => &self.image,
        }
    }

    /// The blob cache of every run (root's default is the system's
    /// `/var/cache/skiff`): emptied before each scenario, so faults strike, and its
    /// staging judged like the rest.
    pub fn cache(&self) -> PathBuf {
        self.work.path().join("cache")
    }

    /// The environment of a run of `op` besides `HOME`.
    pub fn env(&self, op: Op) -> Vec<(&'static str, PathBuf)> {
        let mut env = vec![("SKIFF_CACHE_DIR", self.cache())];
        match op {
            Op::PvePull => env.push(("SKIFF_PVE_ROOT", self.out())),
            Op::SignedCopy => env.push(("GNUPGHOME", self.gpg.home.path().to_path_buf())),
            _ => {}
        }
        env
    }

    /// Runs skiff for `op` with its environment.
    pub fn exec(&self, op: Op, args: &[String], disturb: Disturb) -> std::io::Result<exec::Run> {
        exec::run(
            &self.skiff,
            &self.home(),
            &self.env(op),
            args,
            disturb,
            LIMIT,
        )
    }

    pub fn bomb_archive(&self, codec: Codec) -> PathBuf {
        self.work
            .path()
            .join(format!("bomb-{codec:?}.tar").to_lowercase())
    }

    /// The image reference a command reads, through the proxy in front of `token`'s
    /// registry or the source registry.
    pub fn source(&self, repo: &str, token: bool) -> String {
        let host = if token {
            self.token_proxy.host()
        } else {
            self.src_proxy.host()
        };
        format!("{host}/{repo}")
    }

    /// The skiff arguments for `op` reading `source` (`HOST/REPO`, tag v1 added) and
    /// writing `out`; `dest_repo` names the repository a `docker://` copy pushes to.
    /// For `apply`, (re)writes the apply file to name `source`.
    pub fn args(
        &self,
        op: Op,
        source: &str,
        token: bool,
        dest_repo: &str,
    ) -> Result<Vec<String>, String> {
        let out = self.out();
        let out = out.display();
        let mut a: Vec<String> = vec!["--tmpdir".into(), self.scratch().display().to_string()];
        let image = format!("docker://{source}:v1");
        let sub: Vec<String> = match op {
            Op::Copy(_) | Op::SignedCopy => {
                let dest = match op {
                    Op::Copy(d) => d,
                    _ => Dest::Docker,
                };
                let target = match dest {
                    Dest::OciArchive => format!("oci-archive:{out}"),
                    Dest::Oci => format!("oci:{out}:v1"),
                    Dest::Dir => format!("dir:{out}"),
                    Dest::DockerArchive => format!("docker-archive:{out}"),
                    Dest::Docker => format!("docker://{}/{dest_repo}:v1", self.dest_proxy.host()),
                };
                let mut v: Vec<String> = vec![];
                if op == Op::SignedCopy {
                    let regd = self.work.path().join("registries.d");
                    deploy::registries_d(&regd, &self.out())?;
                    v.extend(["--registries.d".into(), regd.display().to_string()]);
                }
                v.extend([
                    "copy".into(),
                    "--src-tls-verify=false".into(),
                    "--dest-tls-verify=false".into(),
                ]);
                if op == Op::SignedCopy {
                    v.extend(["--sign-by".into(), self.signer.clone()]);
                }
                v.extend([image, target]);
                v
            }
            Op::Unpack => vec![
                "unpack".into(),
                "--quiet".into(),
                "--src-tls-verify=false".into(),
                image,
                out.to_string(),
            ],
            Op::LxcCreate => vec![
                "lxc".into(),
                "create".into(),
                "--quiet".into(),
                "--src-tls-verify=false".into(),
                "-P".into(),
                out.to_string(),
                "c1".into(),
                image,
            ],
            Op::Sync => vec![
                "sync".into(),
                "--src".into(),
                "docker".into(),
                "--dest".into(),
                "dir".into(),
                "--src-tls-verify=false".into(),
                source.to_string(),
                out.to_string(),
            ],
            Op::Apply => {
                let dir = self.apply_dir();
                let file = dir.join("apps.yaml");
                deploy::apply_file(&file, &format!("{source}:v1"))?;
                let mut v: Vec<String> = vec!["apply".into(), file.display().to_string()];
                for (flag, sub) in [
                    ("-P", None),
                    ("--data-dir", Some("data")),
                    ("--secrets-dir", Some("secrets")),
                    ("--datasets-dir", Some("datasets")),
                ] {
                    let path = sub.map_or(self.out(), |s| dir.join(s));
                    v.extend([flag.into(), path.display().to_string()]);
                }
                v.extend(["--yes".into(), "-q".into(), "--src-tls-verify=false".into()]);
                v
            }
            Op::PvePull => vec![
                "pve".into(),
                "pull".into(),
                "-q".into(),
                "--tls-verify=false".into(),
                format!("{source}:v1"),
            ],
        };
        a.extend(sub);
        if !token {
            let flag = if op == Op::PvePull {
                "creds"
            } else {
                "src-creds"
            };
            a.push(format!("--{flag}={USER}:{PASSWORD}"));
        }
        if matches!(op, Op::Copy(_) | Op::Sync | Op::PvePull | Op::SignedCopy) {
            // unpack, lxc create and apply retry with skiff's defaults (no retry flags).
            a.push("--retry-delay=100ms".into());
        }
        Ok(a)
    }

    /// The destination's state after a run of `op`.
    pub fn snapshot(&self, op: Op, dest_repo: &str) -> Snapshot {
        match op {
            Op::Copy(Dest::Docker) => snapshot::registry_tag(&self.dest.host(), dest_repo, "v1"),
            Op::SignedCopy => {
                let mut s = snapshot::registry_tag(&self.dest.host(), dest_repo, "v1");
                s.extend(deploy::lookaside(&self.out(), dest_repo, &self.gpg));
                s
            }
            Op::PvePull => snapshot::files(&deploy::template_cache(&self.out())),
            Op::Unpack | Op::LxcCreate | Op::Apply => crate::tree::describe(&self.out())
                .into_iter()
                .map(|(k, v)| (k, without_recent_mtime(&v, self.started)))
                .collect(),
            _ => snapshot::files(&self.out()),
        }
    }

    /// Empties the run directory and scratch, and puts the older destination in place.
    pub fn prepare(&self, op: Op, older: bool, dest_repo: &str) -> Result<(), String> {
        let run = self.run_dir();
        deploy::stop_containers(&self.out());
        let _ = std::fs::remove_dir_all(&run);
        let _ = std::fs::remove_dir_all(self.scratch());
        let _ = std::fs::remove_dir_all(self.apply_dir());
        let _ = std::fs::remove_dir_all(self.cache());
        std::fs::create_dir_all(&run).map_err(err("run directory"))?;
        std::fs::create_dir_all(self.scratch()).map_err(err("scratch"))?;
        std::fs::create_dir_all(self.apply_dir()).map_err(err("apply directory"))?;
        match op {
            Op::LxcCreate | Op::Apply => {
                std::fs::create_dir_all(self.out()).map_err(err("lxcpath"))?;
            }
            // The older template is a copy of a whole node root.
            Op::PvePull if !older => deploy::node_root(&self.out())?,
            _ => {}
        }
        if older {
            self.place_older(op, dest_repo)?;
            // Placing it may have cached blobs the new image shares: fetched again, so
            // that faults strike them.
            let _ = std::fs::remove_dir_all(self.cache());
        }
        Ok(())
    }

    /// Puts the older destination of `op` in place.
    pub fn place_older(&self, op: Op, dest_repo: &str) -> Result<(), String> {
        match op {
            Op::Copy(Dest::Docker) => {
                push_image(&self.dest.host(), dest_repo, "v1", &self.old, None)?;
            }
            Op::Apply | Op::SignedCopy => {
                let old = self.source(Self::repos(op).1, false);
                let run = self
                    .exec(
                        op,
                        &self.args(op, &old, false, dest_repo)?,
                        Disturb::default(),
                    )
                    .map_err(err("skiff"))?;
                if run.code != 0 {
                    return Err(format!(
                        "fault-free {} of the older image failed: {}",
                        op.name(),
                        run.stderr.trim()
                    ));
                }
            }
            _ => {
                let template = self
                    .refs
                    .get(&op)
                    .and_then(|r| r.old_template.clone())
                    .ok_or("no older destination for this command")?;
                copy_tree(&template, &self.out())?;
            }
        }
        Ok(())
    }

    /// Runs `op` without faults, as the reference every scenario is judged against.
    pub fn reference(&mut self, op: Op) -> Result<(), String> {
        let repo = "chaos/ref-fresh";
        let (new_repo, old_repo) = Self::repos(op);
        self.prepare(op, false, repo)?;
        let args = self.args(op, &self.source(new_repo, false), false, repo)?;
        let run = self
            .exec(op, &args, Disturb::default())
            .map_err(err("skiff"))?;
        if run.code != 0 {
            return Err(format!(
                "fault-free {} failed: {}",
                op.name(),
                run.stderr.trim()
            ));
        }
        self.peak_rss_kib = self.peak_rss_kib.max(run.peak_rss_kib);
        let fresh = self.snapshot(op, repo);
        let (mut old, mut over_old, mut old_template) = (Snapshot::new(), Snapshot::new(), None);
        if op.has_older() {
            let repo = "chaos/ref-old";
            self.prepare(op, false, repo)?;
            let args = self.args(op, &self.source(old_repo, false), false, repo)?;
            let r = self
                .exec(op, &args, Disturb::default())
                .map_err(err("skiff"))?;
            if r.code != 0 {
                return Err(format!("fault-free {} failed: {}", op.name(), r.stderr));
            }
            if !op.older_by_running() {
                let template = self.work.path().join(format!("old-{}", self.refs.len()));
                copy_tree(&self.out(), &template)?;
                old_template = Some(template);
            }
            self.refs.insert(
                op,
                Reference {
                    fresh: Snapshot::new(),
                    over_old: Snapshot::new(),
                    old: Snapshot::new(),
                    old_template: old_template.clone(),
                    duration: Duration::ZERO,
                },
            );
            self.prepare(op, true, repo)?;
            old = self.snapshot(op, repo);
            let args = self.args(op, &self.source(new_repo, false), false, repo)?;
            let r = self
                .exec(op, &args, Disturb::default())
                .map_err(err("skiff"))?;
            if r.code != 0 {
                return Err(format!(
                    "fault-free {} over an older one failed: {}",
                    op.name(),
                    r.stderr.trim()
                ));
            }
            over_old = self.snapshot(op, repo);
        }
        self.refs.insert(
            op,
            Reference {
                fresh,
                over_old,
                old,
                old_template,
                duration: run.elapsed,
            },
        );
        Ok(())
    }
}

impl Drop for World {
    /// apply's containers run until stopped.
    fn drop(&mut self) {
        deploy::stop_containers(&self.out());
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A description whose mtime is from this chaos run (a file skiff wrote, such as the
/// container config, not one from the image) says `recent`, so runs compare.
fn without_recent_mtime(description: &str, started: u64) -> String {
    match description.split_once(" mtime=") {
        Some((head, t)) => {
            let secs: u64 = t
                .split('.')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if secs + 5 >= started {
                format!("{head} mtime=recent")
            } else {
                description.to_string()
            }
        }
        None => description.to_string(),
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .map_err(err("cp"))?;
    if !status.success() {
        return Err(format!("cp -a {} {} failed", from.display(), to.display()));
    }
    Ok(())
}
