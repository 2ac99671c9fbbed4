//! Pushing like a good client, against real `docker-registry` instances (behind a proxy
//! that records requests and plays a registry with a request size limit): blobs the
//! registry has are skipped after a HEAD, blobs of another repository are mounted, a
//! registry that refuses large bodies gets chunks, every request of a push is retried,
//! and manifest lists go up after their children.

mod common;

use std::path::Path;

use common::*;
use skiff_testbed::image::{busybox_builder, multi_arch, Format, LayerBuilder};
use skiff_testbed::push::{push_image, push_multi_arch};
use skiff_testbed::{
    Compression, Fault, FaultProxy, Image, ImageBuilder, RecordedRequest, RegistryServer, Setup,
};

/// `bytes` of noise no compressor shrinks (xorshift), so layers keep their size.
fn noise(bytes: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..bytes)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An image with a layer of `layer_bytes` of noise on top of busybox.
fn image(layer_bytes: usize, seed: u64) -> Image {
    let layer = LayerBuilder::new()
        .dir("data", 0o755)
        .file("data/noise", 0o644, &noise(layer_bytes, seed))
        .build();
    busybox_builder(Format::Oci)
        .layer(layer, Compression::Gzip)
        .build()
}

fn layout(dir: &Path, img: &Image) -> String {
    skiff_testbed::write_oci_layout(dir, "v1", img).unwrap();
    format!("oci:{}:v1", dir.display())
}

fn uploads(reqs: &[RecordedRequest]) -> usize {
    reqs.iter()
        .filter(|r| r.method == "POST" && r.path.contains("/blobs/uploads/"))
        .count()
}

/// Pulls `name` back with skopeo and checks every layer is the image's.
fn assert_pulls_back(registry: &str, name: &str, img: &Image) {
    let dir = tempfile::tempdir().unwrap();
    peer_ok(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{registry}/{name}"),
            &format!("dir:{}", dir.path().display()),
        ],
    );
    for l in &img.layers {
        let hex = l.digest.trim_start_matches("sha256:");
        assert_eq!(std::fs::read(dir.path().join(hex)).unwrap(), l.data);
    }
}

#[test]
fn blobs_the_registry_has_are_skipped_after_a_head() {
    let img = image(300_000, 1);
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let proxy = FaultProxy::start(&reg.host(), vec![]).unwrap();
    let work = tempfile::tempdir().unwrap();
    let src = layout(&work.path().join("layout"), &img);
    let push = |tag: &str| {
        skiff_ok(&[
            "copy",
            "-q",
            "--dest-tls-verify=false",
            &src,
            &format!("docker://{}/app:{tag}", proxy.host()),
        ])
    };
    push("v1");
    let first = proxy.requests();
    assert_eq!(
        uploads(&first),
        img.blobs().count(),
        "every blob uploaded once"
    );
    push("v2");
    let second = &proxy.requests()[first.len()..];
    assert_eq!(uploads(second), 0, "{second:#?}");
    let heads = second
        .iter()
        .filter(|r| r.method == "HEAD" && r.path.contains("/blobs/"))
        .count();
    assert_eq!(heads, img.blobs().count());
    assert_pulls_back(&reg.host(), "app:v2", &img);
}

#[test]
fn blobs_of_another_repository_are_mounted_with_a_token_for_both() {
    let reg = RegistryServer::start(Setup::TokenWithRedirect {
        user: "bob".into(),
        password: "builder".into(),
    })
    .unwrap();
    let img = image(300_000, 2);
    push_image(
        &reg.host(),
        "team/src",
        "v1",
        &img,
        Some(("bob", "builder")),
    )
    .unwrap();
    let proxy = FaultProxy::start(&reg.host(), vec![]).unwrap();
    let tokens_before = reg.token_server().unwrap().requests().len();
    // The registry's own name in both references: the same registry, so mount.
    skiff_ok(&[
        "copy",
        "-q",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--src-creds",
        "bob:builder",
        "--dest-creds",
        "bob:builder",
        &format!("docker://{}/team/src:v1", proxy.host()),
        &format!("docker://{}/team/dst:v1", proxy.host()),
    ]);
    let reqs = proxy.requests();
    let mounts: Vec<&RecordedRequest> = reqs
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("mount="))
        .collect();
    assert_eq!(mounts.len(), img.blobs().count(), "{reqs:#?}");
    assert!(mounts
        .iter()
        .all(|r| r.path.contains("from=team%2Fsrc") && r.status == 201));
    assert_eq!(
        uploads(&reqs),
        mounts.len(),
        "nothing but mounts started an upload"
    );
    let layer_gets = reqs
        .iter()
        .filter(|r| r.method == "GET" && img.layers.iter().any(|l| r.path.ends_with(&l.digest)))
        .count();
    assert_eq!(layer_gets, 0, "no layer was downloaded");
    let tokens = &reg.token_server().unwrap().requests()[tokens_before..];
    assert!(
        tokens.iter().any(|t| {
            t.scopes.iter().any(|s| s == "repository:team/src:pull")
                && t.scopes
                    .iter()
                    .any(|s| s == "repository:team/dst:pull,push")
        }),
        "{tokens:#?}"
    );
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--creds", "bob:builder"])
        .arg(format!("docker://{}/team/dst:v1", reg.host()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&img.layers.last().unwrap().digest));
}

#[test]
fn a_registry_that_refuses_large_bodies_gets_chunks() {
    let img = image(3 << 20, 3);
    let big = img.layers.last().unwrap().data.len();
    assert!(big > 2 << 20, "{big}");
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let limit = 1u64 << 20;
    let proxy =
        FaultProxy::start(&reg.host(), vec![Fault::BodyLimit { max_bytes: limit }]).unwrap();
    let work = tempfile::tempdir().unwrap();
    let src = layout(&work.path().join("layout"), &img);
    skiff_ok(&[
        "copy",
        "-q",
        "--dest-tls-verify=false",
        &src,
        &format!("docker://{}/app:v1", proxy.host()),
    ]);
    let reqs = proxy.requests();
    let refused = reqs.iter().filter(|r| r.status == 413).count();
    assert!(refused >= 1, "the monolithic upload was refused first");
    let patches = reqs
        .iter()
        .filter(|r| r.method == "PATCH" && r.status == 202)
        .count();
    let total: usize = img.layers[1].data.len();
    assert!(
        patches >= total / (1 << 20),
        "{patches} chunks for {total} bytes"
    );
    assert_pulls_back(&reg.host(), "app:v1", &img);
}

#[test]
fn every_request_of_a_push_is_retried() {
    let img = image(200_000, 4);
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let faults = vec![
        Fault::ServerError {
            path_contains: "/blobs/sha256:".into(),
            times: 1,
        },
        Fault::ServerError {
            path_contains: "/blobs/uploads/".into(),
            times: 3,
        },
        Fault::TooManyRequests {
            path_contains: "/manifests/".into(),
            times: 1,
            retry_after_secs: 0,
        },
    ];
    let proxy = FaultProxy::start(&reg.host(), faults).unwrap();
    let work = tempfile::tempdir().unwrap();
    let src = layout(&work.path().join("layout"), &img);
    skiff_ok(&[
        "copy",
        "-q",
        "--retry-delay=10ms",
        "--dest-tls-verify=false",
        &src,
        &format!("docker://{}/app:v1", proxy.host()),
    ]);
    assert_eq!(proxy.fired(), vec![1, 3, 1]);
    assert_pulls_back(&reg.host(), "app:v1", &img);
}

#[test]
fn a_manifest_list_goes_up_after_its_children() {
    let images: Vec<Image> = [("amd64", 5), ("arm64", 6)]
        .iter()
        .map(|(arch, seed)| {
            ImageBuilder::new(Format::Oci)
                .platform("linux", arch, None)
                .layer(
                    LayerBuilder::new()
                        .file("n", 0o644, &noise(50_000, *seed))
                        .build(),
                    Compression::Gzip,
                )
                .build()
        })
        .collect();
    let multi = multi_arch(Format::Oci, images);
    let reg = RegistryServer::start(Setup::Open).unwrap();
    push_multi_arch(&reg.host(), "src", "v1", &multi, None).unwrap();
    let proxy = FaultProxy::start(&reg.host(), vec![]).unwrap();
    skiff_ok(&[
        "copy",
        "-q",
        "--all",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{}/src:v1", proxy.host()),
        &format!("docker://{}/dst:v1", proxy.host()),
    ]);
    let puts: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/dst/manifests/"))
        .map(|r| r.path)
        .collect();
    assert_eq!(puts.len(), 3, "{puts:?}");
    assert!(
        puts[..2].iter().all(|p| p.contains("/manifests/sha256:")),
        "{puts:?}"
    );
    assert!(puts[2].ends_with("/manifests/v1"), "{puts:?}");
}

/// skiff counts the bytes of a layer it pushes but leaves hashing them to the registry,
/// which completes an upload only when the bytes match the digest: a layout blob damaged
/// in place (same size) or cut short still fails the push, and the registry keeps
/// neither that blob nor the tag.
#[test]
fn a_damaged_layer_fails_the_push_and_the_registry_keeps_neither_blob_nor_tag() {
    let img = image(3 << 20, 5);
    let layer = img.layers.last().unwrap();
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let work = tempfile::tempdir().unwrap();
    fn flip(mut b: Vec<u8>) -> Vec<u8> {
        let mid = b.len() / 2;
        b[mid] ^= 0x55;
        b
    }
    fn cut(mut b: Vec<u8>) -> Vec<u8> {
        b.truncate(b.len() - 1000);
        b
    }
    type Damage = fn(Vec<u8>) -> Vec<u8>;
    let cases: [(&str, Damage, &str); 2] =
        [("flipped", flip, "digest"), ("short", cut, "size mismatch")];
    for (case, damage, expected) in cases {
        let dir = work.path().join(case);
        let src = layout(&dir, &img);
        let blob = dir
            .join("blobs/sha256")
            .join(layer.digest.trim_start_matches("sha256:"));
        std::fs::write(&blob, damage(std::fs::read(&blob).unwrap())).unwrap();
        let dest = format!("docker://{}/app:{case}", reg.host());
        let out = skiff(&["copy", "-q", "--dest-tls-verify=false", &src, &dest]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{case}: {stderr}");
        assert!(stderr.contains(expected), "{case}: {stderr}");
        assert!(!reg.blob_path(&layer.digest).exists(), "{case}: blob kept");
        let inspect = std::process::Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", &dest])
            .output()
            .unwrap();
        assert!(!inspect.status.success(), "{case}: the tag exists");
    }
}
