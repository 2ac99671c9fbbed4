//! Cluster mode (`pve pull|images|create --api`) against the Proxmox VE REST API
//! stand-in of skiff-testbed (HTTPS with a self-signed node certificate, API tokens, UPID
//! tasks, template upload, create checked with the model the pct stand-in shares) and a
//! real docker-registry. The tests assert the exact API calls and the resulting config.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::{json, Value};
use skiff_testbed::image::{busybox_builder, sha256_digest, Format};
use skiff_testbed::push::push_image;
use skiff_testbed::pve_api::{ApiCall, ClusterSpec, PveApiServer};
use skiff_testbed::{RegistryServer, Setup};

/// A cluster stand-in, a registry with the busybox image, and a private state and
/// config directory (the upload record lives in $XDG_STATE_HOME).
struct Bed {
    api: PveApiServer,
    reg: RegistryServer,
    home: tempfile::TempDir,
}

impl Bed {
    fn new() -> Bed {
        let reg = RegistryServer::start(Setup::Open).unwrap();
        let img = busybox_builder(Format::Oci).build();
        push_image(&reg.host(), "tools/busybox", "v1", &img, None).unwrap();
        Bed {
            api: PveApiServer::start(ClusterSpec::default()).unwrap(),
            reg,
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn image(&self) -> String {
        format!("{}/tools/busybox:v1", self.reg.host())
    }

    /// skiff with `args`, then the API flags (`--api`, the token, the pinned fingerprint).
    fn run(&self, args: &[&str]) -> Output {
        let fingerprint = self.api.fingerprint().to_string();
        let token = self.api.token();
        let url = self.api.url();
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--api",
            &url,
            "--token",
            &token,
            "--fingerprint",
            &fingerprint,
        ]);
        self.raw(&all, &[])
    }

    /// skiff exactly as given, with `env` set.
    fn raw(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_skiff"));
        cmd.args(args)
            .env("HOME", self.home.path())
            .env("XDG_STATE_HOME", self.home.path().join("state"))
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("SKIFF_PVE_API")
            .env_remove("SKIFF_PVE_TOKEN")
            .env_remove("SKIFF_PVE_FINGERPRINT");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run skiff")
    }

    fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "skiff {args:?} failed: {stderr}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "skiff {args:?}: {stderr}");
        assert!(
            !stderr.contains(&self.secret()),
            "the secret leaked: {stderr}"
        );
        stderr
    }

    fn secret(&self) -> String {
        self.api.token().rsplit_once('=').unwrap().1.to_string()
    }

    /// `METHOD /path` of every call but the task polls (how many polls a task takes is
    /// the stand-in's business), in order.
    fn lines(&self) -> Vec<String> {
        self.api
            .calls()
            .iter()
            .filter(|c| !c.path.contains("/tasks/"))
            .map(ApiCall::line)
            .collect()
    }

    fn call(&self, line: &str) -> ApiCall {
        self.api
            .calls()
            .into_iter()
            .find(|c| c.line() == line)
            .unwrap_or_else(|| panic!("no call {line}: {:?}", self.lines()))
    }
}

fn params(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn sha256_file(path: &Path) -> String {
    sha256_digest(&std::fs::read(path).unwrap())
        .trim_start_matches("sha256:")
        .to_string()
}

#[test]
fn pull_uploads_to_the_roomiest_node_and_an_unchanged_archive_is_not_sent_again() {
    let bed = Bed::new();
    let image = bed.image();
    let (out, err) = bed.ok(&["pve", "pull", "--tls-verify=false", &image]);
    assert_eq!(out, "local:vztmpl/busybox_v1.tar\n", "{err}");
    // pve2 has the most free memory.
    assert_eq!(
        bed.lines(),
        [
            "GET /cluster/resources",
            "GET /nodes/pve2/storage/local/status",
            "GET /nodes/pve2/storage/local/content",
            "POST /nodes/pve2/storage/local/upload",
            "GET /nodes/pve2/storage/local/content",
        ]
    );
    assert_eq!(
        bed.call("GET /cluster/resources").params,
        params(&[("type", json!("node"))])
    );
    let on_node = bed.api.template_dir("pve2", "local").join("busybox_v1.tar");
    let upload = bed.call("POST /nodes/pve2/storage/local/upload");
    assert_eq!(upload.params["content"], "vztmpl");
    assert_eq!(upload.params["filename"], "busybox_v1.tar");
    assert_eq!(upload.params["checksum-algorithm"], "sha256");
    assert_eq!(upload.params["checksum"], json!(sha256_file(&on_node)));
    // Every task followed to its end: the upload's imgcopy task was polled until stopped.
    let polls: Vec<ApiCall> = bed
        .api
        .calls()
        .into_iter()
        .filter(|c| c.path.contains("/tasks/"))
        .collect();
    assert!(
        polls.len() >= 2
            && polls
                .iter()
                .all(|c| c.path.starts_with("/nodes/pve2/tasks/UPID:pve2:")
                    && c.path.contains(":imgcopy:")),
        "{polls:?}"
    );
    // What arrived is the archive pct accepts: skopeo reads it.
    let raw = peer_ok(
        "skopeo",
        &[
            "inspect",
            "--raw",
            &format!("oci-archive:{}", on_node.display()),
        ],
    );
    assert_eq!(
        json(raw.as_bytes())["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert!(!bed
        .api
        .template_dir("pve1", "local")
        .join("busybox_v1.tar")
        .exists());

    // Again: pulled here, compared with the record, nothing uploaded.
    bed.api.clear_calls();
    let (_, err) = bed.ok(&[
        "pve",
        "pull",
        "--tls-verify=false",
        "--node",
        "pve2",
        &image,
    ]);
    assert!(err.contains("already holds this archive"), "{err}");
    assert!(
        !bed.lines().iter().any(|l| l.starts_with("POST")),
        "{:?}",
        bed.lines()
    );

    // images --api names what skiff uploaded.
    let listed = json(
        bed.ok(&[
            "pve",
            "images",
            "--json",
            "--node",
            "pve2",
            "--storage",
            "local",
        ])
        .0
        .as_bytes(),
    );
    assert_eq!(listed[0]["volid"], "local:vztmpl/busybox_v1.tar");
    assert_eq!(listed[0]["reference"], json!(image));
    assert!(listed[0]["digest"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn a_template_of_the_same_name_is_never_taken_for_the_same_nor_overwritten() {
    let bed = Bed::new();
    let image = bed.image();
    let dir = bed.api.template_dir("pve1", "local");
    std::fs::create_dir_all(&dir).unwrap();
    // A file skiff did not upload: its size alone proves nothing.
    std::fs::write(dir.join("busybox_v1.tar"), b"someone else's archive").unwrap();
    let err = bed.fails(&[
        "pve",
        "pull",
        "--tls-verify=false",
        "--node",
        "pve1",
        &image,
    ]);
    assert!(err.contains("skiff did not upload it"), "{err}");
    assert!(err.contains("--filename"), "{err}");
    assert_eq!(
        std::fs::read(dir.join("busybox_v1.tar")).unwrap(),
        b"someone else's archive"
    );
    assert!(
        !bed.lines().iter().any(|l| l.starts_with("POST")),
        "{:?}",
        bed.lines()
    );

    // Uploaded under another name, then replaced on the node behind skiff's back.
    bed.ok(&[
        "pve",
        "pull",
        "-q",
        "--tls-verify=false",
        "--node",
        "pve1",
        "--filename",
        "bb",
        &image,
    ]);
    let ours = dir.join("bb.tar");
    let len = std::fs::metadata(&ours).unwrap().len() as usize;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(&ours, vec![b'x'; len]).unwrap();
    let err = bed.fails(&[
        "pve",
        "pull",
        "--tls-verify=false",
        "--node",
        "pve1",
        "--filename",
        "bb",
        &image,
    ]);
    assert!(
        err.contains("was replaced since skiff uploaded it"),
        "{err}"
    );
    assert_eq!(std::fs::read(&ours).unwrap(), vec![b'x'; len]);
}

#[test]
fn create_uploads_creates_reapplies_overrides_and_starts() {
    let bed = Bed::new();
    let image = bed.image();
    let (out, err) = bed.ok(&[
        "pve",
        "create",
        "auto",
        &image,
        "--tls-verify=false",
        "--node",
        "pve1",
        "--hostname",
        "web",
        "--memory",
        "1024",
        "--env",
        "GREETING=hi there",
        "--env",
        "NEW=1",
        "--entrypoint",
        "/bin/sh -c 'sleep 60'",
        "--tags",
        "Web;oci",
        "--start",
    ]);
    assert_eq!(out, "100\n", "{err}");
    assert_eq!(
        bed.lines(),
        [
            "GET /nodes/pve1/storage",
            "GET /nodes/pve1/storage/local/status",
            "GET /nodes/pve1/storage/local/content",
            "POST /nodes/pve1/storage/local/upload",
            "GET /nodes/pve1/storage/local/content",
            "GET /cluster/nextid",
            "POST /nodes/pve1/lxc",
            "GET /nodes/pve1/lxc/100/config",
            "PUT /nodes/pve1/lxc/100/config",
            "POST /nodes/pve1/lxc/100/status/start",
        ]
    );
    assert_eq!(
        bed.call("GET /nodes/pve1/storage").params,
        params(&[("content", json!("rootdir")), ("enabled", json!("1"))])
    );
    assert_eq!(
        bed.call("POST /nodes/pve1/lxc").params,
        params(&[
            ("vmid", json!(100)),
            ("ostemplate", json!("local:vztmpl/busybox_v1.tar")),
            ("hostname", json!("web")),
            ("memory", json!("1024")),
            ("rootfs", json!("local-lvm:4")),
            ("net0", json!("name=eth0,bridge=vmbr0,ip=dhcp")),
            ("tags", json!("oci;web")),
            ("unprivileged", json!("1")),
        ])
    );
    // The image's Env is the base the overrides are set over; several variables in one
    // NUL-separated value, which pct's command line could not carry.
    assert_eq!(
        bed.call("PUT /nodes/pve1/lxc/100/config").params,
        params(&[
            ("entrypoint", json!("/bin/sh -c 'sleep 60'")),
            (
                "env",
                json!("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\0GREETING=hi there\0NEW=1")
            ),
        ])
    );
    let guest = bed.api.guest(100).expect("created");
    assert_eq!(guest.node, "pve1");
    assert!(guest.running);
    let keys = &guest.config.keys;
    assert_eq!(keys["entrypoint"], "/bin/sh -c 'sleep 60'");
    assert_eq!(keys["cmode"], "console");
    assert_eq!(keys["rootfs"], "local-lvm:vm-100-disk-0,size=4G");
    assert!(keys["net0"].contains("host-managed=1"), "{}", keys["net0"]);
    assert_eq!(keys["memory"], "1024");
    assert_eq!(keys["tags"], "oci;web");
    assert_eq!(
        keys["env"].split('\0').collect::<Vec<_>>(),
        [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "GREETING=hi there",
            "NEW=1"
        ]
    );
    assert_eq!(guest.config.raw_value("lxc.init.cwd"), Some("/srv"));
}

#[test]
fn a_bad_token_is_refused_and_its_secret_never_shown() {
    let bed = Bed::new();
    let wrong = format!("{}!deploy=not-the-secret", "skiff@pve");
    let url = bed.api.url();
    let out = bed.raw(
        &[
            "pve",
            "images",
            "--node",
            "pve1",
            "--api",
            &url,
            "--token",
            &wrong,
            "--fingerprint",
            bed.api.fingerprint(),
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the API token was refused (HTTP 401: invalid token value!)"),
        "{err}"
    );
    assert!(
        err.contains("API Tokens"),
        "the hint says where tokens are: {err}"
    );
    assert!(!err.contains("not-the-secret"), "{err}");

    // A malformed token is refused before any request.
    bed.api.clear_calls();
    let out = bed.raw(
        &["pve", "images", "--api", &url, "--token", "root@pam=abc"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("USER@REALM!TOKENID=SECRET"));
    assert!(bed.api.calls().is_empty());

    // --debug shows the requests, the token as its scheme only.
    let token = bed.api.token();
    let out = bed.raw(
        &[
            "--debug",
            "pve",
            "images",
            "--node",
            "pve1",
            "--api",
            &url,
            "--token",
            &token,
            "--fingerprint",
            bed.api.fingerprint(),
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("Authorization: PVEAPIToken [redacted]"),
        "{err}"
    );
    assert!(
        !err.contains(&bed.secret()) && !err.contains("skiff@pve!deploy"),
        "{err}"
    );
}

#[test]
fn the_token_comes_from_the_environment_or_a_private_config_file() {
    let bed = Bed::new();
    let url = bed.api.url();
    let token = bed.api.token();
    let env = [
        ("SKIFF_PVE_API", url.as_str()),
        ("SKIFF_PVE_TOKEN", token.as_str()),
        ("SKIFF_PVE_FINGERPRINT", bed.api.fingerprint()),
    ];
    let out = bed.raw(&["pve", "images", "--json", "--node", "pve1"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out.stdout), json!([]));

    let config = bed.home.path().join("config/skiff/pve.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        format!(
            "api = \"{url}\"\ntoken = \"{token}\"\nfingerprint = \"{}\"\n",
            bed.api.fingerprint()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = bed.raw(&["pve", "images", "--node", "pve1"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("readable by others (mode 644)") && err.contains("chmod 600"),
        "{err}"
    );
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = bed.raw(&["pve", "images", "--json", "--node", "pve1"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_node_certificate_is_verified_or_pinned() {
    let bed = Bed::new();
    let url = bed.api.url();
    let token = bed.api.token();
    // Self-signed and not pinned: refused, with the way out.
    let out = bed.raw(
        &[
            "pve", "images", "--node", "pve1", "--api", &url, "--token", &token,
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--fingerprint") && err.contains("pvenode cert info"),
        "{err}"
    );
    // Pinned to another certificate: refused, naming the one the node has.
    let wrong = "AB:".repeat(31) + "AB";
    let out = bed.raw(
        &[
            "pve",
            "images",
            "--node",
            "pve1",
            "--api",
            &url,
            "--token",
            &token,
            "--fingerprint",
            &wrong,
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "the node's certificate has fingerprint {}",
            bed.api.fingerprint()
        )),
        "{err}"
    );
    assert!(
        bed.api.calls().is_empty(),
        "nothing reached the API: {:?}",
        bed.api.calls()
    );
    // Not a fingerprint at all.
    let out = bed.raw(
        &[
            "pve",
            "images",
            "--api",
            &url,
            "--token",
            &token,
            "--fingerprint",
            "AB:CD",
        ],
        &[],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a SHA-256 fingerprint"));
}

#[test]
fn a_failing_task_is_reported_with_its_exit_status() {
    let bed = Bed::new();
    let image = bed.image();
    bed.api
        .fail_next_task("vzstart", "startup for container '100' failed");
    let err = bed.fails(&[
        "pve",
        "create",
        "100",
        &image,
        "--tls-verify=false",
        "-q",
        "--node",
        "pve1",
        "--start",
    ]);
    assert!(
        err.contains("container 100 was created on node pve1, but: task UPID:pve1:")
            && err.contains(":vzstart:100:")
            && err.contains("failed: startup for container '100' failed"),
        "{err}"
    );
    assert!(
        err.contains("pct destroy"),
        "the hint says what is left: {err}"
    );
    let guest = bed.api.guest(100).expect("the create itself succeeded");
    assert!(!guest.running);

    bed.api
        .fail_next_task("vzcreate", "unable to create CT 101 - disk full");
    let err = bed.fails(&[
        "pve",
        "create",
        "101",
        "local:vztmpl/busybox_v1.tar",
        "-q",
        "--node",
        "pve1",
    ]);
    assert!(err.contains("unable to create CT 101 - disk full"), "{err}");
    assert!(bed.api.guest(101).is_none());
}

#[test]
fn root_only_options_are_refused_before_anything_is_created() {
    let bed = Bed::new();
    let image = bed.image();
    for extra in [
        &["--mount", "/srv/media:/media:ro"][..],
        &["--features", "nesting=1,keyctl=1"][..],
        &["--gpu"][..],
    ] {
        let mut args = vec![
            "pve",
            "create",
            "auto",
            &image,
            "--tls-verify=false",
            "--node",
            "pve1",
        ];
        args.extend_from_slice(extra);
        let err = bed.fails(&args);
        assert!(
            err.contains("can only be set by root@pam") && err.contains("skiff@pve!deploy"),
            "{err}"
        );
        assert!(err.contains("nothing was created"), "{err}");
    }
    assert!(
        !bed.lines()
            .iter()
            .any(|l| l.starts_with("POST") || l.starts_with("PUT")),
        "{:?}",
        bed.lines()
    );
    assert!(!bed
        .api
        .template_dir("pve1", "local")
        .join("busybox_v1.tar")
        .exists());
    // A new volume is no bind mount: allowed.
    let (out, _) = bed.ok(&[
        "pve",
        "create",
        "auto",
        &image,
        "-q",
        "--tls-verify=false",
        "--node",
        "pve1",
        "--mount",
        "local-lvm:2:/data",
    ]);
    assert_eq!(out, "100\n");
    assert_eq!(
        bed.api.guest(100).unwrap().config.keys["mp0"],
        "local-lvm:vm-100-disk-1,mp=/data,size=2G"
    );
}

#[test]
fn a_taken_vmid_is_refused_and_auto_takes_the_next() {
    let bed = Bed::new();
    let image = bed.image();
    bed.api.add_guest(100, "pve2");
    let err = bed.fails(&[
        "pve",
        "create",
        "100",
        &image,
        "-q",
        "--tls-verify=false",
        "--node",
        "pve1",
    ]);
    assert!(
        err.contains("HTTP 500: CT 100 already exists on node 'pve2'"),
        "{err}"
    );
    assert_eq!(bed.api.guest(100).unwrap().node, "pve2", "untouched");
    let (out, _) = bed.ok(&[
        "pve",
        "create",
        "auto",
        "local:vztmpl/busybox_v1.tar",
        "-q",
        "--node",
        "pve1",
    ]);
    assert_eq!(out, "101\n");
    assert_eq!(bed.api.guest(101).unwrap().config.keys["hostname"], "CT101");
}
