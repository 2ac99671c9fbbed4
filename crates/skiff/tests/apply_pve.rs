//! `skiff plan / apply / destroy / status` on the `pve` backend: a real docker-registry
//! (behind a recording proxy) and skiff-testbed's pct stand-in on a node whose files
//! live under a temporary root (see common::pve). Every plan action is checked by the
//! exact pct command lines it runs (the stand-in's call log) and the container configs
//! they leave; the file names no backend, so these also prove that pve is the default
//! where /etc/pve exists.
//!
//! This test has its own main: run through a symlink named `pct`, the binary *is* the
//! stand-in, so skiff runs it as it would run Proxmox's pct.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::pve::Node;
use common::{sleeper, RecordedRegistry};
use skiff_testbed::fault::Fault;
use skiff_testbed::image::{busybox_builder, Format, LayerBuilder};
use skiff_testbed::pve::calls;
use skiff_testbed::Compression;

/// A registry behind a recording proxy, and a Proxmox VE node.
struct Site {
    reg: RecordedRegistry,
    node: Node,
}

impl Site {
    fn new() -> Site {
        Site {
            reg: RecordedRegistry::start(),
            node: Node::new(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.node.root().join(p)
    }

    /// Writes the file, with REG replaced by the registry's host and ROOT by the node's.
    fn file(&self, yaml: &str) {
        let text = yaml
            .replace("REG", &self.reg.proxy.host())
            .replace("ROOT", &self.node.root().display().to_string());
        std::fs::write(self.path("apps.yaml"), text).unwrap();
    }

    /// Runs `skiff COMMAND FILE` with the site's directories, and `extra`.
    fn run(&self, command: &str, extra: &[&str]) -> Output {
        self.command(command, extra).output().unwrap()
    }

    /// `skiff COMMAND FILE` with the site's directories, and `extra`, ready to run.
    fn command(&self, command: &str, extra: &[&str]) -> Command {
        let (file, data, secrets, ds) = (
            self.path("apps.yaml"),
            self.path("volumes"),
            self.path("secrets"),
            self.path("datasets"),
        );
        let mut args = vec![
            command,
            file.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--secrets-dir",
            secrets.to_str().unwrap(),
            "--datasets-dir",
            ds.to_str().unwrap(),
            "--src-tls-verify=false",
        ];
        args.extend_from_slice(extra);
        self.node.command(&args)
    }

    /// Runs a command that must succeed; returns stdout and stderr.
    fn ok(&self, command: &str, extra: &[&str]) -> (String, String) {
        let out = self.run(command, extra);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(
            out.status.success(),
            "skiff {command} {extra:?} failed:\n{stdout}\n{stderr}"
        );
        (stdout, stderr)
    }

    fn plan(&self) -> String {
        self.ok("plan", &[]).0
    }

    fn apply(&self, extra: &[&str]) -> String {
        let mut args = vec!["--yes"];
        args.extend_from_slice(extra);
        self.ok("apply", &args).0
    }

    /// Runs a command that must fail; returns stderr.
    fn fails(&self, command: &str, extra: &[&str]) -> String {
        let out = self.run(command, extra);
        assert!(!out.status.success(), "skiff {command} {extra:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// The pct calls made so far.
    fn calls(&self) -> Vec<Vec<String>> {
        calls(self.node.root())
    }

    /// The calls after the first `from` that can change something (not `status`,
    /// `config`, `list`, which only read).
    fn changes_since(&self, from: usize) -> Vec<Vec<String>> {
        self.calls()[from..]
            .iter()
            .filter(|c| !matches!(c[0].as_str(), "status" | "config" | "list"))
            .cloned()
            .collect()
    }

    fn blob_gets(&self) -> usize {
        self.reg
            .proxy
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.contains("/blobs/"))
            .count()
    }

    /// The template apply pulls for `repo`'s image at `digest`: by digest, so a new
    /// digest is a new file (Proxmox's naming of `REPO@DIGEST`).
    fn pinned_template(&self, repo: &str, digest: &str) -> String {
        let base = repo.rsplit('/').next().unwrap();
        format!("{base}_{}.tar", digest.replace(':', "_"))
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The `pct create` a file's container `web` (memory 256, 2 cores, onboot, a tag, a bind
/// mount and a volume) becomes.
fn web_create(site: &Site, vmid: &str, template: &str) -> Vec<String> {
    let mut want = strings(&["create", vmid, &format!("local:vztmpl/{template}")]);
    let photos = site.path("srv/photos");
    let volume = site.path("volumes/web/data");
    let c = site.node.config(vmid.parse().unwrap());
    want.extend(strings(&[
        "--hostname",
        "web",
        "--cores",
        "2",
        "--memory",
        "256",
        "--rootfs",
        "local-lvm:4",
        "--net0",
        "name=eth0,bridge=vmbr0,ip=dhcp",
        "--mp0",
        &format!("{},mp=/photos", photos.display()),
        "--mp1",
        &format!("{},mp=/data", volume.display()),
        "--onboot",
        "1",
        "--tags",
        "skiff;web",
        "--description",
        &c.description,
        "--unprivileged",
        "1",
    ]));
    want
}

fn web_yaml(memory: u32, extra: &str) -> String {
    format!(
        "containers:\n  - name: web\n    image: REG/apps/sleeper:v1\n    memory: {memory}\n    cores: 2\n    onboot: true\n    tags: [Web]\n    env: {{GREETING: hi}}\n    mounts:\n      - {{source: ROOT/srv/photos, target: /photos}}\n      - {{target: /data}}\n{extra}"
    )
}

/// Create (+ start), then a re-apply that runs no pct command that changes anything,
/// fetches no blob and leaves the config byte for byte; status says running.
fn create_starts_and_reapply_changes_nothing() {
    let site = Site::new();
    let image = sleeper(Format::Oci, "1");
    site.reg.push("apps/sleeper", "v1", &image);
    site.file(&web_yaml(256, ""));
    let plan = site.plan();
    assert!(plan.contains("+ web create"), "{plan}");
    assert!(
        site.calls().iter().all(|c| c[0] == "status"),
        "plan only reads"
    );
    site.apply(&[]);

    let template = site.pinned_template("apps/sleeper", &image.manifest_digest);
    assert!(
        site.node.cache().join(&template).is_file(),
        "pulled: {template}"
    );
    assert_eq!(
        site.changes_since(0),
        [
            web_create(&site, "100", &template),
            strings(&["start", "100"])
        ],
    );
    let c = site.node.config(100);
    let k = |key: &str| c.keys.get(key).cloned().unwrap_or_default();
    assert!(
        c.description
            .starts_with("skiff: managed app=- digest=sha256:"),
        "{}",
        c.description
    );
    assert_eq!(k("hostname"), "web");
    assert_eq!(k("memory"), "256");
    assert_eq!(k("cores"), "2");
    assert_eq!(k("rootfs"), "local-lvm:vm-100-disk-0,size=4G");
    assert_eq!(
        k("mp0"),
        format!("{},mp=/photos", site.path("srv/photos").display())
    );
    assert_eq!(k("tags"), "skiff;web");
    assert_eq!(k("onboot"), "1");
    assert_eq!(k("entrypoint"), "/bin/sleep 3600");
    let env: Vec<&str> = k("env").leak().split('\0').collect();
    assert!(env.contains(&"VERSION=1"), "{env:?}");
    assert!(env.contains(&"GREETING=hi"), "{env:?}");
    assert!(site.path("srv/photos").is_dir(), "bind source created");
    assert!(site.path("volumes/web/data").is_dir(), "volume created");
    assert!(site.node.running(100));

    let conf = std::fs::read(site.node.conf_path(100)).unwrap();
    let (before, blobs, requests) = (
        site.calls().len(),
        site.blob_gets(),
        site.reg.proxy.requests().len(),
    );
    let out = site.apply(&[]);
    assert!(out.contains("= web no change"), "{out}");
    assert_eq!(site.changes_since(before), Vec::<Vec<String>>::new());
    assert_eq!(site.blob_gets(), blobs, "no blob fetched");
    let new: Vec<String> = site.reg.proxy.requests()[requests..]
        .iter()
        .filter(|r| r.path.contains("/manifests/"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(new, ["HEAD /v2/apps/sleeper/manifests/v1"]);
    assert_eq!(std::fs::read(site.node.conf_path(100)).unwrap(), conf);
    assert!(site.node.running(100), "not restarted");

    let (status, _) = site.ok("status", &[]);
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("web ") && l.contains("running") && l.ends_with(" -")),
        "{status}"
    );
}

/// Memory changes live (`pct set --memory`, no restart); a change Proxmox keeps pending
/// (features, env) is set, then the container is shut down and started.
fn memory_changes_in_place_and_pending_changes_restart() {
    let site = Site::new();
    site.reg
        .push("apps/sleeper", "v1", &sleeper(Format::Oci, "1"));
    site.file(&web_yaml(256, ""));
    site.apply(&[]);

    site.file(&web_yaml(512, ""));
    let plan = site.plan();
    assert!(plan.contains("~ web update in place"), "{plan}");
    assert!(
        plan.contains("~ memory: \"256\" → \"512\"  (live)"),
        "{plan}"
    );
    let before = site.calls().len();
    site.apply(&[]);
    // The marker's spec hash follows the file (description is written at once).
    let c = site.node.config(100);
    assert_eq!(
        site.changes_since(before),
        [strings(&[
            "set",
            "100",
            "--description",
            &c.description,
            "--memory",
            "512"
        ])]
    );
    assert_eq!(site.node.config(100).keys["memory"], "512");
    assert!(site.node.running(100));

    let yaml = web_yaml(512, "    features: nesting=1\n").replace("GREETING: hi", "GREETING: bye");
    site.file(&yaml);
    let plan = site.plan();
    assert!(plan.contains("~ web update (restart needed)"), "{plan}");
    assert!(
        plan.contains("features") && plan.contains("(on restart)"),
        "{plan}"
    );
    let before = site.calls().len();
    site.apply(&[]);
    let c = site.node.config(100);
    assert_eq!(
        site.changes_since(before),
        [
            strings(&[
                "set",
                "100",
                "--description",
                &c.description,
                "--features",
                "nesting=1"
            ]),
            strings(&["shutdown", "100"]),
            strings(&["start", "100"]),
        ]
    );
    assert_eq!(c.keys["features"], "nesting=1");
    let env: Vec<&str> = c.keys["env"].split('\0').collect();
    assert!(
        env.contains(&"GREETING=bye") && !env.contains(&"GREETING=hi"),
        "{env:?}"
    );
    assert!(env.contains(&"VERSION=1"), "the image's env stays: {env:?}");
    assert!(site.node.running(100));
    assert!(site.plan().contains("= web no change"));
}

/// A new digest behind the tag: the template is pulled before the container is touched
/// (a failing pull leaves it running as it was), then shutdown, destroy and create
/// under the same VMID with the same bind mounts, whose data stays.
fn a_new_image_replaces_the_container_keeping_its_vmid_and_data() {
    let site = Site::new();
    let v1 = sleeper(Format::Oci, "1");
    site.reg.push("apps/sleeper", "v1", &v1);
    site.file(&web_yaml(256, "    vmid: 120\n"));
    site.apply(&[]);
    std::fs::write(site.path("srv/photos/holiday.jpg"), b"precious").unwrap();
    std::fs::write(site.path("volumes/web/data/db"), b"rows").unwrap();
    let old = site.node.config(120);

    let v2 = sleeper(Format::Oci, "2");
    site.reg.push("apps/sleeper", "v1", &v2);
    let plan = site.plan();
    assert!(plan.contains("-/+ web replace: image sha256:"), "{plan}");
    let (status, _) = site.ok("status", &[]);
    let (old12, new12) = (&v1.manifest_digest[7..19], &v2.manifest_digest[7..19]);
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("web ") && l.contains(&format!("{old12} (latest {new12})"))),
        "{status}"
    );

    // The pull fails: nothing is shut down or destroyed.
    site.reg.proxy.add_fault(Fault::CorruptBlob {
        digest: v2.config.digest.clone(),
    });
    let before = site.calls().len();
    let e = site.fails("apply", &["--yes"]);
    assert!(e.contains("apps/sleeper"), "{e}");
    assert_eq!(site.changes_since(before), Vec::<Vec<String>>::new(), "{e}");
    assert_eq!(site.node.config(120), old);
    assert!(site.node.running(120));
    let template = site.pinned_template("apps/sleeper", &v2.manifest_digest);
    assert!(!site.node.cache().join(&template).exists());
    let left: Vec<String> = common::dir_names(&site.node.cache())
        .into_iter()
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // The pull succeeds.
    site.reg.proxy.set_faults(vec![]);
    let yaml = web_yaml(256, "    vmid: 120\n").replace("REG", &site.reg.proxy.host());
    std::fs::write(
        site.path("apps.yaml"),
        yaml.replace("ROOT", &site.node.root().display().to_string()),
    )
    .unwrap();
    let before = site.calls().len();
    site.apply(&[]);
    let template = site.pinned_template("apps/sleeper", &v2.manifest_digest);
    assert!(site.node.cache().join(&template).is_file());
    assert_eq!(
        site.changes_since(before),
        [
            strings(&["shutdown", "120"]),
            strings(&["destroy", "120"]),
            web_create(&site, "120", &template),
            strings(&["start", "120"]),
        ]
    );
    let new = site.node.config(120);
    assert_eq!(new.keys["mp0"], old.keys["mp0"]);
    assert_eq!(new.keys["mp1"], old.keys["mp1"]);
    assert!(new.keys["env"].split('\0').any(|e| e == "VERSION=2"));
    assert_eq!(
        std::fs::read_to_string(site.path("destroyed.log")).unwrap(),
        "local-lvm:vm-120-disk-0\n",
        "pct destroy freed the root disk only"
    );
    assert_eq!(
        std::fs::read(site.path("srv/photos/holiday.jpg")).unwrap(),
        b"precious"
    );
    assert_eq!(
        std::fs::read(site.path("volumes/web/data/db")).unwrap(),
        b"rows"
    );
    assert!(site.plan().contains("= web no change"));
}

/// Removed from the file: kept (no pct call) without --prune, destroyed with it;
/// `destroy FILE` shuts down and destroys the rest; bind mount data stays.
fn removed_containers_are_kept_without_prune_and_destroy_removes_the_rest() {
    let site = Site::new();
    site.reg
        .push("apps/sleeper", "v1", &sleeper(Format::Oci, "1"));
    let two = "backend: pve\ncontainers:\n  - name: keep\n    image: REG/apps/sleeper:v1\n    mounts: [{source: ROOT/srv/keep, target: /keep}]\n  - name: gone\n    image: REG/apps/sleeper:v1\n    start: false\n";
    site.file(two);
    site.apply(&[]);
    assert!(site.node.running(100));
    assert!(!site.node.running(101));
    assert_eq!(site.node.config(101).keys["hostname"], "gone");
    std::fs::write(site.path("srv/keep/file"), b"kept").unwrap();

    site.file("backend: pve\ncontainers:\n  - name: keep\n    image: REG/apps/sleeper:v1\n    mounts: [{source: ROOT/srv/keep, target: /keep}]\n");
    let before = site.calls().len();
    let out = site.apply(&[]);
    assert!(
        out.contains("! gone not in the file (kept; --prune deletes it)"),
        "{out}"
    );
    assert_eq!(site.changes_since(before), Vec::<Vec<String>>::new());
    assert!(site.node.conf_path(101).exists());

    let before = site.calls().len();
    let out = site.apply(&["--prune"]);
    assert!(out.contains("- gone delete"), "{out}");
    assert_eq!(site.changes_since(before), [strings(&["destroy", "101"])]);
    assert!(!site.node.conf_path(101).exists());
    assert!(site.node.running(100));

    let before = site.calls().len();
    site.ok("destroy", &["--yes"]);
    assert_eq!(
        site.changes_since(before),
        [strings(&["shutdown", "100"]), strings(&["destroy", "100"])]
    );
    assert!(!site.node.conf_path(100).exists());
    assert_eq!(std::fs::read(site.path("srv/keep/file")).unwrap(), b"kept");
    // Nothing left of this file: destroy again is a no-op.
    let before = site.calls().len();
    site.ok("destroy", &["--yes"]);
    assert_eq!(site.changes_since(before), Vec::<Vec<String>>::new());
}

/// A container of the file's hostname that skiff did not create is refused by plan and
/// apply and left alone by destroy: no pct command at all.
fn an_unmanaged_container_of_the_same_hostname_is_refused_and_untouched() {
    let site = Site::new();
    site.reg
        .push("apps/sleeper", "v1", &sleeper(Format::Oci, "1"));
    let reference = format!("{}/apps/sleeper:v1", site.reg.proxy.host());
    site.node.ok(&[
        "pve",
        "create",
        "-q",
        "--tls-verify=false",
        "150",
        &reference,
        "--hostname",
        "web",
    ]);
    let before_conf = std::fs::read(site.node.conf_path(150)).unwrap();
    site.file(&web_yaml(256, ""));
    let before = site.calls().len();
    for (command, extra) in [("plan", &[][..]), ("apply", &["--yes"][..])] {
        let e = site.fails(command, extra);
        assert!(
            e.contains("container web exists but is not managed by skiff"),
            "{e}"
        );
    }
    let (_, stderr) = site.ok("destroy", &["--yes"]);
    assert!(
        stderr.contains("web: not managed by skiff, left alone"),
        "{stderr}"
    );
    assert_eq!(site.calls().len(), before, "{:?}", &site.calls()[before..]);
    assert_eq!(
        std::fs::read(site.node.conf_path(150)).unwrap(),
        before_conf
    );
}

/// An app: the database first (created, started, its health command run inside), then
/// the server, which gets the database's hostname and the generated secret.
fn an_app_is_created_in_dependency_order() {
    let site = Site::new();
    let image = sleeper(Format::Oci, "1");
    site.reg.push("apps/sleeper", "v1", &image);
    site.file("apps:\n  - name: photos\n    containers:\n      - name: server\n        image: REG/apps/sleeper:v1\n        depends_on: [db]\n        env: {DB_HOST: \"${host:db}\", DB_PASSWORD: \"${secret:db_password}\"}\n      - name: db\n        image: REG/apps/sleeper:v1\n        env: {POSTGRES_PASSWORD: \"${secret:db_password}\"}\n        health: \"test -d /srv\"\n");
    site.apply(&[]);
    let verbs: Vec<String> = site
        .changes_since(0)
        .iter()
        .map(|c| c[..2].join(" "))
        .collect();
    assert_eq!(
        verbs,
        [
            "create 100",
            "start 100",
            "exec 100",
            "create 101",
            "start 101"
        ]
    );
    let exec = &site.changes_since(0)[2];
    assert_eq!(exec[2..], strings(&["--", "sh", "-c", "test -d /srv"]));
    let (db, server) = (site.node.config(100), site.node.config(101));
    assert_eq!(db.keys["hostname"], "photos-db");
    assert_eq!(server.keys["hostname"], "photos-server");
    let secret = std::fs::read_to_string(site.path("secrets/photos/db_password")).unwrap();
    assert_eq!(secret.len(), 32);
    let env = |c: &skiff_testbed::pve::CtConfig| -> Vec<String> {
        c.keys["env"].split('\0').map(String::from).collect()
    };
    assert!(env(&db).contains(&format!("POSTGRES_PASSWORD={secret}")));
    assert!(env(&server).contains(&format!("DB_PASSWORD={secret}")));
    assert!(env(&server).contains(&"DB_HOST=photos-db".to_string()));
    // One template for both.
    let template = site.pinned_template("apps/sleeper", &image.manifest_digest);
    assert_eq!(common::dir_names(&site.node.cache()), [template]);
    let again = site.apply(&[]);
    assert!(again.contains("2 unchanged"), "{again}");
    assert!(!again.contains(&secret));
}

/// A template `skiff pve pull` already put in the cache (same digest) is used: apply
/// fetches no blob.
fn a_pulled_template_of_the_same_digest_is_reused() {
    let site = Site::new();
    site.reg
        .push("apps/sleeper", "v1", &sleeper(Format::Oci, "1"));
    let reference = format!("{}/apps/sleeper:v1", site.reg.proxy.host());
    let pulled = site.node.ok(&[
        "pve",
        "pull",
        "-q",
        "--tls-verify=false",
        "--storage",
        "nas",
        &reference,
    ]);
    assert_eq!(pulled, "nas:vztmpl/sleeper_v1.tar\n");
    let blobs = site.blob_gets();
    site.file("containers:\n  - name: web\n    image: REG/apps/sleeper:v1\n");
    site.apply(&[]);
    assert_eq!(site.blob_gets(), blobs, "no blob fetched");
    let create = &site.changes_since(0)[0];
    assert_eq!(
        create[..3],
        strings(&["create", "100", "nas:vztmpl/sleeper_v1.tar"])
    );
    assert!(
        common::dir_names(&site.node.cache()).is_empty(),
        "nothing pulled into local"
    );
}

/// A mount point on a storage volume added by hand is the user's: apply leaves it out of
/// its plan and refuses to replace or destroy the container (`pct destroy` would free
/// the volume); nothing is shut down.
fn a_volume_mount_point_added_by_hand_blocks_replace_and_destroy() {
    let site = Site::new();
    site.reg
        .push("apps/sleeper", "v1", &sleeper(Format::Oci, "1"));
    site.file(&web_yaml(256, ""));
    site.apply(&[]);
    let out = Command::new(&site.node.pct)
        .args(["set", "100", "--mp2", "local-lvm:2,mp=/extra"])
        .env("SKIFF_PVE_ROOT", site.node.root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conf = std::fs::read(site.node.conf_path(100)).unwrap();
    assert!(site.plan().contains("= web no change"));

    site.reg
        .push("apps/sleeper", "v1", &sleeper(Format::Oci, "2"));
    assert!(site.plan().contains("-/+ web replace"));
    let before = site.calls().len();
    let e = site.fails("apply", &["--yes"]);
    assert!(
        e.contains("replacing web would delete its mp2 (local-lvm:vm-100-disk-1)"),
        "{e}"
    );
    let e = site.fails("destroy", &["--yes"]);
    assert!(
        e.contains("destroying web would delete its mp2 (local-lvm:vm-100-disk-1)"),
        "{e}"
    );
    assert_eq!(site.changes_since(before), Vec::<Vec<String>>::new());
    assert_eq!(std::fs::read(site.node.conf_path(100)).unwrap(), conf);
    assert!(site.node.running(100));
}

/// Two applies of one file at once take turns (the node's lock): the container is
/// created once, and whoever waited finds nothing to do.
fn two_applies_at_once_create_the_container_once() {
    let site = Site::new();
    site.reg
        .push("apps/sleeper", "v1", &sleeper(Format::Oci, "1"));
    site.file("containers:\n  - name: web\n    image: REG/apps/sleeper:v1\n");
    let children: Vec<_> = (0..2)
        .map(|_| {
            site.command("apply", &["--yes", "--backend", "pve"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outs {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let stdout: Vec<String> = outs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .collect();
    assert_eq!(
        stdout.iter().filter(|s| s.contains("+ web create")).count(),
        1,
        "{stdout:?}"
    );
    assert!(
        stdout.iter().any(|s| s.contains("= web no change")),
        "{stdout:?}"
    );
    let verbs: Vec<String> = site.changes_since(0).iter().map(|c| c[0].clone()).collect();
    assert_eq!(verbs, ["create", "start"]);
    assert_eq!(common::dir_names(&site.path("etc/pve/lxc")), ["100.conf"]);
    assert_eq!(
        common::dir_names(&site.path("run/lock")),
        Vec::<String>::new()
    );
}

/// `gpu: true` passes the node's /dev/dri nodes with the image's video and render gids;
/// on a node without them apply refuses before any pct command.
fn a_gpu_gets_the_nodes_dri_devices_with_the_images_groups() {
    let site = Site::new();
    let image = busybox_builder(Format::Oci)
        .entrypoint(&["/bin/sleep"])
        .cmd(&["3600"])
        .layer(
            LayerBuilder::new()
                .file(
                    "etc/group",
                    0o644,
                    b"root:x:0:\nvideo:x:44:\nrender:x:993:\n",
                )
                .build(),
            Compression::Gzip,
        )
        .build();
    site.reg.push("apps/media", "v1", &image);
    site.file("containers:\n  - name: media\n    image: REG/apps/media:v1\n    gpu: true\n");
    let e = site.fails("apply", &["--yes"]);
    assert!(e.contains("/dev/dri"), "{e}");
    assert_eq!(site.changes_since(0), Vec::<Vec<String>>::new());

    let dri = site.path("dev/dri");
    std::fs::create_dir_all(&dri).unwrap();
    std::fs::write(dri.join("card0"), "").unwrap();
    std::fs::write(dri.join("renderD128"), "").unwrap();
    site.apply(&[]);
    let create = &site.changes_since(0)[0];
    let devices: Vec<&[String]> = create
        .windows(2)
        .filter(|w| w[0].starts_with("--dev"))
        .collect();
    assert_eq!(
        devices,
        [
            strings(&["--dev0", "/dev/dri/card0,gid=44"]),
            strings(&["--dev1", "/dev/dri/renderD128,gid=993"]),
        ]
    );
    let c = site.node.config(100);
    assert_eq!(c.keys["dev0"], "/dev/dri/card0,gid=44");
    assert!(site.plan().contains("= media no change"));
}

/// An apply killed after `pct create` (the image's env still in the config, never
/// started) is finished by the next: the env written over the image's, then started.
fn a_create_cut_short_is_finished_by_the_next_apply() {
    let site = Site::new();
    site.reg
        .push("apps/sleeper", "v1", &sleeper(Format::Oci, "1"));
    site.file(&web_yaml(256, ""));
    site.apply(&[]);
    // Back to what `pct create` alone leaves: the image's env, stopped.
    let conf = site.node.conf_path(100);
    let text = std::fs::read_to_string(&conf).unwrap();
    let cut: String = text
        .lines()
        .map(|l| match l.strip_prefix("env: ") {
            Some(env) => {
                let kept: Vec<&str> = env
                    .split('\0')
                    .filter(|e| !e.starts_with("GREETING="))
                    .collect();
                format!("env: {}\n", kept.join("\0"))
            }
            None => format!("{l}\n"),
        })
        .collect();
    assert_ne!(cut, text);
    std::fs::write(&conf, cut).unwrap();
    std::fs::remove_file(site.path("run/pct-standin/100")).unwrap();

    let plan = site.plan();
    // Stopped, so nothing to restart: the env is written, then the container started.
    assert!(plan.contains("~ web update in place"), "{plan}");
    assert!(plan.contains("+ env.GREETING = \"hi\""), "{plan}");
    let before = site.calls().len();
    site.apply(&[]);
    assert_eq!(site.changes_since(before), [strings(&["start", "100"])]);
    let env = site.node.config(100).keys["env"].clone();
    assert!(env.split('\0').any(|e| e == "GREETING=hi"), "{env:?}");
    assert!(site.node.running(100));
    assert!(site.plan().contains("= web no change"));
}

/// -P is the lxc backend's.
fn flags_of_other_backends_are_refused() {
    let site = Site::new();
    site.file("containers:\n  - name: web\n    image: busybox:1\n");
    let e = site.fails("plan", &["-P", "/var/lib/lxc"]);
    assert!(e.contains("-P is the lxc backend's"), "{e}");
    assert!(site.calls().is_empty());
    assert!(site.reg.proxy.requests().is_empty());
}

fn main() -> std::process::ExitCode {
    common::pve::main(&[
        (
            "create_starts_and_reapply_changes_nothing",
            create_starts_and_reapply_changes_nothing,
        ),
        (
            "memory_changes_in_place_and_pending_changes_restart",
            memory_changes_in_place_and_pending_changes_restart,
        ),
        (
            "a_new_image_replaces_the_container_keeping_its_vmid_and_data",
            a_new_image_replaces_the_container_keeping_its_vmid_and_data,
        ),
        (
            "removed_containers_are_kept_without_prune_and_destroy_removes_the_rest",
            removed_containers_are_kept_without_prune_and_destroy_removes_the_rest,
        ),
        (
            "an_unmanaged_container_of_the_same_hostname_is_refused_and_untouched",
            an_unmanaged_container_of_the_same_hostname_is_refused_and_untouched,
        ),
        (
            "an_app_is_created_in_dependency_order",
            an_app_is_created_in_dependency_order,
        ),
        (
            "a_pulled_template_of_the_same_digest_is_reused",
            a_pulled_template_of_the_same_digest_is_reused,
        ),
        (
            "a_volume_mount_point_added_by_hand_blocks_replace_and_destroy",
            a_volume_mount_point_added_by_hand_blocks_replace_and_destroy,
        ),
        (
            "two_applies_at_once_create_the_container_once",
            two_applies_at_once_create_the_container_once,
        ),
        (
            "a_gpu_gets_the_nodes_dri_devices_with_the_images_groups",
            a_gpu_gets_the_nodes_dri_devices_with_the_images_groups,
        ),
        (
            "a_create_cut_short_is_finished_by_the_next_apply",
            a_create_cut_short_is_finished_by_the_next_apply,
        ),
        (
            "flags_of_other_backends_are_refused",
            flags_of_other_backends_are_refused,
        ),
    ])
}
