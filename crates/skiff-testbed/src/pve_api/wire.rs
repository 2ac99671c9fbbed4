//! HTTPS as pveproxy speaks it, just enough for the stand-in: rustls over a std
//! `TcpStream`, HTTP/1.1 heads read with the fault proxy's framing code, one thread per
//! connection, errors told in the status line and in a JSON `message`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::httpwire::{read_head, Framing, Head};

/// A request as the handler sees it: method, path, query, headers and the body reader.
pub(crate) struct Request<'a> {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub head: Head,
    pub body: &'a mut dyn BufRead,
    /// The body's length (Content-Length; chunked bodies are refused).
    pub length: u64,
}

/// An answer: status, reason phrase (pveproxy puts its error message there) and body.
pub(crate) struct Response {
    pub status: u16,
    pub reason: String,
    pub body: serde_json::Value,
}

impl Response {
    pub fn data(body: serde_json::Value) -> Self {
        Response {
            status: 200,
            reason: "OK".into(),
            body: serde_json::json!({ "data": body }),
        }
    }

    /// An error as pveproxy formats it for the json formatter: the message in the status
    /// line and in `message`, parameter errors in `errors`.
    pub fn error(status: u16, message: &str, errors: Option<serde_json::Value>) -> Self {
        let mut body = serde_json::json!({ "data": null, "message": format!("{message}\n") });
        if let Some(e) = errors {
            body["errors"] = e;
        }
        Response {
            status,
            reason: message.replace(['\r', '\n'], " "),
            body,
        }
    }
}

pub(crate) fn tls_config(cert: &Path, key: &Path) -> io::Result<Arc<rustls::ServerConfig>> {
    let bad = |e: &dyn std::fmt::Display| io::Error::other(format!("TLS setup: {e}"));
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(&e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(&e))?;
    Ok(Arc::new(config))
}

/// The accept loop, until dropped.
pub(crate) struct Listener {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    pub fn start<F>(tls: Arc<rustls::ServerConfig>, handler: F) -> io::Result<Listener>
    where
        F: Fn(&mut Request<'_>) -> Response + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handler = Arc::new(handler);
        let thread = std::thread::Builder::new()
            .name("pve-api-stand-in".into())
            .spawn(move || {
                while !stop2.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((sock, _)) => {
                            let (tls, handler) = (tls.clone(), handler.clone());
                            std::thread::spawn(move || {
                                let _ = serve(sock, tls, &*handler);
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(20))
                        }
                        Err(_) => break,
                    }
                }
            })?;
        Ok(Listener {
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve<F>(sock: TcpStream, tls: Arc<rustls::ServerConfig>, handler: &F) -> io::Result<()>
where
    F: Fn(&mut Request<'_>) -> Response,
{
    sock.set_nonblocking(false)?;
    sock.set_read_timeout(Some(Duration::from_secs(30)))?;
    let conn = rustls::ServerConnection::new(tls).map_err(io::Error::other)?;
    let mut stream = BufReader::with_capacity(64 * 1024, rustls::StreamOwned::new(conn, sock));
    // A failed handshake (a client that refused the certificate) ends here.
    while let Some(head) = read_head(&mut stream)? {
        let mut parts = head.start.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let length = match head.framing(false, false)? {
            Framing::Length(n) => n,
            Framing::None => 0,
            _ => {
                let resp = Response::error(411, "chunked request bodies are not accepted", None);
                write_response(stream.get_mut(), &resp)?;
                return Ok(());
            }
        };
        let (path, query) = split_target(&target);
        let mut body = (&mut stream).take(length);
        let mut request = Request {
            method,
            path,
            query,
            head,
            body: &mut body,
            length,
        };
        let resp = handler(&mut request);
        // Whatever the handler left unread is skipped, so the next request starts clean.
        io::copy(&mut body, &mut io::sink())?;
        write_response(stream.get_mut(), &resp)?;
    }
    Ok(())
}

fn split_target(target: &str) -> (String, Vec<(String, String)>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let path = url::form_urlencoded::parse(format!("p={}", path.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    (path, query)
}

fn write_response(w: &mut dyn Write, resp: &Response) -> io::Result<()> {
    let body = serde_json::to_vec(&resp.body).map_err(io::Error::other)?;
    write!(
        w,
        "HTTP/1.1 {} {}\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
        resp.status,
        resp.reason,
        body.len()
    )?;
    w.write_all(&body)?;
    w.flush()
}
