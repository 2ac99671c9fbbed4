//! The ways in on a Proxmox node: the Debian package (scripts/build-deb.sh) installed for
//! real with dpkg into a scratch root — files, manual pages, completions, and skiff offered
//! as /usr/bin/skopeo beside a real skopeo without taking it over — and the static binary
//! (scripts/build-static.sh), which needs no shared library and still resolves names.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use skiff_testbed::image::{busybox_builder, Format};
use skiff_testbed::push::push_image;
use skiff_testbed::{RegistryServer, Setup};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(program: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(program);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output()
        .unwrap_or_else(|e| panic!("{program} must be installed: {e}"))
}

fn ok(program: &str, args: &[&str], env: &[(&str, &Path)]) -> String {
    let out = run(program, args, env);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the package from this test run's binary (the packaging is what is tested),
/// compressed with gzip: xz takes minutes on the unstripped test binary.
fn build_deb(out: &Path) -> String {
    let script = repo().join("scripts/build-deb.sh");
    let stdout = ok(
        script.to_str().unwrap(),
        &[env!("CARGO_BIN_EXE_skiff"), out.to_str().unwrap()],
        &[("DEB_COMPRESSION", Path::new("gzip"))],
    );
    stdout.trim().to_string()
}

/// An empty dpkg database under `root`, as on a fresh system.
fn scratch_root(root: &Path) {
    for d in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/alternatives",
        "etc/alternatives",
        "usr/bin",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    std::fs::write(root.join("var/lib/dpkg/available"), "").unwrap();
}

fn dpkg(root: &Path, args: &[&str]) -> String {
    let mut all = vec![
        "--root",
        root.to_str().unwrap(),
        "--force-script-chrootless",
        "--force-not-root",
        "--log=/dev/null",
    ];
    all.extend_from_slice(args);
    ok("dpkg", &all, &[])
}

fn link(root: &Path) -> Option<PathBuf> {
    std::fs::read_link(root.join("etc/alternatives/skopeo")).ok()
}

#[test]
fn the_deb_installs_skiff_and_offers_it_as_skopeo_without_taking_over() {
    let dir = tempfile::tempdir().unwrap();
    let deb = build_deb(dir.path());
    assert!(
        deb.ends_with(&format!("skiff_{}_amd64.deb", env!("CARGO_PKG_VERSION"))),
        "{deb}"
    );
    let contents = ok("dpkg-deb", &["-c", &deb], &[]);
    for f in [
        "./usr/bin/skiff",
        "./usr/share/man/man1/skiff.1.gz",
        "./usr/share/man/man1/skiff-copy.1.gz",
        "./usr/share/man/man1/skiff-catalog-list.1.gz",
        "./usr/share/bash-completion/completions/skiff",
        "./usr/share/zsh/vendor-completions/_skiff",
        "./usr/share/fish/vendor_completions.d/skiff.fish",
    ] {
        assert!(
            contents.lines().any(|l| l.ends_with(f)),
            "{f} missing:\n{contents}"
        );
    }
    let info = ok("dpkg-deb", &["-I", &deb], &[]);
    assert!(
        info.contains("Package: skiff") && info.contains("Architecture: amd64"),
        "{info}"
    );

    // A node with Proxmox's real skopeo: skiff is offered, the real one stays selected.
    let root = dir.path().join("node");
    scratch_root(&root);
    std::fs::copy("/usr/bin/skopeo", root.join("usr/bin/skopeo"))
        .expect("skopeo must be installed");
    dpkg(&root, &["-i", &deb]);
    assert!(root.join("usr/bin/skiff").is_file());
    assert_eq!(
        std::fs::read_link(root.join("usr/bin/skopeo")).unwrap(),
        Path::new("/etc/alternatives/skopeo")
    );
    assert_eq!(link(&root).unwrap(), Path::new("/usr/bin/skopeo.distrib"));
    let real = ok(
        root.join("usr/bin/skopeo.distrib").to_str().unwrap(),
        &["--version"],
        &[],
    );
    assert!(real.starts_with("skopeo version"), "{real}");
    // The admin's choice, as the README documents it.
    ok(
        "update-alternatives",
        &[
            "--root",
            root.to_str().unwrap(),
            "--set",
            "skopeo",
            "/usr/bin/skiff",
        ],
        &[],
    );
    assert_eq!(link(&root).unwrap(), Path::new("/usr/bin/skiff"));
    // Removal gives the real skopeo its path back.
    dpkg(&root, &["-r", "skiff"]);
    assert!(!root.join("usr/bin/skiff").exists());
    assert!(!root.join("usr/bin/skopeo.distrib").exists());
    assert!(root.join("usr/bin/skopeo").is_file() && !root.join("usr/bin/skopeo").is_symlink());
    assert_eq!(link(&root), None);
    let diversions =
        std::fs::read_to_string(root.join("var/lib/dpkg/diversions")).unwrap_or_default();
    assert!(diversions.is_empty(), "{diversions}");

    // Without a real skopeo, skiff is the automatic choice, and leaves nothing behind.
    let bare = dir.path().join("bare");
    scratch_root(&bare);
    dpkg(&bare, &["-i", &deb]);
    assert_eq!(link(&bare).unwrap(), Path::new("/usr/bin/skiff"));
    dpkg(&bare, &["-r", "skiff"]);
    assert_eq!(link(&bare), None);
    assert!(!bare.join("usr/bin/skopeo").exists());
}

#[test]
fn the_static_binary_needs_no_library_and_pulls_by_host_name() {
    let script = repo().join("scripts/build-static.sh");
    // The dev profile links exactly as release does and keeps CI's build short.
    let bin = repo().join(
        ok(
            script.to_str().unwrap(),
            &[],
            &[("SKIFF_PROFILE", Path::new("dev"))],
        )
        .trim(),
    );
    let bin_s = bin.to_str().unwrap();
    let file = ok("file", &["-L", bin_s], &[]);
    assert!(
        file.contains("static-pie linked") || file.contains("statically linked"),
        "{file}"
    );
    let ldd = run("ldd", &[bin_s], &[]);
    let ldd_text = format!(
        "{}{}",
        String::from_utf8_lossy(&ldd.stdout),
        String::from_utf8_lossy(&ldd.stderr)
    );
    assert!(
        ldd_text.contains("statically linked") || ldd_text.contains("not a dynamic executable"),
        "{ldd_text}"
    );
    let version = ok(bin_s, &["--version"], &[]);
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");

    let reg = RegistryServer::start(Setup::Open).unwrap();
    let img = busybox_builder(Format::Oci).build();
    push_image(&reg.host(), "tools/busybox", "v1", &img, None).unwrap();
    // `localhost`, not 127.0.0.1: the name goes through the static glibc's getaddrinfo.
    let host = reg.host().replace("127.0.0.1", "localhost");
    assert!(host.starts_with("localhost:"), "{host}");
    let dir = tempfile::tempdir().unwrap();
    let dest = format!("oci:{}:v1", dir.path().join("layout").display());
    let home = scratch_home();
    ok(
        bin_s,
        &[
            "copy",
            "-q",
            "--src-tls-verify=false",
            &format!("docker://{host}/tools/busybox:v1"),
            &dest,
        ],
        &[("HOME", &home)],
    );
    let index = json(&std::fs::read(dir.path().join("layout/index.json")).unwrap());
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "v1"
    );
}
