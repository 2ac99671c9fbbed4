//! A fault-injecting HTTP proxy to put in front of a registry.
//!
//! skiff must verify digests, resume cut downloads with Range, and back off
//! on 429/503. Real registries do all of that only on bad days, so this proxy
//! makes the bad day happen on demand. It speaks raw HTTP/1.1 over TCP
//! because it needs to control the exact bytes (a body cut after N bytes,
//! then the connection closed) and otherwise forwards everything unchanged:
//! method, path, headers (Authorization, WWW-Authenticate, Location, ...)
//! and bodies.

use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::httpwire::{copy_body, read_head, Framing, Head, Tamper};

/// A misbehaviour of the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Flips every byte of that blob's body in GET responses (200 and 206):
    /// same length, wrong digest.
    CorruptBlob { digest: String },
    /// Flips every byte of the body of GET responses (200) whose path+query
    /// contains `path_contains`: a manifest that does not match its digest.
    CorruptBody { path_contains: String },
    /// The first GET of the blob gets the response headers and `after_bytes`
    /// bytes of body, then the connection is closed. Later GETs (with or
    /// without Range) are forwarded properly.
    CutBlobOnce { digest: String, after_bytes: u64 },
    /// The first `times` requests whose path+query contains `path_contains`
    /// get `429 Too Many Requests` with `Retry-After`, without reaching the
    /// registry.
    TooManyRequests {
        path_contains: String,
        times: usize,
        retry_after_secs: u64,
    },
    /// Like `TooManyRequests`, with the `Retry-After` value sent as given: an
    /// HTTP date (before 1970, far in the future) or nonsense.
    TooManyRequestsRaw {
        path_contains: String,
        times: usize,
        retry_after: String,
    },
    /// The first `times` matching requests get `503 Service Unavailable`.
    ServerError { path_contains: String, times: usize },
    /// The first `times` requests of `method` whose path+query contains
    /// `path_contains` get no answer: the proxy reads the request head and
    /// closes the connection, with any request body unread (a reset, to a
    /// client still sending one).
    CloseOnRequest {
        method: String,
        path_contains: String,
        times: usize,
    },
    /// Tag lists honour `?n=N&last=TAG` and answer with a
    /// `Link: </v2/NAME/tags/list?last=…&n=N>; rel="next"` header, as the
    /// distribution spec, Docker Hub and distribution 3 do. Debian's
    /// docker-registry 2.8 ignores `n` for tag lists and returns them all, so
    /// the proxy pages the registry's full, sorted answer itself.
    PageTagLists,
    /// Requests whose body is longer than `max_bytes` (or of unknown length) get
    /// `413 Payload Too Large`, their body read and dropped — a registry behind a proxy
    /// with a request size limit (nginx's `client_max_body_size`, a CDN's cap), which
    /// only takes blobs uploaded in chunks (`PATCH`) no larger than that.
    BodyLimit { max_bytes: u64 },
}

/// One request as seen by the proxy.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query, as sent by the client.
    pub path: String,
    /// The Range header, if any.
    pub range: Option<String>,
    /// Whether the client sent an Authorization header.
    pub authorization: bool,
    /// Status returned to the client (0 if the upstream could not be reached).
    pub status: u16,
    /// The fault applied, if any (`"corrupt"`, `"cut"`, `"429"`, `"503"`, `"413"`,
    /// `"closed"`).
    pub fault: Option<&'static str>,
    /// When the request head was received.
    pub time: Instant,
}

struct ArmedFault {
    fault: Fault,
    fired: usize,
}

struct Shared {
    upstream: String,
    faults: Mutex<Vec<ArmedFault>>,
    log: Mutex<Vec<RecordedRequest>>,
    stop: AtomicBool,
}

/// A running proxy on `127.0.0.1:PORT`; Drop stops accepting connections.
pub struct FaultProxy {
    host: String,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Proxies to `upstream_host` (`IP:PORT`, plain HTTP) with `faults`.
    pub fn start(upstream_host: &str, faults: Vec<Fault>) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let host = listener.local_addr()?.to_string();
        let shared = Arc::new(Shared {
            upstream: upstream_host.to_string(),
            faults: Mutex::new(
                faults
                    .into_iter()
                    .map(|fault| ArmedFault { fault, fired: 0 })
                    .collect(),
            ),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let accept = std::thread::Builder::new()
            .name("skiff-fault-proxy".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if s.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let s = s.clone();
                    std::thread::spawn(move || {
                        let _ = serve_connection(&s, conn);
                    });
                }
            })?;
        Ok(FaultProxy {
            host,
            shared,
            accept: Some(accept),
        })
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        self.host.clone()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// Arms another fault while running.
    pub fn add_fault(&self, fault: Fault) {
        lock(&self.shared.faults).push(ArmedFault { fault, fired: 0 });
    }

    /// How many times each fault fired, in the order they were given.
    pub fn fired(&self) -> Vec<usize> {
        lock(&self.shared.faults).iter().map(|f| f.fired).collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect(&self.host);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn is_blob_get(method: &str, path: &str, digest: &str) -> bool {
    method == "GET"
        && path
            .split('?')
            .next()
            .unwrap_or("")
            .ends_with(&format!("/blobs/{digest}"))
}

/// A fault that answers instead of the registry; status 0 closes the
/// connection without an answer.
struct Refusal {
    status: u16,
    retry_after: Option<String>,
    name: &'static str,
}

fn refusal(shared: &Shared, method: &str, path: &str, body: &Framing) -> Option<Refusal> {
    let mut faults = lock(&shared.faults);
    for f in faults.iter_mut() {
        let r = match &f.fault {
            Fault::BodyLimit { max_bytes } => match body {
                Framing::Length(n) if n <= max_bytes => continue,
                Framing::None => continue,
                _ => Refusal {
                    status: 413,
                    retry_after: None,
                    name: "413",
                },
            },
            Fault::TooManyRequests {
                path_contains,
                times,
                retry_after_secs,
            } if path.contains(path_contains.as_str()) && f.fired < *times => Refusal {
                status: 429,
                retry_after: Some(retry_after_secs.to_string()),
                name: "429",
            },
            Fault::TooManyRequestsRaw {
                path_contains,
                times,
                retry_after,
            } if path.contains(path_contains.as_str()) && f.fired < *times => Refusal {
                status: 429,
                retry_after: Some(retry_after.clone()),
                name: "429",
            },
            Fault::CloseOnRequest {
                method: m,
                path_contains,
                times,
            } if m == method && path.contains(path_contains.as_str()) && f.fired < *times => {
                Refusal {
                    status: 0,
                    retry_after: None,
                    name: "closed",
                }
            }
            Fault::ServerError {
                path_contains,
                times,
            } if path.contains(path_contains.as_str()) && f.fired < *times => Refusal {
                status: 503,
                retry_after: None,
                name: "503",
            },
            _ => continue,
        };
        f.fired += 1;
        return Some(r);
    }
    None
}

fn pages_tag_lists(shared: &Shared) -> bool {
    lock(&shared.faults)
        .iter()
        .any(|f| f.fault == Fault::PageTagLists)
}

/// One page of a full `{"name":…,"tags":[…]}` answer, for the query of
/// `path` (`n`, `last`), and the path of the next page if there is one.
fn page_tag_list(path: &str, full: &[u8]) -> io::Result<(Vec<u8>, Option<String>)> {
    let invalid = |e: serde_json::Error| io::Error::new(io::ErrorKind::InvalidData, e);
    let mut list: serde_json::Value = serde_json::from_slice(full).map_err(invalid)?;
    let mut tags: Vec<String> = serde_json::from_value(list["tags"].take()).map_err(invalid)?;
    tags.sort();
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let param = |key: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    };
    let n = param("n").and_then(|n| n.parse::<usize>().ok());
    if let Some(last) = param("last") {
        tags.retain(|t| t.as_str() > last);
    }
    let next = match n {
        Some(n) if n > 0 && tags.len() > n => {
            tags.truncate(n);
            Some(format!("{base}?last={}&n={n}", tags[n - 1]))
        }
        _ => None,
    };
    list["tags"] = tags.into();
    Ok((serde_json::to_vec(&list).map_err(invalid)?, next))
}

/// Tampering for a response, decided once its status is known.
fn tampering(
    shared: &Shared,
    method: &str,
    path: &str,
    status: u16,
) -> (Tamper, Option<&'static str>) {
    let mut t = Tamper::default();
    let mut name = None;
    let mut faults = lock(&shared.faults);
    for f in faults.iter_mut() {
        match &f.fault {
            Fault::CorruptBlob { digest }
                if is_blob_get(method, path, digest) && matches!(status, 200 | 206) =>
            {
                t.flip = true;
                f.fired += 1;
                name = Some("corrupt");
            }
            Fault::CorruptBody { path_contains }
                if method == "GET" && status == 200 && path.contains(path_contains.as_str()) =>
            {
                t.flip = true;
                f.fired += 1;
                name = Some("corrupt");
            }
            Fault::CutBlobOnce {
                digest,
                after_bytes,
            } if is_blob_get(method, path, digest) && f.fired == 0 => {
                t.cut_after = Some(*after_bytes);
                f.fired += 1;
                name = Some("cut");
            }
            _ => {}
        }
    }
    (t, name)
}

/// Hop-by-hop headers: they describe one connection, not the message.
const HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
    "expect",
];

fn serve_connection(shared: &Shared, client: TcpStream) -> io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut writer = BufWriter::new(client.try_clone()?);
    // Clients try TLS first against an `--tls-verify=false` registry (skopeo
    // does). Answer a ClientHello the way Go's plain HTTP server does, at
    // once, instead of waiting for a request line that never comes.
    if reader
        .fill_buf()?
        .first()
        .is_some_and(|b| !b.is_ascii_uppercase())
    {
        writer.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request")?;
        writer.flush()?;
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    while let Some(head) = read_head(&mut reader)? {
        let mut parts = head.start.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let http10 = parts.next() == Some("HTTP/1.0");
        let mut record = RecordedRequest {
            method: method.clone(),
            path: path.clone(),
            range: head.get("range").map(str::to_string),
            authorization: head.get("authorization").is_some(),
            status: 0,
            fault: None,
            time: Instant::now(),
        };
        let client_closes = http10 || head.has_token("connection", "close");
        let expects_continue = head.has_token("expect", "100-continue");
        let req_framing = head.framing(false, false)?;

        if let Some(r) = refusal(shared, &method, &path, &req_framing) {
            record.status = r.status;
            record.fault = Some(r.name);
            lock(&shared.log).push(record);
            if r.status == 0 {
                break;
            }
            // Without the 100 the client may never send the body: close
            // rather than guess where the next request starts.
            let close = client_closes || expects_continue;
            if !expects_continue {
                copy_body(&mut reader, &mut io::sink(), req_framing, Tamper::default())?;
            }
            write_refusal(&mut writer, &r, close)?;
            if close {
                break;
            }
            continue;
        }

        let upstream = match TcpStream::connect(&shared.upstream) {
            Ok(u) => u,
            Err(e) => {
                record.status = 502;
                lock(&shared.log).push(record);
                let msg = format!("fault proxy: upstream {}: {e}", shared.upstream);
                write!(writer, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}", msg.len())?;
                writer.flush()?;
                break;
            }
        };
        let mut up_w = BufWriter::new(upstream.try_clone()?);
        let mut up_r = BufReader::new(upstream);
        let mut fwd = head.clone();
        for h in HOP {
            fwd.remove(h);
        }
        fwd.push("Connection", "close");
        fwd.write_to(&mut up_w)?;
        if expects_continue {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            writer.flush()?;
        }
        copy_body(&mut reader, &mut up_w, req_framing, Tamper::default())?;
        up_w.flush()?;

        let mut resp = loop {
            let r = read_head(&mut up_r)?
                .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "upstream closed"))?;
            if !r
                .start
                .split_whitespace()
                .nth(1)
                .is_some_and(|s| s.starts_with('1'))
            {
                break r;
            }
        };
        let status: u16 = resp
            .start
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let no_body =
            method == "HEAD" || (100..200).contains(&status) || status == 204 || status == 304;
        let framing = resp.framing(true, no_body)?;
        if method == "GET"
            && status == 200
            && path.contains("/tags/list")
            && pages_tag_lists(shared)
        {
            let mut full = Vec::new();
            let (_, complete) = copy_body(&mut up_r, &mut full, framing, Tamper::default())?;
            let (body, next) = page_tag_list(&path, &full)?;
            for h in HOP.iter().chain(&["content-length", "transfer-encoding"]) {
                resp.remove(h);
            }
            resp.push("Content-Length", &body.len().to_string());
            if let Some(next) = next {
                resp.push("Link", &format!("<{next}>; rel=\"next\""));
            }
            if client_closes || !complete {
                resp.push("Connection", "close");
            }
            record.status = status;
            record.fault = Some("paged");
            lock(&shared.log).push(record);
            resp.write_to(&mut writer)?;
            writer.write_all(&body)?;
            writer.flush()?;
            if client_closes || !complete {
                break;
            }
            continue;
        }
        let (tamper, fault) = tampering(shared, &method, &path, status);
        let close = client_closes || framing == Framing::UntilEof || tamper.cut_after.is_some();
        for h in HOP {
            resp.remove(h);
        }
        if close {
            resp.push("Connection", "close");
        }
        record.status = status;
        record.fault = fault;
        lock(&shared.log).push(record);
        resp.write_to(&mut writer)?;
        let (_, complete) = copy_body(&mut up_r, &mut writer, framing, tamper)?;
        writer.flush()?;
        if close || !complete {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

fn write_refusal(w: &mut dyn Write, r: &Refusal, close: bool) -> io::Result<()> {
    let (reason, code, message) = match r.status {
        429 => (
            "Too Many Requests",
            "TOOMANYREQUESTS",
            "too many requests (skiff-testbed fault)",
        ),
        413 => (
            "Request Entity Too Large",
            "SIZE_INVALID",
            "request body larger than the proxy allows (skiff-testbed fault)",
        ),
        _ => (
            "Service Unavailable",
            "UNAVAILABLE",
            "service unavailable (skiff-testbed fault)",
        ),
    };
    let body = format!(r#"{{"errors":[{{"code":"{code}","message":"{message}","detail":null}}]}}"#);
    let mut head = Head {
        start: format!("HTTP/1.1 {} {reason}", r.status),
        headers: Vec::new(),
    };
    head.push("Content-Type", "application/json; charset=utf-8");
    head.push("Content-Length", &body.len().to_string());
    if let Some(s) = &r.retry_after {
        head.push("Retry-After", s);
    }
    if close {
        head.push("Connection", "close");
    }
    head.write_to(w)?;
    w.write_all(body.as_bytes())?;
    w.flush()
}
