//! `skiff lxc create` makes a container that really runs on this machine's LXC (Debian's
//! lxc), with the image's entrypoint, environment, working directory and user.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use common::*;
use skiff_testbed::image::{busybox_builder, Format};
use skiff_testbed::push::push_image;
use skiff_testbed::{RegistryServer, Setup};

const PROBE: &str = "echo \"a b\"; echo GREETING=$GREETING; pwd; id -u; id -g; echo done";

/// Runs a created container to completion with lxc-execute and returns its output.
fn lxc_execute(name: &str, lxcpath: &std::path::Path) -> String {
    let out = Command::new("lxc-execute")
        .args(["-n", name, "-P", lxcpath.to_str().unwrap()])
        .output()
        .expect("lxc-execute (Debian package lxc) must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "lxc-execute failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn create_args<'a>(
    lxcpath: &'a str,
    name: &'a str,
    image: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "lxc",
        "create",
        "-q",
        "--src-tls-verify=false",
        "-P",
        lxcpath,
        "--set",
        "lxc.net.0.type=none",
        "--set",
        "lxc.apparmor.profile=unconfined",
    ];
    args.extend_from_slice(extra);
    args.push(name);
    args.push(image);
    args
}

#[test]
fn a_container_from_a_registry_image_runs_with_its_entrypoint_env_cwd_and_user() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let img = busybox_builder(Format::Docker)
        .user("app")
        .cmd(&[PROBE])
        .build();
    push_image(&reg.host(), "tools/busybox", "v1", &img, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lxcpath = dir.path().to_str().unwrap().to_string();
    let image = format!("docker://{}/tools/busybox:v1", reg.host());
    skiff_ok(&create_args(&lxcpath, "probe", &image, &[]));

    let config = std::fs::read_to_string(dir.path().join("probe/config")).unwrap();
    // The script holds spaces and quotes: both commands go through skiff's launcher.
    assert!(
        config.contains("lxc.execute.cmd = /.skiff/init\nlxc.init.cmd = /.skiff/init\n"),
        "{config}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("probe/rootfs/.skiff/argv")).unwrap(),
        format!("/bin/sh\0-c\0{PROBE}\0").as_bytes()
    );
    assert!(
        config.contains("lxc.environment = GREETING=hello world"),
        "{config}"
    );
    assert!(
        dir.path().join("probe/rootfs/data").is_dir(),
        "volume directory"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("probe/rootfs/etc/hostname")).unwrap(),
        "probe\n"
    );

    let out = lxc_execute("probe", dir.path());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "a b",
            "GREETING=hello world",
            "/srv",
            "1000",
            "1000",
            "done"
        ],
        "{out}"
    );

    // The name is taken now.
    let again = skiff(&create_args(&lxcpath, "probe", &image, &[]));
    assert!(!again.status.success());
}

#[test]
fn an_unprivileged_container_runs_under_the_proxmox_id_map() {
    let img = busybox_builder(Format::Oci).cmd(&[PROBE]).build();
    let dir = tempfile::tempdir().unwrap();
    // The container's root (host uid 100000) must be able to reach its rootfs.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let layout = dir.path().join("layout");
    skiff_testbed::image::write_oci_layout(&layout, "v1", &img).unwrap();
    let lxcpath = dir.path().join("lxc");
    let lxcpath_s = lxcpath.to_str().unwrap().to_string();
    let image = format!("oci:{}:v1", layout.display());
    // This sandbox (itself a container) may not mount sysfs inside a user namespace; an
    // empty lxc.mount.auto resets the list, then only proc is mounted.
    skiff_ok(&create_args(
        &lxcpath_s,
        "unpriv",
        &image,
        &[
            "--unprivileged",
            "--set",
            "lxc.mount.auto=",
            "--set",
            "lxc.mount.auto=proc:mixed",
        ],
    ));
    let rootfs = lxcpath.join("unpriv/rootfs");
    assert_eq!(
        std::fs::metadata(rootfs.join("bin/busybox")).unwrap().uid(),
        100_000
    );
    assert_eq!(
        std::fs::metadata(rootfs.join("srv/hello.txt"))
            .unwrap()
            .uid(),
        101_000
    );
    let config = std::fs::read_to_string(lxcpath.join("unpriv/config")).unwrap();
    assert!(config.contains("lxc.idmap = u 0 100000 65536"), "{config}");
    let out = lxc_execute("unpriv", &lxcpath);
    // Inside the user namespace the image's root is root again.
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["a b", "GREETING=hello world", "/srv", "0", "0", "done"],
        "{out}"
    );
}

#[test]
fn unpack_writes_the_config_proxmox_would() {
    let img = busybox_builder(Format::Oci)
        .user("app")
        .cmd(&["--opt=value", "it's"])
        .build();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    skiff_testbed::image::write_oci_layout(&layout, "v1", &img).unwrap();
    let fragment = dir.path().join("pve.conf");
    skiff_ok(&[
        "unpack",
        "--pve-config",
        fragment.to_str().unwrap(),
        &format!("oci:{}:v1", layout.display()),
        dir.path().join("rootfs").to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&fragment).unwrap();
    let expected = "arch: amd64\ncmode: console\nentrypoint: /bin/sh -c '--opt=value' 'it'\\''s'\n\
        env: PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\0GREETING=hello world\n\
        lxc.init.cwd: /srv\nlxc.init.uid: 1000\nlxc.init.gid: 1000\nlxc.signal.halt: SIGTERM\n";
    assert_eq!(text, expected);
}

/// `--init` wrote `lxc.init.cmd`, which LXC 5.0.2 splits on spaces: it is not offered.
#[test]
fn lxc_create_offers_no_init_option() {
    let out = skiff(&["lxc", "create", "--init", "c", "oci:/nonexistent:t"]);
    // A usage error exits 1, as skopeo's: 2 means "image not found" to scripts.
    assert_eq!(out.status.code(), Some(1), "clap refuses the flag");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--init"));
    let help = skiff(&["lxc", "create", "--help"]);
    assert!(!String::from_utf8_lossy(&help.stdout).contains("--init"));
}

/// A name that is not a plain directory name is refused before anything is fetched or
/// written: `.`, `a/b` and `x/../../esc` used to leave rootfs trees outside -P DIR.
#[test]
fn lxc_create_refuses_a_bad_name_before_writing_anything() {
    let src = tempfile::tempdir().unwrap();
    let layout = src.path().join("layout");
    let img = busybox_builder(Format::Oci).build();
    skiff_testbed::image::write_oci_layout(&layout, "v1", &img).unwrap();
    let image = format!("oci:{}:v1", layout.display());
    let outer = tempfile::tempdir().unwrap();
    let lxcpath = outer.path().join("a/b/lxc");
    let lxcpath_s = lxcpath.to_str().unwrap();
    for name in [".", "..", "a/b", "x/../../esc", "", &"n".repeat(300)] {
        let out = skiff(&create_args(lxcpath_s, name, &image, &[]));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name:?}: {stderr}");
        assert!(stderr.contains("invalid container name"), "{stderr}");
        let left: Vec<_> = walk(outer.path());
        assert!(left.is_empty(), "{name:?} left {left:?}");
    }
}

/// Every path under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}
