//! A fault-injecting HTTP proxy to put in front of a registry.
//!
//! skiff must verify digests, resume cut downloads with Range, and back off
//! on 429/503. Real registries do all of that only on bad days, so this proxy
//! makes the bad day happen on demand. It speaks raw HTTP/1.1 over TCP
//! because it needs to control the exact bytes (a body cut after N bytes,
//! then the connection closed) and otherwise forwards everything unchanged:
//! method, path, headers (Authorization, WWW-Authenticate, Location, ...)
//! and bodies.
//!
//! Besides the single-purpose faults the older tests use, [`Fault::Rule`] pairs a
//! [`Target`] (method, path, how many times) with an [`Action`] (reset, status with
//! `Retry-After`, redirect, expired token, stall then trickle, truncated, overlong or
//! wrong body): the chaos matrix ([`crate::chaos`]) is built from those. With
//! [`FaultProxy::start_with_token`] the token endpoint goes through the proxy too.

mod rules;
mod tags;

pub use rules::{Action, At, Target};

use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::httpwire::{copy_body, read_head, Framing, Head, Tamper};
use rules::{ArmedFault, Refusal};

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
    /// `action` for the requests `target` names.
    Rule { target: Target, action: Action },
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
    /// The fault applied, if any (`"corrupt"`, `"cut"`, `"429"`, `"503"`, `"413"`, `"closed"`,
    /// or an [`Action::name`]).
    pub fault: Option<&'static str>,
    /// When the request head was received.
    pub time: Instant,
}

struct Shared {
    upstream: String,
    /// The token server's `IP:PORT`, when its endpoint goes through the proxy.
    token: Option<String>,
    host: String,
    faults: Mutex<Vec<ArmedFault>>,
    log: Mutex<Vec<RecordedRequest>>,
    /// Authorization values seen so far (a token used again can have expired).
    tokens_seen: Mutex<std::collections::HashSet<String>>,
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
        Self::start_routed(upstream_host, None, faults)
    }

    /// Like [`start`](Self::start) for a token-auth registry whose token server
    /// listens on `token_host`: challenges name the proxy as realm, and `/token`
    /// requests go to the token server, so faults can strike the token phase.
    pub fn start_with_token(
        upstream_host: &str,
        token_host: &str,
        faults: Vec<Fault>,
    ) -> io::Result<FaultProxy> {
        Self::start_routed(upstream_host, Some(token_host.to_string()), faults)
    }

    fn start_routed(
        upstream_host: &str,
        token: Option<String>,
        faults: Vec<Fault>,
    ) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let host = listener.local_addr()?.to_string();
        let shared = Arc::new(Shared {
            upstream: upstream_host.to_string(),
            token,
            host: host.clone(),
            faults: Mutex::new(
                faults
                    .into_iter()
                    .map(|fault| ArmedFault { fault, fired: 0 })
                    .collect(),
            ),
            log: Mutex::new(Vec::new()),
            tokens_seen: Mutex::default(),
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

    /// Replaces every armed fault (and their counts) with `faults`, and forgets the
    /// requests seen so far: one proxy, and so one host name, serves many scenarios.
    pub fn set_faults(&self, faults: Vec<Fault>) {
        *lock(&self.shared.faults) = faults
            .into_iter()
            .map(|fault| ArmedFault { fault, fired: 0 })
            .collect();
        lock(&self.shared.log).clear();
        lock(&self.shared.tokens_seen).clear();
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

        let refused = rules::refusal(&mut lock(&shared.faults), &method, &path, &req_framing);
        if let Some(r) = refused {
            record.status = match &r {
                Refusal::Close => 0,
                Refusal::Status { code, .. } => *code,
                Refusal::Redirect { .. } => 307,
            };
            record.fault = Some(r.name());
            lock(&shared.log).push(record);
            if let Refusal::Close = r {
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

        let target = match &shared.token {
            Some(token) if path.starts_with("/token") => token,
            _ => &shared.upstream,
        };
        let upstream = match TcpStream::connect(target) {
            Ok(u) => u,
            Err(e) => {
                record.status = 502;
                lock(&shared.log).push(record);
                let msg = format!("fault proxy: upstream {target}: {e}");
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
        let reused = head
            .get("authorization")
            .is_some_and(|a| !lock(&shared.tokens_seen).insert(a.to_string()));
        if rules::expires_token(&mut lock(&shared.faults), &method, &path, reused) {
            fwd.remove("authorization");
            record.fault = Some("expire-token");
        }
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
            && rules::pages_tag_lists(&lock(&shared.faults))
        {
            let mut full = Vec::new();
            let (_, complete) = copy_body(&mut up_r, &mut full, framing, Tamper::default())?;
            let (body, next) = tags::page_tag_list(&path, &full)?;
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
        let len = match framing {
            Framing::Length(n) => Some(n),
            _ => None,
        };
        let plan = rules::tampering(&mut lock(&shared.faults), &method, &path, status, len);
        let close = client_closes || framing == Framing::UntilEof || plan.close;
        for h in HOP {
            resp.remove(h);
        }
        if plan.drop_length {
            resp.remove("content-length");
        }
        if let Some(token) = &shared.token {
            route_realm(&mut resp, token, &shared.host);
        }
        if close {
            resp.push("Connection", "close");
        }
        record.status = status;
        record.fault = plan.name.or(record.fault);
        lock(&shared.log).push(record);
        resp.write_to(&mut writer)?;
        let (_, complete) = copy_body(&mut up_r, &mut writer, framing, plan.tamper)?;
        writer.flush()?;
        if close || !complete {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

/// Points the realm of a token challenge at the proxy instead of the token server.
fn route_realm(resp: &mut Head, token: &str, proxy: &str) {
    let from = format!("http://{token}/");
    let to = format!("http://{proxy}/");
    for (name, value) in resp.headers.iter_mut() {
        if name.eq_ignore_ascii_case("www-authenticate") {
            *value = value.replace(&from, &to);
        }
    }
}

fn write_refusal(w: &mut dyn Write, r: &Refusal, close: bool) -> io::Result<()> {
    let (status, retry_after) = match r {
        Refusal::Status { code, retry_after } => (*code, retry_after.as_ref()),
        Refusal::Redirect { location } => {
            let mut head = Head {
                start: "HTTP/1.1 307 Temporary Redirect".into(),
                headers: Vec::new(),
            };
            head.push("Location", location);
            head.push("Content-Length", "0");
            if close {
                head.push("Connection", "close");
            }
            head.write_to(w)?;
            return w.flush();
        }
        Refusal::Close => return Ok(()),
    };
    let (reason, code, message) = match status {
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
        500 => (
            "Internal Server Error",
            "UNKNOWN",
            "internal server error (skiff-testbed fault)",
        ),
        _ => (
            "Service Unavailable",
            "UNAVAILABLE",
            "service unavailable (skiff-testbed fault)",
        ),
    };
    let body = format!(r#"{{"errors":[{{"code":"{code}","message":"{message}","detail":null}}]}}"#);
    let mut head = Head {
        start: format!("HTTP/1.1 {status} {reason}"),
        headers: Vec::new(),
    };
    head.push("Content-Type", "application/json; charset=utf-8");
    head.push("Content-Length", &body.len().to_string());
    if let Some(s) = retry_after {
        head.push("Retry-After", s);
    }
    if close {
        head.push("Connection", "close");
    }
    head.write_to(w)?;
    w.write_all(body.as_bytes())?;
    w.flush()
}
