//! A tiny_http server running on background threads until dropped.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub(crate) struct Background {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Binds 127.0.0.1:0 and handles each request on its own thread, so a
    /// slow blob download does not hold up a token request.
    pub(crate) fn start<F>(name: &str, handler: F) -> io::Result<Background>
    where
        F: Fn(tiny_http::Request) + Send + Sync + 'static,
    {
        let server = tiny_http::Server::http("127.0.0.1:0").map_err(io::Error::other)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("tiny_http did not bind an IP address"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(handler);
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                while !stop2.load(Ordering::SeqCst) {
                    match server.recv_timeout(Duration::from_millis(100)) {
                        Ok(Some(req)) => {
                            let h = handler.clone();
                            std::thread::spawn(move || h(req));
                        }
                        Ok(None) => {}
                        Err(_) => break,
                    }
                }
            })?;
        Ok(Background {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub(crate) fn host(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The value of request header `name` (case-insensitive).
pub(crate) fn header(req: &tiny_http::Request, name: &str) -> Option<String> {
    req.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_string())
}

pub(crate) fn h(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}
