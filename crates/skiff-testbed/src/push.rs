//! Uploading test images to a registry over plain HTTP.
//!
//! Deliberately independent of skiff-registry: a test that seeds a registry
//! with this code and then pulls with skiff does not test skiff against
//! itself. Only what seeding needs is implemented: Basic and Bearer-token
//! challenges, monolithic blob upload, manifest PUT.

use base64::Engine;
use ureq::http;

use crate::image::{Blob, Image, MultiArch};

/// Pushes `image` (blobs, then manifest under `tag`) to `host` (`IP:PORT`).
pub fn push_image(
    host: &str,
    repo: &str,
    tag: &str,
    image: &Image,
    creds: Option<(&str, &str)>,
) -> Result<(), String> {
    let mut p = Pusher::new(host, repo, creds);
    p.push_image_blobs(image)?;
    p.put_manifest(tag, &image.manifest_media_type, &image.manifest)?;
    Ok(())
}

/// Pushes every image of `m` by digest, then the index / manifest list under
/// `tag`.
pub fn push_multi_arch(
    host: &str,
    repo: &str,
    tag: &str,
    m: &MultiArch,
    creds: Option<(&str, &str)>,
) -> Result<(), String> {
    let mut p = Pusher::new(host, repo, creds);
    for image in &m.images {
        p.push_image_blobs(image)?;
        p.put_manifest(
            &image.manifest_digest,
            &image.manifest_media_type,
            &image.manifest,
        )?;
    }
    p.put_manifest(tag, &m.media_type, &m.index)?;
    Ok(())
}

/// Uploads one blob; `digest` is sent as given, so the registry's own digest
/// check can be observed (it rejects a mismatch with 400 DIGEST_INVALID).
pub fn push_blob_raw(
    host: &str,
    repo: &str,
    digest: &str,
    data: &[u8],
    creds: Option<(&str, &str)>,
) -> Result<(), String> {
    Pusher::new(host, repo, creds).push_blob(digest, data)
}

/// PUTs manifest bytes verbatim under `reference` (tag or digest) with the
/// given Content-Type. Returns the registry's `Docker-Content-Digest`.
pub fn put_manifest_raw(
    host: &str,
    repo: &str,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
    creds: Option<(&str, &str)>,
) -> Result<String, String> {
    Pusher::new(host, repo, creds).put_manifest(reference, media_type, bytes)
}

/// An HTTP response reduced to what the pusher needs.
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A session with one repository of one registry; remembers the
/// Authorization it negotiated.
pub struct Pusher {
    agent: ureq::Agent,
    base: String,
    repo: String,
    creds: Option<(String, String)>,
    authorization: Option<String>,
}

impl Pusher {
    pub fn new(host: &str, repo: &str, creds: Option<(&str, &str)>) -> Pusher {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(std::time::Duration::from_secs(300)))
            .build()
            .new_agent();
        Pusher {
            agent,
            base: format!("http://{host}"),
            repo: repo.to_string(),
            creds: creds.map(|(u, p)| (u.to_string(), p.to_string())),
            authorization: None,
        }
    }

    fn basic(&self) -> Option<String> {
        self.creds.as_ref().map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        })
    }

    fn once(
        &self,
        method: &str,
        url: &str,
        content_type: Option<&str>,
        body: &[u8],
        auth: Option<&str>,
    ) -> Result<Reply, String> {
        let mut b = http::Request::builder().method(method).uri(url);
        if let Some(a) = auth {
            b = b.header("Authorization", a);
        }
        if let Some(ct) = content_type {
            b = b.header("Content-Type", ct);
        }
        let res = if method == "GET" || method == "HEAD" || method == "DELETE" {
            self.agent.run(b.body(()).map_err(|e| e.to_string())?)
        } else {
            self.agent.run(b.body(body).map_err(|e| e.to_string())?)
        }
        .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = if method == "HEAD" {
            Vec::new()
        } else {
            res.into_body()
                .with_config()
                .limit(u64::MAX)
                .read_to_vec()
                .map_err(|e| format!("{method} {url}: reading body: {e}"))?
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// Sends a request, answering one 401 challenge (Basic or Bearer) first
    /// if needed. `path_or_url` is a path on the registry or an absolute URL
    /// (upload locations).
    pub fn request(
        &mut self,
        method: &str,
        path_or_url: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Reply, String> {
        let url = if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{}", self.base, path_or_url)
        };
        let reply = self.once(
            method,
            &url,
            content_type,
            body,
            self.authorization.as_deref(),
        )?;
        if reply.status != 401 {
            return Ok(reply);
        }
        let challenge = reply
            .header("www-authenticate")
            .ok_or_else(|| format!("{method} {url}: 401 without WWW-Authenticate"))?
            .to_string();
        self.authorization = Some(self.answer(&challenge)?);
        self.once(
            method,
            &url,
            content_type,
            body,
            self.authorization.as_deref(),
        )
    }

    fn answer(&self, challenge: &str) -> Result<String, String> {
        let (scheme, params) = parse_challenge(challenge);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => self
                .basic()
                .ok_or_else(|| "registry wants Basic auth but no credentials were given".into()),
            "bearer" => {
                let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
                let realm = get("realm").ok_or("Bearer challenge without realm")?;
                let mut url = format!("{realm}?scope=repository:{}:pull,push", self.repo);
                if let Some(service) = get("service") {
                    url.push_str(&format!("&service={service}"));
                }
                let reply = self.once("GET", &url, None, &[], self.basic().as_deref())?;
                if reply.status != 200 {
                    return Err(format!(
                        "token server {url}: {} {}",
                        reply.status,
                        String::from_utf8_lossy(&reply.body)
                    ));
                }
                let v: serde_json::Value =
                    serde_json::from_slice(&reply.body).map_err(|e| format!("token JSON: {e}"))?;
                let token = v
                    .get("token")
                    .or_else(|| v.get("access_token"))
                    .and_then(|t| t.as_str())
                    .ok_or("token response without token")?;
                Ok(format!("Bearer {token}"))
            }
            other => Err(format!("unsupported auth scheme {other}")),
        }
    }

    /// True when the registry already has the blob.
    pub fn has_blob(&mut self, digest: &str) -> Result<bool, String> {
        let path = format!("/v2/{}/blobs/{digest}", self.repo);
        Ok(self.request("HEAD", &path, None, &[])?.status == 200)
    }

    /// Monolithic upload: POST to open a session, PUT the bytes with
    /// `?digest=`. Skips blobs the registry already has.
    pub fn push_blob(&mut self, digest: &str, data: &[u8]) -> Result<(), String> {
        if self.has_blob(digest)? {
            return Ok(());
        }
        let start = self.request(
            "POST",
            &format!("/v2/{}/blobs/uploads/", self.repo),
            None,
            &[],
        )?;
        if start.status != 202 {
            return Err(format!(
                "starting upload: {} {}",
                start.status,
                String::from_utf8_lossy(&start.body)
            ));
        }
        let location = start
            .header("location")
            .ok_or("upload without Location")?
            .to_string();
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = self.request(
            "PUT",
            &format!("{location}{sep}digest={digest}"),
            Some("application/octet-stream"),
            data,
        )?;
        if put.status != 201 {
            return Err(format!(
                "uploading {digest}: {} {}",
                put.status,
                String::from_utf8_lossy(&put.body)
            ));
        }
        Ok(())
    }

    pub fn push_image_blobs(&mut self, image: &Image) -> Result<(), String> {
        for Blob { digest, data, .. } in image.blobs() {
            self.push_blob(digest, data)?;
        }
        Ok(())
    }

    /// PUTs a manifest; returns the `Docker-Content-Digest` the registry
    /// computed.
    pub fn put_manifest(
        &mut self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, String> {
        let path = format!("/v2/{}/manifests/{reference}", self.repo);
        let r = self.request("PUT", &path, Some(media_type), bytes)?;
        if r.status != 201 {
            return Err(format!(
                "PUT {path}: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        Ok(r.header("docker-content-digest")
            .unwrap_or_default()
            .to_string())
    }
}

/// Splits `Bearer realm="x",service="y"` into the scheme and its parameters.
pub fn parse_challenge(header: &str) -> (String, Vec<(String, String)>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        params.push((key.trim().to_ascii_lowercase(), value));
    }
    (scheme.to_string(), params)
}
