//! multipart/form-data as pveproxy receives an upload: text fields kept, the file part
//! streamed to a temporary file (`/var/tmp/pveupload-…` on a node) with bounded memory.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::Path;

/// The form: text fields, and the file part's field name, file name and length.
#[derive(Debug, Default)]
pub(crate) struct Form {
    pub fields: BTreeMap<String, String>,
    pub file: Option<(String, String, u64)>,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("multipart: {what}"))
}

/// The boundary of a `multipart/form-data; boundary=…` content type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.eq_ignore_ascii_case("boundary")
            .then(|| v.trim_matches('"').to_string())
    })
}

/// `name` and `filename` of a part's Content-Disposition.
fn disposition(headers: &[String]) -> (Option<String>, Option<String>) {
    let Some(line) = headers
        .iter()
        .find(|h| h.to_ascii_lowercase().starts_with("content-disposition:"))
    else {
        return (None, None);
    };
    let param = |key: &str| {
        line.split(';').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            (k == key).then(|| v.trim_matches('"').to_string())
        })
    };
    (param("name"), param("filename"))
}

/// The body with bytes read ahead: multipart needs to look past a delimiter.
struct Body<'a> {
    inner: &'a mut dyn Read,
    buf: Vec<u8>,
}

impl Body<'_> {
    /// Reads more into `buf`; false at the end of the body.
    fn more(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 64 * 1024];
        let n = self.inner.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..at + 2).take(at).collect();
                return String::from_utf8(line).map_err(|_| bad("part header is not UTF-8"));
            }
            if self.buf.len() > 8192 || !self.more()? {
                return Err(bad("truncated part header"));
            }
        }
    }

    /// Copies to `w` up to `delim`, consuming it; holds back at most one delimiter.
    fn copy_until(&mut self, w: &mut dyn Write, delim: &[u8]) -> io::Result<u64> {
        let mut written = 0u64;
        loop {
            if let Some(at) = self.buf.windows(delim.len()).position(|win| win == delim) {
                w.write_all(&self.buf[..at])?;
                self.buf.drain(..at + delim.len());
                return Ok(written + at as u64);
            }
            let out = self.buf.len().saturating_sub(delim.len());
            w.write_all(&self.buf[..out])?;
            written += out as u64;
            self.buf.drain(..out);
            if !self.more()? {
                return Err(bad("body ended inside a part"));
            }
        }
    }

    fn take(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if !self.more()? {
                return Err(bad("body ended after a boundary"));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }
}

/// Reads the whole form from `body`; the file part goes to `file_path`.
pub(crate) fn read_form(body: &mut dyn Read, boundary: &str, file_path: &Path) -> io::Result<Form> {
    let delim = format!("\r\n--{boundary}").into_bytes();
    let mut body = Body {
        inner: body,
        buf: Vec::new(),
    };
    if body.line()? != format!("--{boundary}") {
        return Err(bad("does not start with the boundary"));
    }
    let mut form = Form::default();
    loop {
        let mut headers = Vec::new();
        loop {
            let line = body.line()?;
            if line.is_empty() {
                break;
            }
            headers.push(line);
        }
        let (name, filename) = disposition(&headers);
        let name = name.ok_or_else(|| bad("part without a name"))?;
        match filename {
            Some(filename) => {
                let mut out = io::BufWriter::new(std::fs::File::create(file_path)?);
                let n = body.copy_until(&mut out, &delim)?;
                out.flush()?;
                form.file = Some((name, filename, n));
            }
            None => {
                let mut value = Vec::new();
                body.copy_until(&mut value, &delim)?;
                let value = String::from_utf8(value).map_err(|_| bad("field is not UTF-8"))?;
                form.fields.insert(name, value);
            }
        }
        match body.take(2)?.as_slice() {
            b"--" => return Ok(form),
            b"\r\n" => {}
            _ => return Err(bad("garbage after a boundary")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_a_file_part() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload");
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\nvztmpl\r\n--XyZ\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"a b.tar\"\r\nContent-Type: application/x-tar\r\n\r\nDATA\r\n--XY\r\nmore\r\n--XyZ--\r\n";
        let form = read_form(&mut &body[..], "XyZ", &path).unwrap();
        assert_eq!(form.fields["content"], "vztmpl");
        assert_eq!(form.file, Some(("filename".into(), "a b.tar".into(), 16)));
        assert_eq!(std::fs::read(&path).unwrap(), b"DATA\r\n--XY\r\nmore");
        assert_eq!(
            boundary("multipart/form-data; boundary=XyZ").as_deref(),
            Some("XyZ")
        );
    }
}
