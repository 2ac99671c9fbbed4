//! Signing, verifying, carrying and removing signatures, with Debian's skopeo and GnuPG as
//! the peers: what skiff signs skopeo must accept and the other way round, every bad case
//! (tampered manifest, wrong identity, wrong key, unsigned image, reject scope) refused by
//! both with the reason. skopeo signing into a lookaside and skiff verifying under a
//! `signedBy` policy is in tests/policy.rs. Sigstore is skiff against itself: Debian's
//! skopeo 1.9.3 has sigstore disabled (checked below, so an upgraded skopeo is noticed).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::scratch_home;
use skiff_testbed::gpg::Gpg;
use skiff_testbed::image::Format;
use skiff_testbed::{busybox_image, push_image, push_multi_arch, RegistryServer, Setup};

/// skiff with the test's GnuPG home.
fn skiff(gpg: &Gpg, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .env("HOME", scratch_home())
        .env("GNUPGHOME", gpg.home.path())
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .expect("run skiff")
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The command failed with exit 1; its stderr.
fn refused(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what} must be refused: {stderr}"
    );
    stderr
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A registry with busybox as app:v1 and plain:v1 (OCI), a GnuPG home with alice and
/// mallory, and a registries.d whose lookaside is a local directory.
struct World {
    registry: RegistryServer,
    gpg: Gpg,
    work: tempfile::TempDir,
    alice: String,
    mallory: String,
}

impl World {
    fn new() -> World {
        let registry =
            RegistryServer::start(Setup::Open).expect("docker-registry must be installed");
        for repo in ["app", "plain"] {
            push_image(
                &registry.host(),
                repo,
                "v1",
                &busybox_image(Format::Oci),
                None,
            )
            .unwrap();
        }
        let gpg = Gpg::new();
        let alice = gpg.key("alice");
        let mallory = gpg.key("mallory");
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
        World {
            registry,
            gpg,
            work,
            alice,
            mallory,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    fn regd(&self) -> String {
        self.path("registries.d").display().to_string()
    }

    fn image(&self, repo: &str) -> String {
        format!("docker://{}/{repo}:v1", self.registry.host())
    }

    /// A policy: `docker` requirements for this registry, everything else accepted.
    fn policy(&self, name: &str, registry_requirement: &str) -> String {
        let path = self.path(name);
        std::fs::write(
            &path,
            format!(
                r#"{{"default": [{{"type": "insecureAcceptAnything"}}], "transports": {{"docker": {{"{}": [{registry_requirement}]}}}}}}"#,
                self.registry.host()
            ),
        )
        .unwrap();
        path.display().to_string()
    }

    fn signed_by(&self, who: &str) -> String {
        let key = self.gpg.export(who, false, self.work.path());
        self.policy(
            &format!("signed-by-{who}.json"),
            &format!(
                r#"{{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "{}"}}"#,
                key.display()
            ),
        )
    }

    /// skopeo copies `image` to a fresh dir: under `policy`; its stderr when refused.
    fn skopeo_pull(&self, policy: &str, image: &str) -> Result<(), String> {
        self.skopeo_pull_with(policy, &[], image)
    }

    /// [`Self::skopeo_pull`] with more flags: `--override-arch A` before `copy`, the rest
    /// after it.
    fn skopeo_pull_with(&self, policy: &str, extra: &[&str], image: &str) -> Result<(), String> {
        let out = self.path(&format!("skopeo-{}", rand_name()));
        let dest = format!("dir:{}", out.display());
        let args = pull_args(policy, &self.regd(), extra, image, &dest);
        let o = self
            .gpg
            .skopeo(&args.iter().map(String::as_str).collect::<Vec<_>>());
        if o.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&o.stderr).into_owned())
        }
    }

    /// skiff copies `image` to a fresh dir: under `policy`; its stderr when refused.
    fn skiff_pull(&self, policy: &str, image: &str) -> Result<(), String> {
        self.skiff_pull_with(policy, &[], image).map(|_| ())
    }

    /// [`Self::skiff_pull`] with more flags, as [`Self::skopeo_pull_with`]; the dir written.
    fn skiff_pull_with(
        &self,
        policy: &str,
        extra: &[&str],
        image: &str,
    ) -> Result<PathBuf, String> {
        let out = self.path(&format!("skiff-{}", rand_name()));
        let dest = format!("dir:{}", out.display());
        let args = pull_args(policy, &self.regd(), extra, image, &dest);
        let o = skiff(
            &self.gpg,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        if o.status.success() {
            Ok(out)
        } else {
            assert_eq!(o.status.code(), Some(1));
            assert!(!out.exists(), "a refused copy left {}", out.display());
            Err(String::from_utf8_lossy(&o.stderr).into_owned())
        }
    }
}

/// The arguments of a pull of `image` to `dest` under `policy`: `--override-*` flags of
/// `extra` go before `copy`, the others after it.
fn pull_args(policy: &str, regd: &str, extra: &[&str], image: &str, dest: &str) -> Vec<String> {
    let mut global = vec!["--policy", policy, "--registries.d", regd];
    let mut copy = vec!["copy", "--src-tls-verify=false"];
    let mut flags = extra.iter();
    while let Some(flag) = flags.next() {
        if flag.starts_with("--override-") {
            global.push(flag);
            global.extend(flags.next());
        } else {
            copy.push(flag);
        }
    }
    global
        .into_iter()
        .chain(copy)
        .chain([image, dest])
        .map(str::to_string)
        .collect()
}

fn rand_name() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("out{}", N.fetch_add(1, Ordering::Relaxed))
}

#[test]
fn standalone_sign_and_verify_interoperate_with_skopeo() {
    let w = World::new();
    let manifest = w.path("manifest.json");
    std::fs::write(&manifest, br#"{"schemaVersion":2,"config":{}}"#).unwrap();
    let reference = "registry.example/app:1";

    // skiff signs; skopeo and skiff verify, with the same words.
    let ours = w.path("ours.sig");
    ok(
        &skiff(
            &w.gpg,
            &[
                "standalone-sign",
                s(&manifest),
                reference,
                &w.alice,
                "-o",
                s(&ours),
            ],
        ),
        "skiff standalone-sign",
    );
    assert!(w.gpg.skopeo_verifies(&manifest, reference, &w.alice, &ours));
    let verify = |sig: &Path, reference: &str, fpr: &str| {
        skiff(
            &w.gpg,
            &["standalone-verify", s(&manifest), reference, fpr, s(sig)],
        )
    };
    let skopeo_says = ok(
        &w.gpg.skopeo(&[
            "standalone-verify",
            s(&manifest),
            reference,
            &w.alice,
            s(&ours),
        ]),
        "skopeo standalone-verify",
    );
    assert_eq!(
        ok(&verify(&ours, reference, &w.alice), "verify"),
        skopeo_says
    );

    // skopeo signs; skiff verifies, and dumps it exactly as skopeo does.
    let theirs = w.path("theirs.sig");
    w.gpg.sign(&manifest, reference, &w.alice, &theirs);
    ok(&verify(&theirs, reference, &w.alice), "verify skopeo's");
    let dump = |sig: &Path| {
        ok(
            &skiff(
                &w.gpg,
                &["untrusted-signature-dump-without-verification", s(sig)],
            ),
            "dump",
        )
    };
    let skopeo_dump = ok(
        &w.gpg
            .skopeo(&["untrusted-signature-dump-without-verification", s(&theirs)]),
        "skopeo dump",
    );
    assert_eq!(dump(&theirs), skopeo_dump);
    assert!(dump(&ours).contains(r#""UntrustedDockerReference": "registry.example/app:1""#));

    // With the key in a file instead of the keyring ("any" key of it).
    let alice_key = w.gpg.export("alice", true, w.work.path());
    ok(
        &skiff(
            &w.gpg,
            &[
                "standalone-verify",
                "--public-key-file",
                s(&alice_key),
                s(&manifest),
                reference,
                "any",
                s(&ours),
            ],
        ),
        "verify with --public-key-file",
    );

    // Wrong identity, wrong key, tampered manifest: both refuse, skiff with the reason.
    let e = refused(
        &verify(&ours, "registry.example/app:2", &w.alice),
        "wrong identity",
    );
    assert!(e.contains("does not match"), "{e}");
    assert!(!w
        .gpg
        .skopeo_verifies(&manifest, "registry.example/app:2", &w.alice, &ours));
    let e = refused(&verify(&ours, reference, &w.mallory), "wrong key");
    assert!(e.contains("does not match expected fingerprint"), "{e}");
    assert!(!w
        .gpg
        .skopeo_verifies(&manifest, reference, &w.mallory, &ours));
    let tampered = w.path("tampered.json");
    std::fs::write(&tampered, br#"{"schemaVersion":2,"config":{"x":1}}"#).unwrap();
    let e = refused(
        &skiff(
            &w.gpg,
            &[
                "standalone-verify",
                s(&tampered),
                reference,
                &w.alice,
                s(&ours),
            ],
        ),
        "tampered manifest",
    );
    assert!(e.contains("not for this manifest"), "{e}");
    assert!(!w.gpg.skopeo_verifies(&tampered, reference, &w.alice, &ours));

    // A key gpg does not have: nothing is written.
    let none = w.path("none.sig");
    refused(
        &skiff(
            &w.gpg,
            &[
                "standalone-sign",
                s(&manifest),
                reference,
                "0000000000000000DEADBEEF",
                "-o",
                s(&none),
            ],
        ),
        "unknown key",
    );
    assert!(!none.exists());
}

#[test]
fn standalone_sign_reads_the_passphrase_file() {
    let w = World::new();
    w.gpg.run(&[
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "carols secret",
        "--quick-gen-key",
        "carol <carol@example.com>",
        "default",
        "default",
        "never",
    ]);
    // No passphrase cached by the agent from the key generation.
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", w.gpg.home.path())
        .args(["--kill", "gpg-agent"])
        .status();
    let manifest = w.path("manifest.json");
    std::fs::write(&manifest, br#"{"schemaVersion":2}"#).unwrap();
    let wrong = w.path("wrong");
    std::fs::write(&wrong, "not it\n").unwrap();
    let right = w.path("right");
    std::fs::write(&right, "carols secret\nsecond line ignored\n").unwrap();
    let sig = w.path("carol.sig");
    let sign = |pass: &Path| {
        skiff(
            &w.gpg,
            &[
                "standalone-sign",
                "--passphrase-file",
                s(pass),
                s(&manifest),
                "registry.example/app:1",
                "carol@example.com",
                "-o",
                s(&sig),
            ],
        )
    };
    let e = refused(&sign(&wrong), "wrong passphrase");
    assert!(e.contains("Error creating signature"), "{e}");
    assert!(!sig.exists());
    ok(&sign(&right), "sign with the passphrase");
    let carol_key = w.gpg.export("carol", false, w.work.path());
    ok(
        &skiff(
            &w.gpg,
            &[
                "standalone-verify",
                "--public-key-file",
                s(&carol_key),
                s(&manifest),
                "registry.example/app:1",
                "any",
                s(&sig),
            ],
        ),
        "verify carol's",
    );
}

#[test]
fn copy_sign_by_writes_the_lookaside_skopeo_verifies() {
    let w = World::new();
    let signed = w.image("signed");
    ok(
        &skiff(
            &w.gpg,
            &[
                "--insecure-policy",
                "--registries.d",
                &w.regd(),
                "copy",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                "--sign-by",
                &w.alice,
                &w.image("app"),
                &signed,
            ],
        ),
        "skiff copy --sign-by",
    );
    let alice_policy = w.signed_by("alice");
    // Both accept what skiff signed…
    w.skopeo_pull(&alice_policy, &signed)
        .expect("skopeo accepts");
    w.skiff_pull(&alice_policy, &signed).expect("skiff accepts");
    // … both refuse an unsigned image, and a signature by a key the policy does not trust.
    let e = w.skopeo_pull(&alice_policy, &w.image("plain")).unwrap_err();
    assert!(e.contains("no signature exists"), "{e}");
    let e = w.skiff_pull(&alice_policy, &w.image("plain")).unwrap_err();
    assert!(e.contains("the image has none"), "{e}");
    let mallory_policy = w.signed_by("mallory");
    let e = w.skopeo_pull(&mallory_policy, &signed).unwrap_err();
    assert!(e.contains("rejected"), "{e}");
    let e = w.skiff_pull(&mallory_policy, &signed).unwrap_err();
    assert!(e.contains("not made by a trusted key"), "{e}");
    // A wrong identity: the signature is for `signed`, copied under another name by a
    // copy that keeps signatures; a policy that wants the exact name refuses it.
    let exact = w.policy(
        "exact.json",
        &format!(
            r#"{{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "{}", "signedIdentity": {{"type": "exactReference", "dockerReference": "{}/app:v1"}}}}"#,
            w.gpg.export("alice", false, w.work.path()).display(),
            w.registry.host()
        ),
    );
    let e = w.skopeo_pull(&exact, &signed).unwrap_err();
    assert!(e.contains("rejected") || e.contains("not match"), "{e}");
    let e = w.skiff_pull(&exact, &signed).unwrap_err();
    assert!(e.contains("app:v1"), "{e}");
    // A reject scope refuses whatever the signatures.
    let reject = w.policy("reject.json", r#"{"type": "reject"}"#);
    assert!(w.skopeo_pull(&reject, &signed).is_err());
    let e = w.skiff_pull(&reject, &signed).unwrap_err();
    assert!(e.contains("reject"), "{e}");
}

/// The lookaside signature is written, complete, before the manifest push: a push that
/// fails (or is interrupted once the registry stored the manifest) never leaves the tag
/// on an unsigned manifest — the reliability matrix found one left so by SIGINT.
#[test]
fn copy_sign_by_writes_the_signature_before_the_manifest() {
    let w = World::new();
    let proxy = skiff_testbed::FaultProxy::start(
        &w.registry.host(),
        vec![skiff_testbed::Fault::Rule {
            target: skiff_testbed::fault::Target::new(Some("PUT"), "/manifests/", 1000),
            action: skiff_testbed::fault::Action::Status {
                code: 500,
                retry_after: None,
            },
        }],
    )
    .unwrap();
    let dest = format!("docker://{}/refused:v1", proxy.host());
    let out = skiff(
        &w.gpg,
        &[
            "--insecure-policy",
            "--registries.d",
            &w.regd(),
            "copy",
            "--retry-times=0",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--sign-by",
            &w.alice,
            &w.image("app"),
            &dest,
        ],
    );
    refused(&out, "a copy whose manifest push fails");
    let inspect = skiff(
        &w.gpg,
        &["inspect", "--tls-verify=false", &w.image("refused")],
    );
    assert!(!inspect.status.success(), "the tag does not exist");
    let dirs: Vec<PathBuf> = std::fs::read_dir(w.path("lookaside"))
        .expect("the lookaside was written")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    assert!(
        dirs[0]
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("refused@sha256=")),
        "{dirs:?}"
    );
    // Complete: GnuPG verifies it (run panics otherwise).
    w.gpg.run(&["--verify", s(&dirs[0].join("signature-1"))]);
}

#[test]
fn copies_carry_dir_signatures_and_remove_signatures_drops_them() {
    let w = World::new();
    let reference = format!("{}/app:v1", w.registry.host());
    // skopeo writes a signed dir: image (Docker format, so a conversion is possible).
    let signed_dir = w.path("signed");
    let o = w.gpg.skopeo(&[
        "--insecure-policy",
        "copy",
        "--src-tls-verify=false",
        "--format",
        "v2s2",
        "--sign-by",
        &w.alice,
        "--sign-identity",
        &reference,
        &w.image("app"),
        &format!("dir:{}", signed_dir.display()),
    ]);
    ok(&o, "skopeo copy --sign-by to dir:");
    let skopeo_sig = std::fs::read(signed_dir.join("signature-1")).unwrap();

    let copy = |extra: &[&str], dest: &Path| {
        let mut args = vec!["--insecure-policy", "copy"];
        args.extend_from_slice(extra);
        let src = format!("dir:{}", signed_dir.display());
        let dst = format!("dir:{}", dest.display());
        args.push(&src);
        args.push(&dst);
        skiff(&w.gpg, &args)
    };
    // Carried byte for byte, and still verifiable by skopeo against the copy.
    let carried = w.path("carried");
    ok(&copy(&[], &carried), "skiff copy dir: dir:");
    assert_eq!(
        std::fs::read(carried.join("signature-1")).unwrap(),
        skopeo_sig
    );
    assert!(!carried.join("signature-2").exists());
    assert!(w.gpg.skopeo_verifies(
        &carried.join("manifest.json"),
        &reference,
        &w.alice,
        &carried.join("signature-1")
    ));
    // --remove-signatures drops them.
    let removed = w.path("removed");
    ok(
        &copy(&["--remove-signatures"], &removed),
        "--remove-signatures",
    );
    assert!(removed.join("manifest.json").exists());
    assert!(!removed.join("signature-1").exists());
    // A conversion would invalidate them: refused, as skopeo refuses, nothing written.
    let converted = w.path("converted");
    let e = refused(&copy(&["--format", "oci"], &converted), "conversion");
    assert!(e.contains("Would invalidate signatures"), "{e}");
    assert!(!converted.exists());
    ok(
        &copy(&["--format", "oci", "--remove-signatures"], &converted),
        "conversion without signatures",
    );
    // A destination that cannot store signatures refuses rather than drop them.
    let oci = format!("oci:{}:v1", w.path("layout").display());
    let o = skiff(
        &w.gpg,
        &[
            "--insecure-policy",
            "copy",
            &format!("dir:{}", signed_dir.display()),
            &oci,
        ],
    );
    let e = refused(&o, "oci: with signatures");
    assert!(e.contains("Can not copy signatures"), "{e}");
    assert!(!w.path("layout").exists());
}

#[test]
fn copy_sign_by_into_dir_needs_an_identity_and_skopeo_verifies_it() {
    let w = World::new();
    let dest = w.path("signed");
    let sign = |extra: &[&str]| {
        let mut args = vec![
            "--insecure-policy",
            "copy",
            "--src-tls-verify=false",
            "--sign-by",
            &w.alice,
        ];
        args.extend_from_slice(extra);
        let src = w.image("app");
        let dst = format!("dir:{}", dest.display());
        args.push(&src);
        args.push(&dst);
        skiff(&w.gpg, &args)
    };
    let e = refused(&sign(&[]), "no identity for dir:");
    assert!(e.contains("--sign-identity"), "{e}");
    assert!(!dest.exists());
    ok(
        &sign(&["--sign-identity", "registry.example/app:1"]),
        "sign into dir:",
    );
    assert!(w.gpg.skopeo_verifies(
        &dest.join("manifest.json"),
        "registry.example/app:1",
        &w.alice,
        &dest.join("signature-1")
    ));
    let e = refused(&sign(&["--sign-identity", "app"]), "not a full reference");
    assert!(e.contains("--sign-identity"), "{e}");
}

#[test]
fn sigstore_keys_sign_copies_that_sigstore_policies_accept() {
    let w = World::new();
    let pass = w.path("pass");
    std::fs::write(&pass, "sigstore secret\n").unwrap();
    let generate = |prefix: &Path| {
        skiff(
            &w.gpg,
            &[
                "generate-sigstore-key",
                "--output-prefix",
                s(prefix),
                "--passphrase-file",
                s(&pass),
            ],
        )
    };
    let key = w.path("key");
    ok(&generate(&key), "generate-sigstore-key");
    let private = std::fs::read_to_string(w.path("key.private")).unwrap();
    assert!(private.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
    let e = refused(&generate(&key), "overwrite");
    assert!(e.contains("Refusing to overwrite"), "{e}");
    assert_eq!(
        std::fs::read_to_string(w.path("key.private")).unwrap(),
        private
    );
    let other = w.path("other");
    ok(&generate(&other), "a second key");

    let dest = w.path("signed");
    let sign = |pass_file: &Path, dest: &Path| {
        skiff(
            &w.gpg,
            &[
                "--insecure-policy",
                "copy",
                "--src-tls-verify=false",
                "--sign-by-sigstore-private-key",
                s(&w.path("key.private")),
                "--sign-passphrase-file",
                s(pass_file),
                "--sign-identity",
                "registry.example/app:1",
                &w.image("app"),
                &format!("dir:{}", dest.display()),
            ],
        )
    };
    let wrong = w.path("wrong");
    std::fs::write(&wrong, "nope\n").unwrap();
    let e = refused(&sign(&wrong, &dest), "wrong passphrase");
    assert!(e.contains("wrong password"), "{e}");
    ok(&sign(&pass, &dest), "copy --sign-by-sigstore-private-key");
    let blob = std::fs::read(dest.join("signature-1")).unwrap();
    assert!(blob.starts_with(b"\0sigstore-json\n"));

    // skiff decides under sigstoreSigned: the right key passes, another key is refused.
    let policy_for = |public: &Path| {
        let path = w.path(&format!("sigstore-{}.json", rand_name()));
        std::fs::write(
            &path,
            format!(
                r#"{{"default": [{{"type": "reject"}}], "transports": {{"dir": {{"{}": [
                    {{"type": "sigstoreSigned", "keyPath": "{}", "signedIdentity": {{"type": "exactReference", "dockerReference": "registry.example/app:1"}}}}]}}}}}}"#,
                dest.display(),
                public.display()
            ),
        )
        .unwrap();
        path.display().to_string()
    };
    let pull = |policy: &str| {
        let out = w.path(&format!("pulled-{}", rand_name()));
        skiff(
            &w.gpg,
            &[
                "--policy",
                policy,
                "copy",
                &format!("dir:{}", dest.display()),
                &format!("dir:{}", out.display()),
            ],
        )
    };
    ok(
        &pull(&policy_for(&w.path("key.pub"))),
        "sigstoreSigned accepts",
    );
    let e = refused(&pull(&policy_for(&w.path("other.pub"))), "another key");
    assert!(e.contains("not made by a trusted key"), "{e}");

    // Debian's skopeo cannot sign with sigstore keys; if a newer one can, it must read ours.
    let o = w.gpg.skopeo(&[
        "--insecure-policy",
        "copy",
        "--src-tls-verify=false",
        "--sign-by-sigstore-private-key",
        s(&w.path("key.private")),
        "--sign-passphrase-file",
        s(&pass),
        "--sign-identity",
        "registry.example/app:1",
        &w.image("app"),
        &format!("dir:{}", w.path("by-skopeo").display()),
    ]);
    if !o.status.success() {
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            e.contains("sigstore disabled"),
            "skopeo refused our key: {e}"
        );
    }

    // Fulcio/rekor signing needs the network: refused with the reason.
    let e = refused(
        &skiff(
            &w.gpg,
            &[
                "--insecure-policy",
                "copy",
                "--src-tls-verify=false",
                "--sign-by-sigstore",
                s(&pass),
                &w.image("app"),
                &format!("dir:{}", w.path("fulcio").display()),
            ],
        ),
        "--sign-by-sigstore",
    );
    assert!(e.contains("Fulcio"), "{e}");
}

#[test]
fn sync_signs_every_image_it_writes() {
    let w = World::new();
    let out = w.path("synced");
    ok(
        &skiff(
            &w.gpg,
            &[
                "--insecure-policy",
                "sync",
                "--src",
                "docker",
                "--dest",
                "dir",
                "--src-tls-verify=false",
                "--sign-by",
                &w.alice,
                "--sign-identity",
                "registry.example/app:1",
                &format!("{}/app", w.registry.host()),
                s(&out),
            ],
        ),
        "sync --sign-by",
    );
    let image = out.join("app:v1");
    assert!(
        w.gpg.skopeo_verifies(
            &image.join("manifest.json"),
            "registry.example/app:1",
            &w.alice,
            &image.join("signature-1")
        ),
        "sync wrote no valid signature into {}",
        image.display()
    );
}

#[test]
fn sigstore_signatures_travel_as_registry_attachments() {
    let w = World::new();
    let pass = w.path("pass");
    std::fs::write(&pass, "pw\n").unwrap();
    for prefix in ["key", "other"] {
        ok(
            &skiff(
                &w.gpg,
                &[
                    "generate-sigstore-key",
                    "--output-prefix",
                    s(&w.path(prefix)),
                    "--passphrase-file",
                    s(&pass),
                ],
            ),
            "generate-sigstore-key",
        );
    }
    let push = |regd: &str, dest: &str| {
        skiff(
            &w.gpg,
            &[
                "--insecure-policy",
                "--registries.d",
                regd,
                "copy",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                "--sign-by-sigstore-private-key",
                s(&w.path("key.private")),
                "--sign-passphrase-file",
                s(&pass),
                &w.image("app"),
                dest,
            ],
        )
    };
    // Without use-sigstore-attachments there is nowhere to put them: refused, as skopeo.
    let e = refused(&push(&w.regd(), &w.image("nowhere")), "attachments off");
    assert!(e.contains("use-sigstore-attachments"), "{e}");
    assert!(e.contains("hint: write to a destination that keeps"), "{e}");

    let attach = w.path("attach.d");
    std::fs::create_dir(&attach).unwrap();
    std::fs::write(
        attach.join("default.yaml"),
        "default-docker:\n  use-sigstore-attachments: true\n",
    )
    .unwrap();
    let regd = attach.display().to_string();
    let signed = w.image("sigstore");
    ok(&push(&regd, &signed), "copy with sigstore attachments");
    // The attachment is an ordinary tag of the repository, as cosign and skopeo store it.
    let tags = ok(
        &skiff(
            &w.gpg,
            &[
                "list-tags",
                "--tls-verify=false",
                &format!("docker://{}/sigstore", w.registry.host()),
            ],
        ),
        "list-tags",
    );
    assert!(tags.contains(".sig\""), "{tags}");

    let policy_for = |public: &str| {
        let path = w.path(&format!("sig-{public}.json"));
        std::fs::write(
            &path,
            format!(
                r#"{{"default": [{{"type": "reject"}}], "transports": {{"docker": {{"{}": [
                    {{"type": "sigstoreSigned", "keyPath": "{}"}}]}}}}}}"#,
                w.registry.host(),
                w.path(public).display()
            ),
        )
        .unwrap();
        path.display().to_string()
    };
    let pull = |policy: &str, image: &str| {
        let out = w.path(&format!("pulled-{}", rand_name()));
        skiff(
            &w.gpg,
            &[
                "--policy",
                policy,
                "--registries.d",
                &regd,
                "copy",
                "--src-tls-verify=false",
                "--remove-signatures",
                image,
                &format!("dir:{}", out.display()),
            ],
        )
    };
    ok(
        &pull(&policy_for("key.pub"), &signed),
        "sigstoreSigned accepts the attachment",
    );
    let e = refused(&pull(&policy_for("other.pub"), &signed), "another key");
    assert!(e.contains("not made by a trusted key"), "{e}");
    let e = refused(&pull(&policy_for("key.pub"), &w.image("plain")), "unsigned");
    assert!(e.contains("has none"), "{e}");

    // A copy that keeps signatures carries the attachment into a dir: image.
    let carried = w.path("carried");
    ok(
        &skiff(
            &w.gpg,
            &[
                "--insecure-policy",
                "--registries.d",
                &regd,
                "copy",
                "--src-tls-verify=false",
                &signed,
                &format!("dir:{}", carried.display()),
            ],
        ),
        "carry attachments into dir:",
    );
    let blob = std::fs::read(carried.join("signature-1")).unwrap();
    assert!(blob.starts_with(b"\0sigstore-json\n"));
}

/// A linux/amd64 + linux/arm64 index (OCI) at `multi:v1`: the index's digest, then the
/// amd64 and arm64 images' (as `sha256:HEX`).
fn push_multi(w: &World) -> [String; 3] {
    let amd = busybox_image(Format::Oci);
    let arm = skiff_testbed::image::busybox_builder(Format::Oci)
        .platform("linux", "arm64", Some("v8"))
        .build();
    let list = skiff_testbed::multi_arch(Format::Oci, vec![amd.clone(), arm.clone()]);
    push_multi_arch(&w.registry.host(), "multi", "v1", &list, None).unwrap();
    [list.digest, amd.manifest_digest, arm.manifest_digest]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn hex(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

/// The signature files of a `dir:` image, sorted.
fn signature_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("signature-"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_platform_of_an_index_carries_and_gets_its_own_signatures() {
    let w = World::new();
    let [index, amd, arm] = push_multi(&w);
    let host = w.registry.host();
    let source = format!("docker://{host}/multi:v1");
    let identity = format!("{host}/app:multi");
    let sign_all = |dir: &Path| {
        vec![
            "--insecure-policy".to_string(),
            "copy".into(),
            "--all".into(),
            "--src-tls-verify=false".into(),
            "--sign-by".into(),
            w.alice.clone(),
            "--sign-identity".into(),
            identity.clone(),
            source.clone(),
            format!("dir:{}", dir.display()),
        ]
    };
    // skopeo and skiff sign every per-platform image and the index, and lay the
    // signatures out alike: signature-N for the index, <hex>.signature-N for each image.
    let skopeo_dir = w.path("skopeo-signed");
    ok(
        &w.gpg.skopeo(&strs(&sign_all(&skopeo_dir))),
        "skopeo --all --sign-by",
    );
    let skiff_dir = w.path("skiff-signed");
    ok(
        &skiff(&w.gpg, &strs(&sign_all(&skiff_dir))),
        "skiff --all --sign-by",
    );
    let mut expected = vec![
        format!("{}.signature-1", hex(&amd)),
        format!("{}.signature-1", hex(&arm)),
        "signature-1".to_string(),
    ];
    expected.sort();
    assert_eq!(signature_files(&skopeo_dir), expected);
    assert_eq!(signature_files(&skiff_dir), expected);
    // skopeo verifies each of skiff's signatures against its own manifest.
    for digest in [&amd, &arm] {
        assert!(w.gpg.skopeo_verifies(
            &skiff_dir.join(format!("{}.manifest.json", hex(digest))),
            &identity,
            &w.alice,
            &skiff_dir.join(format!("{}.signature-1", hex(digest)))
        ));
    }
    assert!(w.gpg.skopeo_verifies(
        &skiff_dir.join("manifest.json"),
        &identity,
        &w.alice,
        &skiff_dir.join("signature-1")
    ));

    // skiff carries skopeo's signatures into the registry: the lookaside gets each
    // manifest's, byte for byte.
    let app = format!("docker://{identity}");
    ok(
        &skiff(
            &w.gpg,
            &[
                "--insecure-policy",
                "--registries.d",
                &w.regd(),
                "copy",
                "--all",
                "--dest-tls-verify=false",
                &format!("dir:{}", skopeo_dir.display()),
                &app,
            ],
        ),
        "skiff copy --all dir: to docker://",
    );
    let lookaside = |digest: &str| w.path(&format!("lookaside/app@sha256={}", hex(digest)));
    for (digest, file) in [
        (&index, "signature-1".to_string()),
        (&amd, format!("{}.signature-1", hex(&amd))),
        (&arm, format!("{}.signature-1", hex(&arm))),
    ] {
        assert_eq!(
            std::fs::read(lookaside(digest).join("signature-1")).unwrap(),
            std::fs::read(skopeo_dir.join(file)).unwrap()
        );
    }
    // Both accept this platform's image and all of them under a signedBy policy, and
    // skiff carries them back out in skopeo's layout.
    let alice = w.signed_by("alice");
    let all = ["--all"];
    w.skopeo_pull(&alice, &app).expect("skopeo: this platform");
    w.skopeo_pull_with(&alice, &all, &app)
        .expect("skopeo: --all");
    w.skiff_pull(&alice, &app).expect("skiff: this platform");
    let pulled = w.skiff_pull_with(&alice, &all, &app).expect("skiff: --all");
    assert_eq!(signature_files(&pulled), expected);
    for name in &expected {
        assert_eq!(
            std::fs::read(pulled.join(name)).unwrap(),
            std::fs::read(skopeo_dir.join(name)).unwrap()
        );
    }

    // The policy judges images, not the index: without the index's signature both still
    // accept; without the arm64 image's, both refuse it and --all, and accept amd64.
    std::fs::remove_dir_all(lookaside(&index)).unwrap();
    w.skopeo_pull_with(&alice, &all, &app)
        .expect("skopeo: unsigned index");
    w.skiff_pull_with(&alice, &all, &app)
        .expect("skiff: unsigned index");
    std::fs::remove_dir_all(lookaside(&arm)).unwrap();
    let arm64 = ["--override-arch", "arm64"];
    for extra in [&all[..], &arm64[..]] {
        let e = w.skopeo_pull_with(&alice, extra, &app).unwrap_err();
        assert!(e.contains("no signature exists"), "skopeo {extra:?}: {e}");
        let e = w.skiff_pull_with(&alice, extra, &app).unwrap_err();
        assert!(e.contains(&format!("per-platform image {arm}")), "{e}");
        assert!(e.contains("the image has none"), "{e}");
    }
    w.skopeo_pull(&alice, &app).expect("skopeo: signed amd64");
    w.skiff_pull(&alice, &app).expect("skiff: signed amd64");
    // An index signed while its images are not is refused too (skopeo 1.9.3 alike).
    let index_only = format!("docker://{host}/indexonly:v1");
    ok(
        &skiff(
            &w.gpg,
            &[
                "--insecure-policy",
                "--registries.d",
                &w.regd(),
                "copy",
                "--all",
                "--dest-tls-verify=false",
                "--remove-signatures",
                &format!("dir:{}", skopeo_dir.display()),
                &index_only,
            ],
        ),
        "unsigned copy",
    );
    let signature = std::fs::read(skopeo_dir.join("signature-1")).unwrap();
    let dir = w.path(&format!("lookaside/indexonly@sha256={}", hex(&index)));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("signature-1"), signature).unwrap();
    let e = w.skopeo_pull(&alice, &index_only).unwrap_err();
    assert!(e.contains("no signature exists"), "{e}");
    let e = w.skiff_pull(&alice, &index_only).unwrap_err();
    assert!(e.contains("the image has none"), "{e}");

    // A copy that would change a signed per-platform manifest is refused, the index
    // unsigned or not; without the signatures it converts and writes none.
    let copy_to = |extra: &[&str], from: &Path, to: &Path| {
        let from = format!("dir:{}", from.display());
        let to_name = format!("dir:{}", to.display());
        let mut args = vec!["--insecure-policy", "copy", "--all", "--format", "v2s2"];
        args.extend_from_slice(extra);
        args.extend([from.as_str(), to_name.as_str()]);
        skiff(&w.gpg, &args)
    };
    let unsigned_index = w.path("unsigned-index");
    ok(
        &skiff(
            &w.gpg,
            &[
                "--insecure-policy",
                "copy",
                "--all",
                &format!("dir:{}", skopeo_dir.display()),
                &format!("dir:{}", unsigned_index.display()),
            ],
        ),
        "dir: copy",
    );
    std::fs::remove_file(unsigned_index.join("signature-1")).unwrap();
    for from in [&skopeo_dir, &unsigned_index] {
        let to = w.path(&format!("converted-{}", rand_name()));
        let e = refused(&copy_to(&[], from, &to), "conversion");
        assert!(e.contains("Would invalidate signatures"), "{e}");
        assert!(!to.exists());
    }
    let to = w.path("converted");
    ok(
        &copy_to(&["--remove-signatures"], &skopeo_dir, &to),
        "conversion without signatures",
    );
    assert!(signature_files(&to).is_empty());
}

#[test]
fn sync_all_carries_every_platform_signature() {
    let w = World::new();
    let [_, amd, arm] = push_multi(&w);
    let host = w.registry.host();
    let out = w.path("synced");
    let sync = |policy: &str, extra: &[&str]| {
        let regd = w.regd();
        let mut args = vec!["--policy", policy, "--registries.d", &regd];
        let source = format!("{host}/multi:v1");
        args.extend(["sync", "--all", "--src", "docker", "--dest", "dir"]);
        args.extend(["--src-tls-verify=false"]);
        args.extend_from_slice(extra);
        args.extend([source.as_str(), s(&out)]);
        let o = skiff(&w.gpg, &args);
        ok(&o, "sync --all");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    // Unsigned at first: synced without signatures.
    let accept = w.policy("accept.json", r#"{"type": "insecureAcceptAnything"}"#);
    let image = out.join("multi:v1");
    sync(&accept, &[]);
    assert!(signature_files(&image).is_empty());
    // skopeo signs all of multi:v1 in place, into the lookaside.
    let o = w.gpg.skopeo(&[
        "--insecure-policy",
        "--registries.d",
        &w.regd(),
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--sign-by",
        &w.alice,
        &format!("docker://{host}/multi:v1"),
        &format!("docker://{host}/multi:v1"),
    ]);
    ok(&o, "skopeo signs multi:v1");
    // The destination holds the image already, but not its signatures: synced again (as
    // skopeo copies a signed image rather than skip it), under a policy that wants them.
    let alice = w.signed_by("alice");
    let log = sync(&alice, &[]);
    assert!(log.contains("1 copied"), "{log}");
    let mut expected = vec![
        format!("{}.signature-1", hex(&amd)),
        format!("{}.signature-1", hex(&arm)),
        "signature-1".to_string(),
    ];
    expected.sort();
    assert_eq!(signature_files(&image), expected);
    for digest in [&amd, &arm] {
        assert!(w.gpg.skopeo_verifies(
            &image.join(format!("{}.manifest.json", hex(digest))),
            &format!("{host}/multi:v1"),
            &w.alice,
            &image.join(format!("{}.signature-1", hex(digest)))
        ));
    }
    // Without signatures to write, an image already there is skipped.
    let log = sync(&alice, &["--remove-signatures"]);
    assert!(log.contains("1 skipped"), "{log}");
}

#[test]
fn sigstore_signs_every_platform_as_an_attachment() {
    let w = World::new();
    let [index, amd, arm] = push_multi(&w);
    let host = w.registry.host();
    let pass = w.path("pass");
    std::fs::write(&pass, "pw\n").unwrap();
    ok(
        &skiff(
            &w.gpg,
            &[
                "generate-sigstore-key",
                "--output-prefix",
                s(&w.path("key")),
                "--passphrase-file",
                s(&pass),
            ],
        ),
        "generate-sigstore-key",
    );
    let regd = w.path("attach.d");
    std::fs::create_dir(&regd).unwrap();
    std::fs::write(
        regd.join("default.yaml"),
        "default-docker:\n  use-sigstore-attachments: true\n",
    )
    .unwrap();
    let signed = format!("docker://{host}/sigmulti:v1");
    ok(
        &skiff(
            &w.gpg,
            &[
                "--insecure-policy",
                "--registries.d",
                s(&regd),
                "copy",
                "--all",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                "--sign-by-sigstore-private-key",
                s(&w.path("key.private")),
                "--sign-passphrase-file",
                s(&pass),
                &format!("docker://{host}/multi:v1"),
                &signed,
            ],
        ),
        "copy --all --sign-by-sigstore-private-key",
    );
    let tags = ok(
        &skiff(
            &w.gpg,
            &[
                "list-tags",
                "--tls-verify=false",
                &format!("docker://{host}/sigmulti"),
            ],
        ),
        "list-tags",
    );
    for digest in [&index, &amd, &arm] {
        assert!(
            tags.contains(&format!("sha256-{}.sig", hex(digest))),
            "{tags}"
        );
    }
    let policy = w.path("sigstore.json");
    std::fs::write(
        &policy,
        format!(
            r#"{{"default": [{{"type": "reject"}}], "transports": {{"docker": {{"{host}": [
                {{"type": "sigstoreSigned", "keyPath": "{}"}}]}}}}}}"#,
            w.path("key.pub").display()
        ),
    )
    .unwrap();
    let pull = |extra: &[&str], out: &Path| {
        let dest = format!("dir:{}", out.display());
        let args = pull_args(s(&policy), s(&regd), extra, &signed, &dest);
        skiff(&w.gpg, &strs(&args))
    };
    let out = w.path("all");
    ok(&pull(&["--all"], &out), "sigstoreSigned --all");
    assert_eq!(
        signature_files(&out).len(),
        3,
        "{:?}",
        signature_files(&out)
    );
    ok(
        &pull(&["--override-arch", "arm64"], &w.path("arm")),
        "sigstoreSigned arm64",
    );
    let blob = std::fs::read(w.path("arm").join("signature-1")).unwrap();
    assert!(blob.starts_with(b"\0sigstore-json\n"));
}
