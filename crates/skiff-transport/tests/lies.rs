//! The pipeline against a source that lies and destinations that fail at each step:
//! every case gives a clear error, and real destinations (oci:, oci-archive:, dir:,
//! docker-archive:) are left absent or untouched, with no temporary files beside them.

mod common;

use std::path::Path;

use common::*;
use skiff_oci::VerifyError;
use skiff_transport::{CopyOptions, TransportError};

/// The real destinations, as names below `dir`.
fn outputs(dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    vec![
        (format!("oci:{}/out", dir.display()), dir.join("out")),
        (
            format!("oci-archive:{}/out.tar", dir.display()),
            dir.join("out.tar"),
        ),
        (format!("dir:{}/outdir", dir.display()), dir.join("outdir")),
        (
            format!("docker-archive:{}/out-docker.tar", dir.display()),
            dir.join("out-docker.tar"),
        ),
    ]
}

fn assert_clean(
    out_dir: &Path,
    output: &Path,
    before: Option<&std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>>,
    case: &str,
) {
    match before {
        None => assert!(
            !output.exists(),
            "{case}: {} was left behind",
            output.display()
        ),
        Some(before) => {
            let now = if output.is_dir() {
                snapshot(output)
            } else {
                [(
                    output.to_path_buf(),
                    std::fs::read(output).expect("the old output"),
                )]
                .into()
            };
            assert!(&now == before, "{case}: {} was changed", output.display());
        }
    }
    assert_eq!(
        temp_names(out_dir),
        Vec::<String>::new(),
        "{case}: temporary files remain"
    );
}

fn expect_size_mismatch(e: &TransportError, case: &str) {
    assert!(
        matches!(e, TransportError::Verify(VerifyError::Size { .. })),
        "{case}: {e:?}"
    );
    assert!(e.to_string().contains("nothing was kept"), "{case}: {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_sources_are_refused_and_nothing_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let name = layout_with(&tmp.path().join("src"), &sample_image(1));
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    for lie in [Lie::WrongDigest, Lie::Truncated, Lie::Longer, Lie::Broken] {
        for (dest, output) in outputs(&out_dir) {
            let case = format!("{lie:?} → {dest}");
            let source = LyingSource {
                inner: source(&name),
                lie,
                config: false,
            };
            let e = copy(&source, destination(&dest), &CopyOptions::default())
                .await
                .expect_err(&case);
            match lie {
                Lie::WrongDigest => {
                    assert!(
                        matches!(e, TransportError::Verify(VerifyError::Digest { .. })),
                        "{case}: {e:?}"
                    );
                    assert!(e.to_string().contains("digest mismatch"), "{case}: {e}");
                }
                Lie::Truncated | Lie::Longer => expect_size_mismatch(&e, &case),
                Lie::Broken => {
                    assert!(matches!(e, TransportError::Io { .. }), "{case}: {e:?}");
                    assert!(
                        e.to_string().contains("connection reset by the test"),
                        "{case}: {e}"
                    );
                }
            }
            assert_clean(&out_dir, &output, None, &case);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_config_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let name = layout_with(&tmp.path().join("src"), &sample_image(2));
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    for lie in [Lie::WrongDigest, Lie::Truncated, Lie::Longer] {
        let (dest, output) = outputs(&out_dir).remove(1);
        let source = LyingSource {
            inner: source(&name),
            lie,
            config: true,
        };
        let e = copy(&source, destination(&dest), &CopyOptions::default())
            .await
            .expect_err("a lying config");
        let case = format!("config {lie:?}");
        match lie {
            Lie::WrongDigest => assert!(
                matches!(e, TransportError::Verify(VerifyError::Digest { .. })),
                "{case}: {e:?}"
            ),
            _ => expect_size_mismatch(&e, &case),
        }
        assert_clean(&out_dir, &output, None, &case);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_failing_at_any_step_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let name = layout_with(&tmp.path().join("src"), &sample_image(3));
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    for step in [Step::Begin, Step::Sink, Step::Write, Step::Commit] {
        for (dest, output) in outputs(&out_dir) {
            let case = format!("{step:?} at {dest}");
            let failing = FailingDestination {
                inner: destination(&dest),
                step,
            };
            let e = copy(
                source(&name).as_ref(),
                Box::new(failing),
                &CopyOptions::default(),
            )
            .await
            .expect_err(&case);
            let text = e.to_string();
            assert!(
                text.contains("refused by the test") || text.contains("disk full (the test)"),
                "{case}: {text}"
            );
            assert_clean(&out_dir, &output, None, &case);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_copy_leaves_an_older_output_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let old = layout_with(&tmp.path().join("old"), &sample_image(4));
    let new = layout_with(&tmp.path().join("new"), &sample_image(5));
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    for (dest, output) in outputs(&out_dir) {
        copy(
            source(&old).as_ref(),
            destination(&dest),
            &CopyOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("first copy to {dest}: {e}"));
        let before = if output.is_dir() {
            snapshot(&output)
        } else {
            [(output.clone(), std::fs::read(&output).unwrap())].into()
        };
        for step in [Step::Begin, Step::Sink, Step::Write, Step::Commit] {
            let case = format!("{step:?} at existing {dest}");
            let failing = FailingDestination {
                inner: destination(&dest),
                step,
            };
            copy(
                source(&new).as_ref(),
                Box::new(failing),
                &CopyOptions::default(),
            )
            .await
            .expect_err(&case);
            assert_clean(&out_dir, &output, Some(&before), &case);
        }
        for lie in [Lie::WrongDigest, Lie::Longer] {
            let case = format!("{lie:?} to existing {dest}");
            let source = LyingSource {
                inner: source(&new),
                lie,
                config: false,
            };
            copy(&source, destination(&dest), &CopyOptions::default())
                .await
                .expect_err(&case);
            assert_clean(&out_dir, &output, Some(&before), &case);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_output_directory_is_named_as_the_user_wrote_it() {
    let tmp = tempfile::tempdir().unwrap();
    let name = layout_with(&tmp.path().join("src"), &sample_image(6));
    let missing = tmp.path().join("no-such-dir");
    for (dest, output) in outputs(&missing) {
        let e = copy(
            source(&name).as_ref(),
            destination(&dest),
            &CopyOptions::default(),
        )
        .await
        .expect_err(&dest);
        let text = e.to_string();
        assert!(
            text.contains(&output.display().to_string()),
            "{dest}: {text}"
        );
        assert!(text.contains("does not exist"), "{dest}: {text}");
        assert!(!text.contains("skiff-tmp"), "{dest}: {text}");
    }
}

#[test]
fn a_missing_local_image_is_told_apart_from_a_registry_miss() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().display();
    for name in [
        format!("oci:{p}/none:latest"),
        format!("oci-archive:{p}/none.tar"),
        format!("dir:{p}/none"),
        format!("docker-archive:{p}/none.tar"),
    ] {
        let parsed: skiff_transport::ImageName = name.parse().unwrap();
        let e = skiff_transport::open_source(&parsed, &Default::default())
            .err()
            .unwrap_or_else(|| panic!("{name} opened"));
        assert!(e.is_not_found(), "{name}: {e:?}");
        assert!(e.is_local_not_found(), "{name}: {e:?}");
    }
    // A tag missing inside an existing layout is local too.
    let name = layout_with(&tmp.path().join("src"), &sample_image(7));
    let other: skiff_transport::ImageName =
        format!("oci:{}:other", tmp.path().join("src").display())
            .parse()
            .unwrap();
    drop(name);
    let source = skiff_transport::open_source(&other, &Default::default()).unwrap();
    let e = futures_util::FutureExt::now_or_never(source.top_manifest())
        .expect("a local read does not wait")
        .unwrap_err();
    assert!(e.is_local_not_found(), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_encoding_refuses_lying_sources_before_decoding_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let name = layout_with(&tmp.path().join("src"), &sample_image(8));
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    for lie in [Lie::WrongDigest, Lie::Truncated, Lie::Longer] {
        let (dest, output) = outputs(&out_dir).remove(0);
        let case = format!("re-encoding {lie:?}");
        let source = LyingSource {
            inner: source(&name),
            lie,
            config: false,
        };
        let e = copy(&source, destination(&dest), &decompressing(&scratch))
            .await
            .expect_err(&case);
        assert!(matches!(e, TransportError::Verify(_)), "{case}: {e:?}");
        assert_eq!(snapshot(&scratch).len(), 0, "{case}: scratch files remain");
        assert_clean(&out_dir, &output, None, &case);
    }
}
