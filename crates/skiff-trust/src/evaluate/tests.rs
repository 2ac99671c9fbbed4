//! Evaluation: sigstoreSigned end to end with in-process keys (simple signing is covered
//! by the GnuPG/skopeo integration tests), and the manifest digest rule.

use std::path::Path;

use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use skiff_oci::{Digest, Reference};

use super::*;
use crate::policy::{Policy, PolicyScope};
use crate::sigstore::tests::{sign, signing_key};

fn policy(json: &str) -> Policy {
    Policy::from_json(json.as_bytes(), Path::new("/etc/containers/policy.json")).unwrap()
}

/// A policy requiring sigstore signatures by the key of seed 1 for `localhost:5000/app`,
/// with the key inline.
fn sigstore_policy(identity: &str) -> Policy {
    use base64::Engine as _;
    let pem = signing_key(1)
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let data = base64::engine::general_purpose::STANDARD.encode(pem);
    policy(&format!(
        r#"{{"default": [{{"type": "reject"}}], "transports": {{"docker": {{
            "localhost:5000/app": [{{"type": "sigstoreSigned", "keyData": "{data}"{identity}}}],
            "localhost:5000/keyless": [{{"type": "sigstoreSigned", "fulcio": {{"caPath": "/ca", "oidcIssuer": "https://x", "subjectEmail": "a@b"}}}}]
        }}}}}}"#
    ))
}

fn cosign_payload(reference: &str, digest: &Digest) -> Vec<u8> {
    format!(r#"{{"critical":{{"identity":{{"docker-reference":"{reference}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#).into_bytes()
}

#[test]
fn sigstore_signed_accepts_only_matching_signatures() {
    let manifest = br#"{"schemaVersion":2,"layers":[]}"#;
    let digest = Digest::sha256(manifest);
    let image_ref = Reference::parse("localhost:5000/app:v1").unwrap();
    let p = sigstore_policy("");
    let reqs = p.requirements_for(&PolicyScope::docker(&image_ref));
    let run = |sigs: &[Signature]| {
        evaluate(
            &reqs,
            &ImageUnderTest {
                docker_reference: Some(&image_ref),
                manifest,
                signatures: sigs,
            },
        )
    };
    let good = Signature::Sigstore(sign(
        &signing_key(1),
        &cosign_payload("localhost:5000/app:v1", &digest),
    ));
    let ok = run(std::slice::from_ref(&good)).unwrap();
    assert_eq!(ok.matched.scope.as_deref(), Some("localhost:5000/app"));

    assert_eq!(
        run(&[]).unwrap_err().reason,
        RejectReason::NoSignature("sigstore")
    );
    let wrong_key = Signature::Sigstore(sign(
        &signing_key(2),
        &cosign_payload("localhost:5000/app:v1", &digest),
    ));
    let other = Digest::sha256(b"another manifest");
    let wrong_digest = Signature::Sigstore(sign(
        &signing_key(1),
        &cosign_payload("localhost:5000/app:v1", &other),
    ));
    let wrong_tag = Signature::Sigstore(sign(
        &signing_key(1),
        &cosign_payload("localhost:5000/app:v2", &digest),
    ));
    for (sig, check) in [
        (
            &wrong_key,
            &(|r: &SignatureRejection| {
                matches!(
                    r,
                    SignatureRejection::Sigstore(crate::sigstore::SigstoreError::UntrustedKey)
                )
            }) as &dyn Fn(&SignatureRejection) -> bool,
        ),
        (&wrong_digest, &|r: &SignatureRejection| {
            matches!(r, SignatureRejection::ManifestDigest { .. })
        }),
        (&wrong_tag, &|r: &SignatureRejection| {
            matches!(
                r,
                SignatureRejection::Identity(IdentityError::Mismatch { .. })
            )
        }),
    ] {
        let err = run(std::slice::from_ref(sig)).unwrap_err();
        match &err.reason {
            RejectReason::NoneAccepted(list) => assert!(check(&list[0]), "{err}"),
            other => panic!("unexpected {other}"),
        }
    }
    // Attachments that are not signatures do not count as signatures.
    let mut attestation = sign(
        &signing_key(1),
        &cosign_payload("localhost:5000/app:v1", &digest),
    );
    attestation.mime_type = "application/vnd.dsse.envelope.v1+json".into();
    let only_attestation = [Signature::Sigstore(attestation)];
    assert_eq!(
        run(&only_attestation).unwrap_err().reason,
        RejectReason::NoSignature("sigstore")
    );
    // One good signature among bad ones is enough; simple signatures are not considered.
    assert!(run(&[
        wrong_key.clone(),
        Signature::SimpleSigning(vec![1]),
        good.clone()
    ])
    .is_ok());
    let err = run(&[wrong_key, wrong_digest]).unwrap_err().to_string();
    assert!(
        err.contains("none of the 2 signatures was accepted"),
        "{err}"
    );

    // cosign signs bare repositories: only matchRepository accepts those.
    let bare = Signature::Sigstore(sign(
        &signing_key(1),
        &cosign_payload("localhost:5000/app", &digest),
    ));
    assert!(run(std::slice::from_ref(&bare)).is_err());
    let p2 = sigstore_policy(r#", "signedIdentity": {"type": "matchRepository"}"#);
    let reqs2 = p2.requirements_for(&PolicyScope::docker(&image_ref));
    let image = ImageUnderTest {
        docker_reference: Some(&image_ref),
        manifest,
        signatures: std::slice::from_ref(&bare),
    };
    assert!(evaluate(&reqs2, &image).is_ok());

    // Keyless requirements are refused clearly, whatever the signatures.
    let keyless_ref = Reference::parse("localhost:5000/keyless/x:1").unwrap();
    let reqs3 = p.requirements_for(&PolicyScope::docker(&keyless_ref));
    let err = evaluate(
        &reqs3,
        &ImageUnderTest {
            docker_reference: Some(&keyless_ref),
            manifest,
            signatures: &[good],
        },
    )
    .unwrap_err();
    assert!(matches!(err.reason, RejectReason::Unverifiable(_)), "{err}");
    assert!(err.to_string().contains("Fulcio"), "{err}");
}

#[test]
fn schema1_manifests_are_refused_clearly() {
    let manifest = br#"{"schemaVersion":1,"name":"x","signatures":[]}"#;
    let signed = Digest::sha256(b"stripped payload");
    assert_eq!(
        crate::manifest_matches(manifest, &signed),
        Err(SignatureRejection::Schema1)
    );
    assert!(crate::manifest_matches(manifest, &Digest::sha256(manifest)).is_ok());
}

/// `rekorPublicKeyData` beside the key: a signature counts only with a log entry for it
/// signed by that rekor key.
#[test]
fn rekor_keys_require_a_logged_signature() {
    use base64::Engine as _;
    let b64 = |seed: u8| {
        let pem = signing_key(seed)
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        base64::engine::general_purpose::STANDARD.encode(pem)
    };
    let p = policy(&format!(
        r#"{{"default": [{{"type": "sigstoreSigned", "keyData": "{}", "rekorPublicKeyData": "{}"}}]}}"#,
        b64(1),
        b64(20)
    ));
    let manifest = br#"{"schemaVersion":2,"layers":[]}"#;
    let image_ref = Reference::parse("localhost:5000/app:v1").unwrap();
    let reqs = p.requirements_for(&PolicyScope::docker(&image_ref));
    let run = |sig: &crate::SigstoreSignature| {
        evaluate(
            &reqs,
            &ImageUnderTest {
                docker_reference: Some(&image_ref),
                manifest,
                signatures: &[Signature::Sigstore(sig.clone())],
            },
        )
    };
    let payload = cosign_payload("localhost:5000/app:v1", &Digest::sha256(manifest));
    let mut sig = sign(&signing_key(1), &payload);
    let e = run(&sig).unwrap_err();
    assert!(e.to_string().contains("no rekor bundle"), "{e}");
    crate::rekor::tests::log_entry(&signing_key(20), &signing_key(1), &mut sig);
    run(&sig).expect("a logged signature");
    // Logged by a log the policy does not trust.
    let mut elsewhere = sign(&signing_key(1), &payload);
    crate::rekor::tests::log_entry(&signing_key(21), &signing_key(1), &mut elsewhere);
    let e = run(&elsewhere).unwrap_err();
    assert!(e.to_string().contains("whose key is not trusted"), "{e}");
}
