//! The open setup, the image builders and the pusher, checked with skopeo.

mod common;

use common::skopeo;
use skiff_testbed::image::{sha256_digest, Format};
use skiff_testbed::{
    busybox_image, multi_arch, push_image, push_multi_arch, RegistryServer, Setup,
};

#[test]
fn push_then_skopeo_copies_to_oci_layout() {
    let reg = RegistryServer::start(Setup::Open).expect("registry starts");
    let image = busybox_image(Format::Oci);
    push_image(&reg.host(), "test/busybox", "v1", &image, None).expect("push");

    let out = tempfile::tempdir().unwrap();
    let dest = format!("oci:{}:v1", out.path().display());
    let src = format!("docker://{}/test/busybox:v1", reg.host());
    skopeo(&["copy", "--src-tls-verify=false", &src, &dest]);

    // Same manifest bytes, so same digest, and every blob arrived intact.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["digest"],
        image.manifest_digest.as_str()
    );
    for blob in image.blobs() {
        let hex = blob.digest.strip_prefix("sha256:").unwrap();
        let data = std::fs::read(out.path().join("blobs/sha256").join(hex)).unwrap();
        assert_eq!(sha256_digest(&data), blob.digest);
    }

    let inspect = skopeo(&["inspect", "--tls-verify=false", &src]);
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(v["Digest"], image.manifest_digest.as_str());
    assert_eq!(v["Architecture"], "amd64");
    assert!(v["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "GREETING=hello world"));
}

#[test]
fn docker_format_and_multi_arch() {
    let reg = RegistryServer::start(Setup::Open).expect("registry starts");
    let docker = busybox_image(Format::Docker);
    push_image(&reg.host(), "test/docker", "latest", &docker, None).expect("push docker");
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/test/docker:latest", reg.host()),
    ]);
    assert_eq!(raw.as_bytes(), docker.manifest.as_slice());

    let arm = skiff_testbed::image::busybox_builder(Format::Docker)
        .platform("linux", "arm64", Some("v8"))
        .build();
    let m = multi_arch(Format::Docker, vec![docker.clone(), arm.clone()]);
    push_multi_arch(&reg.host(), "test/multi", "latest", &m, None).expect("push multi");
    let src = format!("docker://{}/test/multi:latest", reg.host());
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &src]);
    assert_eq!(raw.as_bytes(), m.index.as_slice());
    let v: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--override-arch",
        "arm64",
        "--override-variant",
        "v8",
        &src,
    ]))
    .unwrap();
    // skopeo reports the digest of the reference (the list) and the
    // config of the selected platform.
    assert_eq!(v["Digest"], m.digest.as_str());
    assert_eq!(v["Architecture"], "arm64");
}
