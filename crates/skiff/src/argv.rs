//! Command-line spellings skopeo accepts (Go's flag package under cobra) that clap does
//! not, rewritten into clap's before parsing, so scripts written for skopeo parse the same:
//!
//! - a boolean flag takes a value after `=` in Go's forms (`--quiet=true`,
//!   `--all=0`, `--debug=F`): true becomes the bare flag, false drops it (every switch
//!   defaults to off);
//! - `copy` keeps skopeo's hidden aliases `--screds`, `--dcreds` and `--tls-verify` (both
//!   sides at once).
//!
//! Rewriting the words rather than redefining every flag keeps the clap definitions plain
//! and makes the rule hold for every switch, including ones added later.

use std::ffi::OsString;

use clap::{ArgAction, Command};

/// Go's `strconv.ParseBool`: the values skopeo's boolean flags accept.
pub fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "invalid boolean value {s:?} (use true or false, 1 or 0)"
        )),
    }
}

/// skopeo's hidden aliases of `copy`: each old spelling and what it stands for.
const COPY_ALIASES: &[(&str, &[&str])] = &[
    ("screds", &["src-creds"]),
    ("dcreds", &["dest-creds"]),
    ("tls-verify", &["src-tls-verify", "dest-tls-verify"]),
];

/// Rewrites `args` (program name first) for `root`'s definition. Words it does not
/// recognise pass unchanged, so clap still reports every real usage error.
pub fn normalise(root: &Command, args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut path: Vec<&Command> = vec![root];
    let mut words = args.into_iter();
    out.extend(words.next());
    while let Some(word) = words.next() {
        let Some(text) = word.to_str().map(str::to_string) else {
            out.push(word);
            continue;
        };
        if text == "--" {
            out.push(word);
            out.extend(words);
            break;
        }
        let current = path[path.len() - 1];
        let Some(flag) = text.strip_prefix("--") else {
            // A subcommand's name descends; a short option with a separate value keeps it.
            let short = text.strip_prefix('-').filter(|c| c.chars().count() == 1);
            let takes_value = short
                .and_then(|c| c.chars().next())
                .and_then(|c| find(&path, |a| a.get_short() == Some(c)))
                .is_some_and(takes_separate_value);
            if let Some(sub) = current.find_subcommand(&text) {
                path.push(sub);
            }
            out.push(word);
            if takes_value {
                out.extend(words.next());
            }
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (flag, None),
        };
        let names: Vec<&str> = match COPY_ALIASES.iter().find(|(alias, _)| *alias == name) {
            Some((_, to)) if current.get_name() == "copy" => to.to_vec(),
            _ => vec![name],
        };
        let mut separate_value = false;
        for name in names {
            let arg = find(&path, |a| a.get_long() == Some(name));
            let switch = arg.is_some_and(|a| matches!(a.get_action(), ArgAction::SetTrue));
            match (value, switch) {
                (Some(v), true) => match parse_go_bool(v) {
                    Ok(true) => out.push(format!("--{name}").into()),
                    Ok(false) => {}
                    // Left as written: clap says what is wrong with it.
                    Err(_) => out.push(format!("--{name}={v}").into()),
                },
                (Some(v), false) => out.push(format!("--{name}={v}").into()),
                (None, _) => {
                    out.push(format!("--{name}").into());
                    separate_value = arg.is_some_and(takes_separate_value);
                }
            }
        }
        if separate_value {
            out.extend(words.next());
        }
    }
    out
}

/// The argument of the innermost command on `path` (or a global one of an outer command)
/// that `pred` selects.
fn find<'a>(path: &[&'a Command], pred: impl Fn(&clap::Arg) -> bool) -> Option<&'a clap::Arg> {
    path.iter()
        .rev()
        .find_map(|c| c.get_arguments().find(|a| pred(a)))
}

/// Whether the option's value is the next word when not attached with `=`.
fn takes_separate_value(arg: &clap::Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Set | ArgAction::Append)
        && !arg.is_require_equals_set()
        && arg.get_num_args().is_none_or(|n| n.min_values() > 0)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::Cli;

    fn rewrite(args: &[&str]) -> Vec<String> {
        let args = args.iter().map(OsString::from).collect();
        normalise(&Cli::command(), args)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn go_booleans_become_bare_flags_or_nothing() {
        assert_eq!(
            rewrite(&[
                "skiff",
                "--debug=1",
                "copy",
                "--quiet=true",
                "--all=F",
                "a",
                "b"
            ]),
            ["skiff", "--debug", "copy", "--quiet", "a", "b"]
        );
        // Values of options pass unchanged, also when a value looks like a flag's.
        assert_eq!(
            rewrite(&[
                "skiff",
                "copy",
                "--authfile",
                "--all=0",
                "--src-tls-verify=0",
                "a",
                "b"
            ]),
            [
                "skiff",
                "copy",
                "--authfile",
                "--all=0",
                "--src-tls-verify=0",
                "a",
                "b"
            ]
        );
        // A value Go refuses stays for clap to refuse.
        assert_eq!(
            rewrite(&["skiff", "inspect", "--raw=yes", "x"]),
            ["skiff", "inspect", "--raw=yes", "x"]
        );
    }

    #[test]
    fn copy_keeps_skopeos_hidden_aliases() {
        assert_eq!(
            rewrite(&[
                "skiff",
                "copy",
                "--screds",
                "u:p",
                "--dcreds=v:q",
                "--tls-verify=false",
                "a",
                "b"
            ]),
            [
                "skiff",
                "copy",
                "--src-creds",
                "u:p",
                "--dest-creds=v:q",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                "a",
                "b"
            ]
        );
        // Elsewhere --tls-verify is the command's own flag.
        assert_eq!(
            rewrite(&["skiff", "inspect", "--tls-verify=false", "x"]),
            ["skiff", "inspect", "--tls-verify=false", "x"]
        );
    }

    #[test]
    fn go_bool_forms() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(t), Ok(true));
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(f), Ok(false));
        }
        assert!(parse_go_bool("yes").is_err());
    }
}
