//! `skiff plan / apply / destroy / status` on this machine's real LXC: containers are
//! created and run as services, re-applies change nothing and fetch no blob, changes are
//! applied in place or by replacing the root filesystem while mounted data stays, and an
//! apply killed half way is finished by the next.
//!
//! LXC 5.0.2 passes `lxc.init.cmd` split on spaces; a command whose arguments hold spaces
//! runs through skiff-lxc's launcher, which one test proves under apply.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use skiff_testbed::fault::{Action, At, Fault, Target};
use skiff_testbed::image::{Format, Image};

/// A registry (behind a recording proxy), a scratch LXCPATH and apply's directories;
/// stops every container under the LXCPATH when dropped.
struct Site {
    reg: RecordedRegistry,
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        Site {
            reg: RecordedRegistry::start(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn lxcpath(&self) -> PathBuf {
        self.path("lxc")
    }

    /// Writes the file, with REG replaced by the registry's host.
    fn file(&self, yaml: &str) -> PathBuf {
        let f = self.path("apps.yaml");
        std::fs::write(&f, yaml.replace("REG", &self.reg.proxy.host())).unwrap();
        f
    }

    fn run(&self, command: &str, extra: &[&str]) -> Output {
        let args = self.args(command, extra);
        skiff(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// The arguments of `skiff COMMAND` on the file and the site's directories.
    fn args(&self, command: &str, extra: &[&str]) -> Vec<String> {
        let f = self.path("apps.yaml");
        let (lxc, data, secrets, ds) = (
            self.lxcpath(),
            self.path("data"),
            self.path("secrets"),
            self.path("datasets"),
        );
        let mut args = vec![command, f.to_str().unwrap(), "-P", lxc.to_str().unwrap()];
        args.extend([
            "--data-dir",
            data.to_str().unwrap(),
            "--secrets-dir",
            secrets.to_str().unwrap(),
        ]);
        args.extend([
            "--datasets-dir",
            ds.to_str().unwrap(),
            "--src-tls-verify=false",
        ]);
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_string).collect()
    }

    /// Runs a command that must succeed; returns stdout.
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

    fn config(&self, name: &str) -> String {
        std::fs::read_to_string(self.lxcpath().join(name).join("config")).unwrap()
    }

    fn lxc(&self, program: &str, name: &str, args: &[&str]) -> String {
        let lxc = self.lxcpath();
        let out = Command::new(program)
            .args(["-n", name, "-P", lxc.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program} (Debian package lxc) must be installed: {e}"));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn state(&self, name: &str) -> String {
        self.lxc("lxc-info", name, &["-s", "-H"])
    }

    fn pid(&self, name: &str) -> String {
        self.lxc("lxc-info", name, &["-p", "-H"])
    }

    fn blob_gets(&self) -> usize {
        self.reg
            .proxy
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.contains("/blobs/"))
            .count()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.lxcpath()) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let _ = self.lxc("lxc-stop", &name, &["-k"]);
        }
    }
}

/// The memory limit's cgroup file on this host (v2 unified or v1), as an LXC config key
/// or as lxc-cgroup names it.
fn memory_key(config: bool) -> &'static str {
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    match (v2, config) {
        (true, true) => "lxc.cgroup2.memory.max",
        (true, false) => "memory.max",
        (false, true) => "lxc.cgroup.memory.limit_in_bytes",
        (false, false) => "memory.limit_in_bytes",
    }
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..100 {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn parse_errors_name_file_line_and_column_and_touch_nothing() {
    let site = Site::new();
    site.file("containers:\n  - name: web\n    image: busybox\n    memroy: 512\n");
    let out = site.run("plan", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("apps.yaml:4:5: containers[0]: unknown field `memroy`, expected one of"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("at line"),
        "the place is said once: {stderr}"
    );
    assert!(!site.lxcpath().exists());
    assert!(
        site.reg.proxy.requests().is_empty(),
        "no registry request for a bad file"
    );
}

#[test]
fn apply_runs_containers_and_reapply_changes_nothing_and_fetches_no_blob() {
    let site = Site::new();
    site.reg
        .push("tools/sleeper", "v1", &sleeper(Format::Docker, "1"));
    site.file("containers:\n  - name: ap-noop\n    image: REG/tools/sleeper:v1\n    memory: 64\n    onboot: true\n    mounts:\n      - {target: /data}\n");
    let plan = site.ok("plan", &[]);
    assert!(plan.contains("+ ap-noop create"), "{plan}");
    assert!(plan.contains("Plan: 1 to create"), "{plan}");
    site.ok("apply", &["--yes"]);
    assert_eq!(site.state("ap-noop"), "RUNNING");
    let config = site.config("ap-noop");
    assert!(
        config.starts_with("# skiff: managed app=- digest=sha256:"),
        "{config}"
    );
    let memory_line = format!("{} = 67108864", memory_key(true));
    for line in [
        "lxc.init.cmd = /bin/sleep 3600",
        "lxc.start.auto = 1",
        memory_line.as_str(),
    ] {
        assert!(
            config.lines().any(|l| l == line),
            "missing {line:?} in\n{config}"
        );
    }
    assert!(
        site.path("data/ap-noop/data").is_dir(),
        "the volume was created"
    );

    let config_path = site.lxcpath().join("ap-noop/config");
    let mtime = std::fs::metadata(&config_path).unwrap().modified().unwrap();
    let (requests, blobs, pid) = (
        site.reg.proxy.requests().len(),
        site.blob_gets(),
        site.pid("ap-noop"),
    );
    let out = site.ok("apply", &["--yes"]);
    assert!(out.contains("= ap-noop no change"), "{out}");
    assert!(
        out.contains(
            "0 to create, 0 to update, 0 to replace, 0 to start, 0 to delete, 1 unchanged"
        ),
        "{out}"
    );
    let new: Vec<_> = site.reg.proxy.requests()[requests..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(site.blob_gets(), blobs, "no blob fetched: {new:?}");
    assert_eq!(
        new.iter()
            .filter(|r| r.starts_with("HEAD ") && r.contains("/manifests/v1"))
            .count(),
        1,
        "{new:?}"
    );
    assert!(
        new.iter()
            .all(|r| r.starts_with("HEAD ") || r.contains("/v2/")),
        "{new:?}"
    );
    assert!(
        !new.iter()
            .any(|r| r.starts_with("GET ") && r.contains("/manifests/")),
        "no manifest GET: {new:?}"
    );
    assert_eq!(
        std::fs::metadata(&config_path).unwrap().modified().unwrap(),
        mtime,
        "config untouched"
    );
    assert_eq!(site.pid("ap-noop"), pid, "not restarted");

    let status = site.ok("status", &[]);
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("ap-noop") && l.contains("running") && l.ends_with(" -")),
        "{status}"
    );
}

#[test]
fn memory_changes_in_place_and_a_new_image_replaces_the_rootfs_keeping_mounted_data() {
    let site = Site::new();
    site.reg
        .push("tools/sleeper", "stable", &sleeper(Format::Docker, "1"));
    let data = site.path("photos");
    let yaml = |mem: u32| {
        format!("containers:\n  - name: ap-upd\n    image: REG/tools/sleeper:stable\n    memory: {mem}\n    mounts:\n      - {{source: {}, target: /photos}}\n", data.display())
    };
    site.file(&yaml(64));
    site.ok("apply", &["--yes"]);
    let pid = site.pid("ap-upd");

    site.file(&yaml(96));
    let plan = site.ok("plan", &[]);
    assert!(plan.contains("~ ap-upd update in place"), "{plan}");
    assert!(
        plan.contains("~ memory: \"64M\" → \"96M\"  (live)"),
        "{plan}"
    );
    site.ok("apply", &["--yes"]);
    assert_eq!(
        site.lxc("lxc-cgroup", "ap-upd", &[memory_key(false)]),
        (96u64 << 20).to_string()
    );
    assert_eq!(site.pid("ap-upd"), pid, "updated without a restart");
    assert!(site
        .config("ap-upd")
        .contains(&format!("{} = 100663296", memory_key(true))));

    std::fs::write(data.join("holiday.jpg"), b"precious").unwrap();
    let old_rootfs: Vec<_> = dir_names(&site.lxcpath().join("ap-upd"));
    site.reg
        .push("tools/sleeper", "stable", &sleeper(Format::Docker, "2"));
    let plan = site.ok("plan", &[]);
    assert!(plan.contains("-/+ ap-upd replace: image sha256:"), "{plan}");
    site.ok("apply", &["--yes"]);
    assert_eq!(site.state("ap-upd"), "RUNNING");
    assert_ne!(site.pid("ap-upd"), pid);
    let new_rootfs = dir_names(&site.lxcpath().join("ap-upd"));
    assert_ne!(new_rootfs, old_rootfs);
    assert_eq!(
        new_rootfs
            .iter()
            .filter(|n| n.starts_with("rootfs-") && !n.ends_with(".json"))
            .count(),
        1,
        "old rootfs removed: {new_rootfs:?}"
    );
    assert_eq!(
        std::fs::read(data.join("holiday.jpg")).unwrap(),
        b"precious"
    );
    let seen = site.lxc(
        "lxc-attach",
        "ap-upd",
        &["--", "/bin/cat", "/photos/holiday.jpg"],
    );
    assert_eq!(seen, "precious", "the data is mounted in the new rootfs");
    assert!(site.ok("plan", &[]).contains("= ap-upd no change"));
}

#[test]
fn removed_containers_are_kept_without_prune_and_deleted_with_it() {
    let site = Site::new();
    site.reg
        .push("tools/sleeper", "v1", &sleeper(Format::Docker, "1"));
    let two = "containers:\n  - name: ap-keep\n    image: REG/tools/sleeper:v1\n  - name: ap-gone\n    image: REG/tools/sleeper:v1\n    start: false\n";
    site.file(two);
    site.ok("apply", &["--yes"]);
    assert_eq!(site.state("ap-gone"), "STOPPED");
    site.file("containers:\n  - name: ap-keep\n    image: REG/tools/sleeper:v1\n");
    let out = site.ok("apply", &["--yes"]);
    assert!(
        out.contains("! ap-gone not in the file (kept; --prune deletes it)"),
        "{out}"
    );
    assert!(site.lxcpath().join("ap-gone/config").exists());
    let out = site.ok("apply", &["--yes", "--prune"]);
    assert!(out.contains("- ap-gone delete"), "{out}");
    assert!(!site.lxcpath().join("ap-gone").exists());
    assert_eq!(site.state("ap-keep"), "RUNNING");

    site.ok("destroy", &["--yes"]);
    assert!(!site.lxcpath().join("ap-keep").exists());
}

#[test]
fn an_unmanaged_container_of_the_same_name_is_refused_and_untouched() {
    let site = Site::new();
    site.reg
        .push("tools/sleeper", "v1", &sleeper(Format::Docker, "1"));
    let lxc = site.lxcpath();
    let image = format!("docker://{}/tools/sleeper:v1", site.reg.proxy.host());
    skiff_ok(&[
        "lxc",
        "create",
        "-q",
        "--src-tls-verify=false",
        "-P",
        lxc.to_str().unwrap(),
        "ap-mine",
        &image,
    ]);
    let before = site.config("ap-mine");
    site.file("containers:\n  - name: ap-mine\n    image: REG/tools/sleeper:v1\n");
    for command in ["plan", "apply"] {
        let out = site.run(command, &["--yes"][..usize::from(command == "apply")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains("container ap-mine exists but is not managed by skiff"),
            "{stderr}"
        );
    }
    let out = site.run("destroy", &["--yes"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not managed by skiff, left alone"));
    assert_eq!(site.config("ap-mine"), before);
}

#[test]
fn an_app_starts_in_dependency_order_with_a_generated_secret_and_health_checks() {
    let site = Site::new();
    site.reg
        .push("tools/sleeper", "v1", &sleeper(Format::Docker, "1"));
    site.file(
        "apps:\n  - name: ap-app\n    containers:\n      - name: server\n        image: REG/tools/sleeper:v1\n        depends_on: [db]\n        env: {DB_HOST: \"${host:db}\", DB_PASSWORD: \"${secret:db_password}\"}\n      - name: db\n        image: REG/tools/sleeper:v1\n        env: {POSTGRES_PASSWORD: \"${secret:db_password}\"}\n        health: \"test -d /srv\"\n",
    );
    let plan = site.ok("plan", &[]);
    let (db, server) = (
        plan.find("ap-app-db create").unwrap(),
        plan.find("ap-app-server create").unwrap(),
    );
    assert!(db < server, "{plan}");
    assert!(plan.contains("+ env.DB_PASSWORD = (sensitive)"), "{plan}");
    let stderr = String::from_utf8_lossy(&site.run("apply", &["--yes"]).stderr).into_owned();
    let order: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("starting") || l.contains("waiting"))
        .collect();
    assert_eq!(
        order,
        [
            "ap-app-db: starting",
            "ap-app-db: waiting for \"test -d /srv\"",
            "ap-app-server: starting"
        ],
        "{stderr}"
    );
    let secret_file = site.path("secrets/ap-app/db_password");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    assert_eq!(secret.len(), 32);
    assert!(site
        .config("ap-app-server")
        .contains(&format!("lxc.environment = DB_PASSWORD={secret}")));
    assert!(site
        .config("ap-app-server")
        .contains("lxc.environment = DB_HOST=127.0.0.1"));
    assert!(site
        .config("ap-app-db")
        .contains(&format!("lxc.environment = POSTGRES_PASSWORD={secret}")));
    let again = site.ok("apply", &["--yes"]);
    assert!(
        again.contains("2 unchanged"),
        "the secret is reused: {again}"
    );
    assert!(!again.contains(&secret), "secrets are never printed");
}

#[test]
fn an_apply_killed_half_way_is_finished_by_the_next() {
    let site = Site::new();
    site.reg
        .push("tools/sleeper", "v1", &sleeper(Format::Docker, "1"));
    site.reg
        .push("tools/sleeper", "v2", &sleeper(Format::Docker, "2"));
    let yaml = |tag: &str| {
        format!("containers:\n  - name: ap-kill-a\n    image: REG/tools/sleeper:{tag}\n  - name: ap-kill-b\n    image: REG/tools/sleeper:{tag}\n    depends_on: [ap-kill-a]\n")
    };
    let f = site.file(&yaml("v1"));
    for (round, delay_ms) in [(0, 150u64), (1, 400), (2, 800)] {
        let tag = if round % 2 == 0 { "v2" } else { "v1" };
        site.file(&yaml(tag));
        let lxc = site.lxcpath();
        let (data, secrets) = (site.path("data"), site.path("secrets"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args([
                "apply",
                f.to_str().unwrap(),
                "--yes",
                "-q",
                "--src-tls-verify=false",
                "-P",
                lxc.to_str().unwrap(),
            ])
            .args([
                "--data-dir",
                data.to_str().unwrap(),
                "--secrets-dir",
                secrets.to_str().unwrap(),
            ])
            .env("HOME", scratch_home())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        site.ok("apply", &["--yes"]);
        for name in ["ap-kill-a", "ap-kill-b"] {
            wait_for("RUNNING", || site.state(name) == "RUNNING");
            let names = dir_names(&site.lxcpath().join(name));
            assert_eq!(
                names
                    .iter()
                    .filter(|n| n.starts_with("rootfs-") && !n.ends_with(".json"))
                    .count(),
                1,
                "round {round}: {names:?}"
            );
            assert!(
                !names.iter().any(|n| n.starts_with('.')),
                "round {round}: leftovers {names:?}"
            );
        }
        assert!(
            !dir_names(&site.lxcpath())
                .iter()
                .any(|n| n.starts_with('.')),
            "round {round}"
        );
        let plan = site.ok("plan", &[]);
        assert!(plan.contains("2 unchanged"), "round {round}: {plan}");
        assert!(site.config("ap-kill-a").contains(&format!(
            "# skiff: image {}/tools/sleeper:{tag}",
            site.reg.proxy.host()
        )));
    }
}

/// An apply whose pull fails leaves nothing half-built: no `.NAME.skiff-new` beside the
/// containers, no new rootfs beside a running one (found by the reliability matrix: both
/// stayed until the next apply).
#[test]
fn a_failed_pull_leaves_no_staging_and_the_container_as_it_was() {
    let site = Site::new();
    let (v1, v2) = (sleeper(Format::Docker, "1"), sleeper(Format::Docker, "2"));
    site.reg.push("tools/sleeper", "v1", &v1);
    site.reg.push("tools/sleeper", "v2", &v2);
    let yaml =
        |tag: &str| format!("containers:\n  - name: ap-fail\n    image: REG/tools/sleeper:{tag}\n");
    // Every fetch of the image's config (it differs between v1 and v2) gets a wrong byte.
    let break_config = |image: &Image| {
        site.reg.proxy.set_faults(vec![Fault::Rule {
            target: Target::new(Some("GET"), &format!("/blobs/{}", image.config.digest), 100),
            action: Action::WrongBytes { at: At::Middle },
        }]);
    };
    site.file(&yaml("v1"));
    break_config(&v1);
    let out = site.run("apply", &["--yes"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&v1.config.digest[7..19]), "{stderr}");
    assert_eq!(dir_names(&site.lxcpath()), Vec::<String>::new(), "create");
    site.reg.proxy.set_faults(vec![]);
    site.ok("apply", &["--yes"]);
    let before = dir_names(&site.lxcpath().join("ap-fail"));
    site.file(&yaml("v2"));
    break_config(&v2);
    let out = site.run("apply", &["--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(dir_names(&site.lxcpath()), ["ap-fail"], "replace");
    assert_eq!(
        dir_names(&site.lxcpath().join("ap-fail")),
        before,
        "replace"
    );
    assert_eq!(site.state("ap-fail"), "RUNNING", "the old one still runs");
    site.reg.proxy.set_faults(vec![]);
    site.ok("apply", &["--yes"]);
    assert!(site.config("ap-fail").contains(&format!(
        "# skiff: image {}/tools/sleeper:v2",
        site.reg.proxy.host()
    )));
}

#[test]
fn the_seed_shape_plans_datasets_and_the_lxc_backend_refuses_proxmox_keys() {
    let site = Site::new();
    site.reg
        .push("tools/sleeper", "v1", &sleeper(Format::Docker, "1"));
    let seed = "version: v2\npools:\n  tank:\n    datasets:\n      media:\n        compression: lz4\n        containers:\n          - name: ap-seed\n            type: oci\n            image: tools/sleeper\n            tag: v1\n            registry: REG\n            memory: 2G\n";
    site.file(seed);
    let plan = site.ok("plan", &[]);
    let dir = site.path("datasets/tank/media");
    assert!(
        plan.contains(&format!(
            "+ dataset tank/media: directory {} (no zfs on this host)",
            dir.display()
        )),
        "{plan}"
    );
    assert!(plan.contains("+ memory = \"2048M\""), "{plan}");
    assert!(!dir.exists(), "plan creates nothing");

    site.file(&format!("{seed}            gpu: true\n"));
    let out = site.run("plan", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("container ap-seed: the lxc backend cannot honour `gpu`"),
        "{stderr}"
    );
}

#[test]
fn a_command_with_spaces_and_quotes_runs_as_a_service_through_the_launcher() {
    let site = Site::new();
    site.reg
        .push("tools/sleeper", "v1", &sleeper(Format::Docker, "1"));
    site.file(concat!(
        "containers:\n  - name: ap-words\n    image: REG/tools/sleeper:v1\n",
        "    entrypoint: [/bin/sh, -c, 'echo \"$0|$1\" > /said; exec sleep 3600', \"it's\", \"a b\"]\n",
    ));
    site.ok("apply", &["--yes"]);
    assert_eq!(site.state("ap-words"), "RUNNING");
    let config = site.config("ap-words");
    assert!(
        config.lines().any(|l| l == "lxc.init.cmd = /.skiff/init"),
        "{config}"
    );
    let rootfs = config
        .lines()
        .find_map(|l| l.strip_prefix("lxc.rootfs.path = dir:"))
        .unwrap()
        .to_string();
    let said = std::path::Path::new(&rootfs).join("said");
    wait_for("the service's output", || said.exists());
    assert_eq!(std::fs::read_to_string(&said).unwrap(), "it's|a b\n");
    let again = site.ok("apply", &["--yes"]);
    assert!(again.contains("= ap-words no change"), "{again}");
}

#[test]
fn a_catalog_app_from_a_user_directory_runs_with_the_files_overrides() {
    let site = Site::new();
    site.reg
        .push("library/sleeper", "1", &sleeper(Format::Docker, "1"));
    // A user entry (as /etc/skiff/catalog would hold): two containers, a volume, a
    // secret shared between them, and the catalog's disk sizes, which plain LXC leaves
    // aside instead of refusing.
    let catalog = site.path("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    std::fs::write(
        catalog.join("sleepy.yaml"),
        "name: sleepy\ndescription: Two sleepers\ncategory: dev\nsource: this test\ncontainers:\n  - name: web\n    image: docker.io/library/sleeper\n    tag: \"1\"\n    cores: 1\n    memory: 128\n    disk: 4\n    mounts:\n      - {target: /srv, purpose: site}\n    env: {DB_HOST: \"${host:db}\", DB_PASSWORD: \"${secret:pw}\"}\n    depends_on: [db]\n  - name: db\n    image: docker.io/library/sleeper\n    tag: \"1\"\n    cores: 1\n    memory: 128\n    disk: 2\n    env: {PASSWORD: \"${secret:pw}\"}\n",
    )
    .unwrap();
    let host_dir = site.path("site");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("index.html"), "hello").unwrap();
    site.file(&format!(
        "apps:\n  - name: ap-cat\n    catalog: sleepy\n    registry: REG\n    memory: 96\n    mounts:\n      - {{source: {}, target: /srv, readonly: true}}\n",
        host_dir.display()
    ));
    let dir = catalog.to_str().unwrap();
    let plan = site.ok("plan", &["--catalog-dir", dir]);
    let (db, web) = (
        plan.find("ap-cat-db create").unwrap(),
        plan.find("ap-cat-web create").unwrap(),
    );
    assert!(db < web, "{plan}");
    site.ok("apply", &["--yes", "--catalog-dir", dir]);
    assert_eq!(site.state("ap-cat-web"), "RUNNING");
    assert_eq!(site.state("ap-cat-db"), "RUNNING");
    let web = site.config("ap-cat-web");
    let memory_line = format!("{} = {}", memory_key(true), 96 << 20);
    assert!(web.lines().any(|l| l == memory_line), "{web}");
    assert!(
        web.contains(&format!("lxc.mount.entry = {} srv", host_dir.display())),
        "the file's host path replaces the catalog's volume: {web}"
    );
    let secret = std::fs::read_to_string(site.path("secrets/ap-cat/pw")).unwrap();
    assert!(web.contains(&format!("lxc.environment = DB_PASSWORD={secret}")));
    assert!(site
        .config("ap-cat-db")
        .contains(&format!("lxc.environment = PASSWORD={secret}")));
    let again = site.ok("apply", &["--yes", "--catalog-dir", dir]);
    assert!(again.contains("2 unchanged"), "{again}");
    // Without the directory the name means nothing: a clear error, nothing touched.
    let out = site.run("plan", &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("apps.yaml:3:5") && stderr.contains("sleepy"),
        "{stderr}"
    );
}

#[test]
fn two_applies_of_one_file_at_once_take_turns_and_create_the_container_once() {
    let site = Site::new();
    site.reg
        .push("tools/sleeper", "v1", &sleeper(Format::Docker, "1"));
    site.file("containers:\n  - name: ap-twice\n    image: REG/tools/sleeper:v1\n    memory: 64\n");
    for round in 0..2 {
        let args = site.args("apply", &["--yes"]);
        let children: Vec<_> = (0..2)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_skiff"))
                    .args(&args)
                    .env("HOME", scratch_home())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<Output> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        for o in &outs {
            assert!(
                o.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let stdout: Vec<String> = outs
            .iter()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .collect();
        let creates = stdout
            .iter()
            .filter(|s| s.contains("+ ap-twice create"))
            .count();
        // The first apply creates; whoever waited plans afterwards and finds nothing to do.
        assert_eq!(creates, usize::from(round == 0), "{stdout:?}");
        assert!(
            stdout.iter().any(|s| s.contains("= ap-twice no change")),
            "{stdout:?}"
        );
        assert_eq!(site.state("ap-twice"), "RUNNING");
        let names: Vec<_> = std::fs::read_dir(site.lxcpath())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["ap-twice"],
            "one container, no lock or staging left"
        );
    }
}
