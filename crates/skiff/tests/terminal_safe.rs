//! Text from outside reaches the terminal escaped and bounded: an ESC sequence in a name
//! cannot retitle or clear the terminal, and a huge name is not echoed whole.

mod common;

use common::skiff;

#[test]
fn escape_sequences_in_messages_are_shown_escaped() {
    let out = skiff(&["inspect", "oci:/nonexistent/\x1b]0;pwned\x07\x1b[2J:t"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\x07'),
        "{stderr:?}"
    );
    assert!(stderr.contains("\\x1b]0;pwned\\x07\\x1b[2J"), "{stderr}");
}

#[test]
fn a_huge_name_is_not_echoed_whole() {
    let name = format!("oci:/nonexistent/{}:t", "n".repeat(100_000));
    let out = skiff(&["inspect", &name]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr.len() < 20_000, "{} bytes echoed", stderr.len());
    assert!(stderr.contains(" more)"), "{}", &stderr[..200]);
}
