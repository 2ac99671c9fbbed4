//! An S3-like host for blobs the registry redirects to.
//!
//! Docker Hub answers blob GETs with a redirect to Cloudflare R2 / S3, and
//! that storage rejects any request carrying an `Authorization` header. A
//! client that forwards the registry's Bearer token across the redirect
//! (as skopeo once did for some setups) fails there. This host reproduces the
//! exact answer so skiff's "credentials stay with their origin" rule is tested.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tiny_http::{Request, Response};

use crate::tinyserve::{h, header, Background};

/// Docker Hub's storage's answer to a request that carries `Authorization`.
pub const AUTH_REJECTED_BODY: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidRequest</Code><Message>Missing x-amz-content-sha256</Message></Error>"#;

/// One request seen by the blob host.
#[derive(Debug, Clone)]
pub struct BlobRequest {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub authorization: bool,
    pub status: u16,
    pub at: Instant,
}

#[derive(Default)]
struct Counters {
    with_auth: AtomicUsize,
    without_auth: AtomicUsize,
    log: Mutex<Vec<BlobRequest>>,
}

/// Serves `DATA/docker/registry/v2/blobs/sha256/<2>/<hex>/data` (the
/// registry's filesystem storage) by GET and HEAD with Range support.
pub struct BlobHost {
    server: Background,
    counters: Arc<Counters>,
}

impl BlobHost {
    /// Starts serving the registry storage root `data_dir`.
    pub fn start(data_dir: &Path) -> io::Result<BlobHost> {
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let root = data_dir.to_path_buf();
        let server = Background::start("skiff-blobhost", move |req| handle(&root, &c, req))?;
        Ok(BlobHost { server, counters })
    }

    /// `http://127.0.0.1:PORT/` (the redirect middleware's `baseurl`).
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.server.host())
    }

    pub fn host(&self) -> String {
        self.server.host()
    }

    /// Requests that carried an Authorization header (all answered 400).
    pub fn requests_with_authorization(&self) -> usize {
        self.counters.with_auth.load(Ordering::SeqCst)
    }

    pub fn requests_without_authorization(&self) -> usize {
        self.counters.without_auth.load(Ordering::SeqCst)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<BlobRequest> {
        self.counters
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn xml_error(status: u16, code: &str, message: &str) -> Response<io::Cursor<Vec<u8>>> {
    Response::from_string(format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"#
    ))
    .with_status_code(status)
    .with_header(h("Content-Type", "application/xml"))
}

/// Maps a URL path to a blob file, accepting only the storage layout
/// (`/docker/registry/v2/blobs/sha256/ab/abcdef.../data`), so nothing else
/// under the data directory can be read.
fn blob_path(root: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split('?').next()?.trim_start_matches('/');
    let rest = path.strip_prefix("docker/registry/v2/blobs/sha256/")?;
    let mut parts = rest.split('/');
    let (two, hex, data) = (parts.next()?, parts.next()?, parts.next()?);
    let is_hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    if parts.next().is_some()
        || data != "data"
        || two.len() != 2
        || !is_hex(two)
        || !is_hex(hex)
        || !hex.starts_with(two)
    {
        return None;
    }
    Some(root.join(path))
}

/// Parses a single `bytes=` range against `len`: `Ok(None)` = whole file,
/// `Err(())` = unsatisfiable.
fn parse_range(range: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = range.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // multipart ranges: S3 ignores them and sends all
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len.saturating_sub(1))
    } else {
        let s: u64 = a.parse().map_err(|_| ())?;
        let e: u64 = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            b.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1))
        };
        (s, e)
    };
    if start >= len || end < start {
        return Err(());
    }
    Ok(Some((start, end)))
}

fn handle(root: &Path, c: &Counters, req: Request) {
    let method = req.method().as_str().to_string();
    let url = req.url().to_string();
    let auth = header(&req, "authorization").is_some();
    let range = header(&req, "range");
    let status = respond(root, &req, auth, range.as_deref());
    if auth {
        c.with_auth.fetch_add(1, Ordering::SeqCst);
    } else {
        c.without_auth.fetch_add(1, Ordering::SeqCst);
    }
    let (status, response) = status;
    c.log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(BlobRequest {
            method,
            path: url,
            range,
            authorization: auth,
            status,
            at: Instant::now(),
        });
    let _ = req.respond(response);
}

fn respond(
    root: &Path,
    req: &Request,
    auth: bool,
    range: Option<&str>,
) -> (u16, tiny_http::ResponseBox) {
    if auth {
        return (
            400,
            xml_error(400, "InvalidRequest", "Missing x-amz-content-sha256").boxed(),
        );
    }
    let head = match req.method() {
        tiny_http::Method::Get => false,
        tiny_http::Method::Head => true,
        _ => {
            return (
                405,
                xml_error(
                    405,
                    "MethodNotAllowed",
                    "The specified method is not allowed",
                )
                .boxed(),
            )
        }
    };
    let Some(path) = blob_path(root, req.url()) else {
        return (
            404,
            xml_error(404, "NoSuchKey", "The specified key does not exist.").boxed(),
        );
    };
    let Ok(mut file) = File::open(&path) else {
        return (
            404,
            xml_error(404, "NoSuchKey", "The specified key does not exist.").boxed(),
        );
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let common = |r: Response<Box<dyn Read + Send>>| {
        r.with_header(h("Content-Type", "application/octet-stream"))
            .with_header(h("Accept-Ranges", "bytes"))
    };
    match parse_range(range.unwrap_or(""), len) {
        Err(()) => {
            let r = xml_error(
                416,
                "InvalidRange",
                "The requested range is not satisfiable",
            )
            .with_header(h("Content-Range", &format!("bytes */{len}")));
            (416, r.boxed())
        }
        Ok(None) => {
            let body: Box<dyn Read + Send> = if head {
                Box::new(io::empty())
            } else {
                Box::new(file)
            };
            (
                200,
                common(Response::new(
                    200.into(),
                    vec![],
                    body,
                    Some(len as usize),
                    None,
                ))
                .boxed(),
            )
        }
        Ok(Some((start, end))) => {
            let n = end - start + 1;
            let body: Box<dyn Read + Send> = if head {
                Box::new(io::empty())
            } else {
                if file.seek(SeekFrom::Start(start)).is_err() {
                    return (500, xml_error(500, "InternalError", "seek failed").boxed());
                }
                Box::new(file.take(n))
            };
            let r = common(Response::new(
                206.into(),
                vec![],
                body,
                Some(n as usize),
                None,
            ))
            .with_header(h("Content-Range", &format!("bytes {start}-{end}/{len}")));
            (206, r.boxed())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=95-200", 100), Ok(Some((95, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("", 100), Ok(None));
    }

    #[test]
    fn only_blob_paths() {
        let root = Path::new("/d");
        let hex = "ab".to_string() + &"0".repeat(62);
        assert!(blob_path(
            root,
            &format!("/docker/registry/v2/blobs/sha256/ab/{hex}/data")
        )
        .is_some());
        assert!(blob_path(
            root,
            &format!("//docker/registry/v2/blobs/sha256/ab/{hex}/data?x=1")
        )
        .is_some());
        assert!(blob_path(
            root,
            "/docker/registry/v2/blobs/sha256/ab/../../../etc/data"
        )
        .is_none());
        assert!(blob_path(root, "/docker/registry/v2/repositories/x/_manifests").is_none());
    }
}
