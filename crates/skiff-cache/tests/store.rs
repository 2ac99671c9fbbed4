//! The cache's promises, on a real directory: verified reads, atomic writes, LRU pruning,
//! and temporary files of dead writers swept while live ones are left alone.

use std::io::Read;
use std::time::{Duration, SystemTime};

use skiff_cache::{Cache, CacheConfig};
use skiff_oci::Digest;

fn cache(dir: &std::path::Path, max_size: u64) -> Cache {
    Cache::open(&CacheConfig {
        dir: dir.to_path_buf(),
        max_size,
    })
    .unwrap()
}

fn put(cache: &Cache, bytes: &[u8]) -> Digest {
    let digest = Digest::sha256(bytes);
    let mut w = cache.writer(&digest, bytes.len() as u64).unwrap();
    w.write(bytes).unwrap();
    w.finish().unwrap();
    digest
}

fn read(hit: skiff_cache::Hit) -> Vec<u8> {
    let mut v = Vec::new();
    let mut f = hit.file;
    f.read_to_end(&mut v).unwrap();
    v
}

#[test]
fn a_written_blob_is_read_back_verified() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path(), 1 << 30);
    let d = put(&c, b"layer bytes");
    let hit = c.get(&d, Some(11)).unwrap().expect("hit");
    assert_eq!(read(hit), b"layer bytes");
    assert!(c.get(&Digest::sha256(b"other"), None).unwrap().is_none());
    assert_eq!(c.entries().unwrap().len(), 1);
    assert!(std::fs::read_dir(dir.path().join("tmp"))
        .unwrap()
        .next()
        .is_none());
}

#[test]
fn a_corrupt_entry_is_removed_and_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path(), 1 << 30);
    let d = put(&c, b"good bytes");
    let path = dir.path().join("blobs/sha256").join(d.hex());
    std::fs::write(&path, b"evil bytes").unwrap();
    assert!(c.get(&d, None).unwrap().is_none());
    assert!(!path.exists(), "the corrupt entry is dropped");
    // Wrong size is corrupt too, even before hashing.
    let d = put(&c, b"abc");
    assert!(c.get(&d, Some(4)).unwrap().is_none());
    assert!(c.entries().unwrap().is_empty());
}

#[test]
fn an_entry_verified_once_is_verified_again_when_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path(), 1 << 30);
    let d = put(&c, b"good bytes");
    assert!(c.get(&d, Some(10)).unwrap().is_some());
    assert!(c.get(&d, Some(10)).unwrap().is_some(), "served again");
    // Another file in its place (as a rename makes it), same size, other bytes: the
    // process verified the old file, not this one.
    let path = dir.path().join("blobs/sha256").join(d.hex());
    let other = dir.path().join("other");
    std::fs::write(&other, b"evil bytes").unwrap();
    std::fs::rename(&other, &path).unwrap();
    assert!(c.get(&d, Some(10)).unwrap().is_none());
    assert!(!path.exists(), "the corrupt entry is dropped");
}

#[test]
fn a_writer_refuses_bytes_that_are_not_the_blob() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path(), 1 << 30);
    let d = Digest::sha256(b"expected");
    let mut w = c.writer(&d, 8).unwrap();
    w.write(b"otherwis").unwrap();
    assert!(w.finish().is_err());
    let mut w = c.writer(&d, 8).unwrap();
    assert!(w.write(b"expected!").is_err(), "longer than its size");
    drop(w);
    let mut w = c.writer(&d, 8).unwrap();
    w.write(b"expe").unwrap();
    drop(w); // cut short: nothing stays
    assert!(c.entries().unwrap().is_empty());
    assert!(std::fs::read_dir(dir.path().join("tmp"))
        .unwrap()
        .next()
        .is_none());
}

#[test]
fn a_writer_for_verified_bytes_checks_their_size_and_leaves_the_digest_to_reads() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path(), 1 << 30);
    let d = Digest::sha256(b"expected");
    let mut w = c.writer_for_verified_bytes(&d, 8).unwrap();
    assert!(w.write(b"expected!").is_err(), "longer than its size");
    drop(w);
    let mut w = c.writer_for_verified_bytes(&d, 8).unwrap();
    w.write(b"expe").unwrap();
    assert!(w.finish().is_err(), "shorter than its size");
    assert!(c.entries().unwrap().is_empty());
    // It does not hash: a caller that finishes it vouches for the bytes. Had it lied,
    // the entry would never be served — reads verify.
    let mut w = c.writer_for_verified_bytes(&d, 8).unwrap();
    w.write(b"otherwis").unwrap();
    w.finish().unwrap();
    assert!(
        c.get(&d, Some(8)).unwrap().is_none(),
        "a wrong entry is a miss"
    );
    assert!(c.entries().unwrap().is_empty(), "and is dropped");
    let mut w = c.writer_for_verified_bytes(&d, 8).unwrap();
    w.write(b"expected").unwrap();
    w.finish().unwrap();
    assert_eq!(read(c.get(&d, Some(8)).unwrap().unwrap()), b"expected");
}

#[test]
fn prune_removes_least_recently_used_first() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path(), 1 << 30);
    let a = put(&c, &[1u8; 1000]);
    let b = put(&c, &[2u8; 1000]);
    let old = SystemTime::now() - Duration::from_secs(3600);
    for (d, age) in [(&a, 2), (&b, 1)] {
        let f = std::fs::File::options()
            .write(true)
            .open(dir.path().join("blobs/sha256").join(d.hex()))
            .unwrap();
        f.set_modified(old - Duration::from_secs(age * 60)).unwrap();
    }
    // Reading a makes it the most recently used.
    assert!(c.get(&a, None).unwrap().is_some());
    let c3 = put(&c, &[3u8; 1000]);
    let report = c.prune(2000).unwrap();
    assert_eq!(
        (report.removed, report.freed, report.kept, report.size),
        (1, 1000, 2, 2000)
    );
    let left: Vec<Digest> = c.entries().unwrap().into_iter().map(|e| e.digest).collect();
    assert!(
        left.contains(&a) && left.contains(&c3) && !left.contains(&b),
        "{left:?}"
    );
    assert_eq!(c.prune(0).unwrap().removed, 2);
}

#[test]
fn writers_prune_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path(), 1500);
    put(&c, &[1u8; 1000]);
    put(&c, &[2u8; 1000]);
    let entries = c.entries().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].digest, Digest::sha256(&[2u8; 1000]));
}

#[test]
fn only_temporaries_of_dead_writers_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path(), 1 << 30);
    let d = Digest::sha256(b"live");
    let mut live = c.writer(&d, 4).unwrap();
    live.write(b"li").unwrap();
    let stale = dir.path().join("tmp/stale.1.1");
    std::fs::write(&stale, b"left by a killed process").unwrap();
    let old = SystemTime::now() - Duration::from_secs(3600);
    for e in std::fs::read_dir(dir.path().join("tmp")).unwrap() {
        let f = std::fs::File::options()
            .write(true)
            .open(e.unwrap().path())
            .unwrap();
        f.set_modified(old).unwrap();
    }
    assert_eq!(c.prune(1 << 30).unwrap().stale_temporaries, 1);
    assert!(!stale.exists());
    live.write(b"ve").unwrap();
    live.finish().unwrap();
    assert!(c.get(&d, Some(4)).unwrap().is_some());
}
