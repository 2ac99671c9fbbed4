//! `skiff plan / apply / destroy --backend pve-api` against the Proxmox VE REST API
//! stand-in of skiff-testbed (HTTPS, API token, UPID tasks, template upload, create and
//! config updates checked with the model the pct stand-in shares) and a real
//! docker-registry behind a recording proxy. The tests assert the exact API calls
//! (method, path, key parameters) of each plan action and the configs they leave.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::{sleeper, RecordedRegistry};
use serde_json::Value;
use skiff_testbed::image::Format;
use skiff_testbed::pve_api::{ApiCall, ClusterSpec, Guest, PveApiServer};

/// A cluster stand-in, a registry behind a recording proxy, and a private home (the
/// upload record lives in $XDG_STATE_HOME).
struct Bed {
    api: PveApiServer,
    reg: RecordedRegistry,
    dir: tempfile::TempDir,
}

impl Bed {
    fn new() -> Bed {
        let bed = Bed {
            api: PveApiServer::start(ClusterSpec::default()).unwrap(),
            reg: RecordedRegistry::start(),
            dir: tempfile::tempdir().unwrap(),
        };
        bed.push("1");
        // Forget the push: tests count apply's registry requests.
        bed.reg.proxy.set_faults(vec![]);
        bed
    }

    /// Pushes the sleeper of `version` as `tools/sleeper:v1`.
    fn push(&self, version: &str) {
        self.reg
            .push("tools/sleeper", "v1", &sleeper(Format::Oci, version));
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Writes the file, with REG replaced by the registry's host.
    fn file(&self, yaml: &str) {
        let yaml = yaml.replace("REG", &self.reg.proxy.host());
        std::fs::write(self.path("apps.yaml"), yaml).unwrap();
    }

    /// `skiff COMMAND FILE --backend pve-api` with the cluster's flags and `extra`.
    fn run(&self, command: &str, extra: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_skiff"));
        cmd.arg(command)
            .arg(self.path("apps.yaml"))
            .args(["--backend", "pve-api", "--src-tls-verify=false"])
            .arg("--data-dir")
            .arg(self.path("data"))
            .arg("--secrets-dir")
            .arg(self.path("secrets"))
            .args(["--api", &self.api.url(), "--token", &self.api.token()])
            .args(["--fingerprint", self.api.fingerprint()])
            .args(extra)
            .env("HOME", self.dir.path())
            .env("XDG_STATE_HOME", self.path("state"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env_remove("SKIFF_PVE_API")
            .env_remove("SKIFF_PVE_TOKEN")
            .env_remove("SKIFF_PVE_FINGERPRINT")
            .env_remove("REGISTRY_AUTH_FILE");
        cmd.output().expect("run skiff")
    }

    fn ok(&self, command: &str, extra: &[&str]) -> String {
        let out = self.run(command, extra);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            out.status.success(),
            "skiff {command} {extra:?} failed:\n{stdout}\n{stderr}"
        );
        stdout.into_owned()
    }

    /// Runs a command that must fail; returns stderr.
    fn fails(&self, command: &str, extra: &[&str]) -> String {
        let out = self.run(command, extra);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "skiff {command}: {stderr}");
        assert!(
            !stderr.contains(&self.secret()),
            "the secret leaked: {stderr}"
        );
        stderr
    }

    fn secret(&self) -> String {
        self.api.token().rsplit_once('=').unwrap().1.to_string()
    }

    /// The calls that change something (every one but GET), in order.
    fn writes(&self) -> Vec<ApiCall> {
        self.api
            .calls()
            .into_iter()
            .filter(|c| c.method != "GET")
            .collect()
    }

    fn write_lines(&self) -> Vec<String> {
        self.writes().iter().map(ApiCall::line).collect()
    }

    fn guest(&self, vmid: u32) -> Guest {
        self.api
            .guest(vmid)
            .unwrap_or_else(|| panic!("no CT {vmid}: {:?}", self.write_lines()))
    }
}

fn param(call: &ApiCall, key: &str) -> String {
    match call.params.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => panic!("{} has no {key}: {:?}", call.line(), call.params),
    }
}

fn env_of(g: &Guest) -> Vec<String> {
    g.config.keys["env"]
        .split('\0')
        .map(str::to_string)
        .collect()
}

const WEB: &str = "containers:\n  - name: web\n    image: REG/tools/sleeper:v1\n    memory: MEM\n    env: {GREETING: hello}\n";

#[test]
fn apply_creates_through_the_api_and_reapply_only_reads() {
    let bed = Bed::new();
    bed.file(&WEB.replace("MEM", "256"));
    let plan = bed.ok("plan", &[]);
    assert!(plan.contains("web"), "{plan}");
    assert!(
        bed.writes().is_empty(),
        "plan changed something: {:?}",
        bed.write_lines()
    );

    bed.ok("apply", &["--yes"]);
    // pve2 has the most free memory; local-lvm is its storage for container disks.
    assert_eq!(
        bed.write_lines(),
        [
            "POST /nodes/pve2/storage/local/upload",
            "POST /nodes/pve2/lxc",
            "PUT /nodes/pve2/lxc/100/config",
            "POST /nodes/pve2/lxc/100/status/start",
        ]
    );
    let w = bed.writes();
    let upload = param(&w[0], "filename");
    assert!(
        upload.starts_with("sleeper_sha256_") && upload.ends_with(".tar"),
        "the template is named by its digest: {upload}"
    );
    assert_eq!(param(&w[0], "content"), "vztmpl");
    let create = &w[1];
    assert_eq!(
        param(create, "ostemplate"),
        format!("local:vztmpl/{upload}")
    );
    assert_eq!(param(create, "vmid"), "100");
    assert_eq!(param(create, "hostname"), "web");
    assert_eq!(param(create, "memory"), "256");
    assert_eq!(param(create, "rootfs"), "local-lvm:4");
    assert_eq!(param(create, "net0"), "name=eth0,bridge=vmbr0,ip=dhcp");
    assert_eq!(param(create, "tags"), "skiff");
    // Proxmox's default when the file does not say (`unprivileged:`).
    assert_eq!(param(create, "unprivileged"), "1");
    assert!(param(create, "description").starts_with("skiff: managed "));
    assert!(
        !create.params.contains_key("start"),
        "started only after the overrides"
    );

    let g = bed.guest(100);
    assert_eq!(g.node, "pve2");
    assert!(g.running);
    assert_eq!(g.config.keys["memory"], "256");
    assert_eq!(g.config.keys["tags"], "skiff");
    assert_eq!(g.config.keys["rootfs"], "local-lvm:vm-100-disk-0,size=4G");
    // The image's Env with the file's variable set over it (the create let the image win).
    let env = env_of(&g);
    assert!(env.contains(&"VERSION=1".to_string()), "{env:?}");
    assert!(env.contains(&"GREETING=hello".to_string()), "{env:?}");
    assert_eq!(g.config.keys["entrypoint"], "/bin/sleep 3600");

    bed.api.clear_calls();
    bed.reg.proxy.set_faults(vec![]);
    let out = bed.ok("apply", &["--yes"]);
    assert!(
        bed.writes().is_empty(),
        "re-apply changed: {:?}\n{out}",
        bed.write_lines()
    );
    // The cluster's containers are read once per plan, however often it looks.
    let listings = bed
        .api
        .calls()
        .iter()
        .filter(|c| {
            c.line() == "GET /cluster/resources" && c.params.get("type") == Some(&Value::from("vm"))
        })
        .count();
    assert_eq!(listings, 1);
    let registry: Vec<String> = bed
        .reg
        .proxy
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(registry.len(), 1, "one manifest HEAD: {registry:?}");
    assert!(
        registry[0].starts_with("HEAD /v2/tools/sleeper/manifests/v1"),
        "{registry:?}"
    );
}

#[test]
fn memory_changes_in_place_and_a_new_digest_replaces_under_the_same_vmid() {
    let bed = Bed::new();
    bed.file(&WEB.replace("MEM", "256"));
    bed.ok("apply", &["--yes"]);
    let first = bed.writes();
    let first_template = param(&first[1], "ostemplate");

    bed.api.clear_calls();
    bed.file(&WEB.replace("MEM", "512"));
    let plan = bed.ok("plan", &[]);
    assert!(plan.contains("memory"), "{plan}");
    bed.ok("apply", &["--yes"]);
    assert_eq!(bed.write_lines(), ["PUT /nodes/pve2/lxc/100/config"]);
    let put = &bed.writes()[0];
    assert_eq!(param(put, "memory"), "512");
    assert!(
        !param(put, "digest").is_empty(),
        "the update is locked to the config read"
    );
    // The marker's line records the new spec (its hash covers the memory).
    assert!(param(put, "description").starts_with("skiff: managed "));
    assert_eq!(
        put.params.len(),
        3,
        "only the changed keys: {:?}",
        put.params
    );
    let g = bed.guest(100);
    assert_eq!(g.config.keys["memory"], "512");
    assert!(g.running, "memory applies live: no restart");

    // The same tag, another image: the root filesystem is replaced.
    bed.push("2");
    bed.api.clear_calls();
    bed.ok("apply", &["--yes"]);
    assert_eq!(
        bed.write_lines(),
        [
            "POST /nodes/pve2/storage/local/upload",
            "POST /nodes/pve2/lxc/100/status/shutdown",
            "DELETE /nodes/pve2/lxc/100",
            "POST /nodes/pve2/lxc",
            "PUT /nodes/pve2/lxc/100/config",
            "POST /nodes/pve2/lxc/100/status/start",
        ]
    );
    let w = bed.writes();
    assert_eq!(param(&w[3], "vmid"), "100");
    assert_eq!(param(&w[3], "memory"), "512");
    assert_ne!(
        param(&w[3], "ostemplate"),
        first_template,
        "a new digest is a new template"
    );
    let g = bed.guest(100);
    assert!(g.running);
    assert!(
        env_of(&g).contains(&"VERSION=2".to_string()),
        "{:?}",
        env_of(&g)
    );
    assert!(env_of(&g).contains(&"GREETING=hello".to_string()));
}

#[test]
fn removed_containers_stay_without_prune_and_go_with_it() {
    let bed = Bed::new();
    let both = "containers:\n  - name: a\n    image: REG/tools/sleeper:v1\n  - name: b\n    image: REG/tools/sleeper:v1\n";
    bed.file(both);
    bed.ok("apply", &["--yes"]);
    // One upload for both: the second finds the recorded template.
    let uploads = bed
        .write_lines()
        .iter()
        .filter(|l| l.ends_with("/upload"))
        .count();
    assert_eq!(uploads, 1, "{:?}", bed.write_lines());
    assert_eq!(bed.guest(101).config.keys["hostname"], "b");

    bed.file("containers:\n  - name: a\n    image: REG/tools/sleeper:v1\n");
    bed.api.clear_calls();
    let out = bed.ok("apply", &["--yes"]);
    assert!(bed.writes().is_empty(), "{:?}\n{out}", bed.write_lines());
    assert!(bed.api.guest(101).is_some());

    bed.ok("apply", &["--yes", "--prune"]);
    assert_eq!(
        bed.write_lines(),
        [
            "POST /nodes/pve2/lxc/101/status/shutdown",
            "DELETE /nodes/pve2/lxc/101",
        ]
    );
    assert!(bed.api.guest(101).is_none());
    assert!(bed.api.guest(100).is_some_and(|g| g.running));
}

#[test]
fn a_container_skiff_did_not_create_is_refused() {
    let bed = Bed::new();
    bed.api.add_guest(150, "pve1");
    bed.file("containers:\n  - name: CT150\n    image: REG/tools/sleeper:v1\n");
    let err = bed.fails("apply", &["--yes"]);
    assert!(
        err.contains("CT150 exists but is not managed by skiff"),
        "{err}"
    );
    assert!(bed.writes().is_empty(), "{:?}", bed.write_lines());
    let out = bed.run("destroy", &["--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("CT150: not managed by skiff, left alone"),
        "{err}"
    );
    assert!(bed.writes().is_empty(), "{err}\n{:?}", bed.write_lines());
    assert!(bed.api.guest(150).is_some());
}

#[test]
fn what_only_root_may_set_is_refused_before_anything_is_created() {
    let bed = Bed::new();
    for (yaml, key, words) in [
        (
            "    mounts:\n      - {source: /srv/media, target: /media}\n",
            "mounts",
            "bind mount of /srv/media",
        ),
        ("    gpu: true\n", "gpu", "devN"),
        ("    features: nesting=1,keyctl=1\n", "features", "keyctl=1"),
    ] {
        bed.file(&format!(
            "containers:\n  - name: web\n    image: REG/tools/sleeper:v1\n{yaml}"
        ));
        let err = bed.fails("apply", &["--yes"]);
        assert!(err.contains(&format!("cannot honour `{key}`")), "{err}");
        assert!(err.contains(words) && err.contains("root@pam"), "{err}");
        assert!(err.contains("skiff@pve!deploy"), "names the token: {err}");
    }
    assert!(bed.writes().is_empty(), "{:?}", bed.write_lines());
    assert!(bed.reg.proxy.requests().is_empty(), "nothing pulled");
    assert!(bed.api.guest(100).is_none());
}

#[test]
fn a_health_command_and_an_unknown_node_are_refused_with_the_reason() {
    let bed = Bed::new();
    bed.file("containers:\n  - name: web\n    image: REG/tools/sleeper:v1\n    node: pve9\n");
    let err = bed.fails("plan", &[]);
    assert!(
        err.contains("no node \"pve9\"") && err.contains("pve1, pve2"),
        "{err}"
    );
    bed.file("apps:\n  - name: web\n    containers:\n      - name: web\n        image: REG/tools/sleeper:v1\n        health: 'true'\n");
    let err = bed.fails("plan", &[]);
    assert!(
        err.contains("cannot honour `health`") && err.contains("no way to run a command"),
        "{err}"
    );
    assert!(bed.writes().is_empty());
}

#[test]
fn the_file_node_is_used_and_destroy_removes_the_container() {
    let bed = Bed::new();
    bed.file("backend: pve-api\ncontainers:\n  - name: web\n    image: REG/tools/sleeper:v1\n    node: pve1\n    vmid: 120\n    cores: 2\n");
    bed.ok("apply", &["--yes"]);
    assert_eq!(bed.guest(120).node, "pve1");
    assert_eq!(bed.guest(120).config.keys["cores"], "2");
    bed.api.clear_calls();
    bed.ok("destroy", &["--yes"]);
    assert_eq!(
        bed.write_lines(),
        [
            "POST /nodes/pve1/lxc/120/status/shutdown",
            "DELETE /nodes/pve1/lxc/120",
        ]
    );
    assert!(bed.api.guest(120).is_none());
}

#[test]
fn without_a_cluster_the_backend_says_what_it_needs() {
    let bed = Bed::new();
    bed.file("containers:\n  - name: web\n    image: REG/tools/sleeper:v1\n");
    let out = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("plan")
        .arg(bed.path("apps.yaml"))
        .args(["--backend", "pve-api"])
        .env("HOME", bed.dir.path())
        .env("XDG_CONFIG_HOME", bed.path("config"))
        .env_remove("SKIFF_PVE_API")
        .env_remove("SKIFF_PVE_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("pve-api backend needs a cluster") && err.contains("--api"),
        "{err}"
    );
}

#[test]
fn an_env_change_is_written_and_the_container_restarted() {
    let bed = Bed::new();
    bed.file(&WEB.replace("MEM", "256"));
    bed.ok("apply", &["--yes"]);
    bed.api.clear_calls();
    bed.file(&WEB.replace("MEM", "256").replace("hello", "bye"));
    bed.ok("apply", &["--yes"]);
    // Proxmox keeps an env change pending until the next start: apply restarts.
    assert_eq!(
        bed.write_lines(),
        [
            "PUT /nodes/pve2/lxc/100/config",
            "POST /nodes/pve2/lxc/100/status/shutdown",
            "POST /nodes/pve2/lxc/100/status/start",
        ]
    );
    let env = env_of(&bed.guest(100));
    assert!(env.contains(&"GREETING=bye".to_string()), "{env:?}");
    assert!(
        env.contains(&"VERSION=1".to_string()),
        "the image's stay: {env:?}"
    );
    assert!(!env.contains(&"GREETING=hello".to_string()), "{env:?}");
    assert!(bed.guest(100).running);
}

#[test]
fn a_failed_task_is_reported_and_the_next_apply_finishes_the_job() {
    let bed = Bed::new();
    bed.file(&WEB.replace("MEM", "256"));
    bed.api
        .fail_next_task("vzstart", "startup for container '100' failed");
    let err = bed.fails("apply", &["--yes"]);
    assert!(err.contains("startup for container '100' failed"), "{err}");
    assert!(!bed.guest(100).running);
    bed.api.clear_calls();
    bed.ok("apply", &["--yes"]);
    assert_eq!(bed.write_lines(), ["POST /nodes/pve2/lxc/100/status/start"]);
    assert!(bed.guest(100).running);
}

#[test]
fn another_node_in_the_file_moves_the_container_and_status_reads_the_cluster() {
    let bed = Bed::new();
    bed.file(&WEB.replace("MEM", "256"));
    bed.ok("apply", &["--yes"]);
    let status = bed.ok("status", &[]);
    let row = status
        .lines()
        .find(|l| l.starts_with("web"))
        .unwrap_or_default();
    assert!(row.contains("running"), "{status}");

    bed.api.clear_calls();
    bed.file(&format!("{}    node: pve1\n", WEB.replace("MEM", "256")));
    let plan = bed.ok("plan", &[]);
    assert!(plan.contains("pve1"), "{plan}");
    bed.ok("apply", &["--yes"]);
    // `local` is per node: pve1 gets its own upload before pve2's container goes.
    assert_eq!(
        bed.write_lines(),
        [
            "POST /nodes/pve1/storage/local/upload",
            "POST /nodes/pve2/lxc/100/status/shutdown",
            "DELETE /nodes/pve2/lxc/100",
            "POST /nodes/pve1/lxc",
            "PUT /nodes/pve1/lxc/100/config",
            "POST /nodes/pve1/lxc/100/status/start",
        ]
    );
    let g = bed.guest(100);
    assert_eq!(g.node, "pve1");
    assert!(g.running);
}

#[test]
fn the_lxc_directory_flag_is_refused_with_the_reason() {
    let bed = Bed::new();
    bed.file("containers:\n  - name: web\n    image: REG/tools/sleeper:v1\n");
    let err = bed.fails("plan", &["-P", "/var/lib/lxc"]);
    assert!(err.contains("-P is the lxc backend's"), "{err}");
    assert!(bed.api.calls().is_empty(), "{:?}", bed.write_lines());
}

#[test]
fn a_replace_cut_short_after_the_destroy_is_finished_by_the_next_apply() {
    let bed = Bed::new();
    bed.file(&WEB.replace("MEM", "256"));
    bed.ok("apply", &["--yes"]);
    bed.push("2");
    bed.api
        .fail_next_task("vzcreate", "unable to create CT 100 - no space left");
    let err = bed.fails("apply", &["--yes"]);
    assert!(err.contains("no space left"), "{err}");
    assert!(bed.api.guest(100).is_none(), "destroyed, not created");
    bed.api.clear_calls();
    let plan = bed.ok("plan", &[]);
    assert!(plan.contains("web"), "{plan}");
    bed.ok("apply", &["--yes"]);
    // The template of the new digest is on the node already: no second upload.
    assert_eq!(
        bed.write_lines(),
        [
            "POST /nodes/pve2/lxc",
            "PUT /nodes/pve2/lxc/100/config",
            "POST /nodes/pve2/lxc/100/status/start",
        ]
    );
    let g = bed.guest(100);
    assert!(g.running);
    assert!(env_of(&g).contains(&"VERSION=2".to_string()));
}
