//! The signature policy enforced by copy and unpack: real docker-registry, Debian's skopeo
//! signing with a real GnuPG key into a file:// lookaside named by registries.d, and skiff
//! deciding under `--policy` / `--insecure-policy` / `--registries.d`. A refusal exits 1,
//! names the policy file, and leaves nothing behind.

mod common;

use std::path::{Path, PathBuf};

use common::skiff;
use skiff_testbed::gpg::Gpg;
use skiff_testbed::image::Format;
use skiff_testbed::{busybox_image, push_image, FaultProxy, RegistryServer, Setup};

/// A registry holding busybox under several names, a GnuPG home with keys alice (trusted)
/// and mallory (not), and a registries.d whose lookaside is a local directory.
struct Signed {
    registry: RegistryServer,
    gpg: Gpg,
    work: tempfile::TempDir,
    alice_fpr: String,
    mallory_fpr: String,
}

impl Signed {
    fn new(repos: &[&str]) -> Signed {
        let registry =
            RegistryServer::start(Setup::Open).expect("docker-registry must be installed");
        let image = busybox_image(Format::Oci);
        for repo in repos {
            push_image(&registry.host(), repo, "v1", &image, None).unwrap();
        }
        let gpg = Gpg::new();
        let alice_fpr = gpg.key("alice");
        let mallory_fpr = gpg.key("mallory");
        let work = tempfile::tempdir().unwrap();
        std::fs::create_dir(work.path().join("registries.d")).unwrap();
        std::fs::write(
            work.path().join("registries.d/default.yaml"),
            format!(
                "default-docker:\n  lookaside: file://{}\n",
                work.path().join("lookaside").display()
            ),
        )
        .unwrap();
        Signed {
            registry,
            gpg,
            work,
            alice_fpr,
            mallory_fpr,
        }
    }

    fn reference(&self, repo: &str) -> String {
        format!("docker://{}/{repo}:v1", self.registry.host())
    }

    fn regd(&self) -> String {
        self.work.path().join("registries.d").display().to_string()
    }

    /// skopeo signs `repo` with `fpr` into the lookaside.
    fn sign(&self, repo: &str, fpr: &str) {
        let reference = format!("{}/{repo}:v1", self.registry.host());
        self.gpg
            .skopeo_sign_in_registry(&self.work.path().join("registries.d"), &reference, fpr);
    }

    /// A policy trusting alice's key for this registry and rejecting everything else.
    fn signed_by_alice(&self) -> PathBuf {
        let key = self.gpg.export("alice", false, self.work.path());
        let path = self.work.path().join("signed.json");
        let policy = format!(
            r#"{{"default": [{{"type": "reject"}}], "transports": {{"docker": {{"{}": [
                {{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "{}"}}]}}}}}}"#,
            self.registry.host(),
            key.display()
        );
        std::fs::write(&path, policy).unwrap();
        path
    }

    /// The lookaside signature files of all repositories.
    fn signature_files(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut dirs = vec![self.work.path().join("lookaside")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    found.push(p);
                }
            }
        }
        found
    }
}

/// A registry holding busybox as app:v1, and the source name of that image.
fn busybox_registry() -> (RegistryServer, String) {
    let registry = RegistryServer::start(Setup::Open).expect("docker-registry must be installed");
    push_image(
        &registry.host(),
        "app",
        "v1",
        &busybox_image(Format::Oci),
        None,
    )
    .unwrap();
    let source = format!("docker://{}/app:v1", registry.host());
    (registry, source)
}

fn policy_file(dir: &Path, json: &str) -> PathBuf {
    let path = dir.join("policy.json");
    std::fs::write(&path, json).unwrap();
    path
}

/// Runs a copy into a fresh oci: directory (without the signatures, which an OCI layout
/// cannot hold); returns stderr on failure after checking that nothing was written.
fn copy(global: &[&str], source: &str, out: &Path) -> Result<(), String> {
    let target = format!("oci:{}:v1", out.display());
    let mut args: Vec<&str> = global.to_vec();
    args.extend([
        "copy",
        "--src-tls-verify=false",
        "--remove-signatures",
        source,
        &target,
    ]);
    let o = skiff(&args);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    if o.status.success() {
        assert!(out.join("index.json").exists(), "copy wrote no layout");
        return Ok(());
    }
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(!out.exists(), "a refused copy left {}", out.display());
    Err(stderr)
}

/// Runs an unpack into a fresh directory; on failure checks that nothing was written.
fn unpack(global: &[&str], source: &str, rootfs: &Path) -> Result<(), String> {
    let target = rootfs.display().to_string();
    let mut args: Vec<&str> = global.to_vec();
    args.extend(["unpack", "--src-tls-verify=false", source, &target]);
    let o = skiff(&args);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    if o.status.success() {
        assert!(rootfs.join("bin").exists(), "unpack wrote no rootfs");
        return Ok(());
    }
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let empty = std::fs::read_dir(rootfs).map_or(true, |mut d| d.next().is_none());
    assert!(empty, "a refused unpack left files in {}", rootfs.display());
    Err(stderr)
}

#[test]
fn reject_refuses_copy_and_unpack_and_accept_anything_passes() {
    let (_registry, source) = busybox_registry();
    let work = tempfile::tempdir().unwrap();
    let reject = policy_file(work.path(), r#"{"default": [{"type": "reject"}]}"#);
    let reject = reject.to_str().unwrap();

    let e = copy(&["--policy", reject], &source, &work.path().join("a")).unwrap_err();
    assert!(e.contains(reject) && e.contains("rejected"), "{e}");
    let e = unpack(&["--policy", reject], &source, &work.path().join("r1")).unwrap_err();
    assert!(e.contains(reject) && e.contains("reject"), "{e}");

    let lxcpath = work.path().join("lxc");
    let o = skiff(&[
        "--policy",
        reject,
        "lxc",
        "create",
        "--src-tls-verify=false",
        "-P",
        lxcpath.to_str().unwrap(),
        "c1",
        &source,
    ]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains(reject), "{e}");
    assert!(
        !lxcpath.join("c1").exists(),
        "a refused lxc create left a container"
    );

    // --insecure-policy wins over --policy, as in skopeo.
    copy(
        &["--insecure-policy", "--policy", reject],
        &source,
        &work.path().join("b"),
    )
    .unwrap();
    let accept = work.path().join("accept");
    std::fs::create_dir(&accept).unwrap();
    let accept = policy_file(
        &accept,
        r#"{"default": [{"type": "insecureAcceptAnything"}]}"#,
    );
    let accept = accept.to_str().unwrap();
    copy(&["--policy", accept], &source, &work.path().join("c")).unwrap();
    unpack(&["--policy", accept], &source, &work.path().join("r2")).unwrap();

    // A local source is judged by its transport's scope.
    let local = format!("oci:{}:v1", work.path().join("c").display());
    let scoped = work.path().join("scoped");
    std::fs::create_dir(&scoped).unwrap();
    let scoped = policy_file(
        &scoped,
        r#"{"default": [{"type": "insecureAcceptAnything"}],
            "transports": {"oci": {"": [{"type": "reject"}]}}}"#,
    );
    let e = copy(
        &["--policy", scoped.to_str().unwrap()],
        &local,
        &work.path().join("d"),
    )
    .unwrap_err();
    assert!(e.contains("\"oci\""), "{e}");
}

#[test]
fn a_missing_or_broken_policy_file_is_refused_unless_insecure() {
    let (_registry, source) = busybox_registry();
    let work = tempfile::tempdir().unwrap();
    let missing = work.path().join("nowhere.json");
    let missing = missing.to_str().unwrap();
    let e = copy(&["--policy", missing], &source, &work.path().join("a")).unwrap_err();
    assert!(e.contains(missing), "{e}");
    let broken = policy_file(work.path(), r#"{"default": [{"type": "acceptSome"}]}"#);
    let e = unpack(
        &["--policy", broken.to_str().unwrap()],
        &source,
        &work.path().join("r"),
    )
    .unwrap_err();
    assert!(e.contains("invalid policy"), "{e}");
    copy(
        &["--insecure-policy", "--policy", missing],
        &source,
        &work.path().join("b"),
    )
    .unwrap();
}

#[test]
fn signed_by_accepts_what_skopeo_signed_and_refuses_the_rest() {
    let s = Signed::new(&["app", "unsigned", "forged", "tampered"]);
    s.sign("app", &s.alice_fpr);
    s.sign("forged", &s.mallory_fpr);
    s.sign("tampered", &s.alice_fpr);
    for file in s.signature_files() {
        if file.to_string_lossy().contains("/tampered@") {
            let mut bytes = std::fs::read(&file).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x55;
            std::fs::write(&file, bytes).unwrap();
        }
    }
    let policy = s.signed_by_alice();
    let regd = s.regd();
    let global = [
        "--policy",
        policy.to_str().unwrap(),
        "--registries.d",
        &regd,
    ];
    let out = |n: &str| s.work.path().join(n);

    copy(&global, &s.reference("app"), &out("app")).unwrap();
    unpack(&global, &s.reference("app"), &out("app-rootfs")).unwrap();
    for (repo, why) in [("unsigned", "has none"), ("forged", ""), ("tampered", "")] {
        let e = copy(&global, &s.reference(repo), &out(repo)).unwrap_err();
        assert!(
            e.contains("rejected") && e.contains(policy.to_str().unwrap()) && e.contains(why),
            "{repo}: {e}"
        );
        unpack(&global, &s.reference(repo), &out(&format!("{repo}-rootfs"))).unwrap_err();
    }
    // Without the registries.d that names the lookaside, no signature is found.
    let home_regd = out("empty-registries.d");
    std::fs::create_dir(&home_regd).unwrap();
    let bare = [
        "--policy",
        policy.to_str().unwrap(),
        "--registries.d",
        home_regd.to_str().unwrap(),
    ];
    let e = copy(&bare, &s.reference("app"), &out("bare")).unwrap_err();
    assert!(e.contains("has none"), "{e}");
}

#[test]
fn dir_sources_carry_their_signatures_in_signature_files() {
    let s = Signed::new(&["app"]);
    s.sign("app", &s.alice_fpr);
    let dir = s.work.path().join("signed-dir");
    let o = s.gpg.skopeo(&[
        "--insecure-policy",
        "--registries.d",
        &s.regd(),
        "copy",
        "--src-tls-verify=false",
        &s.reference("app"),
        &format!("dir:{}", dir.display()),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.join("signature-1").exists(), "skopeo kept no signature");
    let key = s.gpg.export("alice", false, s.work.path());
    let identity = format!("{}/app:v1", s.registry.host());
    let policy = policy_file(
        s.work.path(),
        &format!(
            r#"{{"default": [{{"type": "reject"}}], "transports": {{"dir": {{"": [
                {{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "{}",
                  "signedIdentity": {{"type": "exactReference", "dockerReference": "{identity}"}}}}]}}}}}}"#,
            key.display()
        ),
    );
    let global = ["--policy", policy.to_str().unwrap()];
    let source = format!("dir:{}", dir.display());
    copy(&global, &source, &s.work.path().join("out")).unwrap();
    std::fs::remove_file(dir.join("signature-1")).unwrap();
    let e = copy(&global, &source, &s.work.path().join("out2")).unwrap_err();
    assert!(e.contains("has none"), "{e}");
}

/// Serves `dir` over HTTP on a free port (Python's http.server, stopped on drop).
struct HttpDir(std::process::Child, String);

impl HttpDir {
    fn start(dir: &Path) -> HttpDir {
        use std::io::BufRead;
        let mut child = std::process::Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                "0",
                "--directory",
            ])
            .arg(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 must be installed");
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 12345 (http://127.0.0.1:12345/) ..."
        let port = line
            .split(" port ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .unwrap();
        HttpDir(child, format!("http://127.0.0.1:{port}"))
    }
}

impl Drop for HttpDir {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn lookaside_signatures_are_read_over_http_too() {
    let s = Signed::new(&["app", "unsigned"]);
    s.sign("app", &s.alice_fpr);
    let server = HttpDir::start(&s.work.path().join("lookaside"));
    let regd = s.work.path().join("http-registries.d");
    std::fs::create_dir(&regd).unwrap();
    std::fs::write(
        regd.join("default.yaml"),
        format!("default-docker:\n  lookaside: {}/\n", server.1),
    )
    .unwrap();
    let policy = s.signed_by_alice();
    let global = [
        "--policy",
        policy.to_str().unwrap(),
        "--registries.d",
        regd.to_str().unwrap(),
    ];
    copy(&global, &s.reference("app"), &s.work.path().join("out")).unwrap();
    let e = copy(
        &global,
        &s.reference("unsigned"),
        &s.work.path().join("out2"),
    )
    .unwrap_err();
    assert!(e.contains("has none"), "{e}");
}

#[test]
fn sync_judges_every_source_image_by_the_policy() {
    let (registry, _) = busybox_registry();
    let work = tempfile::tempdir().unwrap();
    let reject = policy_file(work.path(), r#"{"default": [{"type": "reject"}]}"#);
    let out = work.path().join("mirror");
    let source = format!("{}/app", registry.host());
    let o = skiff(&[
        "--policy",
        reject.to_str().unwrap(),
        "sync",
        "--src",
        "docker",
        "--dest",
        "dir",
        "--src-tls-verify=false",
        &source,
        out.to_str().unwrap(),
    ]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("rejected") && e.contains("0 copied"), "{e}");
    let written: Vec<_> = std::fs::read_dir(&out)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let manifests: Vec<_> = written
        .iter()
        .filter(|p| p.join("manifest.json").exists())
        .collect();
    assert!(manifests.is_empty(), "a refused sync wrote {manifests:?}");
    // The same sync under --insecure-policy copies the image.
    let o = skiff(&[
        "--insecure-policy",
        "sync",
        "--src",
        "docker",
        "--dest",
        "dir",
        "--src-tls-verify=false",
        &source,
        out.to_str().unwrap(),
    ]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && e.contains("1 copied"), "{e}");
}

#[test]
fn apply_and_lxc_create_obey_signed_by_before_any_blob_moves() {
    let s = Signed::new(&["app", "unsigned", "forged"]);
    // Through a recording proxy, to see that a refused image has no blob fetched.
    let proxy = FaultProxy::start(&s.registry.host(), vec![]).unwrap();
    let via = |repo: &str| format!("{}/{repo}:v1", proxy.host());
    let regd_dir = s.work.path().join("registries.d");
    s.gpg
        .skopeo_sign_in_registry(&regd_dir, &via("app"), &s.alice_fpr);
    s.gpg
        .skopeo_sign_in_registry(&regd_dir, &via("forged"), &s.mallory_fpr);
    let key = s.gpg.export("alice", false, s.work.path());
    let policy = policy_file(
        s.work.path(),
        &format!(
            r#"{{"default": [{{"type": "reject"}}], "transports": {{"docker": {{"{}": [
                {{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "{}"}}]}}}}}}"#,
            proxy.host(),
            key.display()
        ),
    );
    let policy = policy.to_str().unwrap();
    let regd = s.regd();
    let path = |p: &str| s.work.path().join(p).display().to_string();
    let lxcpath = path("lxc");
    let blobs_fetched = || {
        proxy
            .requests()
            .iter()
            .filter(|r| r.path.contains("/blobs/"))
            .count()
    };
    let refused = |args: &[&str], container: &str| {
        let before = blobs_fetched();
        let mut all = vec!["--policy", policy, "--registries.d", &regd];
        all.extend_from_slice(args);
        let o = skiff(&all);
        let e = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {e}");
        assert!(e.contains(policy) && e.contains("rejected"), "{e}");
        assert_eq!(blobs_fetched(), before, "a refused image had blobs fetched");
        assert!(
            !Path::new(&lxcpath).join(container).exists(),
            "a refused image left container {container}"
        );
        e
    };
    for (repo, why) in [
        ("unsigned", "has none"),
        ("forged", "not made by a trusted key"),
    ] {
        let name = format!("pol-{repo}");
        let image = format!("docker://{}", via(repo));
        let e = refused(
            &[
                "lxc",
                "create",
                "--src-tls-verify=false",
                "-P",
                &lxcpath,
                &name,
                &image,
            ],
            &name,
        );
        assert!(e.contains(why), "{e}");
        let file = path(&format!("{repo}.yaml"));
        std::fs::write(
            &file,
            format!("containers:\n  - name: {name}\n    image: {}\n", via(repo)),
        )
        .unwrap();
        let e = refused(
            &[
                "apply",
                &file,
                "-P",
                &lxcpath,
                "--data-dir",
                &path("data"),
                "--secrets-dir",
                &path("secrets"),
                "--datasets-dir",
                &path("datasets"),
                "--src-tls-verify=false",
                "--yes",
            ],
            &name,
        );
        assert!(e.contains(why), "{e}");
    }
    // The image alice signed passes the same policy.
    let o = skiff(&[
        "--policy",
        policy,
        "--registries.d",
        &regd,
        "lxc",
        "create",
        "--src-tls-verify=false",
        "-P",
        &lxcpath,
        "pol-app",
        &format!("docker://{}", via("app")),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(Path::new(&lxcpath).join("pol-app/config").exists());
}
