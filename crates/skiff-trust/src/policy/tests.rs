//! policy.json: the examples of containers-policy.json(5), malformed files, and which scope
//! applies to which image.

use std::path::Path;

use skiff_oci::Reference;

use super::*;
use crate::evaluate::{evaluate, ImageUnderTest, RejectReason};
use crate::identity::SignedIdentity;

/// The "reasonably locked-down system" example, its comments removed.
const LOCKED_DOWN: &str = r#"{
    "default": [{"type": "reject"}],
    "transports": {
        "docker": {
            "docker.io/openshift": [{"type": "insecureAcceptAnything"}],
            "docker.io/library/busybox": [{"type": "insecureAcceptAnything"}],
            "*.temporary-project.example.com": [{"type": "insecureAcceptAnything"}],
            "hostname:5000/myns/sigstore-signed-with-full-references": [
                {"type": "sigstoreSigned", "keyPath": "/path/to/sigstore-pubkey.pub"}
            ],
            "hostname:5000/myns/sigstore-signed-allows-malicious-tag-substitution": [
                {"type": "sigstoreSigned", "keyPath": "/path/to/sigstore-pubkey.pub",
                 "signedIdentity": {"type": "matchRepository"}}
            ]
        },
        "dir": {"": [{"type": "insecureAcceptAnything"}]},
        "atomic": {
            "hostname:5000/myns/official": [
                {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/path/to/official-pubkey.gpg"}
            ],
            "hostname:5000/vendor/product": [
                {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/path/to/vendor-pubkey.gpg",
                 "signedIdentity": {"type": "exactRepository", "dockerRepository": "vendor-hostname/product/repository"}},
                {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/path/to/reviewer-pubkey.gpg"}
            ],
            "private-mirror:5000/vendor-mirror": [
                {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/path/to/vendor-pubkey.gpg",
                 "signedIdentity": {"type": "remapIdentity", "prefix": "private-mirror:5000/vendor-mirror",
                                    "signedPrefix": "vendor.example.com"}}
            ]
        }
    }
}"#;

fn policy(json: &str) -> Result<Policy, PolicyError> {
    Policy::from_json(json.as_bytes(), Path::new("/etc/containers/policy.json"))
}

fn docker(r: &str) -> PolicyScope {
    PolicyScope::docker(&Reference::parse(r).unwrap())
}

fn unsigned(p: &Policy, scope: &PolicyScope) -> Result<crate::Accepted, crate::Rejection> {
    let r = p.requirements_for(scope);
    evaluate(
        &r,
        &ImageUnderTest {
            docker_reference: None,
            manifest: b"{}",
            signatures: &[],
        },
    )
}

#[test]
fn locked_down_example_evaluates_as_documented() {
    let p = policy(LOCKED_DOWN).unwrap();
    let ok = unsigned(&p, &docker("docker.io/openshift/hello-openshift:latest")).unwrap();
    assert_eq!(ok.matched.scope.as_deref(), Some("docker.io/openshift"));
    assert!(unsigned(&p, &docker("busybox:1.36")).is_ok());
    let wild = unsigned(&p, &docker("a.b.temporary-project.example.com/x/y:1")).unwrap();
    assert_eq!(
        wild.matched.scope.as_deref(),
        Some("*.temporary-project.example.com")
    );
    // "Other docker: images use the global default policy and are rejected".
    let no = unsigned(&p, &docker("quay.io/other/app:1")).unwrap_err();
    assert_eq!(no.reason, RejectReason::Reject);
    assert_eq!(no.matched.scope, None);
    let msg = no.to_string();
    assert!(
        msg.contains("/etc/containers/policy.json") && msg.contains("global default"),
        "{msg}"
    );
    // docker.io/library/busybox does not cover docker.io/library/busyboxes.
    assert!(unsigned(&p, &docker("busyboxes")).is_err());
    // dir: images are accepted by the transport default; other transports fall to default.
    let tmp = tempfile::tempdir().unwrap();
    let d = unsigned(&p, &PolicyScope::dir(tmp.path()).unwrap()).unwrap();
    assert_eq!(d.matched.scope.as_deref(), Some(""));
    assert!(unsigned(&p, &PolicyScope::oci(tmp.path(), "t").unwrap()).is_err());
    // A sigstore scope without signatures (and here without its key file) is rejected.
    let s = unsigned(
        &p,
        &docker("hostname:5000/myns/sigstore-signed-with-full-references:1"),
    );
    let e = s.unwrap_err();
    assert!(
        e.to_string()
            .contains("sigstore-signed-with-full-references"),
        "{e}"
    );
}

#[test]
fn accept_anything_example() {
    let p = policy(r#"{"default": [{"type": "insecureAcceptAnything"}]}"#).unwrap();
    assert!(unsigned(&p, &docker("quay.io/x:1")).is_ok());
    assert!(unsigned(&p, &PolicyScope::docker_archive()).is_ok());
    assert!(unsigned(&Policy::insecure_accept_anything(), &docker("x")).is_ok());
}

#[test]
fn malformed_policies_are_errors_never_accept() {
    let bad = [
        ("not json", "expected"),
        (r#"{}"#, "missing field `default`"),
        (r#"{"default": []}"#, "must not be empty"),
        (
            r#"{"default": [{"type": "insecureAcceptAnything"}], "extra": 1}"#,
            "unknown field",
        ),
        (
            r#"{"default": [{"type": "acceptAnything"}]}"#,
            "unknown variant",
        ),
        (r#"{"default": [{}]}"#, "missing field `type`"),
        (
            r#"{"default": [{"type": "reject", "why": "x"}]}"#,
            "unknown field",
        ),
        (
            r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}"#,
            "needs one of",
        ),
        (
            r#"{"default": [{"type": "signedBy", "keyType": "X509Certificates", "keyPath": "/k"}]}"#,
            "keyType",
        ),
        (
            r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k", "keyData": "AA=="}]}"#,
            "only one of",
        ),
        (
            r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k", "keyPath": "/j"}]}"#,
            "duplicate field",
        ),
        (
            r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyData": "%%%"}]}"#,
            "base64",
        ),
        (
            r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k", "signedIdentity": {"type": "matchAnything"}}]}"#,
            "unknown variant",
        ),
        (
            r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k", "signedIdentity": {"type": "exactReference", "dockerReference": "example.com/app"}}]}"#,
            "tag or digest",
        ),
        (
            r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k", "signedIdentity": {"type": "remapIdentity", "prefix": "example.com/a:1", "signedPrefix": "x.com"}}]}"#,
            "remapIdentity",
        ),
        (
            r#"{"default": [{"type": "sigstoreSigned"}]}"#,
            "exactly one of",
        ),
        (
            r#"{"default": [{"type": "reject"}], "transports": {"docker": {"a": [{"type": "reject"}], "a": [{"type": "reject"}]}}}"#,
            "duplicate key",
        ),
        (
            r#"{"default": [{"type": "reject"}], "transports": {"dir": {"relative/path": [{"type": "reject"}]}}}"#,
            "absolute",
        ),
        (
            r#"{"default": [{"type": "reject"}], "transports": {"dir": {"/": [{"type": "reject"}]}}}"#,
            "default scope",
        ),
        (
            r#"{"default": [{"type": "reject"}], "transports": {"oci": {"/a/../b:t": [{"type": "reject"}]}}}"#,
            "canonical",
        ),
        (
            r#"{"default": [{"type": "reject"}], "transports": {"docker-archive": {"/a": [{"type": "reject"}]}}}"#,
            "only the default",
        ),
        (
            r#"{"default": [{"type": "reject"}], "transports": {"docker": {"example*.com": [{"type": "reject"}]}}}"#,
            "wildcards",
        ),
        (
            r#"{"default": [{"type": "reject"}], "transports": {"docker": {"x": []}}}"#,
            "must not be empty",
        ),
    ];
    for (json, expected) in bad {
        let err = policy(json).expect_err(json).to_string();
        assert!(err.contains(expected), "{json}: {err}");
        assert!(err.contains("/etc/containers/policy.json"), "{err}");
    }
}

#[test]
fn missing_file_is_an_error() {
    let err = Policy::load(Path::new("/nonexistent/policy.json")).unwrap_err();
    assert!(matches!(err, PolicyError::Read { .. }));
}

#[test]
fn most_specific_scope_wins() {
    let p = policy(
        r#"{"default": [{"type": "reject"}], "transports": {"docker": {
            "example.com/ns/app:v1": [{"type": "insecureAcceptAnything"}],
            "example.com/ns": [{"type": "reject"}],
            "example.com": [{"type": "insecureAcceptAnything"}],
            "*.com": [{"type": "reject"}],
            "": [{"type": "insecureAcceptAnything"}]
        }}}"#,
    )
    .unwrap();
    let scope_of = |r: &str| p.requirements_for(&docker(r)).matched.scope;
    assert_eq!(
        scope_of("example.com/ns/app:v1").as_deref(),
        Some("example.com/ns/app:v1")
    );
    assert_eq!(
        scope_of("example.com/ns/app:v2").as_deref(),
        Some("example.com/ns")
    );
    assert_eq!(
        scope_of("example.com/other:1").as_deref(),
        Some("example.com")
    );
    assert_eq!(scope_of("sub.example.com/x:1").as_deref(), Some("*.com"));
    assert_eq!(scope_of("localhost:5000/x:1").as_deref(), Some(""));
    assert!(unsigned(&p, &docker("example.com/ns/app:v1")).is_ok());
    assert!(unsigned(&p, &docker("example.com/ns/app:v2")).is_err());
}

#[test]
fn path_scopes_use_the_longest_matching_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let layout = root.join("images/layout");
    std::fs::create_dir_all(&layout).unwrap();
    let json = format!(
        r#"{{"default": [{{"type": "reject"}}], "transports": {{
            "oci": {{"{0}/images/layout:trusted": [{{"type": "insecureAcceptAnything"}}],
                     "{0}/images": [{{"type": "reject"}}]}},
            "oci-archive": {{"{0}/images": [{{"type": "insecureAcceptAnything"}}]}},
            "dir": {{"{0}": [{{"type": "insecureAcceptAnything"}}]}}
        }}}}"#,
        root.display()
    );
    let p = policy(&json).unwrap();
    assert!(unsigned(&p, &PolicyScope::oci(&layout, "trusted").unwrap()).is_ok());
    let other = unsigned(&p, &PolicyScope::oci(&layout, "other").unwrap()).unwrap_err();
    assert_eq!(
        other.matched.scope,
        Some(format!("{}/images", root.display()))
    );
    assert!(unsigned(
        &p,
        &PolicyScope::oci_archive(&root.join("images/a.tar")).unwrap()
    )
    .is_ok());
    assert!(unsigned(&p, &PolicyScope::oci_archive(&root.join("a.tar")).unwrap()).is_err());
    assert!(unsigned(&p, &PolicyScope::dir(&layout).unwrap()).is_ok());
    // A relative path resolves to the same scope as the absolute one.
    let cwd = std::env::current_dir().unwrap();
    let relative = pathdiff(&layout, &cwd);
    assert_eq!(
        PolicyScope::dir(&relative).unwrap(),
        PolicyScope::dir(&layout).unwrap()
    );
}

/// `target` relative to `base` via `..` components (both absolute).
fn pathdiff(target: &Path, base: &Path) -> std::path::PathBuf {
    let mut rel = std::path::PathBuf::new();
    for _ in base.components().skip(1) {
        rel.push("..");
    }
    rel.join(target.strip_prefix("/").unwrap())
}

/// Every requirement the manual spells out ("Policy Requirements"), alone as the default.
#[test]
fn every_requirement_of_the_manual_parses() {
    let req = |json: &str| {
        let p = policy(&format!(r#"{{"default": [{json}]}}"#)).expect(json);
        p.requirements_for(&docker("busybox")).list[0].clone()
    };
    assert_eq!(
        req(r#"{"type":"insecureAcceptAnything"}"#),
        Requirement::InsecureAcceptAnything
    );
    assert_eq!(req(r#"{"type":"reject"}"#), Requirement::Reject);
    let signed_by = |keys: &str, identity: &str| match req(&format!(
        r#"{{"type": "signedBy", "keyType": "GPGKeys", {keys}{identity}}}"#
    )) {
        Requirement::SignedBy(s) => s,
        other => panic!("{keys}: {other:?}"),
    };
    let key = |k: &str| KeySource::Paths(vec![k.to_string()]);
    assert_eq!(
        signed_by(r#""keyPath": "/path/to/local/keyring/file""#, "").keys,
        key("/path/to/local/keyring/file")
    );
    assert_eq!(
        signed_by(
            r#""keyPaths": ["/path/to/local/keyring/file1","/path/to/local/keyring/file2"]"#,
            ""
        )
        .keys,
        KeySource::Paths(vec![
            "/path/to/local/keyring/file1".into(),
            "/path/to/local/keyring/file2".into()
        ])
    );
    assert_eq!(
        signed_by(r#""keyData": "a2V5cmluZw==""#, "").keys,
        KeySource::Data(vec![b"keyring".to_vec()])
    );
    // "If the signedIdentity field is missing, it is treated as matchRepoDigestOrExact."
    assert_eq!(
        signed_by(r#""keyPath": "/k""#, "").identity,
        SignedIdentity::MatchRepoDigestOrExact
    );
    let busybox = Reference::parse("docker.io/library/busybox:latest").unwrap();
    for (json, expected) in [
        (r#"{"type":"matchExact"}"#, SignedIdentity::MatchExact),
        (
            r#"{"type":"matchRepoDigestOrExact"}"#,
            SignedIdentity::MatchRepoDigestOrExact,
        ),
        (
            r#"{"type":"matchRepository"}"#,
            SignedIdentity::MatchRepository,
        ),
        (
            r#"{"type": "exactReference", "dockerReference": "docker.io/library/busybox:latest"}"#,
            SignedIdentity::ExactReference(busybox.clone()),
        ),
    ] {
        let identity = format!(r#", "signedIdentity": {json}"#);
        assert_eq!(
            signed_by(r#""keyPath": "/k""#, &identity).identity,
            expected
        );
    }
    let identity = |json: &str| {
        signed_by(
            r#""keyPath": "/k""#,
            &format!(r#", "signedIdentity": {json}"#),
        )
        .identity
    };
    match identity(
        r#"{"type": "exactRepository", "dockerRepository": "docker.io/library/busybox"}"#,
    ) {
        SignedIdentity::ExactRepository(r) => {
            assert_eq!(r.name(), "docker.io/library/busybox");
        }
        other => panic!("exactRepository: {other:?}"),
    }
    assert_eq!(
        identity(
            r#"{"type": "remapIdentity", "prefix": "docker.io/library", "signedPrefix": "mirror.example.com:5000/library"}"#
        ),
        SignedIdentity::RemapIdentity {
            prefix: "docker.io/library".into(),
            signed_prefix: "mirror.example.com:5000/library".into(),
        }
    );
    for keys in [
        r#""keyPath": "/path/to/local/keyring/file""#,
        r#""keyData": "a2V5cmluZw==""#,
    ] {
        match req(&format!(r#"{{"type": "sigstoreSigned", {keys}}}"#)) {
            Requirement::SigstoreSigned(s) => {
                assert!(s.keys.is_some() && s.unverifiable.is_none(), "{s:?}");
                assert_eq!(s.identity, SignedIdentity::MatchRepoDigestOrExact);
            }
            other => panic!("{keys}: {other:?}"),
        }
    }
}
