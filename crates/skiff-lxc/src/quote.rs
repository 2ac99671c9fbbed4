//! Proxmox's quoting of the entrypoint: Perl `String::ShellQuote::shell_quote`.

/// Characters that never need quoting (Perl's `[\w!%+,\-./:=@^]`, ASCII).
fn is_safe(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '_' | '!' | '%' | '+' | ',' | '-' | '.' | '/' | ':' | '=' | '@' | '^'
        )
}

/// Quotes one argument: unchanged when it is non-empty, contains only safe characters
/// and no `=`; otherwise in single quotes, with `'` written as `'\''`.
fn quote_one(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(is_safe) && !arg.contains('=') {
        return arg.to_string();
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('\'');
    for c in arg.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    // String::ShellQuote drops the empty quotes a leading or trailing ' leaves behind.
    let trimmed = out
        .strip_prefix("''")
        .filter(|r| r.starts_with('\\'))
        .unwrap_or(&out);
    let trimmed = trimmed
        .strip_suffix("''")
        .filter(|r| r.ends_with('\''))
        .unwrap_or(trimmed);
    trimmed.to_string()
}

/// Joins arguments into one shell-quoted string, as Proxmox writes `entrypoint:`.
pub fn pve_shell_quote(args: &[String]) -> String {
    args.iter()
        .map(|a| quote_one(a))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(args: &[&str]) -> String {
        pve_shell_quote(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn proxmox_quoting_rules() {
        assert_eq!(q(&["/bin/sh"]), "/bin/sh");
        assert_eq!(
            q(&["/bin/sh", "-c", "echo \"a b\""]),
            r#"/bin/sh -c 'echo "a b"'"#
        );
        assert_eq!(q(&["--opt=value"]), "'--opt=value'", "= is quoted");
        assert_eq!(q(&[""]), "''");
        assert_eq!(q(&["it's"]), r"'it'\''s'");
        assert_eq!(q(&["'x'"]), r"\''x'\'");
        assert_eq!(q(&["$HOME"]), "'$HOME'");
        assert_eq!(q(&["a,b:c@d^e%f+g!h"]), "a,b:c@d^e%f+g!h");
        assert_eq!(q(&["ünï"]), "'ünï'");
    }
}
