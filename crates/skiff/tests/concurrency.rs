//! Concurrent writers: several skiff processes started at once on the same destination.
//! An `oci:` layout must stay valid with every writer's index entry in it (writers take
//! turns on the layout's lock); of two unpacks into one target, one wins and the other
//! fails clearly, leaving the winner's tree and no staging behind. Each scenario runs a
//! few rounds, because a race that shows one time in three is still a race.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use common::*;
use skiff_testbed::image::{
    sha256_digest, write_oci_layout, Compression, Format, Image, ImageBuilder, LayerBuilder,
};
use skiff_testbed::push::push_image;
use skiff_testbed::tree::{describe, differences};
use skiff_testbed::{RegistryServer, Setup};

const ROUNDS: usize = 3;
const WRITERS: usize = 4;

/// An image with `n` layers whose content depends on `seed`.
fn image(seed: &str, layers: usize) -> Image {
    let mut b = ImageBuilder::new(Format::Oci);
    for i in 0..layers {
        let data = format!("{seed} layer {i} ").repeat(20_000);
        let tar = LayerBuilder::new()
            .dir("data", 0o755)
            .file(&format!("data/{seed}-{i}"), 0o644, data.as_bytes())
            .build();
        b = b.layer(tar, Compression::Gzip);
    }
    b.build()
}

/// Starts skiff without waiting for it.
fn spawn(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .env("HOME", scratch_home())
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn skiff")
}

/// Runs every argument list at once; their outputs, in order.
fn all_at_once(runs: &[Vec<String>]) -> Vec<Output> {
    let children: Vec<Child> = runs.iter().map(|a| spawn(a)).collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait for skiff"))
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Reads a blob of the layout, checking that its bytes match its digest and size.
fn verified_blob(layout: &Path, descriptor: &serde_json::Value) -> Vec<u8> {
    let digest = descriptor["digest"].as_str().expect("descriptor digest");
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    let bytes = std::fs::read(layout.join("blobs/sha256").join(hex))
        .unwrap_or_else(|e| panic!("blob {digest} missing from {}: {e}", layout.display()));
    assert_eq!(sha256_digest(&bytes), digest, "blob content");
    assert_eq!(
        Some(bytes.len() as u64),
        descriptor["size"].as_u64(),
        "size of {digest}"
    );
    bytes
}

/// Checks the whole layout — every image in index.json complete and verified, nothing
/// temporary left in or beside it — and returns its tags with their manifest digests.
fn valid_layout(layout: &Path) -> BTreeMap<String, String> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("index.json parses");
    let mut tags = BTreeMap::new();
    for d in index["manifests"].as_array().expect("manifests") {
        let manifest: serde_json::Value =
            serde_json::from_slice(&verified_blob(layout, d)).expect("manifest parses");
        verified_blob(layout, &manifest["config"]);
        for l in manifest["layers"].as_array().expect("layers") {
            verified_blob(layout, l);
        }
        let tag = d["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .expect("every entry is tagged here")
            .to_string();
        let digest = d["digest"].as_str().unwrap().to_string();
        assert!(
            tags.insert(tag.clone(), digest).is_none(),
            "tag {tag} twice"
        );
    }
    no_leftovers(layout.parent().unwrap());
    tags
}

/// Fails on any temporary or lock file under `dir`.
fn no_leftovers(dir: &Path) {
    for e in walk(dir) {
        let name = e.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.contains(".skiff-tmp-") && !name.ends_with(".skiff-lock"),
            "left behind: {}",
            e.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

/// Source images `img0..imgN` as tags of one layout.
fn sources(dir: &Path) -> (std::path::PathBuf, Vec<Image>) {
    let src = dir.join("src");
    let images: Vec<Image> = (0..WRITERS).map(|i| image(&format!("img{i}"), 3)).collect();
    for (i, img) in images.iter().enumerate() {
        write_oci_layout(&src, &format!("t{i}"), img).unwrap();
    }
    (src, images)
}

#[test]
fn copies_of_different_tags_into_one_layout_keep_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (src, images) = sources(dir.path());
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for round in 0..ROUNDS {
        // Round 0 creates the layout (every writer finds it missing); later rounds add
        // to one that holds an older image under another tag.
        let dst = out.join("layout");
        if round == 1 {
            skiff_ok(&[
                "copy",
                &format!("oci:{}:t0", src.display()),
                &format!("oci:{}:older", dst.display()),
            ]);
        }
        let runs: Vec<Vec<String>> = (0..WRITERS)
            .map(|i| {
                vec![
                    "copy".into(),
                    "--quiet".into(),
                    format!("oci:{}:t{i}", src.display()),
                    format!("oci:{}:r{round}-{i}", dst.display()),
                ]
            })
            .collect();
        for (i, o) in all_at_once(&runs).iter().enumerate() {
            assert!(
                o.status.success(),
                "round {round} writer {i}: {}",
                stderr(o)
            );
        }
        let tags = valid_layout(&dst);
        for (i, img) in images.iter().enumerate() {
            assert_eq!(
                tags.get(&format!("r{round}-{i}")),
                Some(&img.manifest_digest),
                "round {round}: entry of writer {i} in {tags:?}"
            );
        }
        for earlier in 0..round {
            assert!(
                tags.contains_key(&format!("r{earlier}-0")),
                "round {round} lost round {earlier}'s entries: {tags:?}"
            );
        }
        if round == 1 {
            assert_eq!(tags.get("older"), Some(&images[0].manifest_digest));
        }
        // The peer reads every image.
        for i in 0..WRITERS {
            peer_ok(
                "skopeo",
                &["inspect", &format!("oci:{}:r{round}-{i}", dst.display())],
            );
        }
    }
}

#[test]
fn copies_to_the_same_tag_leave_one_complete_image_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let (src, images) = sources(dir.path());
    for round in 0..ROUNDS {
        let dst = dir.path().join(format!("out{round}")).join("layout");
        std::fs::create_dir(dst.parent().unwrap()).unwrap();
        let runs: Vec<Vec<String>> = (0..WRITERS)
            .map(|i| {
                vec![
                    "copy".into(),
                    "--quiet".into(),
                    format!("oci:{}:t{i}", src.display()),
                    format!("oci:{}:same", dst.display()),
                ]
            })
            .collect();
        for (i, o) in all_at_once(&runs).iter().enumerate() {
            assert!(
                o.status.success(),
                "round {round} writer {i}: {}",
                stderr(o)
            );
        }
        let tags = valid_layout(&dst);
        assert_eq!(tags.len(), 1, "{tags:?}");
        let winner = &tags["same"];
        assert!(
            images.iter().any(|i| &i.manifest_digest == winner),
            "{winner} is none of the sources"
        );
        let raw = skiff(&["inspect", "--raw", &format!("oci:{}:same", dst.display())]);
        assert!(raw.status.success(), "{}", stderr(&raw));
        assert_eq!(
            &sha256_digest(&raw.stdout),
            winner,
            "skiff reads the winner"
        );
    }
}

#[test]
fn two_unpacks_into_one_target_one_wins_the_other_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (src, _) = sources(dir.path());
    let expected = {
        let reference = dir.path().join("reference");
        skiff_ok(&[
            "unpack",
            &format!("oci:{}:t1", src.display()),
            reference.to_str().unwrap(),
        ]);
        describe(&reference)
    };
    for round in 0..ROUNDS {
        let parent = dir.path().join(format!("unpack{round}"));
        std::fs::create_dir(&parent).unwrap();
        let target = parent.join("rootfs");
        if round == 1 {
            // An empty target directory is allowed, and replaced.
            std::fs::create_dir(&target).unwrap();
        }
        let run = vec![
            "unpack".to_string(),
            format!("oci:{}:t1", src.display()),
            target.display().to_string(),
        ];
        let outs = all_at_once(&[run.clone(), run]);
        let won = outs.iter().filter(|o| o.status.success()).count();
        assert_eq!(
            won,
            1,
            "round {round}: {} / {}",
            stderr(&outs[0]),
            stderr(&outs[1])
        );
        for lost in outs.iter().filter(|o| !o.status.success()) {
            assert_eq!(lost.status.code(), Some(1), "{}", stderr(lost));
            let message = stderr(lost);
            assert!(
                message.contains(&target.display().to_string()) && message.contains("not empty"),
                "unclear: {message}"
            );
        }
        let diffs = differences(&expected, &describe(&target));
        assert!(diffs.is_empty(), "round {round}: {}", diffs.join("\n"));
        no_leftovers(&parent);
        assert_eq!(
            std::fs::read_dir(&parent).unwrap().count(),
            1,
            "only the target is left"
        );
    }
}

/// Checks a `dir:` image: the manifest and every blob it names, verified.
fn valid_dir_image(dir: &Path) -> String {
    let raw = std::fs::read(dir.join("manifest.json")).expect("manifest.json");
    let manifest: serde_json::Value = serde_json::from_slice(&raw).expect("manifest parses");
    for d in std::iter::once(&manifest["config"]).chain(manifest["layers"].as_array().unwrap()) {
        let digest = d["digest"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(digest.strip_prefix("sha256:").unwrap()))
            .unwrap_or_else(|e| panic!("{digest} missing in {}: {e}", dir.display()));
        assert_eq!(sha256_digest(&bytes), digest);
    }
    sha256_digest(&raw)
}

#[test]
fn copies_into_one_dir_image_all_succeed_and_the_last_wins_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (src, images) = sources(dir.path());
    for round in 0..ROUNDS {
        let parent = dir.path().join(format!("dir{round}"));
        std::fs::create_dir(&parent).unwrap();
        let dst = parent.join("image");
        let runs: Vec<Vec<String>> = (0..WRITERS)
            .map(|i| {
                vec![
                    "copy".into(),
                    "--quiet".into(),
                    format!("oci:{}:t{i}", src.display()),
                    format!("dir:{}", dst.display()),
                ]
            })
            .collect();
        for (i, o) in all_at_once(&runs).iter().enumerate() {
            assert!(
                o.status.success(),
                "round {round} writer {i}: {}",
                stderr(o)
            );
        }
        let digest = valid_dir_image(&dst);
        assert!(images.iter().any(|i| i.manifest_digest == digest));
        peer_ok("skopeo", &["inspect", &format!("dir:{}", dst.display())]);
        no_leftovers(&parent);
    }
}

#[test]
fn two_syncs_into_one_directory_both_succeed_with_every_image_whole() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let images: Vec<Image> = (0..3).map(|i| image(&format!("sync{i}"), 2)).collect();
    for (i, img) in images.iter().enumerate() {
        push_image(&reg.host(), "team/app", &format!("v{i}"), img, None).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    for round in 0..ROUNDS {
        let out = dir.path().join(format!("sync{round}"));
        std::fs::create_dir(&out).unwrap();
        let run = vec![
            "sync".to_string(),
            "--src".into(),
            "docker".into(),
            "--dest".into(),
            "dir".into(),
            "--src-tls-verify=false".into(),
            format!("{}/team/app", reg.host()),
            out.display().to_string(),
        ];
        for o in all_at_once(&[run.clone(), run]) {
            assert!(o.status.success(), "round {round}: {}", stderr(&o));
        }
        for (i, img) in images.iter().enumerate() {
            let image_dir = out.join(format!("app:v{i}"));
            assert_eq!(valid_dir_image(&image_dir), img.manifest_digest);
        }
        no_leftovers(&out);
    }
}

#[test]
fn a_copy_waits_for_the_layout_lock_and_ctrl_c_while_waiting_leaves_nothing() {
    use skiff_transport::lock::PathLock;
    let dir = tempfile::tempdir().unwrap();
    let (src, images) = sources(dir.path());
    let dst = dir.path().join("out").join("layout");
    std::fs::create_dir(dst.parent().unwrap()).unwrap();
    skiff_ok(&[
        "copy",
        &format!("oci:{}:t0", src.display()),
        &format!("oci:{}:first", dst.display()),
    ]);
    let index_before = std::fs::read(dst.join("index.json")).unwrap();
    let copy = |tag: &str| {
        spawn(&[
            "copy".into(),
            format!("oci:{}:t1", src.display()),
            format!("oci:{}:{tag}", dst.display()),
        ])
    };

    // Another writer (this test) holds the layout: the copy waits, touching nothing.
    let held = PathLock::try_acquire(&dst).unwrap().expect("lock is free");
    let mut waiting = copy("second");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "the copy did not wait"
    );
    assert_eq!(std::fs::read(dst.join("index.json")).unwrap(), index_before);
    // Ctrl-C while waiting: exit 130, nothing written, the holder's lock untouched.
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(waiting.id() as libc::pid_t, libc::SIGINT) };
    let out = waiting.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(std::fs::read(dst.join("index.json")).unwrap(), index_before);
    assert!(
        PathLock::lock_path(&dst).exists(),
        "the holder's lock file was removed"
    );

    // Released, a waiting copy goes ahead and adds its entry.
    let waiting = copy("third");
    std::thread::sleep(std::time::Duration::from_millis(500));
    drop(held);
    let out = waiting.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let tags = valid_layout(&dst);
    assert_eq!(tags.get("first"), Some(&images[0].manifest_digest));
    assert_eq!(tags.get("third"), Some(&images[1].manifest_digest));
    assert!(!tags.contains_key("second"), "{tags:?}");
}
