//! Bad days, made on demand: connection failures are named by kind and retried only when
//! that can help, every wait is announced, `Retry-After` is honoured (and survives hostile
//! values), and blob uploads are retried as a whole when their body allows it.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{insecure, small_image, Notices};
use skiff_oci::Digest;
use skiff_registry::{
    ClientOptions, ConnectKind, RegistryClient, RegistryError, UploadBody, MAX_RETRY_AFTER,
};
use skiff_testbed::push::push_image;
use skiff_testbed::registry::Options;
use skiff_testbed::{Fault, FaultProxy, RegistryServer, Setup, Tls};

/// A client of `host` whose retries are quick and collected.
fn client(host: &str, base: ClientOptions, notices: &Notices) -> RegistryClient {
    RegistryClient::new(
        host,
        ClientOptions {
            retry_delay: Some(Duration::from_millis(20)),
            on_retry: notices.hook(),
            ..base
        },
    )
    .unwrap()
}

fn verified() -> ClientOptions {
    ClientOptions {
        no_creds: true,
        ..ClientOptions::default()
    }
}

fn connect_kind(e: &RegistryError) -> ConnectKind {
    match e {
        RegistryError::Connect { kind, .. } => *kind,
        other => panic!("expected a connection failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_dns_and_not_retried() {
    let notices = Notices::default();
    let c = client("skiff-no-such-host.invalid", verified(), &notices);
    let start = Instant::now();
    let err = c.ping().await.unwrap_err();
    assert_eq!(connect_kind(&err), ConnectKind::Dns, "{err}");
    assert!(notices.all().is_empty(), "{:?}", notices.all());
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_refused_connection_is_named_and_every_retry_announced() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let notices = Notices::default();
    let c = client(
        &format!("127.0.0.1:{port}"),
        ClientOptions {
            retry_times: 2,
            ..verified()
        },
        &notices,
    );
    let start = Instant::now();
    let err = c.ping().await.unwrap_err();
    assert_eq!(connect_kind(&err), ConnectKind::Refused, "{err}");
    let seen = notices.all();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!((seen[0].attempt, seen[0].of), (2, 3));
    assert_eq!(seen[1].attempt, 3);
    assert_eq!(seen[0].reason, "connection refused");
    assert!(
        seen[0].what.starts_with("GET https://127.0.0.1:"),
        "{seen:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_plain_http_registry_under_tls_reads_like_skopeo_and_is_not_retried() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    // The proxy answers a TLS handshake the way Go's HTTP server does: with HTTP.
    let proxy = FaultProxy::start(&reg.host(), vec![]).unwrap();
    let notices = Notices::default();
    let c = client(&proxy.host(), verified(), &notices);
    let err = c.ping().await.unwrap_err();
    assert_eq!(connect_kind(&err), ConnectKind::PlainHttp, "{err}");
    assert!(
        err.to_string()
            .contains("server gave HTTP response to HTTPS client"),
        "{err}"
    );
    assert!(
        err.to_string().contains("InvalidContentType"),
        "cause kept: {err}"
    );
    assert!(notices.all().is_empty(), "{:?}", notices.all());
}

#[tokio::test]
async fn an_untrusted_certificate_is_named_and_not_retried() {
    let reg = RegistryServer::start_with(
        Setup::Open,
        Options {
            tls: Tls::On,
            ..Options::default()
        },
    )
    .unwrap();
    let notices = Notices::default();
    let c = client(
        &reg.host(),
        ClientOptions {
            cert_dir: Some(std::env::temp_dir().join("skiff-no-such-cert-dir")),
            ..verified()
        },
        &notices,
    );
    let err = c.ping().await.unwrap_err();
    assert_eq!(connect_kind(&err), ConnectKind::Certificate, "{err}");
    assert!(notices.all().is_empty(), "{:?}", notices.all());
}

#[tokio::test]
async fn retry_after_is_waited_out_even_when_longer_than_the_backoff() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    push_image(&reg.host(), "app", "v1", &small_image("ra"), None).unwrap();
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::TooManyRequests {
            path_contains: "/manifests/".into(),
            times: 1,
            retry_after_secs: 3,
        }],
    )
    .unwrap();
    let notices = Notices::default();
    // No fixed --retry-delay: the first backoff would be 1 s.
    let c = RegistryClient::new(
        &proxy.host(),
        ClientOptions {
            on_retry: notices.hook(),
            ..insecure()
        },
    )
    .unwrap();
    let start = Instant::now();
    c.get_manifest("app", "v1").await.unwrap();
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(3), "waited only {waited:?}");
    let seen = notices.all();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].delay, Duration::from_secs(3));
    assert_eq!(seen[0].reason, "HTTP 429 Too Many Requests");
}

#[tokio::test]
async fn retry_after_dates_before_1970_and_nonsense_do_not_crash_the_client() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    push_image(&reg.host(), "app", "v1", &small_image("old"), None).unwrap();
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![
            Fault::TooManyRequestsRaw {
                path_contains: "/manifests/".into(),
                times: 1,
                retry_after: "Wed, 31 Dec 1969 23:59:59 GMT".into(),
            },
            Fault::TooManyRequestsRaw {
                path_contains: "/manifests/".into(),
                times: 1,
                retry_after: "Fri, 31 Dec 99999999999 23:59:59 GMT".into(),
            },
        ],
    )
    .unwrap();
    let notices = Notices::default();
    let c = client(&proxy.host(), insecure(), &notices);
    c.get_manifest("app", "v1").await.unwrap();
    let delays: Vec<_> = notices.all().iter().map(|n| n.delay).collect();
    // A date in the past is no wait; nonsense falls back to the backoff.
    assert_eq!(delays, [Duration::ZERO, Duration::from_millis(20)]);
}

#[tokio::test]
async fn a_429_out_of_retries_stays_typed_with_the_registrys_wait() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::TooManyRequests {
            path_contains: "/v2/".into(),
            times: 1,
            retry_after_secs: 3600,
        }],
    )
    .unwrap();
    let c = RegistryClient::new(
        &proxy.host(),
        ClientOptions {
            retry_times: 0,
            ..insecure()
        },
    )
    .unwrap();
    let err = c.ping().await.unwrap_err();
    match &err {
        RegistryError::TooManyRequests {
            retries,
            retry_after,
            ..
        } => {
            assert_eq!(*retries, 0);
            assert_eq!(*retry_after, Some(Duration::from_secs(3600)));
        }
        other => panic!("expected TooManyRequests, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("3600 s"), "{text}");
    assert!(
        text.contains(&format!("{} s", MAX_RETRY_AFTER.as_secs())),
        "{text}"
    );
}

fn blob(seed: &str) -> (Bytes, Digest) {
    let data = Bytes::from(format!("blob {seed} ").repeat(10_000));
    let digest = Digest::sha256(&data);
    (data, digest)
}

fn count(proxy: &FaultProxy, method: &str) -> usize {
    proxy
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.contains("/blobs/uploads/"))
        .count()
}

#[tokio::test]
async fn a_blob_upload_is_retried_from_a_new_upload_after_a_500() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::ServerError {
            path_contains: "digest=sha256".into(),
            times: 1,
        }],
    )
    .unwrap();
    let notices = Notices::default();
    let c = client(&proxy.host(), insecure(), &notices);
    let (data, digest) = blob("500");
    c.upload_blob(
        "up",
        &digest,
        data.len() as u64,
        UploadBody::bytes(data.clone()),
    )
    .await
    .unwrap();
    assert_eq!((count(&proxy, "POST"), count(&proxy, "PUT")), (2, 2));
    let seen = notices.all();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].what.starts_with("upload of "), "{seen:?}");
    let direct = RegistryClient::new(&reg.host(), insecure()).unwrap();
    assert_eq!(
        direct.blob_exists("up", &digest).await.unwrap(),
        Some(data.len() as u64)
    );
}

#[tokio::test]
async fn a_reopenable_blob_upload_survives_a_connection_closed_mid_put() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::CloseOnRequest {
            method: "PUT".into(),
            path_contains: "/blobs/uploads/".into(),
            times: 1,
        }],
    )
    .unwrap();
    let notices = Notices::default();
    let c = client(&proxy.host(), insecure(), &notices);
    let (data, digest) = blob("reset");
    let source = data.clone();
    let body = UploadBody::reopen(move || {
        let chunks: Vec<Result<Bytes, std::io::Error>> = source
            .chunks(8192)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures_util::stream::iter(chunks)
    });
    c.upload_blob("up", &digest, data.len() as u64, body)
        .await
        .unwrap();
    assert_eq!(count(&proxy, "PUT"), 2);
    let seen = notices.all();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].reason, "connection broken", "{seen:?}");
    let direct = RegistryClient::new(&reg.host(), insecure()).unwrap();
    assert!(direct.blob_exists("up", &digest).await.unwrap().is_some());
}

#[tokio::test]
async fn a_streamed_upload_is_retried_until_its_put_and_then_fails_at_once() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let (data, digest) = blob("once");
    let stream = |data: &Bytes| futures_util::stream::iter([Ok::<_, std::io::Error>(data.clone())]);

    // The POST fails first: the body was not read yet, so the upload is retried.
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::ServerError {
            path_contains: "/blobs/uploads/".into(),
            times: 1,
        }],
    )
    .unwrap();
    let notices = Notices::default();
    let c = client(&proxy.host(), insecure(), &notices);
    c.push_blob("once", &digest, data.len() as u64, stream(&data))
        .await
        .unwrap();
    assert_eq!((count(&proxy, "POST"), count(&proxy, "PUT")), (2, 1));
    assert_eq!(notices.all().len(), 1);

    // The PUT fails: its body is gone, so the error comes back without a pointless wait.
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::ServerError {
            path_contains: "digest=sha256".into(),
            times: 1,
        }],
    )
    .unwrap();
    let notices = Notices::default();
    let c = client(&proxy.host(), insecure(), &notices);
    let (data, digest) = blob("once more");
    let err = c
        .push_blob("once", &digest, data.len() as u64, stream(&data))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::Http { status: 503, .. }),
        "{err:?}"
    );
    assert_eq!(count(&proxy, "PUT"), 1);
    assert!(notices.all().is_empty(), "{:?}", notices.all());
}

#[tokio::test]
async fn a_blob_cut_midway_is_resumed_with_notice_or_named_broken_when_out_of_retries() {
    use futures_util::StreamExt;
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let img = small_image(&"cut ".repeat(50_000));
    push_image(&reg.host(), "app", "v1", &img, None).unwrap();
    let layer = &img.layers[0];
    let digest: Digest = layer.digest.parse().unwrap();
    let cut = || Fault::CutBlobOnce {
        digest: layer.digest.clone(),
        after_bytes: 100,
    };
    let read = |c: RegistryClient| {
        let digest = digest.clone();
        let size = layer.data.len() as u64;
        async move {
            let mut stream = c.get_blob("app", &digest, Some(size)).await?;
            let mut body = Vec::new();
            while let Some(chunk) = stream.next().await {
                body.extend_from_slice(&chunk?);
            }
            Ok::<_, RegistryError>(body)
        }
    };

    let proxy = FaultProxy::start(&reg.host(), vec![cut()]).unwrap();
    let notices = Notices::default();
    let body = read(client(&proxy.host(), insecure(), &notices))
        .await
        .unwrap();
    assert_eq!(body, layer.data);
    let seen = notices.all();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].what.ends_with("from byte 100"), "{seen:?}");

    let proxy = FaultProxy::start(&reg.host(), vec![cut()]).unwrap();
    let notices = Notices::default();
    let no_retries = ClientOptions {
        retry_times: 0,
        ..insecure()
    };
    let err = read(client(&proxy.host(), no_retries, &notices))
        .await
        .unwrap_err();
    assert_eq!(connect_kind(&err), ConnectKind::Broken, "{err}");
    assert!(err.to_string().contains("broke at byte 100"), "{err}");
}

#[tokio::test]
async fn a_manifest_that_does_not_match_its_digest_is_refused() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let img = small_image("manifest");
    push_image(&reg.host(), "app", "v1", &img, None).unwrap();
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::CorruptBody {
            path_contains: "/manifests/".into(),
        }],
    )
    .unwrap();
    let c = RegistryClient::new(&proxy.host(), insecure()).unwrap();
    // By digest, and by tag (the registry names the digest in Docker-Content-Digest).
    for reference in [img.manifest_digest.as_str(), "v1"] {
        let err = c.get_manifest("app", reference).await.unwrap_err();
        match &err {
            RegistryError::DigestMismatch { what, .. } => {
                assert!(what.ends_with(reference), "{what}")
            }
            other => panic!("expected DigestMismatch, got {other:?}"),
        }
        assert!(
            err.to_string()
                .contains(&format!("digest mismatch for {}", proxy.host())),
            "{err}"
        );
    }
}
