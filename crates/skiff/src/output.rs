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

/// Writes one line to stderr, made [`terminal_safe`]. Errors are dropped: a closed stderr
/// means nobody reads the messages any more, and there is nowhere else to report that.
pub fn stderr_line(line: &str) {
    let line = terminal_safe(line);
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// The most characters of one message line echoed; the rest is counted, not printed.
const MAX_ECHO: usize = 2048;

/// Message text made safe for a terminal. Messages carry text from outside (tar entry
/// names, an archive's manifest.json, a registry's error body): an ESC sequence in them
/// could retitle or clear the terminal or fake output, so every control character but
/// newline and tab is shown escaped (`\x1b`, `\u{9b}`), and an over-long line is cut to
/// [`MAX_ECHO`] characters with `…(N more)`. Applied where lines are printed, so no call
/// site has to remember it.
pub fn terminal_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_ECHO * 4));
    let mut shown = 0;
    let mut chars = text.chars();
    for c in chars.by_ref() {
        match c {
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
        shown += 1;
        if shown == MAX_ECHO {
            break;
        }
    }
    let rest = chars.count();
    if rest > 0 {
        out.push_str(&format!("…({rest} more)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::terminal_safe;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            terminal_safe("a\x1b]0;pwned\x07b\x1b[2J\u{9b}c\x7f\nd\te"),
            "a\\x1b]0;pwned\\x07b\\x1b[2J\\u{9b}c\\x7f\nd\te"
        );
        assert_eq!(terminal_safe("plain: ü ✓"), "plain: ü ✓");
    }

    #[test]
    fn long_lines_are_cut() {
        let long = "n".repeat(100_000);
        let shown = terminal_safe(&long);
        assert!(
            shown.ends_with(&format!("…({} more)", 100_000 - 2048)),
            "{}",
            &shown[2000..]
        );
        assert_eq!(shown.chars().filter(|&c| c == 'n').count(), 2048);
    }
}
