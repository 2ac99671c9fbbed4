//! skopeo's signing scenario rebuilt: four GnuPG keys (alice, bob, carol, and mallory whom
//! nobody trusts), images pushed to a real registry and signed by Debian's skopeo into a
//! file:// lookaside named by registries.d, a policy.json requiring specific keys per
//! repository, and a table of pulls that must pass or be rejected — checked by skiff-trust
//! (reading the signatures through its registries.d lookaside layout) and by skopeo itself.

mod common;

use std::path::Path;

use common::Gpg;
use skiff_oci::{Digest, Reference};
use skiff_testbed::image::Format;
use skiff_testbed::{busybox_image, push_image, RegistryServer, Setup};
use skiff_trust::registries_d::{lookaside_signature_url, RegistriesD};
use skiff_trust::{evaluate, ImageUnderTest, Policy, PolicyScope, Signature};

/// What skiff-trust decides for `reference`, reading manifest and signatures like a pull.
fn skiff_allows(
    gpg: &Gpg,
    policy: &Policy,
    regd: &RegistriesD,
    reference: &str,
) -> Result<(), String> {
    let o = gpg.skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]);
    assert!(
        o.status.success(),
        "inspect: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let manifest = o.stdout;
    let r = Reference::parse(reference).unwrap();
    let base = regd.lookaside(&r, false).expect("lookaside configured");
    let digest = Digest::sha256(&manifest);
    let mut signatures = Vec::new();
    for i in 1.. {
        let url = lookaside_signature_url(&base, &r, &digest, i);
        match std::fs::read(url.to_file_path().unwrap()) {
            Ok(blob) => signatures.push(Signature::from_blob(&blob).unwrap()),
            Err(_) => break,
        }
    }
    let reqs = policy.requirements_for(&PolicyScope::docker(&r));
    evaluate(
        &reqs,
        &ImageUnderTest {
            docker_reference: Some(&r),
            manifest: &manifest,
            signatures: &signatures,
        },
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// What skopeo decides for the same pull under the same policy and registries.d.
fn skopeo_allows(
    gpg: &Gpg,
    policy: &Path,
    regd: &Path,
    reference: &str,
    out: &Path,
) -> Result<(), String> {
    let o = gpg.skopeo(&[
        "--policy",
        policy.to_str().unwrap(),
        "--registries.d",
        regd.to_str().unwrap(),
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{reference}"),
        &format!("dir:{}", out.display()),
    ]);
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

#[test]
fn per_repository_keys_decide_like_skopeo() {
    let registry = RegistryServer::start(Setup::Open).expect("docker-registry must be installed");
    let host = registry.host();
    let gpg = Gpg::new();
    let work = tempfile::tempdir().unwrap();
    let keys: Vec<(&str, String)> = ["alice", "bob", "carol", "mallory"]
        .into_iter()
        .map(|n| (n, gpg.key(n)))
        .collect();
    let fpr = |name: &str| keys.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    let key_file = |name: &str| gpg.export(name, false, work.path()).display().to_string();
    let (alice, bob, carol) = (key_file("alice"), key_file("bob"), key_file("carol"));

    // registries.d: every registry's simple signatures live in one file:// lookaside.
    let regd_dir = work.path().join("registries.d");
    std::fs::create_dir(&regd_dir).unwrap();
    let sigstore = work.path().join("sigstore");
    std::fs::write(
        regd_dir.join("default.yaml"),
        format!(
            "default-docker:\n  lookaside: file://{0}\n  lookaside-staging: file://{0}\n",
            sigstore.display()
        ),
    )
    .unwrap();
    let regd = RegistriesD::load_dir(&regd_dir).unwrap();

    let image = busybox_image(Format::Oci);
    let signed_by: &[(&str, &[&str])] = &[
        ("alice-only/good", &["alice"]),
        ("alice-only/forged", &["mallory"]),
        ("alice-and-bob/both", &["alice", "bob"]),
        ("alice-and-bob/one", &["alice"]),
        ("team/carol", &["carol"]),
        ("team/mallory", &["mallory"]),
        ("team/unsigned", &[]),
        ("open/unsigned", &[]),
        ("elsewhere/app", &["alice"]),
    ];
    for (repo, signers) in signed_by {
        push_image(&host, repo, "v1", &image, None).unwrap();
        for s in *signers {
            gpg.skopeo_sign_in_registry(&regd_dir, &format!("{host}/{repo}:v1"), &fpr(s));
        }
    }

    let signed =
        |k: &str| format!(r#"{{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "{k}"}}"#);
    let policy_json = format!(
        r#"{{"default": [{{"type": "reject"}}], "transports": {{"docker": {{
            "{host}/alice-only": [{}],
            "{host}/alice-and-bob": [{}, {}],
            "{host}/team": [{{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": ["{alice}", "{bob}", "{carol}"]}}],
            "{host}/open": [{{"type": "insecureAcceptAnything"}}]
        }}}}}}"#,
        signed(&alice),
        signed(&alice),
        signed(&bob),
    );
    let policy_path = work.path().join("policy.json");
    std::fs::write(&policy_path, policy_json).unwrap();
    let policy = Policy::load(&policy_path).unwrap();

    let table: &[(&str, bool)] = &[
        ("alice-only/good", true),
        ("alice-only/forged", false),
        ("alice-and-bob/both", true),
        ("alice-and-bob/one", false),
        ("team/carol", true),
        ("team/mallory", false),
        ("team/unsigned", false),
        ("open/unsigned", true),
        ("elsewhere/app", false),
    ];
    for (i, (repo, pass)) in table.iter().enumerate() {
        let reference = format!("{host}/{repo}:v1");
        let ours = skiff_allows(&gpg, &policy, &regd, &reference);
        let theirs = skopeo_allows(
            &gpg,
            &policy_path,
            &regd_dir,
            &reference,
            &work.path().join(format!("out{i}")),
        );
        assert_eq!(ours.is_ok(), *pass, "skiff-trust on {repo}: {ours:?}");
        assert_eq!(theirs.is_ok(), *pass, "skopeo on {repo}: {theirs:?}");
        if let (Err(ours), Err(theirs)) = (&ours, &theirs) {
            assert!(
                ours.contains("policy.json") && ours.contains("rejected"),
                "{ours}"
            );
            assert!(theirs.contains("rejected"), "skopeo says: {theirs}");
        }
    }
}
