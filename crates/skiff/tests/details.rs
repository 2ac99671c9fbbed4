//! The details scripts and skopeo's own tests depend on: how short names resolve, what
//! registries.conf governs, `--version`, exit codes, flag spellings and messages.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use skiff_testbed::image::{Compression, Format, Image, ImageBuilder, LayerBuilder};
use skiff_testbed::push::push_image;
use skiff_testbed::{RegistryServer, Setup};

fn image(seed: &str) -> Image {
    ImageBuilder::new(Format::Oci)
        .layer(
            LayerBuilder::new()
                .file("seed", 0o644, seed.as_bytes())
                .build(),
            Compression::Gzip,
        )
        .build()
}

/// Runs skiff with `CONTAINERS_REGISTRIES_CONF` set, as a script's environment would.
fn skiff_with_conf(conf: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .env("HOME", scratch_home())
        .env("CONTAINERS_REGISTRIES_CONF", conf)
        .env_remove("REGISTRY_AUTH_FILE")
        .output()
        .expect("run skiff")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `docker://tool` is Docker Hub's `library/tool`, whatever `unqualified-search-registries`
/// and `[aliases]` say (they are podman's): with docker.io blocked, every command refuses
/// it instead of quietly going to the registry those keys name. No request leaves the
/// machine — the block stops it first.
#[test]
fn short_names_are_docker_hub_and_registries_conf_governs_every_command() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    push_image(&reg.host(), "library/tool", "v1", &image("short"), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("registries.conf");
    std::fs::write(
        &conf,
        format!(
            r#"unqualified-search-registries = ["{host}"]

[aliases]
"tool" = "{host}/library/tool"

[[registry]]
prefix = "docker.io"
location = "docker.io"
blocked = true

[[registry]]
location = "{host}"
insecure = true
"#,
            host = reg.host()
        ),
    )
    .unwrap();
    let archive = dir.path().join("out.tar");
    let dest = format!("oci-archive:{}", archive.display());
    for args in [
        vec!["copy", "docker://tool:v1", &dest],
        vec!["inspect", "docker://tool:v1"],
        vec!["list-tags", "docker://tool"],
        vec!["delete", "docker://tool:v1"],
        vec!["login", "-u", "u", "-p", "p", "docker.io"],
    ] {
        let out = skiff_with_conf(&conf, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("blocked") && err.contains("docker.io"),
            "{args:?}: {err}"
        );
    }
    assert!(!archive.exists());
    // `insecure = true` stands in for --tls-verify=false on the fully qualified name,
    // for list-tags and inspect as for copy.
    let repo = format!("docker://{}/library/tool", reg.host());
    let out = skiff_with_conf(&conf, &["list-tags", &repo]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out.stdout)["Tags"], serde_json::json!(["v1"]));
    let out = skiff_with_conf(&conf, &["inspect", &format!("{repo}:v1")]);
    assert!(out.status.success(), "{}", stderr(&out));
    // --registries-conf wins over the environment.
    let empty = dir.path().join("empty.conf");
    std::fs::write(&empty, "").unwrap();
    let out = skiff_with_conf(
        &conf,
        &[
            "--registries-conf",
            empty.to_str().unwrap(),
            "list-tags",
            &repo,
        ],
    );
    assert!(
        !out.status.success(),
        "without insecure, plain HTTP must be refused"
    );
}
