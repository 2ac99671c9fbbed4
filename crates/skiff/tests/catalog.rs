//! `skiff catalog list|show|search`: the built-in apps, a user directory that overrides and
//! adds entries, and bad entries refused with their file, line and column.

mod common;

use std::process::{Command, Output};

use common::*;

/// Runs skiff with XDG_CONFIG_HOME at `config` (the default user catalog's parent).
fn skiff_with_config(config: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .env("HOME", scratch_home())
        .env("XDG_CONFIG_HOME", config)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn list_show_and_search_the_builtin_catalog() {
    let empty = tempfile::tempdir().unwrap();
    let list = skiff_with_config(empty.path(), &["catalog", "list"]);
    assert!(list.status.success());
    let text = stdout(&list);
    let rows: Vec<&str> = text.lines().collect();
    assert!(rows[0].starts_with("NAME"), "{text}");
    assert!(rows.len() > 30, "{text}");
    assert!(
        rows.iter()
            .any(|r| r.starts_with("jellyfin ") && r.contains(" media ") && r.contains("optional")),
        "{text}"
    );

    let photos = skiff_with_config(
        empty.path(),
        &["catalog", "list", "--category", "photos", "--json"],
    );
    let v = json(&photos.stdout);
    let apps = v.as_array().unwrap();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0]["name"], "immich");
    assert_eq!(
        apps[0]["images"][0],
        "ghcr.io/immich-app/immich-server:release"
    );
    assert_eq!(apps[0]["origin"], "built in");

    let show = stdout(&skiff_with_config(
        empty.path(),
        &["catalog", "show", "immich"],
    ));
    assert!(
        show.contains("container server: ghcr.io/immich-app/immich-server:release"),
        "{show}"
    );
    assert!(
        show.contains("  env DB_HOSTNAME=${host:postgres}"),
        "{show}"
    );
    assert!(show.contains("  after: postgres, redis"), "{show}");
    let as_json =
        json(&skiff_with_config(empty.path(), &["catalog", "show", "immich", "--json"]).stdout);
    assert_eq!(as_json["containers"][3]["name"], "postgres");
    assert_eq!(as_json["containers"][0]["memory"], 2048);

    let found = stdout(&skiff_with_config(
        empty.path(),
        &["catalog", "search", "MQTT"],
    ));
    let names: Vec<&str> = found
        .lines()
        .skip(1)
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(names, ["mosquitto", "zigbee2mqtt"], "{found}");

    let none = skiff_with_config(empty.path(), &["catalog", "show", "no-such-app"]);
    assert_eq!(none.status.code(), Some(1));
    let err = String::from_utf8_lossy(&none.stderr);
    assert!(
        err.contains("no app \"no-such-app\" in the catalog") && err.contains("hint:"),
        "{err}"
    );
}

#[test]
fn a_user_catalog_overrides_and_adds_entries() {
    let config = tempfile::tempdir().unwrap();
    let dir = config.path().join("skiff/catalog");
    std::fs::create_dir_all(&dir).unwrap();
    // `show --yaml` prints an entry a user can start from.
    let redis = stdout(&skiff_with_config(
        config.path(),
        &["catalog", "show", "redis", "--yaml"],
    ));
    std::fs::write(
        dir.join("redis.yaml"),
        redis.replace("tag: \"7\"", "tag: \"8\""),
    )
    .unwrap();
    let own = redis
        .replace("name: redis", "name: cache")
        .replace("Redis in-memory", "Team");
    std::fs::write(dir.join("cache.yaml"), own).unwrap();

    let v = json(
        &skiff_with_config(
            config.path(),
            &["catalog", "list", "--category", "data", "--json"],
        )
        .stdout,
    );
    let by_name = |n: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_name("redis")["images"][0], "docker.io/library/redis:8");
    assert_eq!(
        by_name("redis")["origin"],
        dir.join("redis.yaml").display().to_string()
    );
    assert_eq!(by_name("cache")["description"], "Team key-value store");
    assert_eq!(by_name("postgres")["origin"], "built in");

    // --catalog-dir replaces the default directories, and must exist.
    let other = tempfile::tempdir().unwrap();
    let out = skiff_with_config(
        config.path(),
        &[
            "catalog",
            "show",
            "redis",
            "--json",
            "--catalog-dir",
            other.path().to_str().unwrap(),
        ],
    );
    assert_eq!(json(&out.stdout)["containers"][0]["tag"], "7");
    let missing = other.path().join("missing");
    let out = skiff(&[
        "catalog",
        "list",
        "--catalog-dir",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_bad_user_entry_is_refused_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("web.yaml"),
        "name: web\ndescription: d\ncategory: dev\nsource: https://example.invalid\ncontainers:\n  - name: web\n    image: docker.io/library/nginx\n    tag: \"1.27\"\n    cores: 1\n    memory: 2Q\n    disk: 1\n",
    )
    .unwrap();
    let out = skiff(&[
        "catalog",
        "list",
        "--catalog-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let at = format!(
        "{}:10:13: containers[0].memory: bad size \"2Q\"",
        dir.path().join("web.yaml").display()
    );
    assert!(err.contains(&at), "{err}");
    assert!(out.stdout.is_empty());
}
