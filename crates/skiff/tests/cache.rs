//! The host's blob cache: pulls through a real `docker-registry` (behind a recording
//! proxy, to count the blob requests that reach it) reuse what earlier pulls fetched,
//! never use a corrupt entry, stay within the size limit, share one cache between
//! concurrent processes, and leave it alone with --no-cache.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use skiff_testbed::image::{busybox_builder, Format, LayerBuilder};
use skiff_testbed::push::push_image;
use skiff_testbed::{Compression, Fault, FaultProxy, Image, ImageBuilder, RegistryServer, Setup};

/// A registry serving `app:v1`, behind a proxy that records every request.
fn served(image: &Image) -> (RegistryServer, FaultProxy) {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    push_image(&reg.host(), "app", "v1", image, None).unwrap();
    let proxy = FaultProxy::start(&reg.host(), vec![]).unwrap();
    (reg, proxy)
}

/// An image whose layers are its own (`seed`), so no two tests share blobs.
fn image(seed: &str) -> Image {
    let noise: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed.as_bytes()[0])
        .collect();
    let layer = LayerBuilder::new()
        .dir("data", 0o755)
        .file("data/seed", 0o644, seed.as_bytes())
        .file("data/noise", 0o644, &noise)
        .build();
    busybox_builder(Format::Oci)
        .layer(layer, Compression::Gzip)
        .build()
}

/// Blob GETs (layers and config) that reached the registry so far.
fn blob_gets(proxy: &FaultProxy) -> Vec<String> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/blobs/"))
        .map(|r| r.path)
        .collect()
}

fn pull(proxy: &FaultProxy, dest: &Path, cache: &Path, extra: &[&str]) {
    let image = format!("docker://{}/app:v1", proxy.host());
    let dest = format!("oci:{}", dest.display());
    let mut args = vec!["copy", "-q", "--src-tls-verify=false"];
    args.extend_from_slice(extra);
    args.extend([image.as_str(), dest.as_str()]);
    let out = skiff_cached(&args, cache);
    assert!(
        out.status.success(),
        "skiff {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `skiff unpack` of `app:v1` into `rootfs`, which must succeed.
fn unpack(proxy: &FaultProxy, rootfs: &Path, cache: &Path) {
    let image = format!("docker://{}/app:v1", proxy.host());
    let rootfs = rootfs.to_str().unwrap();
    let out = skiff_cached(
        &["unpack", "-q", "--src-tls-verify=false", &image, rootfs],
        cache,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The cache's entries by file name (`HEX`), each checked to hash to its name.
fn entries(cache: &Path) -> Vec<String> {
    let dir = cache.join("blobs/sha256");
    let mut names = dir_names(&dir);
    for n in &names {
        let bytes = std::fs::read(dir.join(n)).unwrap();
        assert_eq!(
            skiff_testbed::image::sha256_digest(&bytes),
            format!("sha256:{n}"),
            "a cache entry is exactly its blob"
        );
    }
    names.sort();
    names
}

fn hexes(image: &Image) -> Vec<String> {
    let mut v: Vec<String> = image
        .blobs()
        .map(|b| b.digest.trim_start_matches("sha256:").to_string())
        .collect();
    v.sort();
    v
}

/// The files of a layout, for comparing two copies.
fn layout_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v = vec![(
        "index.json".to_string(),
        std::fs::read(dir.join("index.json")).unwrap(),
    )];
    for n in dir_names(&dir.join("blobs/sha256")) {
        v.push((
            n.clone(),
            std::fs::read(dir.join("blobs/sha256").join(&n)).unwrap(),
        ));
    }
    v
}

#[test]
fn a_second_pull_fetches_no_blob_from_the_registry() {
    let img = image("second");
    let (_reg, proxy) = served(&img);
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    pull(&proxy, &work.path().join("one"), &cache, &[]);
    let first = blob_gets(&proxy).len();
    assert_eq!(
        first,
        img.layers.len() + 1,
        "config and layers fetched once"
    );
    assert_eq!(entries(&cache), hexes(&img));

    pull(&proxy, &work.path().join("two"), &cache, &[]);
    assert_eq!(blob_gets(&proxy).len(), first, "{:?}", blob_gets(&proxy));
    assert_eq!(
        layout_files(&work.path().join("one")),
        layout_files(&work.path().join("two"))
    );

    // unpack and lxc create pull through the same cache.
    let rootfs = work.path().join("rootfs");
    unpack(&proxy, &rootfs, &cache);
    assert_eq!(std::fs::read(rootfs.join("data/seed")).unwrap(), b"second");
    assert_eq!(blob_gets(&proxy).len(), first);

    let ls = skiff_cached(&["cache", "ls"], &cache);
    let text = String::from_utf8_lossy(&ls.stdout);
    assert!(ls.status.success());
    for b in img.blobs() {
        assert!(text.contains(&b.digest), "{text}");
    }
    assert!(
        text.contains(&format!("{} blob(s)", img.layers.len() + 1)),
        "{text}"
    );
}

#[test]
fn a_corrupt_entry_is_fetched_again_and_never_used() {
    let img = image("corrupt");
    let (_reg, proxy) = served(&img);
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    pull(&proxy, &work.path().join("one"), &cache, &[]);
    let before = blob_gets(&proxy).len();

    let layer = img.layers.last().unwrap();
    let entry = cache
        .join("blobs/sha256")
        .join(layer.digest.trim_start_matches("sha256:"));
    let mut bad = std::fs::read(&entry).unwrap();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    std::fs::write(&entry, &bad).unwrap();

    pull(&proxy, &work.path().join("two"), &cache, &[]);
    let refetched = &blob_gets(&proxy)[before..];
    assert_eq!(refetched.len(), 1, "{refetched:?}");
    assert!(refetched[0].ends_with(&layer.digest));
    assert_eq!(
        std::fs::read(
            work.path()
                .join("two/blobs/sha256")
                .join(layer.digest.trim_start_matches("sha256:"))
        )
        .unwrap(),
        layer.data,
        "the copy has the registry's bytes, not the corrupt entry's"
    );
    assert_eq!(entries(&cache), hexes(&img), "the entry is good again");
}

#[test]
fn prune_keeps_the_most_recently_used_and_the_limit_holds() {
    let (a, b) = (image("prune-a"), image("prune-b"));
    let (_reg_a, proxy_a) = served(&a);
    let (_reg_b, proxy_b) = served(&b);
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    pull(&proxy_a, &work.path().join("a"), &cache, &[]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    pull(&proxy_b, &work.path().join("b"), &cache, &[]);

    // b's blobs are the newest; shared blobs (busybox's layer) were used by both.
    let b_size: u64 = b.blobs().map(|x| x.data.len() as u64).sum();
    let out = skiff_cached(
        &["cache", "prune", "--max-size", &b_size.to_string()],
        &cache,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(entries(&cache), hexes(&b));

    let out = skiff_cached(&["cache", "prune", "--max-size", "0"], &cache);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 blob(s), 0 B left"));
    assert!(entries(&cache).is_empty());

    let bad = skiff_cached(&["cache", "prune", "--max-size", "lots"], &cache);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid cache size"));

    // SKIFF_CACHE_MAX_SIZE bounds what pulls leave behind.
    let smallest = a.blobs().map(|x| x.data.len() as u64).min().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["copy", "-q", "--src-tls-verify=false"])
        .arg(format!("docker://{}/app:v1", proxy_a.host()))
        .arg(format!("oci:{}", work.path().join("a2").display()))
        .env("HOME", scratch_home())
        .env("SKIFF_CACHE_DIR", &cache)
        .env("SKIFF_CACHE_MAX_SIZE", smallest.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kept: u64 = entries(&cache)
        .iter()
        .map(|n| {
            std::fs::metadata(cache.join("blobs/sha256").join(n))
                .unwrap()
                .len()
        })
        .sum();
    assert!(kept <= smallest, "{kept} > {smallest}");
}

#[test]
fn two_concurrent_pulls_share_one_cache() {
    let img = image("concurrent");
    let (_reg, proxy) = served(&img);
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let image = format!("docker://{}/app:v1", proxy.host());
    let children: Vec<_> = ["one", "two"]
        .iter()
        .map(|d| {
            Command::new(env!("CARGO_BIN_EXE_skiff"))
                .args(["copy", "-q", "--src-tls-verify=false", &image])
                .arg(format!("oci:{}", work.path().join(d).display()))
                .env("HOME", scratch_home())
                .env("SKIFF_CACHE_DIR", &cache)
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        assert!(c.wait_with_output().unwrap().status.success());
    }
    assert_eq!(
        layout_files(&work.path().join("one")),
        layout_files(&work.path().join("two"))
    );
    assert_eq!(entries(&cache), hexes(&img));
    assert!(
        dir_names(&cache.join("tmp")).is_empty(),
        "no temporary file left"
    );
    let before = blob_gets(&proxy).len();
    pull(&proxy, &work.path().join("three"), &cache, &[]);
    assert_eq!(blob_gets(&proxy).len(), before);
}

#[test]
fn no_cache_neither_reads_nor_fills_the_cache() {
    let img = image("nocache");
    let (_reg, proxy) = served(&img);
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    pull(&proxy, &work.path().join("one"), &cache, &["--no-cache"]);
    assert!(entries(&cache).is_empty());
    pull(&proxy, &work.path().join("two"), &cache, &[]);
    let filled = blob_gets(&proxy).len();
    assert_eq!(filled, 2 * (img.layers.len() + 1));
    pull(&proxy, &work.path().join("three"), &cache, &["--no-cache"]);
    assert_eq!(
        blob_gets(&proxy).len(),
        filled + img.layers.len() + 1,
        "--no-cache fetches everything although the cache holds it"
    );
}

#[test]
fn the_cache_is_not_used_for_local_images() {
    // A layout copied to another layout never touches the cache: it is for registry blobs.
    let img = ImageBuilder::new(Format::Oci)
        .layer(
            LayerBuilder::new().file("x", 0o644, b"x").build(),
            Compression::Gzip,
        )
        .build();
    let work = tempfile::tempdir().unwrap();
    skiff_testbed::write_oci_layout(&work.path().join("src"), "v1", &img).unwrap();
    let cache = work.path().join("cache");
    let src = format!("oci:{}:v1", work.path().join("src").display());
    let dst = format!("oci:{}", work.path().join("dst").display());
    let out = skiff_cached(&["copy", "-q", &src, &dst], &cache);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(entries(&cache).is_empty());
}

#[test]
fn a_blob_the_registry_corrupts_fails_the_pull_and_never_enters_the_cache() {
    // The cache does not hash what it writes: the pipeline does, and only what passed
    // becomes an entry.
    let img = image("lying");
    let (_reg, proxy) = served(&img);
    let layer = img.layers[img.layers.len() - 1].digest.clone();
    proxy.add_fault(Fault::CorruptBlob {
        digest: layer.clone(),
    });
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let image = format!("docker://{}/app:v1", proxy.host());
    for args in [
        vec!["copy", "-q", "--src-tls-verify=false", &image],
        vec!["unpack", "-q", "--src-tls-verify=false", &image],
    ] {
        let dest = work.path().join(args[0]);
        let dest = match args[0] {
            "copy" => format!("oci:{}", dest.display()),
            _ => dest.display().to_string(),
        };
        let out = skiff_cached(&[&args[..], &[dest.as_str()]].concat(), &cache);
        assert!(!out.status.success(), "{args:?} took a corrupt layer");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(layer.trim_start_matches("sha256:")), "{err}");
        let kept = entries(&cache);
        assert!(
            !kept.contains(&layer.trim_start_matches("sha256:").to_string()),
            "{args:?} kept the corrupt layer: {kept:?}"
        );
        assert!(
            dir_names(&cache.join("tmp")).is_empty(),
            "no temporary left"
        );
    }

    // Served right, a first unpack fills the cache: a pull then fetches nothing.
    proxy.set_faults(vec![]);
    unpack(&proxy, &work.path().join("rootfs"), &cache);
    assert_eq!(entries(&cache), hexes(&img));
    let before = blob_gets(&proxy).len();
    pull(&proxy, &work.path().join("after"), &cache, &[]);
    assert_eq!(blob_gets(&proxy).len(), before);
}

#[test]
fn a_copy_into_a_registry_reads_the_cache_but_does_not_fill_it() {
    // As sync: the registry keeps (and checks) the blobs; skiff keeps only what it hashed.
    let img = image("mirror");
    let (reg, proxy) = served(&img);
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let image = format!("docker://{}/app:v1", proxy.host());
    let copy_to = |repo: &str| {
        let dest = format!("docker://{}/{repo}:v1", reg.host());
        let out = skiff_cached(
            &[
                "copy",
                "-q",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                &image,
                &dest,
            ],
            &cache,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    copy_to("mirror");
    assert!(entries(&cache).is_empty(), "nothing cached");
    assert_eq!(blob_gets(&proxy).len(), img.layers.len() + 1);
    // Once a pull has filled the cache, a copy into a registry reads from it.
    pull(&proxy, &work.path().join("pulled"), &cache, &[]);
    let before = blob_gets(&proxy).len();
    copy_to("again");
    assert_eq!(blob_gets(&proxy).len(), before, "served from the cache");
}
