//! FaultProxy in front of a real open registry, driven by plain HTTP.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use skiff_testbed::image::{sha256_digest, Format};
use skiff_testbed::{busybox_image, push_image, Fault, FaultProxy, Image, RegistryServer, Setup};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent()
}

fn seeded() -> (RegistryServer, Image) {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let image = busybox_image(Format::Oci);
    push_image(&reg.host(), "f/bb", "v1", &image, None).unwrap();
    (reg, image)
}

fn get(host: &str, path: &str, range: Option<&str>) -> (u16, Vec<u8>, ureq::http::HeaderMap) {
    let accept = [
        skiff_testbed::image::media::OCI_MANIFEST,
        skiff_testbed::image::media::DOCKER_MANIFEST,
    ]
    .join(", ");
    let mut req = agent()
        .get(format!("http://{host}{path}"))
        .header("Accept", accept);
    if let Some(r) = range {
        req = req.header("Range", r);
    }
    let mut resp = req.call().unwrap();
    let headers = resp.headers().clone();
    let body = resp
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .unwrap();
    (resp.status().as_u16(), body, headers)
}

#[test]
fn forwards_everything_unchanged() {
    let reg = RegistryServer::start(Setup::Open).unwrap();
    let proxy = FaultProxy::start(&reg.host(), vec![]).unwrap();
    let image = busybox_image(Format::Docker);
    // Uploads go through the proxy too (POST, Location, PUT with body).
    push_image(&proxy.host(), "f/bb", "v1", &image, None).unwrap();
    let (status, body, _) = get(&reg.host(), "/v2/f/bb/manifests/v1", None);
    assert_eq!(status, 200);
    assert!(body == image.manifest, "manifest bytes differ");

    let out = tempfile::tempdir().unwrap();
    common::skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/f/bb:v1", proxy.host()),
        &format!("oci:{}:v1", out.path().display()),
    ]);
    let reqs = proxy.requests();
    assert!(reqs.iter().any(|r| r.method == "POST" && r.status == 202));
    assert!(reqs
        .iter()
        .any(|r| r.method == "PUT" && r.path.contains("digest=") && r.status == 201));
    assert!(reqs.iter().all(|r| r.fault.is_none()));
}

#[test]
fn corrupt_blob_flips_bytes_keeps_length() {
    let (reg, image) = seeded();
    let layer = &image.layers[1];
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::CorruptBlob {
            digest: layer.digest.clone(),
        }],
    )
    .unwrap();
    let path = format!("/v2/f/bb/blobs/{}", layer.digest);
    let (status, body, _) = get(&proxy.host(), &path, None);
    assert_eq!(status, 200);
    assert_eq!(body.len(), layer.data.len());
    assert_ne!(sha256_digest(&body), layer.digest);
    // Ranged reads are corrupted consistently.
    let (status, part, _) = get(&proxy.host(), &path, Some("bytes=5-9"));
    assert_eq!(status, 206);
    assert_eq!(part, &body[5..10]);
    // Other blobs pass untouched.
    let (_, config, _) = get(
        &proxy.host(),
        &format!("/v2/f/bb/blobs/{}", image.config.digest),
        None,
    );
    assert_eq!(config, image.config.data);

    // The real skopeo notices.
    let out = tempfile::tempdir().unwrap();
    let err = common::skopeo_fails(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/f/bb:v1", proxy.host()),
        &format!("oci:{}:v1", out.path().display()),
    ]);
    assert!(err.to_lowercase().contains("digest did not match"), "{err}");
}

#[test]
fn cut_blob_once_then_resume_with_range() {
    let (reg, image) = seeded();
    let layer = &image.layers[0];
    let cut = 1000u64;
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![Fault::CutBlobOnce {
            digest: layer.digest.clone(),
            after_bytes: cut,
        }],
    )
    .unwrap();
    let path = format!("/v2/f/bb/blobs/{}", layer.digest);

    // Raw socket: the full headers, then exactly `cut` bytes, then EOF.
    let mut s = TcpStream::connect(proxy.host()).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", proxy.host()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}", layer.data.len())),
        "{head}"
    );
    assert_eq!(&raw[split..], &layer.data[..cut as usize]);

    // The resume request is forwarded properly.
    let (status, rest, headers) = get(&proxy.host(), &path, Some(&format!("bytes={cut}-")));
    assert_eq!(status, 206);
    assert!(headers.get("content-range").is_some());
    let mut whole = layer.data[..cut as usize].to_vec();
    whole.extend_from_slice(&rest);
    assert_eq!(sha256_digest(&whole), layer.digest);
    // And so is a full GET.
    let (status, body, _) = get(&proxy.host(), &path, None);
    assert_eq!((status, body.len()), (200, layer.data.len()));

    let reqs = proxy.requests();
    assert_eq!(reqs[0].fault, Some("cut"));
    assert_eq!(
        reqs[1].range.as_deref(),
        Some(format!("bytes={cut}-").as_str())
    );
    assert_eq!(proxy.fired(), vec![1]);
}

#[test]
fn too_many_requests_and_server_errors() {
    let (reg, _image) = seeded();
    let proxy = FaultProxy::start(
        &reg.host(),
        vec![
            Fault::TooManyRequests {
                path_contains: "/manifests/".into(),
                times: 2,
                retry_after_secs: 7,
            },
            Fault::ServerError {
                path_contains: "/tags/list".into(),
                times: 1,
            },
        ],
    )
    .unwrap();
    for _ in 0..2 {
        let (status, body, headers) = get(&proxy.host(), "/v2/f/bb/manifests/v1", None);
        assert_eq!(status, 429);
        assert_eq!(headers.get("retry-after").unwrap(), "7");
        assert!(String::from_utf8_lossy(&body).contains("TOOMANYREQUESTS"));
    }
    let (status, _, _) = get(&proxy.host(), "/v2/f/bb/manifests/v1", None);
    assert_eq!(status, 200);

    assert_eq!(get(&proxy.host(), "/v2/f/bb/tags/list", None).0, 503);
    let (status, body, _) = get(&proxy.host(), "/v2/f/bb/tags/list", None);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("v1"));

    let statuses: Vec<u16> = proxy.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 429, 200, 503, 200]);
    // A refused PUT with a body keeps the connection usable.
    let p = FaultProxy::start(
        &reg.host(),
        vec![Fault::ServerError {
            path_contains: "/uploads/".into(),
            times: 1,
        }],
    )
    .unwrap();
    let r = agent()
        .post(format!("http://{}/v2/f/bb/blobs/uploads/", p.host()))
        .send(&b"abc"[..])
        .unwrap();
    assert_eq!(r.status(), 503);
    let r = agent()
        .post(format!("http://{}/v2/f/bb/blobs/uploads/", p.host()))
        .send_empty()
        .unwrap();
    assert_eq!(r.status(), 202);
}

#[test]
fn rules_cut_lengthen_flip_redirect_and_answer_once() {
    use skiff_testbed::fault::{Action, At, Target};
    let (reg, image) = seeded();
    let blob = &image.layers[0];
    let data = &blob.data;
    let path = format!("/v2/f/bb/blobs/{}", blob.digest);
    let proxy = FaultProxy::start(&reg.host(), vec![]).unwrap();
    let arm = |action| {
        proxy.set_faults(vec![Fault::Rule {
            target: Target::new(Some("GET"), &path, 1),
            action,
        }])
    };

    arm(Action::Truncate {
        at: At::Middle,
        content_length: false,
    });
    let (status, body, headers) = get(&proxy.host(), &path, None);
    assert_eq!(status, 200);
    assert!(headers.get("content-length").is_none());
    assert!(body == data[..data.len() / 2], "a clean, shorter body");
    let (_, body, _) = get(&proxy.host(), &path, None);
    assert!(&body == data, "struck once only");

    arm(Action::Overlong {
        extra: 10,
        content_length: false,
    });
    let (_, body, _) = get(&proxy.host(), &path, None);
    assert_eq!(body.len(), data.len() + 10);
    assert!(body[..data.len()] == data[..]);

    arm(Action::WrongBytes { at: At::End });
    let (_, body, _) = get(&proxy.host(), &path, None);
    assert_eq!(body.len(), data.len());
    assert_eq!(body[data.len() - 1], data[data.len() - 1] ^ 0xff);
    assert!(body[..data.len() - 1] == data[..data.len() - 1]);

    arm(Action::Redirect { location: None });
    let (status, _, headers) = get(&proxy.host(), &path, None);
    assert_eq!(status, 307);
    assert_eq!(headers.get("location").unwrap(), path.as_str());

    arm(Action::Status {
        code: 500,
        retry_after: None,
    });
    assert_eq!(get(&proxy.host(), &path, None).0, 500);
    assert_eq!(get(&proxy.host(), &path, None).0, 200);
    assert_eq!(proxy.fired(), vec![1]);
}
