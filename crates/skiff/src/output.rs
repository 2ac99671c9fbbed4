//! Machine-readable output on stdout, formatted as skopeo formats it (JSON indented by
//! four spaces, raw documents byte for byte).

use std::io::Write;

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

/// Prints bytes exactly as they are.
pub fn print_raw(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::new(format!("writing to stdout: {e}")))
}
