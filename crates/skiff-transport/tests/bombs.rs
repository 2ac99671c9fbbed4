//! A real gzip bomb (1 GiB of zeros, about 1 MiB compressed, generated here) through the
//! two places the copy pipeline decompresses: re-encoding (`--dest-decompress`) and
//! writing a `docker-archive:`. Both stop at the decompression-bomb limit (the same as
//! unpack's), say which limit, and leave no scratch or temporary file.

mod common;

use std::io::Write;
use std::sync::OnceLock;

use common::*;
use skiff_codec::LimitExceeded;
use skiff_testbed::image::media;
use skiff_testbed::{Blob, Image};
use skiff_transport::{CopyOptions, TransportError};

/// 1 GiB of zeros, gzip-compressed at the best level (~1032:1, deflate's ceiling).
fn gzip_bomb() -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        encoder.write_all(&zeros).expect("compressing into memory");
    }
    encoder.finish().expect("compressing into memory")
}

/// The sample image with its layer replaced by the bomb (the config's diff_id no longer
/// matches, which nothing reaches: the bomb is stopped first).
fn bomb_image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let mut image = sample_image(9);
        let bomb = Blob::new(media::OCI_LAYER_GZIP, gzip_bomb());
        assert!(
            bomb.data.len() < 2 << 20,
            "the bomb is {} bytes",
            bomb.data.len()
        );
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&image.manifest).expect("the test manifest");
        manifest["layers"][0]["digest"] = bomb.digest.clone().into();
        manifest["layers"][0]["size"] = bomb.data.len().into();
        image.manifest = serde_json::to_vec(&manifest).expect("serialising");
        image.manifest_digest = skiff_testbed::image::sha256_digest(&image.manifest);
        image.layers = vec![bomb];
        image
    })
}

fn assert_ratio_limit(e: &TransportError) {
    match e {
        TransportError::DecodeLimit {
            limit: LimitExceeded::Ratio { limit, .. },
            ..
        } => assert_eq!(*limit, skiff_codec::Limits::default().max_ratio),
        other => panic!("not the ratio limit: {other:?}"),
    }
    let text = e.to_string();
    assert!(
        text.contains("ratio exceeded the limit of 1000") && text.contains("decompression bomb"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_encoding_stops_a_gzip_bomb_and_keeps_no_scratch_file() {
    let tmp = tempfile::tempdir().unwrap();
    let name = layout_with(&tmp.path().join("src"), bomb_image());
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let dest = format!("oci-archive:{}/out.tar", out_dir.display());
    let e = copy(
        source(&name).as_ref(),
        destination(&dest),
        &decompressing(&scratch),
    )
    .await
    .expect_err("a bomb re-encoded");
    assert_ratio_limit(&e);
    assert!(e.to_string().contains("re-encoding layer"), "{e}");
    assert_eq!(snapshot(&scratch).len(), 0, "scratch files remain");
    assert!(!out_dir.join("out.tar").exists());
    assert_eq!(temp_names(&out_dir), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_archive_stops_a_gzip_bomb_and_keeps_no_staging() {
    let tmp = tempfile::tempdir().unwrap();
    let name = layout_with(&tmp.path().join("src"), bomb_image());
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let dest = format!("docker-archive:{}/out.tar", out_dir.display());
    let e = copy(
        source(&name).as_ref(),
        destination(&dest),
        &CopyOptions::default(),
    )
    .await
    .expect_err("a bomb decompressed into a docker archive");
    assert_ratio_limit(&e);
    assert!(!out_dir.join("out.tar").exists());
    assert_eq!(temp_names(&out_dir), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_layers_still_decompress_on_both_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let name = layout_with(&tmp.path().join("src"), &sample_image(10));
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let dest = format!("oci:{}/plain", out.display());
    copy(
        source(&name).as_ref(),
        destination(&dest),
        &decompressing(&scratch),
    )
    .await
    .expect("decompressing an ordinary image");
    assert_eq!(snapshot(&scratch).len(), 0, "scratch files remain");
    let dest = format!("docker-archive:{}/d.tar", out.display());
    copy(
        source(&name).as_ref(),
        destination(&dest),
        &CopyOptions::default(),
    )
    .await
    .expect("an ordinary image into a docker archive");
    assert!(out.join("d.tar").is_file());
}
