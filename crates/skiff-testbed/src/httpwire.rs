//! Just enough HTTP/1.1 framing for the fault proxy, which must control the
//! bytes on the wire (cutting a body mid-way is not something an HTTP
//! library lets you do).

use std::io::{self, BufRead, Read, Write};
use std::time::{Duration, Instant};

/// A request or response head: start line and headers in wire order.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub start: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn remove(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    pub fn push(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_string(), value.to_string()));
    }

    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    pub fn write_to(&self, w: &mut dyn Write) -> io::Result<()> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(self.start.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (n, v) in &self.headers {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        w.write_all(&out)
    }

    /// How the body following this head is delimited. `no_body` is true for
    /// responses to HEAD and for 1xx/204/304.
    pub fn framing(&self, is_response: bool, no_body: bool) -> io::Result<Framing> {
        if no_body {
            return Ok(Framing::None);
        }
        if self.has_token("transfer-encoding", "chunked") {
            return Ok(Framing::Chunked);
        }
        match self.get("content-length") {
            Some(v) => v.trim().parse().map(Framing::Length).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad Content-Length {v:?}"),
                )
            }),
            None if is_response => Ok(Framing::UntilEof),
            None => Ok(Framing::None),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilEof,
}

fn read_line(r: &mut dyn BufRead) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = r.take(64 * 1024).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "header line too long or truncated",
        ));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// Reads a head; `None` if the peer closed the connection before sending
/// anything (the normal end of a keep-alive connection).
pub(crate) fn read_head(r: &mut dyn BufRead) -> io::Result<Option<Head>> {
    let start = loop {
        match read_line(r)? {
            None => return Ok(None),
            Some(l) if l.is_empty() => continue, // stray CRLF between messages
            Some(l) => break l,
        }
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "EOF in headers"))?;
        if line.is_empty() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok(Some(Head { start, headers }))
}

/// What to do to a body while copying it.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tamper {
    /// Flip every byte (same length, different digest).
    pub flip: bool,
    /// Flip the byte at this offset only.
    pub flip_at: Option<u64>,
    /// Forward only this many body bytes, then stop (the caller closes).
    pub cut_after: Option<u64>,
    /// After a complete body, send this many more bytes (the caller closes).
    pub extra: u64,
    /// Stall, then trickle; stop (as a cut) when the time is up.
    pub pace: Option<Pace>,
}

/// A slow sender: nothing for `stall`, then `bytes_per_sec`, for `total` at most.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    pub stall: Duration,
    pub bytes_per_sec: u64,
    pub total: Duration,
}

impl Pace {
    /// Writes `data` at the pace and returns how much of it went out before the time
    /// was up.
    fn write(&self, started: Instant, w: &mut dyn Write, data: &[u8]) -> io::Result<usize> {
        let deadline = started + self.total;
        let stall_end = started + self.stall;
        let now = Instant::now();
        if now < stall_end {
            w.flush()?;
            std::thread::sleep(stall_end.min(deadline) - now);
        }
        // Quarter-second slices, so the rate is steady rather than bursty.
        let slice = (self.bytes_per_sec / 4).max(1) as usize;
        let mut sent = 0;
        for part in data.chunks(slice) {
            if Instant::now() >= deadline {
                break;
            }
            w.write_all(part)?;
            w.flush()?;
            sent += part.len();
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(sent)
    }
}

/// Copies one body from `r` to `w`, keeping its framing (chunked stays
/// chunked), applying `tamper` to the content. Returns the number of content
/// bytes written and whether the body was complete.
pub(crate) fn copy_body(
    r: &mut dyn BufRead,
    w: &mut dyn Write,
    framing: Framing,
    tamper: Tamper,
) -> io::Result<(u64, bool)> {
    let mut written = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let started = Instant::now();
    // Sends `data`, honouring the cut and the pace; false once the cut is reached.
    let mut emit = |w: &mut dyn Write, data: &mut [u8], chunked: bool| -> io::Result<bool> {
        if tamper.flip {
            data.iter_mut().for_each(|b| *b ^= 0xff);
        }
        if let Some(at) = tamper.flip_at {
            if let Some(b) = at
                .checked_sub(written)
                .and_then(|i| data.get_mut(i as usize))
            {
                *b ^= 0xff;
            }
        }
        let mut allowed = match tamper.cut_after {
            Some(limit) => (limit.saturating_sub(written) as usize).min(data.len()),
            None => data.len(),
        };
        if allowed > 0 {
            if chunked {
                write!(w, "{allowed:x}\r\n")?;
            }
            match &tamper.pace {
                Some(pace) => allowed = pace.write(started, w, &data[..allowed])?,
                None => w.write_all(&data[..allowed])?,
            }
            if chunked && allowed == data.len() {
                w.write_all(b"\r\n")?;
            }
        }
        written += allowed as u64;
        Ok(allowed == data.len())
    };
    match framing {
        Framing::None => {}
        Framing::Length(mut left) => {
            while left > 0 {
                let want = (left as usize).min(buf.len());
                let n = r.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "body shorter than Content-Length",
                    ));
                }
                left -= n as u64;
                if !emit(w, &mut buf[..n], false)? {
                    w.flush()?;
                    return Ok((written, false));
                }
            }
        }
        Framing::UntilEof => loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                break;
            }
            if !emit(w, &mut buf[..n], false)? {
                w.flush()?;
                return Ok((written, false));
            }
        },
        Framing::Chunked => loop {
            let line = read_line(r)?.ok_or_else(|| {
                io::Error::new(io::ErrorKind::UnexpectedEof, "EOF in chunked body")
            })?;
            let size_hex = line.split(';').next().unwrap_or("").trim();
            let mut left = u64::from_str_radix(size_hex, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad chunk size {line:?}"),
                )
            })?;
            if left == 0 {
                // Trailers, then the final empty line.
                let mut trailers = Vec::new();
                while let Some(t) = read_line(r)? {
                    if t.is_empty() {
                        break;
                    }
                    trailers.push(t);
                }
                w.write_all(b"0\r\n")?;
                for t in trailers {
                    w.write_all(t.as_bytes())?;
                    w.write_all(b"\r\n")?;
                }
                w.write_all(b"\r\n")?;
                break;
            }
            while left > 0 {
                let want = (left as usize).min(buf.len());
                let n = r.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "EOF in chunk"));
                }
                left -= n as u64;
                if !emit(w, &mut buf[..n], true)? {
                    w.flush()?;
                    return Ok((written, false));
                }
            }
            read_line(r)?; // CRLF after the chunk data
        },
    }
    if tamper.extra > 0 && framing != Framing::Chunked {
        w.write_all(&vec![b'x'; tamper.extra as usize])?;
    }
    w.flush()?;
    Ok((written, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_round_trip_and_cut() {
        let body = b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nT: 1\r\n\r\n";
        let mut out = Vec::new();
        let (n, done) = copy_body(
            &mut &body[..],
            &mut out,
            Framing::Chunked,
            Tamper::default(),
        )
        .unwrap();
        assert_eq!((n, done), (11, true));
        assert_eq!(out, b"5\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n");

        let mut out = Vec::new();
        let cut = Tamper {
            cut_after: Some(7),
            ..Tamper::default()
        };
        let (n, done) = copy_body(&mut &body[..], &mut out, Framing::Chunked, cut).unwrap();
        assert_eq!((n, done), (7, false));
        assert_eq!(out, b"5\r\nhello\r\n2\r\n w");
    }

    #[test]
    fn length_with_flip() {
        let mut out = Vec::new();
        let flip = Tamper {
            flip: true,
            ..Tamper::default()
        };
        copy_body(&mut &[0u8, 1, 0xff][..], &mut out, Framing::Length(3), flip).unwrap();
        assert_eq!(out, [0xff, 0xfe, 0]);
    }

    #[test]
    fn heads() {
        let raw = b"GET /v2/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        let h = read_head(&mut &raw[..]).unwrap().unwrap();
        assert_eq!(h.start, "GET /v2/ HTTP/1.1");
        assert_eq!(h.get("host"), Some("x"));
        assert_eq!(h.framing(false, false).unwrap(), Framing::Chunked);
        assert!(read_head(&mut &b""[..]).unwrap().is_none());
    }
}
