//! The client against real docker-registry processes: pagination, token expiry, refused
//! credentials, blob streaming through the Docker-Hub-style redirect.

mod common;

use common::{insecure, small_image};
use futures_util::StreamExt;
use skiff_oci::Digest;
use skiff_registry::{ClientOptions, Credentials, RegistryClient};
use skiff_testbed::push::push_image;
use skiff_testbed::registry::Options;
use skiff_testbed::{Fault, FaultProxy, RegistryServer, Setup};

#[tokio::test]
async fn tag_lists_are_followed_across_pages() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let img = small_image("tags");
    let mut expected = Vec::new();
    for i in 0..7 {
        let tag = format!("v{i}");
        push_image(&reg.host(), "paged", &tag, &img, None).unwrap();
        expected.push(tag);
    }
    let proxy = FaultProxy::start(&reg.host(), vec![Fault::PageTagLists]).unwrap();
    let client = RegistryClient::new(&proxy.host(), insecure()).unwrap();
    let mut tags = client.list_tags_paged("paged", Some(2)).await.unwrap();
    tags.sort();
    assert_eq!(tags, expected);
    let pages = proxy
        .requests()
        .iter()
        .filter(|r| r.path.contains("/tags/list"))
        .count();
    assert!(
        pages >= 4,
        "7 tags in pages of 2 take 4 requests, saw {pages}"
    );
}

#[tokio::test]
async fn expired_tokens_are_renewed_and_blobs_avoid_credentials_on_redirect() {
    let reg = RegistryServer::start_with(
        Setup::TokenWithRedirect {
            user: "u".into(),
            password: "p".into(),
        },
        Options {
            token_lifetime_secs: 3,
            ..Options::default()
        },
    )
    .unwrap();
    let img = small_image("tokens");
    push_image(&reg.host(), "lib/app", "v1", &img, Some(("u", "p"))).unwrap();
    let client = RegistryClient::new(
        &reg.host(),
        ClientOptions {
            credentials: Some(Credentials {
                username: "u".into(),
                password: "p".into(),
            }),
            ..insecure()
        },
    )
    .unwrap();
    client.get_manifest("lib/app", "v1").await.unwrap();
    let before = reg.token_server().map(|t| t.request_count()).unwrap_or(0);
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let digest: Digest = img.layers[0].digest.parse().unwrap();
    let mut stream = client
        .get_blob("lib/app", &digest, Some(img.layers[0].data.len() as u64))
        .await
        .unwrap();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(body, img.layers[0].data);
    let after = reg.token_server().map(|t| t.request_count()).unwrap_or(0);
    assert!(
        after > before,
        "a new token was fetched after the old one expired"
    );
    assert_eq!(reg.blob_host().unwrap().requests_with_authorization(), 0);

    let wrong = RegistryClient::new(
        &reg.host(),
        ClientOptions {
            credentials: Some(Credentials {
                username: "u".into(),
                password: "wrong".into(),
            }),
            ..insecure()
        },
    )
    .unwrap();
    let err = wrong.ping().await.unwrap_err();
    assert!(err.to_string().contains("unauthorized"), "{err}");
}

#[tokio::test]
async fn missing_things_are_not_found_and_deletes_work() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let img = small_image("delete");
    push_image(&reg.host(), "app", "v1", &img, None).unwrap();
    let client = RegistryClient::new(&reg.host(), insecure()).unwrap();
    let err = client.get_manifest("app", "nope").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("manifest unknown"), "{err}");
    let head = client
        .head_manifest("app", "v1")
        .await
        .unwrap()
        .expect("present");
    let digest = head.digest.expect("registry sends Docker-Content-Digest");
    assert_eq!(digest.to_string(), img.manifest_digest);
    client.delete_manifest("app", &digest).await.unwrap();
    assert!(client.head_manifest("app", "v1").await.unwrap().is_none());
}

/// With --tls-verify=false every request starts on https; requests sent together on a
/// fresh client (parallel layers, parallel images of a sync) must all end up on plain
/// http, not only the one that fell back first.
#[tokio::test]
async fn concurrent_requests_all_follow_the_http_fallback() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let img = small_image("fallback");
    push_image(&reg.host(), "app", "v1", &img, None).unwrap();
    for _ in 0..5 {
        let client = RegistryClient::new(&reg.host(), insecure()).unwrap();
        let heads = (0..8).map(|_| client.head_manifest("app", "v1"));
        for head in futures_util::future::join_all(heads).await {
            assert!(head.unwrap().is_some());
        }
    }
}

/// A registry whose tags `Link` points back at the same page is refused after one request,
/// not followed until the page limit.
#[tokio::test]
async fn a_tag_list_link_loop_is_refused() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let request = String::from_utf8_lossy(&buf);
            let response = if request.starts_with("GET /v2/ ") {
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_string()
            } else {
                if request.starts_with("GET /v2/r/tags/list") {
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                let body = r#"{"name":"r","tags":["a"]}"#;
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Link: </v2/r/tags/list?n=1>; rel=\"next\"\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    let client = RegistryClient::new(&host, insecure()).unwrap();
    let err = client.list_tags_paged("r", Some(1)).await.unwrap_err();
    assert!(err.to_string().contains("already read"), "{err}");
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// A server that accepts connections and never sends a byte; returns its address.
fn silent_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    addr
}

/// Asks `host` for a manifest with a 500 ms idle timeout and one retry, and returns the
/// error the client gave up with (the test fails if it does not give up by itself).
async fn give_up(host: &str) -> skiff_registry::RegistryError {
    let client = RegistryClient::new(
        host,
        ClientOptions {
            timeout: Some(std::time::Duration::from_millis(500)),
            retry_times: 1,
            retry_delay: Some(std::time::Duration::from_millis(10)),
            ..insecure()
        },
    )
    .unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        client.get_manifest("r", "t"),
    )
    .await
    .expect("the client gave up by itself")
    .unwrap_err()
}

/// A registry that accepts connections but never answers is given up after the idle
/// timeout (and its retries), with a message that says so, instead of hanging.
#[tokio::test]
async fn a_registry_that_never_answers_times_out() {
    let err = give_up(&silent_server()).await;
    assert!(err.to_string().contains("time"), "{err}");
}

/// A token endpoint that never answers is given up after the idle timeout too.
#[tokio::test]
async fn a_token_endpoint_that_never_answers_times_out() {
    use std::io::{Read, Write};
    let realm = format!("http://{}/token", silent_server());
    let registry = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = registry.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in registry.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let response = format!(
                "HTTP/1.1 401 Unauthorized\r\n\
                 WWW-Authenticate: Bearer realm=\"{realm}\",service=\"s\"\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    let err = give_up(&host).await;
    assert!(err.to_string().contains("time"), "{err}");
    assert!(err.to_string().contains("token"), "{err}");
}
