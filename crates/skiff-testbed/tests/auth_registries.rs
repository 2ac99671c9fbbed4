//! The htpasswd and Docker-Hub-like token + redirect setups, checked with
//! skopeo and plain HTTP.

mod common;

use std::time::Duration;

use common::{skopeo, skopeo_fails};
use skiff_testbed::image::Format;
use skiff_testbed::registry::{Options, AUTH_REJECTED_BODY};
use skiff_testbed::{busybox_image, push_image, RegistryServer, Setup};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent()
}

#[test]
fn htpasswd_requires_credentials() {
    let reg = RegistryServer::start(Setup::Htpasswd {
        user: "alice".into(),
        password: "s3cret".into(),
    })
    .unwrap();
    assert_eq!(reg.credentials(), Some(("alice".into(), "s3cret".into())));
    let image = busybox_image(Format::Oci);
    assert!(
        push_image(&reg.host(), "priv/bb", "v1", &image, None).is_err(),
        "anonymous push must fail"
    );
    push_image(
        &reg.host(),
        "priv/bb",
        "v1",
        &image,
        Some(("alice", "s3cret")),
    )
    .expect("push with creds");

    let src = format!("docker://{}/priv/bb:v1", reg.host());
    skopeo_fails(&["inspect", "--tls-verify=false", "--no-creds", &src]);
    skopeo_fails(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        "alice:wrong",
        &src,
    ]);
    let out = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        "alice:s3cret",
        &src,
        &format!("oci:{}:v1", out.path().display()),
    ]);
    assert!(out.path().join("index.json").exists());
}

#[test]
fn token_with_redirect_like_docker_hub() {
    let reg = RegistryServer::start(Setup::TokenWithRedirect {
        user: "bob".into(),
        password: "pw".into(),
    })
    .unwrap();
    let image = busybox_image(Format::Docker);
    assert!(
        push_image(&reg.host(), "library/bb", "v1", &image, None).is_err(),
        "anonymous push must fail"
    );
    push_image(&reg.host(), "library/bb", "v1", &image, Some(("bob", "pw")))
        .expect("push with token");

    // The challenge is a Bearer challenge naming our token server.
    let r = agent()
        .get(format!("{}/v2/library/bb/manifests/v1", reg.url()))
        .call()
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.starts_with("Bearer realm=\"http://127.0.0.1:"),
        "{challenge}"
    );

    // Anonymous pull through the redirect: skopeo must not send the token to
    // the blob host, and the blob host must have served the blobs.
    let bh = reg.blob_host().expect("blob host");
    let before = bh.requests_without_authorization();
    let out = tempfile::tempdir().unwrap();
    let src = format!("docker://{}/library/bb:v1", reg.host());
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &src,
        &format!("oci:{}:v1", out.path().display()),
    ]);
    assert_eq!(bh.requests_with_authorization(), 0);
    assert!(bh.requests_without_authorization() >= before + image.layers.len());

    // Push with skopeo through the token server too.
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "bob:pw",
        &format!("oci:{}:v1", out.path().display()),
        &format!("docker://{}/other/bb:v2", reg.host()),
    ]);
    skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{}/other/bb:v2", reg.host()),
    ]);

    // The registry really redirects blob GETs, and the blob host rejects an
    // Authorization header exactly like Docker Hub's storage.
    let layer = &image.layers[0];
    let tok: serde_json::Value = agent()
        .get(format!(
            "{}?service={}&scope=repository:library/bb:pull",
            reg.token_server().unwrap().realm(),
            skiff_testbed::registry::SERVICE
        ))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .map(|s| serde_json::from_str(&s).unwrap())
        .unwrap();
    let token = tok["token"].as_str().unwrap();
    assert_eq!(tok["expires_in"], 300);
    let r = agent()
        .get(format!(
            "{}/v2/library/bb/blobs/{}",
            reg.url(),
            layer.digest
        ))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 307);
    let location = r
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(location.starts_with(&bh.base_url()), "{location}");

    let mut r = agent()
        .get(&location)
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.body_mut().read_to_string().unwrap(), AUTH_REJECTED_BODY);
    assert_eq!(bh.requests_with_authorization(), 1);

    let mut r = agent().get(&location).call().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .unwrap(),
        layer.data
    );
    let mut r = agent()
        .get(&location)
        .header("Range", "bytes=10-19")
        .call()
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.body_mut().read_to_vec().unwrap(), &layer.data[10..20]);
}

#[test]
fn short_lived_tokens_expire_at_the_registry() {
    let reg = RegistryServer::start_with(
        Setup::TokenWithRedirect {
            user: "bob".into(),
            password: "pw".into(),
        },
        Options {
            token_lifetime_secs: 2,
            ..Options::default()
        },
    )
    .unwrap();
    let image = busybox_image(Format::Oci);
    push_image(&reg.host(), "t/bb", "v1", &image, Some(("bob", "pw"))).unwrap();
    let realm = reg.token_server().unwrap().realm();
    let tok: serde_json::Value = agent()
        .get(format!(
            "{realm}?service={}&scope=repository:t/bb:pull",
            skiff_testbed::registry::SERVICE
        ))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .map(|s| serde_json::from_str(&s).unwrap())
        .unwrap();
    assert_eq!(tok["expires_in"], 2);
    let token = tok["token"].as_str().unwrap().to_string();
    let get = || {
        agent()
            .get(format!("{}/v2/t/bb/manifests/v1", reg.url()))
            .header("Authorization", format!("Bearer {token}"))
            .header("Accept", skiff_testbed::image::media::OCI_MANIFEST)
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(get(), 200);
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(get(), 401, "token must be rejected after its lifetime");
}

/// Documents why `Options::leeway_compensation_secs` exists: distribution
/// 2.8.2 accepts a token until 60 s after its `exp`.
#[test]
fn distribution_accepts_tokens_past_exp_within_its_leeway() {
    let reg = RegistryServer::start_with(
        Setup::TokenWithRedirect {
            user: "bob".into(),
            password: "pw".into(),
        },
        Options {
            token_lifetime_secs: 1,
            leeway_compensation_secs: 0,
            ..Options::default()
        },
    )
    .unwrap();
    let realm = reg.token_server().unwrap().realm();
    let tok: serde_json::Value = agent()
        .get(format!(
            "{realm}?service={}&scope=repository:t/none:pull",
            skiff_testbed::registry::SERVICE
        ))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .map(|s| serde_json::from_str(&s).unwrap())
        .unwrap();
    let token = tok["token"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(2500));
    let status = agent()
        .get(format!("{}/v2/t/none/tags/list", reg.url()))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap()
        .status();
    // 404 NAME_UNKNOWN, not 401: the expired token was still accepted.
    assert_eq!(status, 404);
}
