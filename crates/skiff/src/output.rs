//! Everything skiff prints goes through here: machine-readable output on stdout, formatted
//! as skopeo formats it (JSON indented by four spaces, raw documents byte for byte), and
//! messages on stderr.
//!
//! Printing never panics (`println!` does when the pipe is closed, and with
//! `panic = "abort"` that skipped every cleanup and left staging files behind). A reader
//! that went away (`skiff copy … 2>&1 | head -1`: EPIPE) only ends that output; the
//! command itself finishes or cleans up as it would have.

use std::io::{ErrorKind, Write};

use crate::failure::Failure;

/// Prints JSON indented with four spaces and a trailing newline, like Go's
/// `json.MarshalIndent(v, "", "    ")` that skopeo uses.
pub fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<(), Failure> {
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    serde::Serialize::serialize(value, &mut ser).map_err(|e| Failure::new(e.to_string()))?;
    buf.push(b'\n');
    print_raw(&buf)
}

/// Prints one line of text on stdout.
pub fn print_line(line: &str) -> Result<(), Failure> {
    print_raw(format!("{line}\n").as_bytes())
}

/// Prints bytes exactly as they are. A closed stdout is the reader's choice, not a
/// failure (`skiff inspect … | head -1`); any other write error is.
pub fn print_raw(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => {
            Err(Failure::new(format!("writing to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// Writes one line to stderr. Errors are dropped: a closed stderr means nobody reads the
/// messages any more, and there is nowhere else to report that.
pub fn stderr_line(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}
