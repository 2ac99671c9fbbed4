use std::path::Path;

use skiff_catalog::Catalog;

use crate::{ApplyError, DesiredFile};

fn parse(path: &Path, text: &str) -> Result<DesiredFile, ApplyError> {
    let catalog = Catalog::builtin().expect("the built-in catalog parses");
    super::parse(path, text, &catalog)
}

fn err(text: &str) -> (usize, usize, String) {
    match parse(Path::new("/x/apps.yaml"), text) {
        Err(ApplyError::File {
            line,
            column,
            message,
            ..
        }) => (line, column, message),
        other => panic!("expected a file error, got {other:?}"),
    }
}

#[test]
fn the_seed_shape_parses() {
    let f = parse(
        Path::new("/x/seed.yaml"),
        "version: v2\npools:\n  tank:\n    datasets:\n      jellyfin:\n        quota: 100G\n        containers:\n          - name: jellyfin\n            type: oci\n            image: jellyfin/jellyfin\n            tag: latest\n            registry: docker.io\n            cores: 4\n            memory: 4096\n            disk: 16G\n            gpu: true\n            mounts:\n              - source: /tank/media\n                target: /media\n                readonly: true\n",
    )
    .unwrap();
    assert_eq!(f.datasets.len(), 1);
    assert_eq!(f.datasets[0].name, "tank/jellyfin");
    let c = &f.containers[0];
    assert_eq!(c.image, "docker.io/jellyfin/jellyfin:latest");
    assert_eq!(c.memory, Some(crate::Mib(4096)));
    assert_eq!(c.disk, Some(crate::Gib(16)));
    assert_eq!(c.proxmox.gpu, Some(crate::Gpu::Any));
    assert!(c.mounts[0].readonly);
}

#[test]
fn apps_are_ordered_by_depends_on_and_named_app_container() {
    let f = parse(
        Path::new("/x/a.yaml"),
        "apps:\n  - name: immich\n    containers:\n      - name: server\n        image: ghcr.io/immich-app/immich-server\n        tag: release\n        depends_on: [postgres, redis]\n        env: {DB_HOSTNAME: \"${host:postgres}\", PORT: 2283}\n      - name: postgres\n        image: postgres:16\n        memory: 1G\n      - name: redis\n        image: redis@sha256:0000000000000000000000000000000000000000000000000000000000000000\n",
    )
    .unwrap();
    let names: Vec<&str> = f.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["immich-postgres", "immich-redis", "immich-server"]);
    let server = &f.containers[2];
    assert_eq!(server.depends_on, ["immich-postgres", "immich-redis"]);
    assert_eq!(server.env["PORT"], "2283");
    assert_eq!(f.containers[0].image, "docker.io/library/postgres:16");
    assert_eq!(f.containers[0].memory, Some(crate::Mib(1024)));
    assert!(f.containers[1].pinned.is_some());
}

#[test]
fn unknown_keys_are_errors_at_their_place() {
    let (line, column, m) =
        err("containers:\n  - name: web\n    image: busybox\n    memroy: 512\n");
    assert_eq!((line, column), (4, 5), "{m}");
    assert!(m.contains("unknown field `memroy`"), "{m}");
}

#[test]
fn wrong_types_and_bad_sizes_are_errors_at_their_place() {
    let (line, _, m) = err("containers:\n  - name: web\n    image: busybox\n    cores: two\n");
    assert_eq!(line, 4, "{m}");
    let (line, _, m) = err("containers:\n  - name: web\n    image: busybox\n    memory: 2X\n");
    assert_eq!(line, 4, "{m}");
    assert!(m.contains("unknown unit"), "{m}");
    let (line, _, m) =
        err("containers:\n  - name: web\n    image: busybox\n    entrypoint: /bin/sleep 1\n");
    assert_eq!(line, 4, "{m}");
}

#[test]
fn duplicate_names_point_at_the_second() {
    let (line, column, m) =
        err("containers:\n  - name: web\n    image: busybox\n  - name: web\n    image: alpine\n");
    assert_eq!((line, column), (4, 5), "{m}");
    assert!(m.contains("duplicate container name web"), "{m}");
}

#[test]
fn dependency_mistakes_are_errors() {
    let (line, _, m) = err("containers:\n  - name: a\n    image: busybox\n    depends_on: [b]\n");
    assert_eq!(line, 2, "{m}");
    assert!(m.contains("depends_on \"b\""), "{m}");
    let (_, _, m) = err("containers:\n  - name: a\n    image: busybox\n    depends_on: [b]\n  - name: b\n    image: busybox\n    depends_on: [a]\n");
    assert!(m.contains("cycle"), "{m}");
}

#[test]
fn other_mistakes_are_errors() {
    for (text, want) in [
        ("version: v3\n", "unknown version"),
        ("backend: docker\n", "unknown backend"),
        (
            "containers:\n  - name: a\n    type: lxc\n    image: busybox\n",
            "type: oci",
        ),
        (
            "containers:\n  - name: a/b\n    image: busybox\n",
            "invalid container name",
        ),
        (
            "containers:\n  - name: a\n    image: busybox:1\n    tag: 2\n",
            "has a tag",
        ),
        (
            "containers:\n  - name: a\n    image: busybox\n    mounts: [{target: data}]\n",
            "absolute",
        ),
        ("apps:\n  - catalog: no-such-app\n", "no-such-app"),
        (
            "apps:\n  - catalog: immich\n    containers:\n      - name: db\n        memory: 2G\n",
            "has no container \"db\"",
        ),
        ("apps:\n  - catalog: redis\n    gpu: true\n", "does not use a GPU"),
        (
            "apps:\n  - name: x\n    cores: 2\n    containers:\n      - name: a\n        image: busybox\n",
            "belong under its `containers:`",
        ),
        (
            "containers:\n  - name: a\n    image: busybox\n    catalog: redis\n",
            "`catalog:` belongs to an item of `apps:`",
        ),
        ("containers:\n  - image: busybox\n", "without `name:`"),
        ("containers:\n  - name: a\n", "no `image:`"),
    ] {
        let (_, _, m) = err(text);
        assert!(m.contains(want), "{text}: {m}");
    }
}

#[test]
fn a_catalog_app_becomes_its_containers_with_the_files_overrides() {
    let f = parse(
        Path::new("/x/apps.yaml"),
        "apps:\n  - name: photos\n    catalog: immich\n    memory: 3G\n    mounts:\n      - {source: /tank/photos, target: /data}\n      - {source: /tank/extra, target: /extra, readonly: true}\n    env: {TZ: Europe/Berlin}\n    containers:\n      - name: postgres\n        memory: 2G\n        disk: 20G\n",
    )
    .unwrap();
    let by = |n: &str| f.containers.iter().find(|c| c.name == n).unwrap();
    // Dependencies first: the server comes after postgres and redis.
    let names: Vec<&str> = f.containers.iter().map(|c| c.name.as_str()).collect();
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(pos("photos-postgres") < pos("photos-server"), "{names:?}");
    assert!(pos("photos-redis") < pos("photos-server"), "{names:?}");
    let server = by("photos-server");
    assert_eq!(server.image, "ghcr.io/immich-app/immich-server:release");
    assert_eq!(server.memory, Some(crate::Mib(3072)));
    assert_eq!(
        server.cores,
        Some(2),
        "the catalog's value stays where not overridden"
    );
    assert_eq!(server.app.as_deref(), Some("photos"));
    assert_eq!(server.mounts.len(), 2);
    assert_eq!(
        server.mounts[0].source.as_deref(),
        Some(Path::new("/tank/photos")),
        "a mount on the catalog's target gives that volume a host path"
    );
    assert!(server.mounts[1].readonly);
    assert_eq!(server.env["TZ"], "Europe/Berlin");
    assert_eq!(server.env["DB_HOSTNAME"], "${host:postgres}");
    assert_eq!(
        server.depends_on,
        ["photos-postgres", "photos-redis"],
        "depends_on names the app's own containers"
    );
    assert!(server.disk_suggested, "the catalog's disk is a suggestion");
    let db = by("photos-postgres");
    assert_eq!(db.memory, Some(crate::Mib(2048)));
    assert_eq!(db.disk, Some(crate::Gib(20)));
    assert!(!db.disk_suggested, "a disk the file gives is the file's");
    let ml = by("photos-machine-learning");
    assert_eq!(
        ml.memory,
        Some(crate::Mib(2048)),
        "app-level keys change the main container only"
    );
    assert_eq!(
        ml.image,
        "ghcr.io/immich-app/immich-machine-learning:release"
    );
}

#[test]
fn a_one_container_catalog_app_is_named_after_its_entry_and_takes_a_mirror() {
    let f = parse(
        Path::new("/x/apps.yaml"),
        "apps:\n  - catalog: redis\n    registry: mirror.lan:5000\n    tag: '7.4'\n",
    )
    .unwrap();
    assert_eq!(f.containers.len(), 1);
    let c = &f.containers[0];
    assert_eq!(c.name, "redis");
    assert_eq!(c.image, "mirror.lan:5000/library/redis:7.4");
    let f = parse(
        Path::new("/x/apps.yaml"),
        "apps:\n  - catalog: immich\n    registry: mirror.lan:5000\n",
    )
    .unwrap();
    assert!(
        f.containers
            .iter()
            .all(|c| c.image.starts_with("mirror.lan:5000/")),
        "a mirror serves the whole app"
    );
}

/// Found by fuzzing: libyaml took minutes over 50,000 nested flow mappings (the corpus
/// keeps the input, fuzz/corpus/apply_file/seed-deep-flow); now refused at once.
#[test]
fn deep_flow_nesting_is_refused_at_once_with_its_line() {
    let text = format!(
        "containers:\n  - name: a\n    env: {}\n",
        "{a: ".repeat(50_000)
    );
    let started = std::time::Instant::now();
    let (line, column, message) = err(&text);
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!((line, column), (3, 1));
    assert_eq!(message, "nested deeper than 128 levels");
}
