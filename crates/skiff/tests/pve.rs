//! `skiff pve …` against a real docker-registry, Debian's skopeo and LXC, and the pct
//! stand-in of skiff-testbed (Proxmox's own cannot run here). A Proxmox node's files live
//! under a temporary root (`SKIFF_PVE_ROOT`, `SKIFF_DEV_ROOT`).
//!
//! This test has its own main: run through a symlink named `pct`, the binary *is* the
//! stand-in, so skiff runs it as it would run Proxmox's pct.

mod common;

use std::process::Command;

use common::pve::Node;
use common::*;
use skiff_testbed::image::{busybox_builder, Format, LayerBuilder};
use skiff_testbed::push::push_image;
use skiff_testbed::pve::calls;
use skiff_testbed::{Compression, RegistryServer, Setup};

/// A registry with the busybox image at tools/busybox:v1 (Docker format: pve pull must
/// write OCI) and v2.
fn registry() -> RegistryServer {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let img = busybox_builder(Format::Docker).build();
    push_image(&reg.host(), "tools/busybox", "v1", &img, None).unwrap();
    let gpu = busybox_builder(Format::Oci)
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
    push_image(&reg.host(), "tools/busybox", "v2", &gpu, None).unwrap();
    reg
}

fn pull_writes_what_proxmox_writes() {
    let reg = registry();
    let node = Node::new();
    let reference = format!("{}/tools/busybox:v1", reg.host());
    let out = node.ok(&["pve", "pull", "-q", "--tls-verify=false", &reference]);
    assert_eq!(out, "local:vztmpl/busybox_v1.tar\n");
    let archive = node.cache().join("busybox_v1.tar");
    assert_eq!(dir_names(&node.cache()), ["busybox_v1.tar"], "no .tmp left");
    // The archive pct accepts: exact entry names, OCI media types.
    let entries = tar_entries(&archive);
    assert!(entries.iter().any(|e| e == "oci-layout"), "{entries:?}");
    assert!(entries.iter().any(|e| e == "index.json"), "{entries:?}");
    assert!(entries.iter().all(|e| !e.starts_with("./")), "{entries:?}");
    let index = json(&tar_read(&archive, "index.json"));
    assert_eq!(
        index["manifests"][0]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let raw = peer_ok(
        "skopeo",
        &[
            "inspect",
            "--raw",
            &format!("oci-archive:{}", archive.display()),
        ],
    );
    let manifest = json(raw.as_bytes());
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    for layer in manifest["layers"].as_array().unwrap() {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
    }

    // Never overwritten.
    let before = std::fs::read(&archive).unwrap();
    let e = node.fails(&["pve", "pull", "-q", "--tls-verify=false", &reference]);
    assert!(e.contains("already exists"), "{e}");
    assert_eq!(std::fs::read(&archive).unwrap(), before);

    // --filename is normalised; --json; another storage's cache (nfs: /mnt/pve/ID).
    let out = node.ok(&[
        "pve",
        "pull",
        "-q",
        "--tls-verify=false",
        "--storage",
        "nas",
        "--filename",
        "my app",
        "--json",
        &reference,
    ]);
    let pulled = json(out.as_bytes());
    assert_eq!(pulled["volid"], "nas:vztmpl/my_app.tar");
    assert!(node
        .root()
        .join("mnt/pve/nas/template/cache/my_app.tar")
        .is_file());
    assert!(pulled["digest"].as_str().unwrap().starts_with("sha256:"));

    // By digest (the registry's, of the Docker manifest the pull converted).
    let digest = peer_ok(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            &format!("docker://{reference}"),
        ],
    );
    let by_digest = format!("{}/tools/busybox@{}", reg.host(), digest.trim());
    let out = node.ok(&["pve", "pull", "-q", "--tls-verify=false", &by_digest]);
    assert!(out.starts_with("local:vztmpl/busybox_sha256_"), "{out}");

    // images lists both caches with the recorded reference and digest.
    let listed = json(node.ok(&["pve", "images", "--json"]).as_bytes());
    let volids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["volid"].as_str().unwrap())
        .collect();
    assert_eq!(volids.len(), 3, "{listed}");
    assert!(volids.contains(&"local:vztmpl/busybox_v1.tar"));
    assert!(volids.contains(&"nas:vztmpl/my_app.tar"));
    let nas = json(
        node.ok(&["pve", "images", "--storage", "nas", "--json"])
            .as_bytes(),
    );
    assert_eq!(nas[0]["digest"], pulled["digest"]);
    assert_eq!(nas[0]["reference"], reference.as_str());
    // The table says the same, one template a line.
    let table = node.ok(&["pve", "images", "--storage", "nas"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("VOLID") && lines[0].ends_with("DIGEST"));
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[0], "nas:vztmpl/my_app.tar");
    assert_eq!(row[1], nas[0]["size"].to_string());
    assert_eq!(row[2], reference.as_str());
    assert_eq!(Some(row[3]), pulled["digest"].as_str());
    assert_eq!(
        nas[0]["size"],
        std::fs::metadata(node.root().join("mnt/pve/nas/template/cache/my_app.tar"))
            .unwrap()
            .len()
    );
}

fn pull_refusals_leave_nothing() {
    let reg = registry();
    let node = Node::new();
    let reference = format!("{}/tools/busybox:v1", reg.host());
    let e = node.fails(&[
        "pve",
        "pull",
        "-q",
        "--tls-verify=false",
        "--storage",
        "local-lvm",
        &reference,
    ]);
    assert!(e.contains("no \"vztmpl\" content"), "{e}");
    let e = node.fails(&[
        "pve",
        "pull",
        "-q",
        "--tls-verify=false",
        "--storage",
        "nope",
        &reference,
    ]);
    assert!(e.contains("does not exist"), "{e}");
    let untagged = format!("{}/tools/busybox", reg.host());
    let e = node.fails(&["pve", "pull", "-q", "--tls-verify=false", &untagged]);
    assert!(e.contains(":TAG"), "{e}");
    let e = node.fails(&[
        "pve",
        "pull",
        "-q",
        "--tls-verify=false",
        "--node",
        "elsewhere-node",
        &reference,
    ]);
    assert!(e.contains("--node elsewhere-node"), "{e}");
    let missing = format!("{}/tools/busybox:nope", reg.host());
    node.fails(&["pve", "pull", "-q", "--tls-verify=false", &missing]);
    // The trust policy applies as it does to copy.
    let policy = node.root().join("policy.json");
    std::fs::write(&policy, r#"{"default":[{"type":"reject"}]}"#).unwrap();
    let e = node.fails(&[
        "pve",
        "pull",
        "-q",
        "--tls-verify=false",
        "--policy",
        policy.to_str().unwrap(),
        &reference,
    ]);
    assert!(e.to_lowercase().contains("reject"), "{e}");
    let left: Vec<String> = std::fs::read_dir(node.cache())
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

/// The host's platform from an index, another with --override-arch, as skopeo picks.
fn pull_picks_the_host_platform_unless_overridden() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let images = ["amd64", "arm64"]
        .map(|arch| {
            busybox_builder(Format::Oci)
                .platform("linux", arch, None)
                .build()
        })
        .to_vec();
    let list = skiff_testbed::image::multi_arch(Format::Oci, images);
    skiff_testbed::push_multi_arch(&reg.host(), "multi", "v1", &list, None).unwrap();
    let node = Node::new();
    let reference = format!("{}/multi:v1", reg.host());
    let arch_of = |file: &str| {
        let path = node.cache().join(file);
        let config = peer_ok(
            "skopeo",
            &[
                "inspect",
                "--config",
                &format!("oci-archive:{}", path.display()),
            ],
        );
        json(config.as_bytes())["architecture"]
            .as_str()
            .unwrap()
            .to_string()
    };
    node.ok(&["pve", "pull", "-q", "--tls-verify=false", &reference]);
    let host = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    assert_eq!(arch_of("multi_v1.tar"), host);
    node.ok(&[
        "pve",
        "pull",
        "-q",
        "--tls-verify=false",
        "--override-arch",
        "arm64",
        "--filename",
        "arm",
        &reference,
    ]);
    assert_eq!(arch_of("arm.tar"), "arm64");
}

/// Interrupted mid-pull, nothing is left in the cache (no FILE, no FILE.tmp.PID).
fn ctrl_c_leaves_the_cache_clean() {
    let reg = registry();
    let node = Node::new();
    let proxy = stalling_blob_proxy(&reg.host());
    let mut child = node
        .command(&[
            "pve",
            "pull",
            "--tls-verify=false",
            &format!("{}/tools/busybox:v1", proxy.host()),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(
        interrupt_mid_blob(&proxy, &mut child, libc::SIGINT),
        Some(130)
    );
    assert_eq!(dir_names(&node.cache()), Vec::<String>::new());
}

fn tags_are_the_array_proxmox_returns() {
    let reg = registry();
    let node = Node::new();
    let out = node.ok(&[
        "pve",
        "tags",
        "--tls-verify=false",
        &format!("{}/tools/busybox", reg.host()),
    ]);
    let tags = json(out.as_bytes());
    assert_eq!(tags, serde_json::json!(["v1", "v2"]));
    node.fails(&[
        "pve",
        "tags",
        "--tls-verify=false",
        &format!("{}/tools/busybox:v1", reg.host()),
    ]);
}

/// The pulled template unpacks and runs on LXC, the real runtime here.
fn the_template_runs_on_lxc() {
    let reg = registry();
    let node = Node::new();
    let reference = format!("{}/tools/busybox:v1", reg.host());
    node.ok(&["pve", "pull", "-q", "--tls-verify=false", &reference]);
    let archive = node.cache().join("busybox_v1.tar");
    let lxcpath = node.root().join("lxc");
    skiff_ok(&[
        "lxc",
        "create",
        "-q",
        "-P",
        lxcpath.to_str().unwrap(),
        "--set",
        "lxc.net.0.type=none",
        "--set",
        "lxc.apparmor.profile=unconfined",
        "ct",
        &format!("oci-archive:{}", archive.display()),
    ]);
    let out = Command::new("lxc-execute")
        .args(["-n", "ct", "-P", lxcpath.to_str().unwrap()])
        .output()
        .expect("lxc-execute (Debian package lxc) must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("hello from skiff"), "{stdout}");
    assert!(stdout.contains("GREETING=hello world"), "{stdout}");
}

fn create_pulls_then_runs_pct_with_overrides() {
    let reg = registry();
    let node = Node::new();
    let reference = format!("{}/tools/busybox:v1", reg.host());
    let media = node.root().join("srv/media");
    std::fs::create_dir_all(&media).unwrap();
    let out = node.ok(&[
        "pve",
        "create",
        "-q",
        "--tls-verify=false",
        "120",
        &reference,
        "--hostname",
        "web",
        "--memory",
        "1024",
        "--cores",
        "2",
        "--disk",
        "8G",
        "--mount",
        &format!("{}:/media:ro", media.display()),
        "--mount",
        "local-lvm:4:/data",
        "--env",
        "GREETING=hi there",
        "--env",
        "EXTRA=1",
        "--entrypoint",
        "/bin/sh -c 'echo override'",
        "--tags",
        "Web;oci",
        "--features",
        "nesting=1",
        "--onboot",
        "--start",
    ]);
    assert_eq!(out, "120\n");
    assert!(
        node.cache().join("busybox_v1.tar").is_file(),
        "pulled first"
    );
    let c = node.config(120);
    let k = |key: &str| {
        c.keys
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{key} in {c:?}"))
    };
    assert_eq!(k("hostname"), "web");
    assert_eq!(k("memory"), "1024");
    assert_eq!(k("cores"), "2");
    assert_eq!(k("swap"), "512");
    assert_eq!(k("rootfs"), "local-lvm:vm-120-disk-0,size=8G");
    assert_eq!(k("mp0"), format!("{},mp=/media,ro=1", media.display()));
    assert_eq!(k("mp1"), "local-lvm:vm-120-disk-1,mp=/data,size=4G");
    // PVE completes netN (hwaddr, type); the image's entrypoint made it host-managed.
    let net0: Vec<&str> = k("net0").split(',').collect();
    for part in [
        "name=eth0",
        "bridge=vmbr0",
        "ip=dhcp",
        "type=veth",
        "host-managed=1",
    ] {
        assert!(net0.contains(&part), "{part} in {net0:?}");
    }
    assert!(net0.iter().any(|p| p.starts_with("hwaddr=")), "{net0:?}");
    assert_eq!(k("tags"), "oci;web");
    assert_eq!(k("features"), "nesting=1");
    assert_eq!(k("onboot"), "1");
    assert_eq!(k("unprivileged"), "1");
    assert_eq!(k("cmode"), "console");
    // The overrides won over the image's values the create applied.
    assert_eq!(k("entrypoint"), "/bin/sh -c 'echo override'");
    assert_eq!(
        k("env"),
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\0GREETING=hi there\0EXTRA=1"
    );
    assert_eq!(c.raw_value("lxc.init.cwd"), Some("/srv"));
    let calls = calls(node.root());
    let verbs: Vec<&str> = calls.iter().map(|c| c[0].as_str()).collect();
    assert_eq!(verbs, ["create", "set", "start"], "{calls:?}");
    assert_eq!(
        calls[0][1..3],
        ["120".to_string(), "local:vztmpl/busybox_v1.tar".to_string()]
    );
    assert!(node.root().join("run/pct-standin/120").exists(), "started");

    // The VMID is taken now; auto takes the next free ones; the template is reused.
    let e = node.fails(&[
        "pve",
        "create",
        "-q",
        "120",
        "local:vztmpl/busybox_v1.tar",
        "--rootfs-storage",
        "local-lvm",
    ]);
    assert!(e.contains("already exists"), "{e}");
    std::fs::create_dir_all(node.root().join("etc/pve/nodes/other/qemu-server")).unwrap();
    std::fs::write(
        node.root().join("etc/pve/nodes/other/qemu-server/100.conf"),
        "",
    )
    .unwrap();
    assert_eq!(
        node.ok(&[
            "pve",
            "create",
            "-q",
            "auto",
            &reference,
            "--tls-verify=false"
        ]),
        "101\n"
    );
    let c = node.config(101);
    assert_eq!(c.keys["hostname"], "CT101");
    assert_eq!(
        c.keys["rootfs"], "local-lvm:vm-101-disk-0,size=4G",
        "first rootdir storage, 4 GiB"
    );
    assert_eq!(
        c.keys["entrypoint"],
        "/bin/sh -c 'echo hello from skiff; env; pwd; id'"
    );
}

fn dry_run_prints_pct_lines_and_changes_nothing() {
    let reg = registry();
    let node = Node::new();
    let reference = format!("{}/tools/busybox:v1", reg.host());
    node.ok(&["pve", "pull", "-q", "--tls-verify=false", &reference]);
    let out = node.ok(&[
        "pve",
        "create",
        "--dry-run",
        "auto",
        &reference,
        "--net",
        "name=eth0,bridge=vmbr1,ip=10.0.0.5/24,gw=10.0.0.1",
        "--env",
        "A=1",
        "--entrypoint",
        "/app",
        "--start",
    ]);
    let pct = node.pct.display().to_string();
    let conf = node.root().join("etc/pve/lxc/100.conf");
    let expected = format!(
        "{pct} create 100 local:vztmpl/busybox_v1.tar --rootfs local-lvm:4 --net0 name=eth0,bridge=vmbr1,ip=10.0.0.5/24,gw=10.0.0.1 --unprivileged 1\n\
         {pct} set 100 --entrypoint /app\n\
         # set in {}: env: PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\\0GREETING=hello world\\0A=1\n\
         {pct} start 100\n",
        conf.display()
    );
    assert_eq!(out, expected);
    assert!(!conf.exists());
    assert!(calls(node.root()).is_empty());
}

fn gpu_devices_use_the_images_groups() {
    let reg = registry();
    let node = Node::new();
    let reference = format!("{}/tools/busybox:v2", reg.host());
    // No GPU on this host: refused before anything is created.
    let e = node.fails(&[
        "pve",
        "create",
        "-q",
        "--tls-verify=false",
        "130",
        &reference,
        "--gpu",
    ]);
    assert!(e.contains("/dev/dri"), "{e}");
    assert!(calls(node.root()).is_empty());
    let dri = node.root().join("dev/dri");
    std::fs::create_dir_all(&dri).unwrap();
    std::fs::write(dri.join("card0"), "").unwrap();
    std::fs::write(dri.join("renderD128"), "").unwrap();
    node.ok(&[
        "pve",
        "create",
        "-q",
        "--tls-verify=false",
        "130",
        &reference,
        "--gpu",
        "intel",
    ]);
    let c = node.config(130);
    assert_eq!(c.keys["dev0"], "/dev/dri/card0,gid=44");
    assert_eq!(c.keys["dev1"], "/dev/dri/renderD128,gid=993");
}

fn create_refusals_come_first() {
    let reg = registry();
    let node = Node::new();
    let reference = format!("{}/tools/busybox:v1", reg.host());
    for (args, says) in [
        (vec!["--rootfs-storage", "local"], "no \"rootdir\" content"),
        (vec!["--memory", "8"], "--memory"),
        (vec!["--mount", "/srv:/a/../b"], ".."),
        (vec!["--net", "bridge=vmbr0"], "name="),
        (vec!["--tags=-bad"], "--tags"),
        (vec!["--env", "NO_VALUE"], "KEY=VALUE"),
        (vec!["--disk", "512M"], "--disk"),
        (vec!["--mount", "local:2:/data"], "rootdir"),
    ] {
        let mut all = vec![
            "pve",
            "create",
            "-q",
            "--tls-verify=false",
            "140",
            reference.as_str(),
        ];
        all.extend(args.iter().copied());
        let e = node.fails(&all);
        assert!(e.contains(says), "{args:?}: {e}");
    }
    let e = node.fails(&["pve", "create", "-q", "99", &reference]);
    assert!(e.contains("100"), "{e}");
    assert!(calls(node.root()).is_empty(), "pct never ran");
}

/// The stand-in refuses what pct refuses.
fn the_pct_standin_refuses_what_pct_refuses() {
    let reg = registry();
    let node = Node::new();
    let reference = format!("{}/tools/busybox:v1", reg.host());
    node.ok(&[
        "pve",
        "create",
        "-q",
        "--tls-verify=false",
        "150",
        &reference,
    ]);
    let pct = |args: &[&str]| {
        let out = Command::new(&node.pct)
            .args(args)
            .env("SKIFF_PVE_ROOT", node.root())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, e) = pct(&["set", "150", "--unprivileged", "0"]);
    assert_eq!(code, Some(255));
    assert!(e.contains("read-only option"), "{e}");
    let (_, e) = pct(&["set", "150", "--digest", "0000", "--memory", "256"]);
    assert!(e.contains("modified configuration"), "{e}");
    let (_, e) = pct(&[
        "set",
        "150",
        "--net1",
        "name=eth1,ip=dhcp,host-managed=1,ip6=auto",
    ]);
    assert!(e.contains("ip6=auto"), "{e}");
    let (_, e) = pct(&["set", "150", "--dev0", "/dev/nonexistent0"]);
    assert!(e.contains("does not exist"), "{e}");
    let (_, e) = pct(&["create", "151", "local:vztmpl/busybox_v1.tar"]);
    assert!(
        e.contains("content-type 'rootdir'"),
        "rootfs defaults to local:4: {e}"
    );
    let digest = node.config(150).digest();
    let (code, e) = pct(&["set", "150", "--digest", &digest, "--memory", "256"]);
    assert_eq!(code, Some(0), "{e}");
    assert_eq!(node.config(150).keys["memory"], "256");
}

fn main() -> std::process::ExitCode {
    let tests: &[(&str, fn())] = &[
        (
            "pull_writes_what_proxmox_writes",
            pull_writes_what_proxmox_writes,
        ),
        ("pull_refusals_leave_nothing", pull_refusals_leave_nothing),
        (
            "ctrl_c_leaves_the_cache_clean",
            ctrl_c_leaves_the_cache_clean,
        ),
        (
            "pull_picks_the_host_platform_unless_overridden",
            pull_picks_the_host_platform_unless_overridden,
        ),
        (
            "tags_are_the_array_proxmox_returns",
            tags_are_the_array_proxmox_returns,
        ),
        ("the_template_runs_on_lxc", the_template_runs_on_lxc),
        (
            "create_pulls_then_runs_pct_with_overrides",
            create_pulls_then_runs_pct_with_overrides,
        ),
        (
            "dry_run_prints_pct_lines_and_changes_nothing",
            dry_run_prints_pct_lines_and_changes_nothing,
        ),
        (
            "gpu_devices_use_the_images_groups",
            gpu_devices_use_the_images_groups,
        ),
        ("create_refusals_come_first", create_refusals_come_first),
        (
            "the_pct_standin_refuses_what_pct_refuses",
            the_pct_standin_refuses_what_pct_refuses,
        ),
    ];
    common::pve::main(tests)
}
