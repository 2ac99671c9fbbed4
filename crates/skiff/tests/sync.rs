//! `skiff sync` end to end: real docker-registry processes on both sides, skopeo as the
//! peer (same directory names, and each reads what the other wrote).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use skiff_testbed::image::{Compression, Format, Image, ImageBuilder, LayerBuilder};
use skiff_testbed::push::{push_image, push_multi_arch};
use skiff_testbed::{multi_arch, FaultProxy, RecordedRequest, RegistryServer, Setup};

/// A small image: a base layer every image shares, and one of its own.
fn image(seed: &str, format: Format) -> Image {
    let base = LayerBuilder::new()
        .dir("etc", 0o755)
        .file("etc/os-release", 0o644, b"ID=skiff-sync-base\n")
        .build();
    let own = LayerBuilder::new()
        .file("seed.txt", 0o644, seed.as_bytes())
        .build();
    ImageBuilder::new(format)
        .layer(base, Compression::Gzip)
        .layer(own, Compression::Gzip)
        .build()
}

/// A registry holding `app:v1`, `app:v2` (Docker format) and `app:multi` (an index).
fn seeded() -> (RegistryServer, Vec<(&'static str, String)>) {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let v1 = image("v1", Format::Oci);
    let v2 = image("v2", Format::Docker);
    push_image(&reg.host(), "team/app", "v1", &v1, None).unwrap();
    push_image(&reg.host(), "team/app", "v2", &v2, None).unwrap();
    let list = multi_arch(
        Format::Oci,
        vec![image("amd", Format::Oci), image("arm", Format::Oci)],
    );
    push_multi_arch(&reg.host(), "team/app", "multi", &list, None).unwrap();
    let digests = vec![
        ("v1", v1.manifest_digest.clone()),
        ("v2", v2.manifest_digest.clone()),
    ];
    (reg, digests)
}

fn sync(args: &[&str]) -> (Output, String) {
    let mut all = vec!["sync"];
    all.extend_from_slice(args);
    let out = skiff(&all);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stderr)
}

/// `sync --src yaml --dest dir [EXTRA…] YAML OUT`.
fn yaml_to_dir(yaml: &Path, out: &Path, extra: &[&str]) -> (Output, String) {
    let mut args = vec!["--src", "yaml", "--dest", "dir"];
    args.extend_from_slice(extra);
    args.extend([yaml.to_str().unwrap(), out.to_str().unwrap()]);
    sync(&args)
}

fn sync_ok(args: &[&str]) -> String {
    let (out, stderr) = sync(args);
    assert!(out.status.success(), "skiff sync {args:?}: {stderr}");
    stderr
}

/// The manifest digest a registry serves for `reference`, as skopeo reads it.
fn remote_digest(reference: &str) -> String {
    let out = peer_ok(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ],
    );
    let out2 = peer_ok("skopeo", &["manifest-digest", &write_temp(out.as_bytes())]);
    out2.trim().to_string()
}

fn write_temp(bytes: &[u8]) -> String {
    let f = tempfile::NamedTempFile::new().unwrap();
    let (_, path) = f.keep().unwrap();
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().into_owned()
}

/// Every `dir:` image below `root`, as paths relative to it.
fn dir_images(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        if dir.join("manifest.json").is_file() {
            let rel = dir.strip_prefix(root).unwrap();
            out.push(rel.to_string_lossy().into_owned());
            return;
        }
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(root, &e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn tmp() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().to_path_buf();
    (t, p)
}

#[test]
fn registry_to_registry_then_nothing_to_do() {
    let (src, digests) = seeded();
    let dest = RegistryServer::start(Setup::Open).unwrap();
    let source = format!("{}/team/app", src.host());
    let target = format!("{}/mirror", dest.host());
    let tls = ["--src-tls-verify=false", "--dest-tls-verify=false"];
    let args = |extra: &[&'static str]| {
        let mut a: Vec<String> = vec![
            "--src".into(),
            "docker".into(),
            "--dest".into(),
            "docker".into(),
        ];
        a.extend(tls.iter().map(|s| s.to_string()));
        a.extend(extra.iter().map(|s| s.to_string()));
        a.push(source.clone());
        a.push(target.clone());
        a
    };
    let first = args(&["--all"]);
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    let err = sync_ok(&first);
    assert!(err.contains("3 copied, 0 skipped, 0 failed"), "{err}");
    for (tag, digest) in &digests {
        assert_eq!(&remote_digest(&format!("{target}/app:{tag}")), digest);
    }
    assert_eq!(
        remote_digest(&format!("{target}/app:multi")),
        remote_digest(&format!("{source}:multi"))
    );
    let err = sync_ok(&first);
    assert!(err.contains("0 copied, 3 skipped, 0 failed"), "{err}");
    // Without --all an index is copied as the host's image: still up to date next time.
    let single = args(&[]);
    let single: Vec<&str> = single.iter().map(String::as_str).collect();
    let dest2 = format!("{}/single", dest.host());
    let mut second: Vec<&str> = single[..single.len() - 1].to_vec();
    second.push(&dest2);
    let err = sync_ok(&second);
    assert!(err.contains("3 copied"), "{err}");
    let err = sync_ok(&second);
    assert!(err.contains("0 copied, 3 skipped"), "{err}");
}

#[test]
fn registry_to_dir_names_images_as_skopeo_does() {
    let (src, _) = seeded();
    let source = format!("{}/team/app", src.host());
    for scoped in [false, true] {
        let (_t, root) = tmp();
        let ours = root.join("skiff");
        let theirs = root.join("skopeo");
        let mut args = vec!["--src", "docker", "--dest", "dir", "--src-tls-verify=false"];
        if scoped {
            args.push("--scoped");
        }
        let mut skiff_args = args.clone();
        skiff_args.extend([source.as_str(), ours.to_str().unwrap()]);
        let err = sync_ok(&skiff_args);
        assert!(err.contains("3 copied"), "{err}");
        let mut skopeo_args = vec!["sync"];
        skopeo_args.extend(args);
        skopeo_args.extend([source.as_str(), theirs.to_str().unwrap()]);
        peer_ok("skopeo", &skopeo_args);
        let names = dir_images(&ours);
        assert_eq!(names, dir_images(&theirs), "scoped={scoped}");
        assert_eq!(names.len(), 3);
        for n in &names {
            assert_eq!(
                std::fs::read(ours.join(n).join("manifest.json")).unwrap(),
                std::fs::read(theirs.join(n).join("manifest.json")).unwrap(),
                "{n}"
            );
        }
        // Incremental into a directory too: one file read per image.
        let err = sync_ok(&skiff_args);
        assert!(err.contains("0 copied, 3 skipped"), "{err}");
    }
}

#[test]
fn dirs_cross_between_skopeo_and_skiff() {
    let (src, digests) = seeded();
    let dest = RegistryServer::start(Setup::Open).unwrap();
    let source = format!("{}/team/app", src.host());
    let (_t, root) = tmp();
    let by_skopeo = root.join("by-skopeo");
    let by_skiff = root.join("by-skiff");
    // The same command line for both tools, each writing its own tree.
    let to_dir = |out: &Path| {
        let out = out.to_str().unwrap().to_string();
        [
            "--src",
            "docker",
            "--dest",
            "dir",
            "--src-tls-verify=false",
            &source,
            &out,
        ]
        .map(String::from)
    };
    let from_dir = |tree: &Path, target: &str| {
        let tree = tree.to_str().unwrap().to_string();
        [
            "--src",
            "dir",
            "--dest",
            "docker",
            "--dest-tls-verify=false",
            &tree,
            target,
        ]
        .map(String::from)
    };
    fn refs(a: &[String]) -> Vec<&str> {
        a.iter().map(String::as_str).collect()
    }
    let skopeo_sync = |a: &[String]| peer_ok("skopeo", &[&["sync"][..], &refs(a)].concat());
    skopeo_sync(&to_dir(&by_skopeo));
    sync_ok(&refs(&to_dir(&by_skiff)));
    // skopeo's tree read by skiff, skiff's tree read by skopeo.
    let from_skopeo = format!("{}/from-skopeo", dest.host());
    let from_skiff = format!("{}/from-skiff", dest.host());
    let err = sync_ok(&refs(&from_dir(&by_skopeo, &from_skopeo)));
    assert!(err.contains("3 copied"), "{err}");
    skopeo_sync(&from_dir(&by_skiff, &from_skiff));
    for (tag, digest) in &digests {
        assert_eq!(&remote_digest(&format!("{from_skopeo}/app:{tag}")), digest);
        assert_eq!(&remote_digest(&format!("{from_skiff}/app:{tag}")), digest);
    }
}

#[test]
fn yaml_source_with_tags_regex_and_semver() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    for tag in ["1.0", "1.2", "2.0", "v1.5", "latest"] {
        push_image(&reg.host(), "lib/tool", tag, &image(tag, Format::Oci), None).unwrap();
    }
    push_image(&reg.host(), "other", "x", &image("x", Format::Oci), None).unwrap();
    let (_t, root) = tmp();
    let yaml = root.join("sync.yaml");
    std::fs::write(
        &yaml,
        format!(
            "{host}:\n  tls-verify: false\n  images:\n    other: []\n    lib/tool: ['latest', '2.0']\n  images-by-tag-regex:\n    lib/tool: ^2\\.\n  images-by-semver:\n    lib/tool: '>= 1.1, < 2'\n",
            host = reg.host()
        ),
    )
    .unwrap();
    let out = root.join("out");
    let (o, err) = yaml_to_dir(&yaml, &out, &[]);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("5 copied, 0 skipped, 0 failed"), "{err}");
    assert_eq!(
        dir_images(&out),
        [
            "other:x",
            "tool:1.2",
            "tool:2.0",
            "tool:latest",
            "tool:v1.5"
        ]
    );
    // A misspelt key is refused, not ignored.
    std::fs::write(&yaml, format!("{}:\n  image:\n    other: []\n", reg.host())).unwrap();
    let (o, err) = yaml_to_dir(&yaml, &out, &[]);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("unknown field `image`"), "{err}");
}

#[test]
fn keep_going_past_a_missing_tag_then_exit_1() {
    let (src, _) = seeded();
    let (_t, root) = tmp();
    let yaml = root.join("sync.yaml");
    std::fs::write(
        &yaml,
        format!(
            "{}:\n  tls-verify: false\n  images:\n    team/app: ['v1', 'missing', 'v2']\n",
            src.host()
        ),
    )
    .unwrap();
    let out = root.join("out");
    let (o, err) = yaml_to_dir(&yaml, &out, &["--keep-going"]);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("2 copied, 0 skipped, 1 failed"), "{err}");
    assert!(err.contains("app:missing"), "{err}");
    assert_eq!(dir_images(&out), ["app:v1", "app:v2"]);
}

#[test]
fn dry_run_and_refused_flags() {
    let (src, _) = seeded();
    let (_t, root) = tmp();
    let out = root.join("out");
    let source = format!("{}/team/app", src.host());
    let base = ["--src", "docker", "--dest", "dir", "--src-tls-verify=false"];
    let mut dry = base.to_vec();
    dry.extend(["--dry-run", source.as_str(), out.to_str().unwrap()]);
    let err = sync_ok(&dry);
    assert!(err.contains("3 of 3 images would be synced"), "{err}");
    assert!(!out.exists());
    for refused in [
        ["--sign-by-sigstore", "/tmp/params.yaml"],
        ["--digestfile", "/tmp/d"],
    ] {
        let mut a = base.to_vec();
        a.extend(refused);
        a.extend([source.as_str(), out.to_str().unwrap()]);
        let (o, err) = sync(&a);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(refused[0]), "{err}");
    }
    assert!(!out.exists());
}

#[test]
fn a_base_shared_by_two_repositories_is_uploaded_once_and_mounted() {
    let src = RegistryServer::start(Setup::Open).unwrap();
    let (app, tool) = (image("app", Format::Oci), image("tool", Format::Oci));
    push_image(&src.host(), "team/app", "v1", &app, None).unwrap();
    push_image(&src.host(), "team/tool", "v1", &tool, None).unwrap();
    let base = &app.layers[0].digest;
    assert_eq!(base, &tool.layers[0].digest, "the images share their base");
    let dest = RegistryServer::start(Setup::Open).unwrap();
    let proxy = FaultProxy::start(&dest.host(), vec![]).unwrap();
    let (_t, dir) = tmp();
    let yaml = dir.join("sync.yaml");
    std::fs::write(
        &yaml,
        format!(
            "{}:\n  tls-verify: false\n  images:\n    team/app: []\n    team/tool: []\n",
            src.host()
        ),
    )
    .unwrap();
    let target = format!("{}/mirror", proxy.host());
    let err = sync_ok(&[
        "--no-cache",
        "--src",
        "yaml",
        "--dest",
        "docker",
        "--dest-tls-verify=false",
        yaml.to_str().unwrap(),
        &target,
    ]);
    assert!(err.contains("2 copied, 0 skipped, 0 failed"), "{err}");
    let reqs = proxy.requests();
    let encoded = base.replace(':', "%3A");
    let base_puts = reqs
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains(&encoded))
        .count();
    assert_eq!(base_puts, 1, "the base went up once: {reqs:#?}");
    let mounted: Vec<&RecordedRequest> = reqs
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains(&format!("mount={encoded}")))
        .collect();
    assert_eq!(mounted.len(), 1, "{reqs:#?}");
    assert_eq!(mounted[0].status, 201, "mounted, not uploaded");
    for (name, img) in [("app", &app), ("tool", &tool)] {
        assert_eq!(
            remote_digest(&format!("{}/mirror/{name}:v1", dest.host())),
            img.manifest_digest
        );
    }
}

/// The cache files below `dir` (its entries, `blobs/ALG/HEX`).
fn cache_entries(dir: &Path) -> usize {
    let blobs = dir.join("blobs/sha256");
    std::fs::read_dir(blobs).map_or(0, |d| d.count())
}

#[test]
fn sync_into_a_registry_reads_the_cache_but_does_not_fill_it() {
    let (src, _) = seeded();
    let dest = RegistryServer::start(Setup::Open).unwrap();
    let (_t, dir) = tmp();
    let cache = dir.join("cache");
    let source = format!("{}/team/app:v1", src.host());
    let tls = ["--src-tls-verify=false", "--dest-tls-verify=false"];
    let run = |args: &[&str]| {
        let mut all = vec!["sync"];
        all.extend_from_slice(&tls[..]);
        all.extend_from_slice(args);
        let out = skiff_cached(&all, &cache);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{all:?}: {stderr}");
        stderr
    };
    let mirror = format!("{}/mirror", dest.host());
    let err = run(&["--src", "docker", "--dest", "docker", &source, &mirror]);
    assert!(err.contains("1 copied"), "{err}");
    assert_eq!(
        cache_entries(&cache),
        0,
        "a registry mirror filled the cache"
    );
    // Into directories the cache is filled (it fetches shared layers once per run)…
    let out = dir.join("out");
    let err = run(&[
        "--src",
        "docker",
        "--dest",
        "dir",
        &source,
        out.to_str().unwrap(),
    ]);
    assert!(err.contains("1 copied"), "{err}");
    let filled = cache_entries(&cache);
    assert!(filled >= 2, "{filled} entries");
    // …and a sync into a registry, with entries there to read, leaves it as it was.
    let err = run(&[
        "--src",
        "docker",
        "--dest",
        "docker",
        &source,
        &format!("{mirror}2"),
    ]);
    assert!(err.contains("1 copied"), "{err}");
    assert_eq!(cache_entries(&cache), filled);
}
