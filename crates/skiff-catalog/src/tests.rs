//! The built-in catalog as a whole, user overlays, and error positions.

use std::collections::BTreeSet;

use crate::{Catalog, CatalogError, Gpu, Origin};

const REQUIRED: &[&str] = &[
    "jellyfin",
    "plex",
    "navidrome",
    "audiobookshelf",
    "immich",
    "paperless-ngx",
    "nextcloud",
    "home-assistant",
    "mosquitto",
    "zigbee2mqtt",
    "node-red",
    "grafana",
    "prometheus",
    "uptime-kuma",
    "adguard-home",
    "pihole",
    "traefik",
    "caddy",
    "gitea",
    "forgejo",
    "postgres",
    "mariadb",
    "redis",
    "minio",
    "vaultwarden",
    "n8n",
    "qbittorrent",
    "sonarr",
    "radarr",
    "prowlarr",
    "syncthing",
];

#[test]
fn every_builtin_entry_parses_and_validates() {
    let c = Catalog::builtin().unwrap();
    let names: BTreeSet<&str> = c.entries().map(|e| e.app.name.as_str()).collect();
    assert!(names.len() >= 30, "{names:?}");
    for r in REQUIRED {
        assert!(names.contains(r), "{r} missing");
    }
    for e in c.entries() {
        let a = &e.app;
        assert_eq!(e.origin, Origin::Builtin);
        assert!(
            a.source.starts_with("https://"),
            "{}: source names the docs",
            a.name
        );
        for ct in &a.containers {
            assert!(
                !ct.mounts.is_empty(),
                "{}/{}: keeps no data",
                a.name,
                ct.name
            );
            skiff_oci::Reference::parse(&ct.reference()).unwrap();
        }
    }
    let immich = &c.get("immich").unwrap().app;
    let names: Vec<&str> = immich.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["server", "machine-learning", "redis", "postgres"]);
    assert_eq!(immich.gpu, Gpu::Optional);
    assert_eq!(immich.containers[0].memory.0, 2048);
}

/// Where an entry's `source:` quotes the image's `VOLUME` line, every path of it is a
/// mount of the app.
#[test]
fn mounts_cover_the_volumes_the_images_declare() {
    let c = Catalog::builtin().unwrap();
    let mut checked = 0;
    for e in c.entries() {
        let Some((_, after)) = e.app.source.split_once("VOLUME ") else {
            continue;
        };
        let targets: BTreeSet<&str> = e
            .app
            .containers
            .iter()
            .flat_map(|c| c.mounts.iter().map(|m| m.target.as_str()))
            .collect();
        for path in after
            .split([' ', ',', ';', ')'])
            .take_while(|w| w.starts_with('/'))
        {
            assert!(
                targets.contains(path),
                "{}: VOLUME {path} is not mounted",
                e.app.name
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 25,
        "only {checked} declared volumes found in sources"
    );
}

fn write(dir: &std::path::Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

const OWN: &str = "name: whoami\ndescription: Prints the request\ncategory: dev\nsource: https://example.invalid\ncontainers:\n  - name: whoami\n    image: docker.io/traefik/whoami\n    tag: v1.10\n    cores: 1\n    memory: 64\n    disk: 1\n";

#[test]
fn a_user_directory_overrides_and_adds() {
    let d = tempfile::tempdir().unwrap();
    let redis = Catalog::builtin()
        .unwrap()
        .get("redis")
        .unwrap()
        .text
        .clone();
    write(
        d.path(),
        "redis.yaml",
        &redis.replace("tag: \"7\"", "tag: \"8\""),
    );
    write(d.path(), "whoami.yml", OWN);
    write(d.path(), "README.md", "not an entry");
    let c = Catalog::load(&[d.path().to_path_buf()], true).unwrap();
    let r = c.get("redis").unwrap();
    assert_eq!(r.app.containers[0].tag, "8");
    assert_eq!(r.origin, Origin::File(d.path().join("redis.yaml")));
    assert_eq!(c.get("whoami").unwrap().app.containers[0].memory.0, 64);
    assert_eq!(
        c.entries().count(),
        Catalog::builtin().unwrap().entries().count() + 1
    );
    assert_eq!(c.search("WHOAMI").len(), 1);
    assert!(c.search("photo").iter().any(|e| e.app.name == "immich"));
    // A missing default directory is fine; a named one must exist.
    let gone = d.path().join("gone");
    assert!(Catalog::load(std::slice::from_ref(&gone), false).is_ok());
    assert!(matches!(
        Catalog::load(&[gone], true),
        Err(CatalogError::Io { .. })
    ));
}

fn error_of(text: &str) -> String {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "whoami.yaml", text);
    Catalog::load(&[d.path().to_path_buf()], true)
        .unwrap_err()
        .to_string()
        .replace(&d.path().display().to_string(), "DIR")
}

#[test]
fn bad_entries_are_refused_with_file_line_and_column() {
    let cases: &[(&str, &str, &str)] = &[
        ("    disk: 1\n", "    disk: 1\n    volumes: [/x]\n", "DIR/whoami.yaml:12:5: containers[0]: unknown field `volumes`"),
        ("memory: 64", "memory: 64X", "DIR/whoami.yaml:10:13: containers[0].memory: bad size"),
        ("docker.io/traefik/whoami", "traefik/whoami", "DIR/whoami.yaml:7:12: containers[0].image: image \"traefik/whoami\": name the registry"),
        ("docker.io/traefik/whoami", "docker.io/traefik/whoami:v1", "put the tag in `tag:`"),
        ("  - name: whoami", "  - name: Who_Am_I", "DIR/whoami.yaml:6:11: containers[0].name: invalid name"),
        ("    disk: 1\n", "    disk: 1\n    depends_on: [db]\n", "DIR/whoami.yaml:12:18: \"whoami\" depends on \"db\""),
        ("    disk: 1\n", "    disk: 1\n    env: {DB: \"${host:db}\"}\n", "DIR/whoami.yaml:12:16: DB: ${host:db} names no container"),
        ("    disk: 1\n", "    disk: 1\n    env: {DB: \"${file:x}\"}\n", "unknown placeholder"),
        ("name: whoami\n", "name: other\n", "DIR/whoami.yaml:1:1: the entry is named \"other\" but its file whoami.yaml"),
        ("cores: 1", "cores: 0", "DIR/whoami.yaml:9:5: cores 0"),
    ];
    for (from, to, expected) in cases {
        assert!(OWN.contains(from), "{from}");
        let err = error_of(&OWN.replacen(from, to, 1));
        assert!(err.contains(expected), "{to}: {err}");
    }
    let cycle = format!(
        "{OWN}    depends_on: [b]\n  - name: b\n    image: docker.io/library/redis\n    tag: \"7\"\n    cores: 1\n    memory: 64\n    disk: 1\n    depends_on: [whoami]\n"
    );
    let err = error_of(&cycle);
    assert!(
        err.contains("depends_on forms a cycle: whoami → b → whoami"),
        "{err}"
    );
}
