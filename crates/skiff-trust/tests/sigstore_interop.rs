//! Sigstore with the real peer in the loop. Debian's skopeo 1.9.3 has sigstore patched out
//! in both directions ("Debian-local change: sigstore disabled": it neither signs with
//! `--sign-by-sigstore-private-key` nor verifies `sigstoreSigned`), so the signature is made
//! here the way cosign makes it (ECDSA P-256 over the payload) and stored in a `dir:` image
//! skopeo wrote, in the blob encoding containers/image uses. skiff-trust must decide every
//! case as containers-policy.json(5) says; skopeo is asked too, and must either agree or
//! answer with Debian's "sigstore disabled" (so an upgraded skopeo becomes a real check).

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::SigningKey;
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use skiff_oci::Reference;
use skiff_testbed::image::Format;
use skiff_testbed::{busybox_image, write_oci_layout};
use skiff_trust::{
    evaluate, ImageUnderTest, Policy, PolicyScope, RejectReason, Signature, SigstoreSignature,
};

const IDENTITY: &str = "localhost:5000/app:v1";

/// A cosign-style signature of `manifest` as `identity` by the key of `seed`.
fn cosign_sign(seed: u8, manifest: &[u8], identity: &str) -> Signature {
    let digest = skiff_oci::Digest::sha256(manifest);
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{identity}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":{{"creator":"skiff test"}}}}"#
    );
    let key = SigningKey::from_slice(&[seed; 32]).unwrap();
    let sig: p256::ecdsa::Signature = key.sign(payload.as_bytes());
    Signature::Sigstore(SigstoreSignature {
        mime_type: SigstoreSignature::PAYLOAD_MEDIA_TYPE.into(),
        payload: payload.into_bytes(),
        annotations: [(
            SigstoreSignature::SIGNATURE_ANNOTATION.to_string(),
            B64.encode(sig.to_der().as_bytes()),
        )]
        .into(),
    })
}

/// Writes the PEM public key of the key of `seed` to `path`.
fn write_public_key(seed: u8, path: &Path) {
    let key = SigningKey::from_slice(&[seed; 32]).unwrap();
    std::fs::write(
        path,
        key.verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
    )
    .unwrap();
}

/// skopeo's verdict must match `expected`, unless this skopeo has sigstore disabled.
fn skopeo_agrees(verdict: Result<(), String>, expected: bool) {
    match verdict {
        Err(e) if e.contains("sigstore disabled") => {}
        Err(e) => assert!(!expected && e.contains("rejected"), "skopeo: {e}"),
        Ok(()) => assert!(expected, "skopeo accepted what skiff-trust must reject"),
    }
}

fn skopeo(args: &[&str]) -> Result<(), String> {
    let o = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo must be installed");
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

fn dir_policy(work: &Path, name: &str, key: &Path, identity: &str) -> std::path::PathBuf {
    let path = work.join(name);
    let json = format!(
        r#"{{"default": [{{"type": "reject"}}], "transports": {{"dir": {{"": [{{"type": "sigstoreSigned", "keyPath": "{}",
            "signedIdentity": {{"type": "exactReference", "dockerReference": "{identity}"}}}}]}}}}}}"#,
        key.display()
    );
    std::fs::write(&path, json).unwrap();
    path
}

#[test]
fn cosign_style_signatures_in_a_skopeo_dir_image() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    write_public_key(3, &w.join("trusted.pub"));
    write_public_key(4, &w.join("other.pub"));
    write_oci_layout(&w.join("layout"), "v1", &busybox_image(Format::Oci)).unwrap();
    let layout = format!("oci:{}:v1", w.join("layout").display());
    let signed = w.join("signed");
    skopeo(&[
        "--insecure-policy",
        "copy",
        &layout,
        &format!("dir:{}", signed.display()),
    ])
    .unwrap();
    let manifest = std::fs::read(signed.join("manifest.json")).unwrap();
    std::fs::write(
        signed.join("signature-1"),
        cosign_sign(3, &manifest, IDENTITY).to_blob(),
    )
    .unwrap();

    let sig = Signature::from_blob(&std::fs::read(signed.join("signature-1")).unwrap()).unwrap();
    assert!(matches!(sig, Signature::Sigstore(_)), "{sig:?}");
    let sigs = [sig];
    let decide = |policy: &Path, tampered: bool| {
        let p = Policy::load(policy).unwrap();
        let reqs = p.requirements_for(&PolicyScope::dir(&signed).unwrap());
        let mut m = manifest.clone();
        if tampered {
            m.push(b'\n');
        }
        evaluate(
            &reqs,
            &ImageUnderTest {
                docker_reference: None,
                manifest: &m,
                signatures: &sigs,
            },
        )
    };
    let copy_under = |policy: &Path, out: &str| {
        skopeo(&[
            "--policy",
            policy.to_str().unwrap(),
            "copy",
            &format!("dir:{}", signed.display()),
            &format!("dir:{}", w.join(out).display()),
        ])
    };

    let good = dir_policy(w, "good.json", &w.join("trusted.pub"), IDENTITY);
    assert!(decide(&good, false).is_ok(), "{:?}", decide(&good, false));
    skopeo_agrees(copy_under(&good, "out-good"), true);

    let wrong_key = dir_policy(w, "key.json", &w.join("other.pub"), IDENTITY);
    let e = decide(&wrong_key, false).unwrap_err();
    assert!(e.to_string().contains("not made by a trusted key"), "{e}");
    skopeo_agrees(copy_under(&wrong_key, "out-key"), false);

    let wrong_identity = dir_policy(
        w,
        "id.json",
        &w.join("trusted.pub"),
        "localhost:5000/app:v2",
    );
    let e = decide(&wrong_identity, false).unwrap_err();
    assert!(
        e.to_string().contains("not for localhost:5000/app:v2"),
        "{e}"
    );
    skopeo_agrees(copy_under(&wrong_identity, "out-id"), false);

    let e = decide(&good, true).unwrap_err();
    assert!(e.to_string().contains("not for this manifest"), "{e}");

    // Under a docker scope the default matcher compares with the image's own reference.
    let p = Policy::from_json(
        format!(
            r#"{{"default": [{{"type": "sigstoreSigned", "keyPath": "{}"}}]}}"#,
            w.join("trusted.pub").display()
        )
        .as_bytes(),
        Path::new("inline"),
    )
    .unwrap();
    let r = Reference::parse(IDENTITY).unwrap();
    let reqs = p.requirements_for(&PolicyScope::docker(&r));
    let image = ImageUnderTest {
        docker_reference: Some(&r),
        manifest: &manifest,
        signatures: &sigs,
    };
    assert!(evaluate(&reqs, &image).is_ok());
    let unsigned = ImageUnderTest {
        signatures: &[],
        ..image
    };
    assert_eq!(
        evaluate(&reqs, &unsigned).unwrap_err().reason,
        RejectReason::NoSignature("sigstore")
    );
}
