//! `skiff copy` end to end, against real docker-registry processes, with skopeo and umoci
//! as interoperability peers.

mod common;

use std::path::Path;

use common::*;
use skiff_testbed::image::{Compression, Format, Image, ImageBuilder, LayerBuilder};
use skiff_testbed::push::{push_image, push_multi_arch};
use skiff_testbed::{Fault, FaultProxy, RegistryServer, Setup};

fn sample(format: Format, seed: &str) -> Image {
    let l1 = LayerBuilder::new()
        .dir("etc", 0o755)
        .file(
            "etc/os-release",
            0o644,
            format!("ID=skiff-{seed}\n").as_bytes(),
        )
        .build();
    let big: Vec<u8> = (0..300_000u32)
        .flat_map(|i| i.wrapping_mul(2654435761).to_le_bytes())
        .collect();
    let l2 = LayerBuilder::new()
        .dir("srv", 0o755)
        .file("srv/blob.bin", 0o644, &big)
        .build();
    let l3 = LayerBuilder::new()
        .file("srv/hello.txt", 0o644, b"hello\n")
        .build();
    let b = ImageBuilder::new(format)
        .layer(l1, Compression::Gzip)
        .layer(l2, Compression::Gzip)
        .entrypoint(&["/bin/sh"])
        .env("PATH=/usr/bin:/bin")
        .workdir("/srv");
    match format {
        Format::Oci => b.layer(l3, Compression::Zstd).build(),
        Format::Docker => b.layer(l3, Compression::None).build(),
    }
}

fn layer_digests(image: &Image) -> Vec<String> {
    image.layers.iter().map(|l| l.digest.clone()).collect()
}

/// What a Proxmox-ready archive must look like (PROXMOX.md).
fn assert_proxmox_archive(path: &Path) -> serde_json::Value {
    let entries = tar_entries(path);
    assert!(
        entries
            .iter()
            .all(|e| !e.starts_with("./") && !e.starts_with('/')),
        "{entries:?}"
    );
    assert!(entries.contains(&"oci-layout".to_string()));
    assert!(entries.contains(&"index.json".to_string()));
    assert!(entries.iter().any(|e| e.starts_with("blobs/sha256/")));
    let index = json(&tar_read(path, "index.json"));
    let first = &index["manifests"][0];
    assert_eq!(
        first["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let digest = first["digest"].as_str().unwrap();
    let manifest = json(&tar_read(path, &format!("blobs/sha256/{}", &digest[7..])));
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    for l in manifest["layers"].as_array().unwrap() {
        assert!(l["mediaType"]
            .as_str()
            .unwrap()
            .starts_with("application/vnd.oci.image.layer.v1.tar"));
        let name = format!("blobs/sha256/{}", &l["digest"].as_str().unwrap()[7..]);
        assert!(entries.contains(&name), "{name} missing");
    }
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config = json(&tar_read(
        path,
        &format!("blobs/sha256/{}", &config_digest[7..]),
    ));
    assert!(
        config["history"].is_array(),
        "Proxmox needs history in the config"
    );
    manifest
}

#[test]
fn pulls_oci_image_into_a_proxmox_ready_archive_that_skopeo_and_umoci_read() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let image = sample(Format::Oci, "oci");
    push_image(&reg.host(), "app", "v1", &image, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("app_v1.tar");
    skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/app:v1", reg.host()),
        &format!("oci-archive:{}", archive.display()),
    ]);
    let manifest = assert_proxmox_archive(&archive);
    let layers: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        layers,
        layer_digests(&image),
        "layers are copied byte for byte"
    );
    // An OCI manifest is stored exactly as the registry served it.
    let index = json(&tar_read(&archive, "index.json"));
    assert_eq!(index["manifests"][0]["digest"], image.manifest_digest);
    assert_eq!(
        dir_names(dir.path()),
        vec!["app_v1.tar"],
        "no temporary files left"
    );

    let inspected = json(
        peer_ok(
            "skopeo",
            &["inspect", &format!("oci-archive:{}", archive.display())],
        )
        .as_bytes(),
    );
    assert_eq!(inspected["Digest"], image.manifest_digest);

    // umoci unpacks what skiff wrote as an oci: layout (umoci 0.4.7 reads no zstd, so
    // this image has gzip and plain layers).
    push_image(
        &reg.host(),
        "app",
        "gz",
        &sample(Format::Docker, "oci"),
        None,
    )
    .unwrap();
    let layout = dir.path().join("layout");
    skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/app:gz", reg.host()),
        &format!("oci:{}:v1", layout.display()),
    ]);
    let bundle = dir.path().join("bundle");
    peer_ok(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:v1", layout.display()),
            bundle.to_str().unwrap(),
        ],
    );
    assert_eq!(
        std::fs::read(bundle.join("rootfs/srv/hello.txt")).unwrap(),
        b"hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/etc/os-release")).unwrap(),
        "ID=skiff-oci\n"
    );
}

#[test]
fn docker_v2s2_is_converted_to_oci_with_layers_unchanged() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let image = sample(Format::Docker, "docker");
    push_image(&reg.host(), "lib/dock", "1.0", &image, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("dock.tar");
    // The uncompressed layer stays so only when asked: by default it is gzipped, as
    // skopeo does (tests/details.rs).
    skiff_ok(&[
        "copy",
        "-q",
        "--src-tls-verify=false",
        "--dest-oci-accept-uncompressed-layers",
        &format!("docker://{}/lib/dock:1.0", reg.host()),
        &format!("oci-archive:{}", archive.display()),
    ]);
    let manifest = assert_proxmox_archive(&archive);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let types: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar"
        ]
    );
    let layers: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(layers, layer_digests(&image));
    // skopeo agrees on what the converted image is.
    let inspected = json(
        peer_ok(
            "skopeo",
            &["inspect", &format!("oci-archive:{}", archive.display())],
        )
        .as_bytes(),
    );
    assert_eq!(inspected["Layers"].as_array().unwrap().len(), 3);
    assert_eq!(inspected["Env"][0], "PATH=/usr/bin:/bin");

    // --preserve-digests refuses the conversion instead.
    let out = skiff(&[
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        &format!("docker://{}/lib/dock:1.0", reg.host()),
        &format!("oci-archive:{}", dir.path().join("p.tar").display()),
    ]);
    assert!(!out.status.success());
    assert!(!dir.path().join("p.tar").exists());

    // dir: keeps the Docker manifest byte for byte.
    let d = dir.path().join("dir");
    skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/lib/dock:1.0", reg.host()),
        &format!("dir:{}", d.display()),
    ]);
    assert_eq!(
        std::fs::read(d.join("manifest.json")).unwrap(),
        image.manifest
    );
    assert_eq!(
        json(peer_ok("skopeo", &["inspect", &format!("dir:{}", d.display())]).as_bytes())["Digest"],
        image.manifest_digest
    );
}

#[test]
fn manifest_lists_pick_the_platform_or_keep_everything_with_all() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let amd = sample(Format::Docker, "amd64");
    let arm = ImageBuilder::new(Format::Docker)
        .platform("linux", "arm64", Some("v8"))
        .layer(
            LayerBuilder::new().file("arch", 0o644, b"arm64\n").build(),
            Compression::Gzip,
        )
        .build();
    let list = skiff_testbed::image::multi_arch(Format::Docker, vec![amd.clone(), arm.clone()]);
    push_multi_arch(&reg.host(), "multi", "latest", &list, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let src = format!("docker://{}/multi", reg.host());

    let host = dir.path().join("host.tar");
    skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        &src,
        &format!("oci-archive:{}", host.display()),
    ]);
    let m = assert_proxmox_archive(&host);
    assert_eq!(
        m["layers"].as_array().unwrap().len(),
        3,
        "the amd64 image was chosen"
    );

    let other = dir.path().join("arm.tar");
    skiff_ok(&[
        "--override-arch",
        "arm64",
        "copy",
        "--src-tls-verify=false",
        &src,
        &format!("oci-archive:{}", other.display()),
    ]);
    let m = assert_proxmox_archive(&other);
    assert_eq!(m["layers"][0]["digest"], arm.layers[0].digest);

    let all = dir.path().join("all");
    skiff_ok(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &src,
        &format!("oci:{}:multi", all.display()),
    ]);
    let index = json(&std::fs::read(all.join("index.json")).unwrap());
    assert_eq!(
        index["manifests"][0]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let d = index["manifests"][0]["digest"].as_str().unwrap();
    let inner = json(&std::fs::read(all.join("blobs/sha256").join(&d[7..])).unwrap());
    assert_eq!(inner["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(inner["manifests"][1]["platform"]["architecture"], "arm64");
    // Every platform is readable by skopeo from the layout.
    peer_ok(
        "skopeo",
        &[
            "inspect",
            "--override-arch",
            "arm64",
            &format!("oci:{}:multi", all.display()),
        ],
    );

    let missing = skiff(&[
        "--override-arch",
        "s390x",
        "copy",
        "--src-tls-verify=false",
        &src,
        &format!("oci-archive:{}", dir.path().join("no.tar").display()),
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("s390x"));
}

/// An OCI image of gzip and uncompressed layers (Docker can express both).
fn oci_without_zstd(seed: &str, arch: &str, variant: Option<&str>) -> Image {
    ImageBuilder::new(Format::Oci)
        .platform("linux", arch, variant)
        .layer(
            LayerBuilder::new()
                .file("seed", 0o644, seed.as_bytes())
                .build(),
            Compression::Gzip,
        )
        .layer(
            LayerBuilder::new()
                .file("arch", 0o644, arch.as_bytes())
                .build(),
            Compression::None,
        )
        .env("PATH=/bin")
        .build()
}

#[test]
fn format_converts_both_ways_exactly_as_skopeo_does() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let amd = oci_without_zstd("one", "amd64", None);
    let arm = oci_without_zstd("one", "arm64", Some("v8"));
    let list = skiff_testbed::image::multi_arch(Format::Oci, vec![amd.clone(), arm]);
    push_multi_arch(&reg.host(), "oci", "multi", &list, None).unwrap();
    push_image(&reg.host(), "oci", "single", &amd, None).unwrap();
    push_image(
        &reg.host(),
        "docker",
        "v1",
        &sample(Format::Docker, "d"),
        None,
    )
    .unwrap();
    push_image(&reg.host(), "zstd", "v1", &sample(Format::Oci, "z"), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let src = |name: &str| format!("docker://{}/{name}", reg.host());
    let at = |name: &str| dir.path().join(name);

    // OCI → v2s2 and Docker → OCI into dir:, single and --all: the same bytes as skopeo.
    for (extra, from, format) in [
        (None, "oci:single", "v2s2"),
        (Some("--all"), "oci:multi", "v2s2"),
        (None, "docker:v1", "oci"),
    ] {
        let outputs = ["skopeo", "skiff"].map(|tool| {
            let out = at(&format!("{tool}-{}-{format}", from.replace(':', "-")));
            let mut args = vec!["copy", "-q", "--src-tls-verify=false", "--format", format];
            args.extend(extra);
            let (src, dest) = (src(from), format!("dir:{}", out.display()));
            args.extend([src.as_str(), dest.as_str()]);
            match tool {
                "skopeo" => drop(peer_ok("skopeo", &args)),
                _ => drop(skiff_ok(&args)),
            }
            out
        });
        let manifest = |d: &Path| std::fs::read(d.join("manifest.json")).unwrap();
        assert_eq!(
            String::from_utf8(manifest(&outputs[1])).unwrap(),
            String::from_utf8(manifest(&outputs[0])).unwrap(),
            "{from} --format {format}"
        );
        assert_eq!(dir_names(&outputs[1]), dir_names(&outputs[0]), "{from}");
    }
    let v2 = json(&std::fs::read(at("skiff-oci-multi-v2s2/manifest.json")).unwrap());
    assert_eq!(
        v2["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );

    // Pushed as v2s2, the registry serves a Docker manifest; compressed layers keep their bytes.
    skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--format",
        "v2s2",
        &src("oci:single"),
        &src("pushed:v2"),
    ]);
    let raw = json(
        peer_ok(
            "skopeo",
            &["inspect", "--raw", "--tls-verify=false", &src("pushed:v2")],
        )
        .as_bytes(),
    );
    assert_eq!(
        raw["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(raw["layers"][0]["digest"], amd.layers[0].digest);
    // The uncompressed layer is pushed gzip-compressed, as skopeo pushes it.
    assert_eq!(
        raw["layers"][1]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );

    // What cannot be expressed is refused before anything is written.
    for (from, dest, needle) in [
        ("zstd:v1", format!("dir:{}", at("z").display()), "zstd"),
        (
            "oci:single",
            format!("oci:{}:x", at("layout").display()),
            "OCI images only",
        ),
    ] {
        let out = skiff(&[
            "copy",
            "--src-tls-verify=false",
            "--format",
            "v2s2",
            &src(from),
            &dest,
        ]);
        assert_eq!(out.status.code(), Some(1), "{from}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{from}: {stderr}");
    }
    assert!(!at("z").exists() && !at("layout").exists());
    // --preserve-digests refuses the conversion too.
    let out = skiff(&[
        "copy",
        "--src-tls-verify=false",
        "--format",
        "v2s2",
        "--preserve-digests",
        &src("oci:single"),
        &format!("dir:{}", at("kept").display()),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Docker v2s2"));
    assert!(!at("kept").exists());
}

/// The layers of the image manifest in `dir:` output: (media type, digest) pairs.
fn dir_layers(dir: &Path) -> Vec<(String, String)> {
    let m = json(&std::fs::read(dir.join("manifest.json")).unwrap());
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["mediaType"].as_str().unwrap().to_string(),
                l["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn layers_are_reencoded_on_request_and_unpack_to_the_same_tree() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let oci = sample(Format::Oci, "enc"); // gzip, gzip, zstd
    let docker = sample(Format::Docker, "enc"); // gzip, gzip, uncompressed
    push_image(&reg.host(), "oci", "v1", &oci, None).unwrap();
    push_image(&reg.host(), "docker", "v1", &docker, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    let src = |repo: &str| format!("docker://{}/{repo}:v1", reg.host());
    let copy = |extra: &[&str], from: &str, to: String| {
        let mut args = vec!["copy", "-q", "--src-tls-verify=false"];
        args.extend(extra);
        let from = src(from);
        args.extend([from.as_str(), to.as_str()]);
        skiff(&args)
    };
    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let unpacked = |image: String, name: &str| {
        let root = at(name);
        skiff_ok(&[
            "unpack",
            "-q",
            "--src-tls-verify=false",
            &image,
            root.to_str().unwrap(),
        ]);
        skiff_testbed::tree::describe(&root)
    };
    let original = unpacked(src("oci"), "original-rootfs");

    // Everything to zstd, into a Proxmox-ready archive: same config (diff_ids), same tree.
    let zstd = at("zstd.tar");
    ok(copy(
        &[
            "--dest-compress-format",
            "zstd",
            "--dest-compress-level",
            "19",
        ],
        "oci",
        format!("oci-archive:{}", zstd.display()),
    ));
    let m = assert_proxmox_archive(&zstd);
    assert!(m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"));
    assert_eq!(
        m["layers"][2]["digest"], oci.layers[2].digest,
        "already zstd: kept"
    );
    assert_ne!(m["layers"][0]["digest"], oci.layers[0].digest);
    assert_eq!(m["config"]["digest"], oci.config.digest);
    let zstd_tree = unpacked(format!("oci-archive:{}", zstd.display()), "zstd-rootfs");
    assert_eq!(
        skiff_testbed::tree::differences(&original, &zstd_tree),
        Vec::<String>::new()
    );
    // skopeo verifies every re-encoded blob against the rewritten manifest.
    peer_ok(
        "skopeo",
        &[
            "copy",
            &format!("oci-archive:{}", zstd.display()),
            &format!("oci:{}:x", at("checked").display()),
        ],
    );

    // Uncompressed into dir: byte for byte what skopeo --dest-decompress writes, and each
    // layer's digest is then its diff_id.
    for tool in ["skiff", "skopeo"] {
        let dest = format!("dir:{}", at(&format!("{tool}-plain")).display());
        match tool {
            "skiff" => ok(copy(&["--dest-decompress"], "oci", dest)),
            _ => drop(peer_ok(
                "skopeo",
                &[
                    "copy",
                    "-q",
                    "--src-tls-verify=false",
                    "--dest-decompress",
                    &src("oci"),
                    &dest,
                ],
            )),
        }
    }
    assert_eq!(
        std::fs::read(at("skiff-plain/manifest.json")).unwrap(),
        std::fs::read(at("skopeo-plain/manifest.json")).unwrap()
    );
    let digests: Vec<String> = dir_layers(&at("skiff-plain"))
        .into_iter()
        .map(|l| l.1)
        .collect();
    assert_eq!(digests, oci.diff_ids());

    // --dest-compress gzips only the uncompressed layer, and a Docker manifest stays Docker.
    ok(copy(
        &["--dest-compress"],
        "docker",
        format!("dir:{}", at("gz").display()),
    ));
    let layers = dir_layers(&at("gz"));
    assert!(layers
        .iter()
        .all(|l| l.0 == "application/vnd.docker.image.rootfs.diff.tar.gzip"));
    assert_eq!(layers[0].1, docker.layers[0].digest);
    assert_ne!(layers[2].1, docker.layers[2].digest);

    // What cannot be: zstd in a Docker manifest, a level out of range, a level alone,
    // a changed digest under --preserve-digests. Refused, nothing written.
    for (extra, from, needle) in [
        (vec!["--dest-compress-format", "zstd"], "docker", "zstd"),
        (
            vec![
                "--dest-compress-format",
                "zstd",
                "--dest-compress-level",
                "40",
            ],
            "oci",
            "levels 1 to 22",
        ),
        (
            vec!["--dest-compress-level", "3"],
            "oci",
            "needs --dest-compress-format",
        ),
        (
            vec!["--dest-compress-format", "gzip", "--preserve-digests"],
            "oci",
            "--preserve-digests",
        ),
    ] {
        let target = at("refused");
        let out = copy(&extra, from, format!("dir:{}", target.display()));
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{extra:?}: {stderr}");
        assert!(!target.exists());
    }
    // An index: every platform's manifest is rewritten and the index names the new ones;
    // zstd layers that become gzip may go into Docker manifests.
    let arm = ImageBuilder::new(Format::Oci)
        .platform("linux", "arm64", Some("v8"))
        .layer(
            LayerBuilder::new().file("arch", 0o644, b"arm64\n").build(),
            Compression::Zstd,
        )
        .build();
    let list = skiff_testbed::image::multi_arch(Format::Oci, vec![oci.clone(), arm]);
    push_multi_arch(&reg.host(), "multi", "v1", &list, None).unwrap();
    ok(copy(
        &[
            "--all",
            "--format",
            "v2s2",
            "--dest-compress-format",
            "gzip",
        ],
        "multi",
        format!("dir:{}", at("list").display()),
    ));
    let index = json(&std::fs::read(at("list/manifest.json")).unwrap());
    assert_eq!(
        index["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    for entry in index["manifests"].as_array().unwrap() {
        let digest = entry["digest"].as_str().unwrap();
        let m = json(
            &std::fs::read(at("list").join(format!("{}.manifest.json", &digest[7..]))).unwrap(),
        );
        assert!(m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"));
    }
    // skopeo reads it back, verifying every manifest and blob digest.
    peer_ok(
        "skopeo",
        &[
            "copy",
            "--all",
            &format!("dir:{}", at("list").display()),
            &format!("oci:{}:x", at("list-checked").display()),
        ],
    );

    // With --format oci the Docker image can hold zstd layers.
    ok(copy(
        &["--format", "oci", "--dest-compress-format", "zstd"],
        "docker",
        format!("dir:{}", at("docker-zstd").display()),
    ));
    assert!(dir_layers(&at("docker-zstd"))
        .iter()
        .all(|l| l.0 == "application/vnd.oci.image.layer.v1.tar+zstd"));
}

#[test]
fn basic_auth_needs_the_right_credentials() {
    let reg = RegistryServer::start(Setup::Htpasswd {
        user: "alice".into(),
        password: "wonderland".into(),
    })
    .unwrap();
    let image = sample(Format::Oci, "auth");
    push_image(
        &reg.host(),
        "private",
        "v1",
        &image,
        Some(("alice", "wonderland")),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("p.tar");
    let src = format!("docker://{}/private:v1", reg.host());
    let denied = skiff(&[
        "copy",
        "--src-tls-verify=false",
        &src,
        &format!("oci-archive:{}", dest.display()),
    ]);
    assert_eq!(denied.status.code(), Some(1));
    assert!(!dest.exists());
    let wrong = skiff(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        "alice:nope",
        &src,
        &format!("oci-archive:{}", dest.display()),
    ]);
    assert!(!wrong.status.success());
    skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        "alice:wonderland",
        &src,
        &format!("oci-archive:{}", dest.display()),
    ]);
    assert_proxmox_archive(&dest);

    // Credentials from an auth file (containers-auth.json format).
    let auth = dir.path().join("auth.json");
    let token = base64_encode("alice:wonderland");
    std::fs::write(
        &auth,
        format!(r#"{{"auths":{{"{}":{{"auth":"{token}"}}}}}}"#, reg.host()),
    )
    .unwrap();
    let dest2 = dir.path().join("q.tar");
    skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        "--authfile",
        auth.to_str().unwrap(),
        &src,
        &format!("oci-archive:{}", dest2.display()),
    ]);
    assert!(dest2.exists());
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn docker_hub_style_redirects_never_receive_registry_credentials() {
    let reg = RegistryServer::start(Setup::TokenWithRedirect {
        user: "bob".into(),
        password: "builder".into(),
    })
    .unwrap();
    let image = sample(Format::Docker, "hub");
    push_image(
        &reg.host(),
        "library/mariadb",
        "10.11",
        &image,
        Some(("bob", "builder")),
    )
    .unwrap();
    let blob_host = reg.blob_host().expect("token setup has a blob host");
    let before_with = blob_host.requests_with_authorization();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("mariadb_10.11.tar");
    skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/library/mariadb:10.11", reg.host()),
        &format!("oci-archive:{}", dest.display()),
    ]);
    assert_proxmox_archive(&dest);
    assert!(
        blob_host.requests_without_authorization() >= 3,
        "blobs came through the redirect"
    );
    assert_eq!(
        blob_host.requests_with_authorization(),
        before_with,
        "no Authorization header reached the blob host"
    );
    // With credentials too (a token obtained with Basic auth), nothing leaks.
    let dest2 = dir.path().join("again.tar");
    skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        "bob:builder",
        &format!("docker://{}/library/mariadb:10.11", reg.host()),
        &format!("oci-archive:{}", dest2.display()),
    ]);
    assert_eq!(blob_host.requests_with_authorization(), before_with);
}

#[test]
fn a_corrupted_blob_is_rejected_and_nothing_is_written_or_damaged() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let image = sample(Format::Oci, "corrupt");
    push_image(&reg.host(), "app", "v1", &image, None).unwrap();
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::CorruptBlob {
            digest: image.layers[1].digest.clone(),
        }],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("app.tar");
    std::fs::write(&dest, b"an older archive").unwrap();
    let layout = dir.path().join("layout");
    for target in [
        format!("oci-archive:{}", dest.display()),
        format!("oci:{}:v1", layout.display()),
        format!("dir:{}", dir.path().join("d").display()),
    ] {
        let out = skiff(&[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{}/app:v1", proxy.host()),
            &target,
        ]);
        assert_eq!(out.status.code(), Some(1), "{target}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("digest mismatch"), "{stderr}");
    }
    // Re-encoding verifies the source blob too, and leaves no scratch file behind.
    let scratch = tempfile::tempdir().unwrap();
    let out = skiff(&[
        "--tmpdir",
        scratch.path().to_str().unwrap(),
        "copy",
        "--src-tls-verify=false",
        "--dest-compress-format",
        "zstd",
        &format!("docker://{}/app:v1", proxy.host()),
        &format!("oci-archive:{}", dest.display()),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("digest mismatch"));
    assert!(
        dir_names(scratch.path()).is_empty(),
        "scratch files removed"
    );
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        b"an older archive",
        "existing destination untouched"
    );
    assert_eq!(
        dir_names(dir.path()),
        vec!["app.tar"],
        "no layout, no dir, no temporary files"
    );
}

#[test]
fn an_interrupted_blob_resumes_with_a_range_request() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let image = sample(Format::Oci, "resume");
    push_image(&reg.host(), "app", "v1", &image, None).unwrap();
    let big = &image.layers[1];
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::CutBlobOnce {
            digest: big.digest.clone(),
            after_bytes: 100_000,
        }],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("app.tar");
    skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/app:v1", proxy.host()),
        &format!("oci-archive:{}", dest.display()),
    ]);
    assert_eq!(
        tar_read(&dest, &format!("blobs/sha256/{}", &big.digest[7..])),
        big.data
    );
    let ranges: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter_map(|r| r.range)
        .collect();
    assert!(
        ranges.iter().any(|r| r.starts_with("bytes=100000-")),
        "resumed with Range: {ranges:?}"
    );
}

#[test]
fn too_many_requests_is_waited_out_and_a_missing_tag_exits_2() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let image = sample(Format::Oci, "429");
    push_image(&reg.host(), "app", "v1", &image, None).unwrap();
    let proxy = FaultProxy::start(
        &reg.host(),
        // 3 s: no backoff gives that (the first is 1 s), so only the header can.
        vec![Fault::TooManyRequests {
            path_contains: "/manifests/".into(),
            times: 1,
            retry_after_secs: 3,
        }],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let out = skiff(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/app:v1", proxy.host()),
        &format!("oci-archive:{}", dir.path().join("a.tar").display()),
    ]);
    let waited = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        waited >= std::time::Duration::from_secs(3),
        "Retry-After was honoured: waited only {waited:?}"
    );
    assert!(
        stderr.contains("retrying GET ") && stderr.contains(" in 3s (attempt 2 of "),
        "the wait was announced: {stderr}"
    );

    let out = skiff(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/app:nope", reg.host()),
        &format!("oci-archive:{}", dir.path().join("b.tar").display()),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(stderr.contains("manifest unknown"), "{stderr}");
    assert!(!dir.path().join("b.tar").exists());
}

#[test]
fn a_manifest_cut_mid_way_is_fetched_again() {
    use skiff_testbed::fault::{Action, At, Target};
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let image = sample(Format::Oci, "manifest-cut");
    push_image(&reg.host(), "app", "v1", &image, None).unwrap();
    // The connection breaks off half-way through the manifest body, which the
    // Content-Length announced whole: the body read fails, and only a new request mends it.
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::Rule {
            target: Target::new(Some("GET"), "/manifests/", 1),
            action: Action::Truncate {
                at: At::Middle,
                content_length: true,
            },
        }],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("app.tar");
    let stderr = skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        "--retry-delay=10ms",
        &format!("docker://{}/app:v1", proxy.host()),
        &format!("oci-archive:{}", dest.display()),
    ]);
    assert_eq!(proxy.fired(), vec![1], "the cut struck");
    assert!(stderr.contains("retrying GET "), "announced: {stderr}");
    assert_eq!(
        tar_read(
            &dest,
            &format!("blobs/sha256/{}", &image.manifest_digest[7..])
        ),
        image.manifest
    );
}

#[test]
fn a_push_whose_upload_breaks_off_sends_the_layer_again() {
    let src = RegistryServer::start(Setup::Open).unwrap();
    let image = sample(Format::Oci, "push-retry");
    push_image(&src.host(), "app", "v1", &image, None).unwrap();
    let dest = RegistryServer::start(Setup::Open).unwrap();
    // The PUT of one layer's upload breaks off once, mid-body: the HTTP client cannot
    // replay a layer that streams from the source, so the pipeline sends it again.
    let cut = &image.layers[1].digest;
    let proxy = FaultProxy::start(
        &dest.host(),
        vec![Fault::CloseOnRequest {
            method: "PUT".into(),
            path_contains: format!("digest={}", cut.replace(':', "%3A")),
            times: 1,
        }],
    )
    .unwrap();
    let stderr = skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--retry-delay=10ms",
        &format!("docker://{}/app:v1", src.host()),
        &format!("docker://{}/app:v1", proxy.host()),
    ]);
    assert!(
        stderr.contains(&format!("Retrying blob {}", &cut[..19])),
        "the broken upload was retried visibly: {stderr}"
    );
    let puts = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/blobs/uploads/"))
        .count();
    assert_eq!(
        puts,
        image.layers.len() + 1 + 1,
        "each blob once, plus the one that was cut"
    );
    // The pushed image is complete: every layer pulls back byte-identical.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("back.tar");
    skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/app:v1", dest.host()),
        &format!("oci-archive:{}", out.display()),
    ]);
    for layer in &image.layers {
        assert_eq!(
            tar_read(&out, &format!("blobs/sha256/{}", &layer.digest[7..])),
            layer.data
        );
    }
    // A push that keeps failing gives up after --retry-times and says why.
    let broken = FaultProxy::start(
        &dest.host(),
        vec![Fault::CloseOnRequest {
            method: "PUT".into(),
            path_contains: "/blobs/uploads/".into(),
            times: 1000,
        }],
    )
    .unwrap();
    let out = skiff(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--retry-times=1",
        "--retry-delay=10ms",
        &format!("docker://{}/app:v1", src.host()),
        &format!("docker://{}/other:v1", broken.host()),
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn an_existing_layout_gains_a_tag_and_reuses_blobs() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let one = sample(Format::Oci, "one");
    push_image(&reg.host(), "app", "one", &one, None).unwrap();
    let two = sample(Format::Oci, "two");
    push_image(&reg.host(), "app", "two", &two, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/app:one", reg.host()),
        &format!("oci:{}:one", layout.display()),
    ]);
    let stderr = skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/app:two", reg.host()),
        &format!("oci:{}:two", layout.display()),
    ]);
    assert!(
        stderr.contains("skipped: already exists"),
        "shared layers are reused: {stderr}"
    );
    let index = json(&std::fs::read(layout.join("index.json")).unwrap());
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(names, ["one", "two"]);
    // Re-copying a tag replaces it rather than duplicating it.
    skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/app:two", reg.host()),
        &format!("oci:{}:one", layout.display()),
    ]);
    let index = json(&std::fs::read(layout.join("index.json")).unwrap());
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    // A failing copy leaves index.json exactly as it was and adds no blobs.
    let before = std::fs::read(layout.join("index.json")).unwrap();
    let blobs_before = dir_names(&layout.join("blobs/sha256"));
    let three = sample(Format::Oci, "three");
    push_image(&reg.host(), "app", "three", &three, None).unwrap();
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::CorruptBlob {
            digest: three.layers[0].digest.clone(),
        }],
    )
    .unwrap();
    let out = skiff(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/app:three", proxy.host()),
        &format!("oci:{}:three", layout.display()),
    ]);
    assert!(!out.status.success());
    assert_eq!(std::fs::read(layout.join("index.json")).unwrap(), before);
    assert_eq!(dir_names(&layout.join("blobs/sha256")), blobs_before);
    // skopeo reads both tags.
    peer_ok(
        "skopeo",
        &["inspect", &format!("oci:{}:one", layout.display())],
    );
    peer_ok(
        "skopeo",
        &["inspect", &format!("oci:{}:two", layout.display())],
    );
}

#[test]
fn skiff_copies_what_skopeo_writes() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let image = sample(Format::Docker, "peer");
    push_image(&reg.host(), "app", "v1", &image, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let src = format!("docker://{}/app:v1", reg.host());
    let s_archive = format!("oci-archive:{}", dir.path().join("skopeo.tar").display());
    let s_dir = format!("dir:{}", dir.path().join("skopeo-dir").display());
    let s_layout = format!("oci:{}:v1", dir.path().join("skopeo-layout").display());
    for written_by_skopeo in [&s_archive, &s_dir, &s_layout] {
        peer_ok(
            "skopeo",
            &[
                "copy",
                "-q",
                "--src-tls-verify=false",
                &src,
                written_by_skopeo,
            ],
        );
    }

    let from_archive = dir.path().join("a.tar");
    skiff_ok(&[
        "copy",
        &s_archive,
        &format!("oci-archive:{}", from_archive.display()),
    ]);
    let m = assert_proxmox_archive(&from_archive);
    let skopeo_digest =
        json(peer_ok("skopeo", &["inspect", &s_archive]).as_bytes())["Digest"].clone();
    let ours = json(&tar_read(&from_archive, "index.json"))["manifests"][0]["digest"].clone();
    assert_eq!(
        ours, skopeo_digest,
        "an OCI manifest is copied byte for byte"
    );
    assert_eq!(m["layers"].as_array().unwrap().len(), 3);

    for (from, to) in [
        (&s_dir, format!("oci:{}:x", dir.path().join("b").display())),
        (&s_layout, format!("dir:{}", dir.path().join("c").display())),
    ] {
        skiff_ok(&["copy", from, &to]);
        peer_ok("skopeo", &["inspect", &to]);
    }
}

#[test]
fn bad_names_are_refused_clearly() {
    for (args, needle) in [
        (
            vec!["copy", "docker://Upper/Case", "oci:/tmp/x"],
            "lowercase",
        ),
        (vec!["copy", "nowhere", "oci:/tmp/x"], "TRANSPORT:DETAILS"),
        (vec!["copy", "ftp://x", "oci:/tmp/x"], "unknown transport"),
        (
            vec![
                "copy",
                "oci:/definitely/not/here:t",
                "oci-archive:/tmp/y.tar",
            ],
            "index.json",
        ),
    ] {
        let out = skiff(&args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn ctrl_c_and_sigterm_leave_nothing_behind() {
    // SIGTERM (kill, systemd, timeout) is handled like Ctrl-C, with the shell's status.
    for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        interrupted_copy_leaves_nothing_behind(signal, code);
    }
}

fn interrupted_copy_leaves_nothing_behind(signal: i32, code: i32) {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let image = sample(Format::Oci, "sigint");
    push_image(&reg.host(), "app", "v1", &image, None).unwrap();
    // Blob requests wait on a long Retry-After: skiff is mid-copy when interrupted.
    let proxy = stalling_blob_proxy(&reg.host());
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("app.tar");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args([
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{}/app:v1", proxy.host()),
            &format!("oci-archive:{}", dest.display()),
        ])
        .env("HOME", scratch_home())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(interrupt_mid_blob(&proxy, &mut child, signal), Some(code));
    assert_eq!(
        dir_names(dir.path()),
        Vec::<String>::new(),
        "nothing left behind"
    );
}
