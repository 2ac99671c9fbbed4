//! Simple signing against the real peers: GnuPG makes the keys, Debian's skopeo 1.9.3
//! signs (`standalone-sign`), skiff-trust verifies in-process; skopeo `standalone-verify`
//! is asked the same questions so both sides refuse the same cases.

mod common;

use std::path::Path;

use common::Gpg;

use skiff_oci::Reference;
use skiff_trust::simple::{
    untrusted_simple_signing, verify_simple_signing, Keyring, SimpleSigningError,
};
use skiff_trust::{
    evaluate, signing_payload, verify_standalone, IdentityError, ImageUnderTest, PayloadKind,
    Policy, PolicyScope, RejectReason, Signature, SignatureRejection,
};

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
const REF: &str = "localhost:5000/app:v1";

fn policy(dir: &Path, json: String) -> Policy {
    let path = dir.join("policy.json");
    std::fs::write(&path, json).unwrap();
    Policy::load(&path).unwrap()
}

fn decide(
    policy: &Policy,
    reference: &str,
    manifest: &[u8],
    sigs: &[Signature],
) -> Result<skiff_trust::Accepted, skiff_trust::Rejection> {
    let r = Reference::parse(reference).unwrap();
    let reqs = policy.requirements_for(&PolicyScope::docker(&r));
    evaluate(
        &reqs,
        &ImageUnderTest {
            docker_reference: Some(&r),
            manifest,
            signatures: sigs,
        },
    )
}

fn only_rejection(r: Result<skiff_trust::Accepted, skiff_trust::Rejection>) -> SignatureRejection {
    match r {
        Err(e) => match e.reason {
            RejectReason::NoneAccepted(mut list) if list.len() == 1 => list.remove(0),
            other => panic!("unexpected reason: {other}"),
        },
        Ok(a) => panic!("accepted: {a}"),
    }
}

#[test]
fn skopeo_signs_skiff_verifies_and_both_refuse_the_same() {
    let gpg = Gpg::new();
    let work = tempfile::tempdir().unwrap();
    let alice = gpg.key("alice");
    let bob = gpg.key("bob");
    let mallory = gpg.key("mallory");
    let alice_key = gpg.export("alice", false, work.path());
    let bob_key = gpg.export("bob", true, work.path());
    let manifest_path = work.path().join("manifest.json");
    std::fs::write(&manifest_path, MANIFEST).unwrap();
    let sig_path = work.path().join("signature-1");
    let sig = gpg.sign(&manifest_path, REF, &alice, &sig_path);
    let mallory_sig = gpg.sign(
        &manifest_path,
        REF,
        &mallory,
        &work.path().join("mallory-sig"),
    );

    // In-process verification with the exported (binary) key.
    let ring = Keyring::from_bytes(&std::fs::read(&alice_key).unwrap()).unwrap();
    assert_eq!(ring.fingerprints(), std::slice::from_ref(&alice));
    let v = verify_simple_signing(&sig, &ring).unwrap();
    assert_eq!(v.payload.docker_reference, REF);
    assert_eq!(
        v.payload.manifest_digest,
        skiff_oci::Digest::sha256(MANIFEST.as_bytes())
    );
    assert_eq!(v.primary_fingerprint, alice);
    assert!(gpg.skopeo_verifies(&manifest_path, REF, &alice, &sig_path));

    // The untrusted dump names the signing key without needing it.
    let dump = untrusted_simple_signing(&sig).unwrap();
    assert_eq!(dump.payload.docker_reference, REF);
    assert!(
        alice.to_lowercase().ends_with(&dump.key_ids.join("")),
        "{:?}",
        dump.key_ids
    );

    // Wrong key: bob's armored key does not verify alice's signature.
    let bob_ring = Keyring::from_bytes(&std::fs::read(&bob_key).unwrap()).unwrap();
    assert!(matches!(
        verify_simple_signing(&sig, &bob_ring),
        Err(SimpleSigningError::UntrustedKey { .. })
    ));
    assert!(!gpg.skopeo_verifies(&manifest_path, REF, &bob, &sig_path));

    // A corrupted signature is refused by both.
    let mut broken = sig.clone();
    let mid = broken.len() / 2;
    broken[mid] ^= 0x55;
    assert!(verify_simple_signing(&broken, &ring).is_err());
    let broken_path = work.path().join("broken");
    std::fs::write(&broken_path, &broken).unwrap();
    assert!(!gpg.skopeo_verifies(&manifest_path, REF, &alice, &broken_path));

    // No truncation is accepted; no single-byte corruption is accepted with another payload
    // (OpenPGP leaves unhashed subpackets and literal-data metadata unprotected, so some
    // flips still verify — to the same signed payload). Nothing panics.
    for len in 0..sig.len() {
        assert!(
            verify_simple_signing(&sig[..len], &ring).is_err(),
            "prefix {len}"
        );
    }
    for i in 0..sig.len() {
        let mut bad = sig.clone();
        bad[i] = bad[i].wrapping_add(1 + (i % 251) as u8);
        if let Ok(w) = verify_simple_signing(&bad, &ring) {
            assert_eq!(w.payload, v.payload, "byte {i}");
        }
    }

    // Policy: signedBy alice (binary keyring) for localhost:5000/app, reject elsewhere.
    let p = policy(
        work.path(),
        format!(
            r#"{{"default": [{{"type": "reject"}}], "transports": {{"docker": {{
                "localhost:5000/app": [{{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "{}"}}],
                "localhost:5000/team": [{{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": ["{}", "{}"]}}]
            }}}}}}"#,
            alice_key.display(),
            alice_key.display(),
            bob_key.display()
        ),
    );
    let signed = [Signature::from_blob(&sig).unwrap()];
    let ok = decide(&p, REF, MANIFEST.as_bytes(), &signed).unwrap();
    assert!(ok.verified[0].contains(&alice), "{:?}", ok.verified);

    // standalone-verify semantics: the named key, this manifest, exactly this reference.
    let only_alice = ring.only(&alice.to_lowercase());
    let exact = Reference::parse(REF).unwrap();
    assert!(verify_standalone(&sig, &only_alice, MANIFEST.as_bytes(), &exact).is_ok());
    let v2 = Reference::parse("localhost:5000/app:v2").unwrap();
    assert!(matches!(
        verify_standalone(&sig, &only_alice, MANIFEST.as_bytes(), &v2),
        Err(SignatureRejection::Identity(_))
    ));
    assert!(verify_standalone(&sig, &ring.only(&bob), MANIFEST.as_bytes(), &exact).is_err());

    // Tampered manifest.
    let tampered = MANIFEST.replace("\"layers\":[]", "\"layers\":[ ]");
    let r = only_rejection(decide(&p, REF, tampered.as_bytes(), &signed));
    assert!(
        matches!(r, SignatureRejection::ManifestDigest { .. }),
        "{r}"
    );
    let tampered_path = work.path().join("tampered.json");
    std::fs::write(&tampered_path, &tampered).unwrap();
    assert!(!gpg.skopeo_verifies(&tampered_path, REF, &alice, &sig_path));

    // Wrong identity.
    let r = only_rejection(decide(
        &p,
        "localhost:5000/app:v2",
        MANIFEST.as_bytes(),
        &signed,
    ));
    assert!(
        matches!(
            r,
            SignatureRejection::Identity(IdentityError::Mismatch { .. })
        ),
        "{r}"
    );
    assert!(!gpg.skopeo_verifies(&manifest_path, "localhost:5000/app:v2", &alice, &sig_path));

    // Signed by a key the policy does not trust.
    let by_mallory = [Signature::from_blob(&mallory_sig).unwrap()];
    let r = only_rejection(decide(&p, REF, MANIFEST.as_bytes(), &by_mallory));
    assert!(
        matches!(
            r,
            SignatureRejection::Simple(SimpleSigningError::UntrustedKey { .. })
        ),
        "{r}"
    );

    // Unsigned image, and a scope that rejects everything; messages name file and scope.
    let e = decide(&p, REF, MANIFEST.as_bytes(), &[]).unwrap_err();
    assert_eq!(e.reason, RejectReason::NoSignature("simple signing"));
    let text = e.to_string();
    assert!(
        text.contains("policy.json") && text.contains("localhost:5000/app"),
        "{text}"
    );
    let e = decide(&p, "localhost:5000/other:v1", MANIFEST.as_bytes(), &signed).unwrap_err();
    assert_eq!(e.reason, RejectReason::Reject);

    // keyPaths: either key of the list is trusted.
    let bob_sig = gpg.sign(
        &manifest_path,
        "localhost:5000/team/x:1",
        &bob,
        &work.path().join("bob-sig"),
    );
    let team = [Signature::from_blob(&bob_sig).unwrap()];
    assert!(decide(&p, "localhost:5000/team/x:1", MANIFEST.as_bytes(), &team).is_ok());

    // keyData carries the keyring inline.
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&alice_key).unwrap());
    let inline = policy(
        work.path(),
        format!(
            r#"{{"default": [{{"type": "signedBy", "keyType": "GPGKeys", "keyData": "{data}", "signedIdentity": {{"type": "matchRepository"}}}}]}}"#
        ),
    );
    assert!(decide(
        &inline,
        "localhost:5000/app:latest",
        MANIFEST.as_bytes(),
        &signed
    )
    .is_ok());

    // A trusted key that has expired since it signed is refused, by skopeo (GnuPG) as well.
    let eve = gpg.key("eve");
    let eve_sig_path = work.path().join("eve-sig");
    let eve_sig = gpg.sign(&manifest_path, REF, &eve, &eve_sig_path);
    gpg.run(&[
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
        "--quick-set-expire",
        &eve,
        "seconds=1",
    ]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let eve_ring =
        Keyring::from_bytes(&std::fs::read(gpg.export("eve", false, work.path())).unwrap())
            .unwrap();
    let err = verify_simple_signing(&eve_sig, &eve_ring).unwrap_err();
    assert!(
        matches!(err, SimpleSigningError::KeyNotValid { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(!gpg.skopeo_verifies(&manifest_path, REF, &eve, &eve_sig_path));

    // The other direction: a payload built here, signed by the real gpg, is accepted by
    // skopeo standalone-verify and by skiff-trust.
    let digest = skiff_oci::Digest::sha256(MANIFEST.as_bytes());
    let payload = signing_payload(
        PayloadKind::SimpleSigning,
        REF,
        &digest,
        "skiff test",
        1_700_000_000,
    );
    let payload_path = work.path().join("payload.json");
    std::fs::write(&payload_path, payload).unwrap();
    let ours_path = work.path().join("skiff-made-sig");
    gpg.run(&[
        "--local-user",
        &alice,
        "--output",
        ours_path.to_str().unwrap(),
        "--sign",
        payload_path.to_str().unwrap(),
    ]);
    assert!(gpg.skopeo_verifies(&manifest_path, REF, &alice, &ours_path));
    let ours = std::fs::read(&ours_path).unwrap();
    assert!(verify_standalone(&ours, &only_alice, MANIFEST.as_bytes(), &exact).is_ok());
}
