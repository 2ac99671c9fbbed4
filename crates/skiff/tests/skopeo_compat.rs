//! skiff as a drop-in for skopeo: the same commands give the same answers as the real
//! skopeo on the same images, from real docker-registry processes.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use skiff_testbed::image::{multi_arch, Compression, Format, Image, ImageBuilder, LayerBuilder};
use skiff_testbed::push::{push_image, push_multi_arch};
use skiff_testbed::{RegistryServer, Setup};

fn image(seed: &str, format: Format) -> Image {
    ImageBuilder::new(format)
        .layer(
            LayerBuilder::new()
                .file("seed", 0o644, seed.as_bytes())
                .build(),
            Compression::Gzip,
        )
        .layer(
            LayerBuilder::new().file("more", 0o644, b"more").build(),
            Compression::Gzip,
        )
        .env("PATH=/bin")
        .env("SEED=")
        .label("org.example.seed", seed)
        .entrypoint(&["/bin/sh"])
        .build()
}

/// skopeo's inspect output, field by field, equals skiff's. skopeo 1.9.3 (Debian 12)
/// predates `LayersData`; skiff prints it as newer skopeo does, so it is compared only
/// when the peer has it, and checked against the Layers list otherwise.
fn assert_inspect_equal(ours: &serde_json::Value, theirs: &serde_json::Value) {
    for key in [
        "Name",
        "Digest",
        "RepoTags",
        "Created",
        "DockerVersion",
        "Labels",
        "Architecture",
        "Os",
        "Layers",
        "Env",
    ] {
        assert_eq!(ours.get(key), theirs.get(key), "field {key} differs");
    }
    match theirs.get("LayersData") {
        Some(data) => assert_eq!(ours.get("LayersData"), Some(data)),
        None => {
            let digests: Vec<&serde_json::Value> = ours["LayersData"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| &l["Digest"])
                .collect();
            let layers: Vec<&serde_json::Value> =
                ours["Layers"].as_array().unwrap().iter().collect();
            assert_eq!(digests, layers);
        }
    }
}

/// Keys of the top-level object of indented JSON, in order.
fn top_level_keys(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("    \""))
        .filter_map(|l| l.split_once('"').map(|(k, _)| k.to_string()))
        .collect()
}

/// `--format` templates as scripts write them, within what skopeo 1.9.3 can run.
const FORMATS: &[&str] = &[
    "{{.Digest}}",
    "{{.Name}}@{{.Digest}}",
    "{{.RepoTags}} {{.Labels}} {{.Created}} {{.Env}} {{.Layers}}",
    "{{index .Labels \"org.example.seed\"}}|{{index .Labels \"absent\"}}|{{.Labels.absent}}",
    "{{range .RepoTags}}{{.}}\\n{{end}}",
    "{{range $i, $e := .Env}}{{$i}}:{{$e}};{{end}}",
    "{{if eq .Architecture \"amd64\"}}x86{{else}}other{{end}} {{len .Layers}}",
    "{{- .Os -}} / {{.Digest.Hex}} {{/* a comment */}}",
    "{{printf \"%s/%s %d\" .Os .Architecture (len .Env)}}",
    "{{with .Labels}}{{range $k, $v := .}}{{$k}}={{$v}} {{end}}{{end}}",
];

#[test]
fn inspect_list_tags_and_manifest_digest_match_skopeo() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let docker = image("docker", Format::Docker);
    let oci = image("oci", Format::Oci);
    push_image(&reg.host(), "team/app", "docker", &docker, None).unwrap();
    push_image(&reg.host(), "team/app", "oci", &oci, None).unwrap();
    let list = multi_arch(
        Format::Oci,
        vec![
            image("amd", Format::Oci),
            ImageBuilder::new(Format::Oci)
                .platform("linux", "arm64", Some("v8"))
                .layer(
                    LayerBuilder::new().file("a", 0o644, b"arm").build(),
                    Compression::Gzip,
                )
                .build(),
        ],
    );
    push_multi_arch(&reg.host(), "team/app", "multi", &list, None).unwrap();
    for tag in ["docker", "oci", "multi"] {
        let image = format!("docker://{}/team/app:{tag}", reg.host());
        let theirs = json(peer_ok("skopeo", &["inspect", "--tls-verify=false", &image]).as_bytes());
        let out = skiff(&["inspect", "--tls-verify=false", &image]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_inspect_equal(&json(&out.stdout), &theirs);
        // The fields come in skopeo's order.
        let theirs_text = peer_ok("skopeo", &["inspect", "--tls-verify=false", &image]);
        let ours_text = String::from_utf8_lossy(&out.stdout);
        let peer_has_layers_data = theirs_text.contains("\"LayersData\"");
        assert_eq!(
            top_level_keys(&ours_text)
                .into_iter()
                .filter(|k| peer_has_layers_data || k != "LayersData")
                .collect::<Vec<_>>(),
            top_level_keys(&theirs_text),
            "{tag}"
        );
        // Go templates print what skopeo's print.
        for template in FORMATS {
            let theirs = peer_ok(
                "skopeo",
                &[
                    "inspect",
                    "--tls-verify=false",
                    "--format",
                    template,
                    &image,
                ],
            );
            let ours = skiff(&[
                "inspect",
                "--tls-verify=false",
                "--format",
                template,
                &image,
            ]);
            assert!(ours.status.success(), "{template}");
            assert_eq!(
                String::from_utf8_lossy(&ours.stdout),
                theirs,
                "{tag}: --format {template}"
            );
        }
        // --raw is byte for byte; --config --raw too.
        let raw_theirs = peer_ok(
            "skopeo",
            &["inspect", "--raw", "--tls-verify=false", &image],
        );
        let raw_ours = skiff(&["inspect", "--raw", "--tls-verify=false", &image]);
        assert_eq!(
            String::from_utf8_lossy(&raw_ours.stdout),
            raw_theirs,
            "{tag}: --raw"
        );
        let cfg_theirs = peer_ok(
            "skopeo",
            &["inspect", "--config", "--raw", "--tls-verify=false", &image],
        );
        let cfg_ours = skiff(&["inspect", "--config", "--raw", "--tls-verify=false", &image]);
        assert_eq!(
            String::from_utf8_lossy(&cfg_ours.stdout),
            cfg_theirs,
            "{tag}: --config --raw"
        );
        // manifest-digest of the raw manifest agrees.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.json");
        std::fs::write(&file, raw_theirs.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&skiff(&["manifest-digest", file.to_str().unwrap()]).stdout),
            peer_ok("skopeo", &["manifest-digest", file.to_str().unwrap()])
        );
    }
    let bad = skiff(&[
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Nope}}",
        &format!("docker://{}/team/app:oci", reg.host()),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("can't evaluate field Nope"));
    assert!(bad.stdout.is_empty());
    let repo = format!("docker://{}/team/app", reg.host());
    let theirs = json(peer_ok("skopeo", &["list-tags", "--tls-verify=false", &repo]).as_bytes());
    let ours = skiff(&["list-tags", "--tls-verify=false", &repo]);
    assert_eq!(json(&ours.stdout), theirs);
    // --no-tags leaves RepoTags empty.
    let out = json(
        &skiff(&[
            "inspect",
            "-n",
            "--tls-verify=false",
            &format!("{repo}:oci"),
        ])
        .stdout,
    );
    assert_eq!(out["RepoTags"], serde_json::json!([]));
}

#[test]
fn inspect_of_a_missing_image_exits_2() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let out = skiff(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{}/nothing:here", reg.host()),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn docker_archives_written_by_one_are_read_by_the_other() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let img = image("archive", Format::Docker);
    push_image(&reg.host(), "app", "v1", &img, None).unwrap();
    let src = format!("docker://{}/app:v1", reg.host());
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.tar");
    skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        &src,
        &format!("docker-archive:{}:app:v1", ours.display()),
    ]);
    let inspected = json(
        peer_ok(
            "skopeo",
            &["inspect", &format!("docker-archive:{}", ours.display())],
        )
        .as_bytes(),
    );
    assert_eq!(inspected["Env"], serde_json::json!(["PATH=/bin", "SEED="]));
    assert_eq!(inspected["Layers"].as_array().unwrap().len(), 2);
    let tags = json(&skiff(&["list-tags", &format!("docker-archive:{}", ours.display())]).stdout);
    assert_eq!(
        tags["Tags"],
        serde_json::json!(["docker.io/library/app:v1"])
    );
    // skopeo round-trips what skiff wrote into a registry-ready layout.
    let back = dir.path().join("back");
    peer_ok(
        "skopeo",
        &[
            "copy",
            &format!("docker-archive:{}", ours.display()),
            &format!("oci:{}:x", back.display()),
        ],
    );

    let theirs = dir.path().join("theirs.tar");
    peer_ok(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            &src,
            &format!("docker-archive:{}:app:v1", theirs.display()),
        ],
    );
    let converted = dir.path().join("from-skopeo.tar");
    skiff_ok(&[
        "copy",
        &format!("docker-archive:{}", theirs.display()),
        &format!("oci-archive:{}", converted.display()),
    ]);
    let inspected = json(
        peer_ok(
            "skopeo",
            &["inspect", &format!("oci-archive:{}", converted.display())],
        )
        .as_bytes(),
    );
    assert_eq!(inspected["Env"], serde_json::json!(["PATH=/bin", "SEED="]));
    // @INDEX and :REF selection.
    skiff_ok(&["inspect", &format!("docker-archive:{}@0", theirs.display())]);
    skiff_ok(&[
        "inspect",
        &format!("docker-archive:{}:app:v1", theirs.display()),
    ]);
    let missing = skiff(&[
        "inspect",
        &format!("docker-archive:{}:app:v2", theirs.display()),
    ]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn a_docker_archive_is_pushed_with_compressed_layers_as_skopeo_pushes_it() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let img = image("push", Format::Docker);
    push_image(&reg.host(), "app", "v1", &img, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("saved.tar");
    // What `docker save` makes: uncompressed layers.
    peer_ok(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{}/app:v1", reg.host()),
            &format!("docker-archive:{}:app:v1", archive.display()),
        ],
    );
    let from = format!("docker-archive:{}", archive.display());
    let raw = |tag: &str| {
        json(
            peer_ok(
                "skopeo",
                &[
                    "inspect",
                    "--raw",
                    "--tls-verify=false",
                    &format!("docker://{}/{tag}", reg.host()),
                ],
            )
            .as_bytes(),
        )
    };
    let layer_types = |m: &serde_json::Value| -> Vec<String> {
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["mediaType"].as_str().unwrap().to_string())
            .collect()
    };
    skiff_ok(&[
        "copy",
        "--dest-tls-verify=false",
        &from,
        &format!("docker://{}/pushed:skiff", reg.host()),
    ]);
    peer_ok(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            &from,
            &format!("docker://{}/pushed:skopeo", reg.host()),
        ],
    );
    let (ours, theirs) = (raw("pushed:skiff"), raw("pushed:skopeo"));
    assert_eq!(layer_types(&ours), layer_types(&theirs));
    assert_eq!(
        layer_types(&ours),
        vec!["application/vnd.docker.image.rootfs.diff.tar.gzip"; 2]
    );
    assert_eq!(ours["config"], theirs["config"]);
    // The pushed image holds the archive's content: its layers decompress to the diff_ids.
    let back = dir.path().join("back");
    peer_ok(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            "--dest-decompress",
            &format!("docker://{}/pushed:skiff", reg.host()),
            &format!("dir:{}", back.display()),
        ],
    );
    let plain = json(&std::fs::read(back.join("manifest.json")).unwrap());
    let digests: Vec<&str> = plain["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    assert_eq!(digests, img.diff_ids());
    // --preserve-digests pushes the layers as they are.
    skiff_ok(&[
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &from,
        &format!("docker://{}/pushed:kept", reg.host()),
    ]);
    assert_eq!(
        layer_types(&raw("pushed:kept")),
        vec!["application/vnd.docker.image.rootfs.diff.tar"; 2]
    );
}

#[test]
fn additional_tags_name_the_image_in_a_docker_archive() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    push_image(&reg.host(), "app", "v1", &image("tags", Format::Oci), None).unwrap();
    let src = format!("docker://{}/app:v1", reg.host());
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("tags.tar");
    let dest = format!("docker-archive:{}:app:v1", archive.display());
    skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        "--additional-tag",
        "app:extra",
        "--additional-tag",
        "quay.io/team/other:2",
        &src,
        &dest,
    ]);
    let tags = json(
        &skiff(&[
            "list-tags",
            &format!("docker-archive:{}", archive.display()),
        ])
        .stdout,
    );
    assert_eq!(
        tags["Tags"],
        serde_json::json!([
            "docker.io/library/app:v1",
            "docker.io/library/app:extra",
            "quay.io/team/other:2"
        ])
    );
    // skopeo finds the image under each name.
    for name in ["app:extra", "quay.io/team/other:2"] {
        peer_ok(
            "skopeo",
            &[
                "inspect",
                &format!("docker-archive:{}:{name}", archive.display()),
            ],
        );
    }
    // A name without tag is refused before anything is written.
    let bad = dir.path().join("bad.tar");
    let out = skiff(&[
        "copy",
        "--src-tls-verify=false",
        "--additional-tag",
        "app",
        &src,
        &format!("docker-archive:{}", bad.display()),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tagged reference"));
    assert!(!bad.exists());
}

#[test]
fn login_saves_checked_credentials_and_logout_removes_them() {
    let reg = RegistryServer::start(Setup::Htpasswd {
        user: "alice".into(),
        password: "wonderland".into(),
    })
    .unwrap();
    let img = image("login", Format::Oci);
    push_image(
        &reg.host(),
        "private",
        "v1",
        &img,
        Some(("alice", "wonderland")),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.json");
    std::fs::write(&auth, r#"{"auths":{"other.example":{"auth":"eDp5"}}}"#).unwrap();
    let authfile = auth.to_str().unwrap();

    let wrong = skiff(&[
        "login",
        "--tls-verify=false",
        "--authfile",
        authfile,
        "-u",
        "alice",
        "-p",
        "nope",
        &reg.host(),
    ]);
    assert!(!wrong.status.success());
    assert!(
        !std::fs::read_to_string(&auth)
            .unwrap()
            .contains(&reg.host()),
        "nothing saved"
    );

    let out = skiff(&[
        "login",
        "--tls-verify=false",
        "--authfile",
        authfile,
        "-u",
        "alice",
        "-p",
        "wonderland",
        &reg.host(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Login Succeeded!"
    );
    assert_eq!(
        std::fs::metadata(&auth).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let saved = json(&std::fs::read(&auth).unwrap());
    assert!(
        saved["auths"]["other.example"].is_object(),
        "other entries kept"
    );
    assert_eq!(
        String::from_utf8_lossy(
            &skiff(&["login", "--get-login", "--authfile", authfile, &reg.host()]).stdout
        )
        .trim(),
        "alice"
    );
    // The saved credentials are used by copy.
    let dest = dir.path().join("p.tar");
    skiff_ok(&[
        "copy",
        "--src-tls-verify=false",
        "--authfile",
        authfile,
        &format!("docker://{}/private:v1", reg.host()),
        &format!("oci-archive:{}", dest.display()),
    ]);

    let out = skiff(&["logout", "--authfile", authfile, &reg.host()]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("Removed login credentials for {}", reg.host())
    );
    assert!(!std::fs::read_to_string(&auth)
        .unwrap()
        .contains(&reg.host()));
    let out = skiff(&["logout", "--all", "--authfile", authfile]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Removed login credentials for all registries"
    );
}

#[test]
fn registries_conf_rewrites_falls_back_from_dead_mirrors_and_blocks() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let img = image("conf", Format::Oci);
    push_image(&reg.host(), "library/tool", "v1", &img, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on stands for a mirror that is down.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let conf = dir.path().join("registries.conf");
    std::fs::write(
        &conf,
        format!(
            r#"[[registry]]
prefix = "docker.io/library/tool"
location = "{host}/library/tool"
insecure = true
[[registry.mirror]]
location = "{dead}/library/tool"
insecure = true

[[registry]]
location = "blocked.example"
blocked = true
"#,
            host = reg.host()
        ),
    )
    .unwrap();
    let conf = conf.to_str().unwrap();
    let dest = dir.path().join("tool.tar");
    skiff_ok(&[
        "--registries-conf",
        conf,
        "copy",
        "docker://library/tool:v1",
        &format!("oci-archive:{}", dest.display()),
    ]);
    let inspected = json(
        peer_ok(
            "skopeo",
            &["inspect", &format!("oci-archive:{}", dest.display())],
        )
        .as_bytes(),
    );
    assert_eq!(inspected["Digest"], img.manifest_digest);
    let out = skiff(&[
        "--registries-conf",
        conf,
        "copy",
        "docker://blocked.example/x:y",
        &format!("oci-archive:{}", dir.path().join("b.tar").display()),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("blocked"));
}

/// Runs `skiff ARGS` in `cwd` with `XDG_RUNTIME_DIR=xdg`, in a mount namespace of its own
/// whose /run is an empty tmpfs (login's fallback, /run/containers/UID/auth.json, must not
/// touch the host's); prints that file after skiff succeeds.
fn skiff_in_private_run(cwd: &std::path::Path, xdg: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs tmpfs /run && "$@" && cat "/run/containers/$(id -u)/auth.json""#)
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .current_dir(cwd)
        .env("HOME", scratch_home())
        .env("XDG_RUNTIME_DIR", xdg)
        .env_remove("REGISTRY_AUTH_FILE")
        .output()
        .expect("unshare (util-linux) runs")
}

/// Every path under `dir`.
fn tree(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(tree(&e.path()));
        }
        out.push(e.path());
    }
    out
}

/// An empty or relative `XDG_RUNTIME_DIR` is invalid (XDG base-directory spec): login
/// used to write `./containers/auth.json` into the current directory. It now falls back
/// to /run/containers/UID/auth.json as skopeo does, and such a file is never read.
#[test]
fn login_ignores_an_empty_or_relative_xdg_runtime_dir() {
    let reg = RegistryServer::start(Setup::Htpasswd {
        user: "alice".into(),
        password: "wonderland".into(),
    })
    .unwrap();
    let img = image("xdg", Format::Oci);
    let creds = Some(("alice", "wonderland"));
    push_image(&reg.host(), "private", "v1", &img, creds).unwrap();
    let host = reg.host();
    for xdg in ["", "run/user"] {
        let cwd = tempfile::tempdir().unwrap();
        let login = [
            "login",
            "--tls-verify=false",
            "-u",
            "alice",
            "-p",
            "wonderland",
            host.as_str(),
        ];
        let out = skiff_in_private_run(cwd.path(), xdg, &login);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{xdg:?}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("Login Succeeded!"), "{stdout}");
        assert!(stdout.contains(&host), "saved in the fallback: {stdout}");
        assert_eq!(
            tree(cwd.path()),
            Vec::<std::path::PathBuf>::new(),
            "{xdg:?}"
        );
    }
    // Credentials under a relative XDG_RUNTIME_DIR are not read; under an absolute one
    // they are (so the refusal is the directory's, not the file's).
    let cwd = tempfile::tempdir().unwrap();
    let auth = cwd.path().join("run/user/containers/auth.json");
    std::fs::create_dir_all(auth.parent().unwrap()).unwrap();
    std::fs::write(
        &auth,
        format!(r#"{{"auths":{{"{host}":{{"auth":"YWxpY2U6d29uZGVybGFuZA=="}}}}}}"#),
    )
    .unwrap();
    let image_ref = format!("docker://{host}/private:v1");
    let inspect = |xdg: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(["inspect", "--tls-verify=false", &image_ref])
            .current_dir(cwd.path())
            .env("HOME", scratch_home())
            .env("XDG_RUNTIME_DIR", xdg)
            .env_remove("REGISTRY_AUTH_FILE")
            .output()
            .unwrap()
    };
    let relative = inspect("run/user");
    assert!(!relative.status.success(), "the relative file was read");
    let absolute = inspect(cwd.path().join("run/user").to_str().unwrap());
    assert!(
        absolute.status.success(),
        "{}",
        String::from_utf8_lossy(&absolute.stderr)
    );
}
