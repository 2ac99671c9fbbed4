//! The peers every scenario runs against, set up once: a source registry with Basic
//! auth, a Docker-Hub-like token registry, a destination registry, one fault proxy in
//! front of each (the same host names throughout, so outputs compare byte for byte), an
//! S3-like host that rejects credentials, the bombs; and the reference outputs of
//! fault-free runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::exec::{self, Disturb};
use super::matrix::{Codec, Dest, Op};
use super::snapshot::{self, Snapshot};
use crate::image::{Compression, ImageBuilder, LayerBuilder};
use crate::{large_image, push_image, BlobHost, FaultProxy, Format, Image, RegistryServer, Setup};

pub const REPO: &str = "chaos/app";
pub const OLD_REPO: &str = "chaos/old";
const USER: &str = "chaos";
const PASSWORD: &str = "chaos-password";
/// How long one run may take before it counts as hung.
pub const LIMIT: Duration = Duration::from_secs(120);
/// Uncompressed size of a bomb layer: far past the ratio limit's grace.
const BOMB_BYTES: usize = 96 << 20;

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
    pub refs: HashMap<Op, Reference>,
    pub peak_rss_kib: u64,
    /// Seconds since the epoch when the world was set up.
    started: u64,
}

fn err(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
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
    pub fn args(&self, op: Op, source: &str, token: bool, dest_repo: &str) -> Vec<String> {
        let out = self.out();
        let out = out.display();
        let mut a: Vec<String> = vec!["--tmpdir".into(), self.scratch().display().to_string()];
        let image = format!("docker://{source}:v1");
        let sub: Vec<String> = match op {
            Op::Copy(dest) => {
                let target = match dest {
                    Dest::OciArchive => format!("oci-archive:{out}"),
                    Dest::Oci => format!("oci:{out}:v1"),
                    Dest::Dir => format!("dir:{out}"),
                    Dest::DockerArchive => format!("docker-archive:{out}"),
                    Dest::Docker => format!("docker://{}/{dest_repo}:v1", self.dest_proxy.host()),
                };
                vec![
                    "copy".into(),
                    "--src-tls-verify=false".into(),
                    "--dest-tls-verify=false".into(),
                    image,
                    target,
                ]
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
        };
        a.extend(sub);
        if !token {
            a.push(format!("--src-creds={USER}:{PASSWORD}"));
        }
        if matches!(op, Op::Copy(_) | Op::Sync) {
            // unpack and lxc create retry with skiff's defaults (no retry flags).
            a.push("--retry-delay=100ms".into());
        }
        a
    }

    /// The destination's state after a run of `op`.
    pub fn snapshot(&self, op: Op, dest_repo: &str) -> Snapshot {
        match op {
            Op::Copy(Dest::Docker) => snapshot::registry_tag(&self.dest.host(), dest_repo, "v1"),
            Op::Unpack | Op::LxcCreate => crate::tree::describe(&self.out())
                .into_iter()
                .map(|(k, v)| (k, without_recent_mtime(&v, self.started)))
                .collect(),
            _ => snapshot::files(&self.out()),
        }
    }

    /// Empties the run directory and scratch, and puts the older destination in place.
    pub fn prepare(&self, op: Op, older: bool, dest_repo: &str) -> Result<(), String> {
        let run = self.run_dir();
        let _ = std::fs::remove_dir_all(&run);
        let _ = std::fs::remove_dir_all(self.scratch());
        std::fs::create_dir_all(&run).map_err(err("run directory"))?;
        std::fs::create_dir_all(self.scratch()).map_err(err("scratch"))?;
        if op == Op::LxcCreate {
            std::fs::create_dir_all(self.out()).map_err(err("lxcpath"))?;
        }
        if older {
            self.place_older(op, dest_repo)?;
        }
        Ok(())
    }

    /// Puts the older destination of `op` in place.
    pub fn place_older(&self, op: Op, dest_repo: &str) -> Result<(), String> {
        match op {
            Op::Copy(Dest::Docker) => {
                push_image(&self.dest.host(), dest_repo, "v1", &self.old, None)?;
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
        self.prepare(op, false, repo)?;
        let args = self.args(op, &self.source(REPO, false), false, repo);
        let run = exec::run(&self.skiff, &self.home(), &args, Disturb::default(), LIMIT)
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
            let args = self.args(op, &self.source(OLD_REPO, false), false, repo);
            let r = exec::run(&self.skiff, &self.home(), &args, Disturb::default(), LIMIT)
                .map_err(err("skiff"))?;
            if r.code != 0 {
                return Err(format!("fault-free {} failed: {}", op.name(), r.stderr));
            }
            if op != Op::Copy(Dest::Docker) {
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
            let args = self.args(op, &self.source(REPO, false), false, repo);
            let r = exec::run(&self.skiff, &self.home(), &args, Disturb::default(), LIMIT)
                .map_err(err("skiff"))?;
            if r.code != 0 {
                return Err(format!("fault-free {} over an older one failed", op.name()));
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

/// One file of zeros that compresses far beyond the ratio limit.
fn bomb_layer() -> Vec<u8> {
    LayerBuilder::new()
        .file("zeros", 0o644, &vec![0u8; BOMB_BYTES])
        .build()
}

fn bomb_image(compression: Compression) -> Image {
    ImageBuilder::new(Format::Oci)
        .layer(bomb_layer(), compression)
        .build_with_level(flate2::Compression::best())
}

/// A `docker save` archive holding the bomb layer uncompressed, compressed as a whole
/// by the system's `xz` or `bzip2`.
fn write_archive_bomb(path: &Path, codec: Codec) -> Result<(), String> {
    let image = ImageBuilder::new(Format::Docker)
        .layer(bomb_layer(), Compression::None)
        .build();
    let config_name = format!("{}.json", &image.config.digest[7..]);
    let layer_name = format!("{}/layer.tar", &image.layers[0].digest[7..]);
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": ["chaos/bomb:v1"],
        "Layers": [layer_name],
    }]);
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, data)
    };
    add("manifest.json", manifest.to_string().as_bytes()).map_err(err("tar"))?;
    add(&config_name, &image.config.data).map_err(err("tar"))?;
    add(&layer_name, &image.layers[0].data).map_err(err("tar"))?;
    let plain = tar.into_inner().map_err(err("tar"))?;
    let program = match codec {
        Codec::Xz => "xz",
        Codec::Bzip2 => "bzip2",
        Codec::Gzip | Codec::Zstd => return Err("layer bombs are images".into()),
    };
    let plain_path = path.with_extension("plain");
    std::fs::write(&plain_path, plain).map_err(err("bomb"))?;
    let out = std::fs::File::create(path).map_err(err("bomb"))?;
    let status = std::process::Command::new(program)
        .args(["-9", "-c"])
        .arg(&plain_path)
        .stdout(out)
        .status()
        .map_err(err(program))?;
    let _ = std::fs::remove_file(&plain_path);
    if !status.success() {
        return Err(format!("{program} failed"));
    }
    Ok(())
}
