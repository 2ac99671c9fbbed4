//! The rules that span fields — container names unique, `depends_on` targets that exist
//! without cycles, `${host:…}`/`${secret:…}` placeholders, env names, cores. Parsed values
//! have no positions any more, so an error is placed on the first line of the entry's
//! text that holds the offending value (after its container's `name:` line).

use std::collections::{BTreeMap, BTreeSet};

use crate::entry::{App, Container};

/// A rule broken: what, and a value to find its line by.
#[derive(Debug)]
pub struct Broken {
    /// The message.
    pub message: String,
    /// The container it concerns, if any (the search starts at its `name:` line).
    pub container: Option<String>,
    /// Text to search for.
    pub needle: String,
}

fn broken(container: Option<&Container>, needle: &str, message: String) -> Broken {
    Broken {
        message,
        container: container.map(|c| c.name.clone()),
        needle: needle.to_string(),
    }
}

/// Checks `app`, the entry of file `stem`.yaml.
pub fn check(app: &App, stem: &str) -> Result<(), Broken> {
    if app.name != stem {
        return Err(broken(
            None,
            "name:",
            format!(
                "the entry is named {:?} but its file {stem}.yaml: name the file after the app",
                app.name
            ),
        ));
    }
    if app.containers.is_empty() {
        return Err(broken(
            None,
            "containers",
            "an app needs at least one container".into(),
        ));
    }
    let mut names = BTreeSet::new();
    for c in &app.containers {
        if !names.insert(c.name.as_str()) {
            return Err(broken(
                Some(c),
                "name:",
                format!("container {:?} is listed twice", c.name),
            ));
        }
    }
    for c in &app.containers {
        check_container(c, &names)?;
    }
    check_cycles(app)
}

fn check_container(c: &Container, names: &BTreeSet<&str>) -> Result<(), Broken> {
    if c.cores == 0 || c.cores > 512 {
        return Err(broken(
            Some(c),
            "cores:",
            format!("cores {} is not between 1 and 512", c.cores),
        ));
    }
    let mut targets = BTreeSet::new();
    for m in &c.mounts {
        if !targets.insert(m.target.as_str()) {
            return Err(broken(
                Some(c),
                &m.target,
                format!("mount target {} is listed twice", m.target),
            ));
        }
    }
    for d in &c.depends_on {
        if d == &c.name || !names.contains(d.as_str()) {
            return Err(broken(
                Some(c),
                d,
                format!(
                    "{:?} depends on {d:?}, which is not another container of the app",
                    c.name
                ),
            ));
        }
    }
    for (key, value) in &c.env {
        let key_ok = key.starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_')
            && key
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if !key_ok {
            return Err(broken(
                Some(c),
                key,
                format!("invalid environment variable name {key:?}"),
            ));
        }
        for (kind, arg) in placeholders(value).map_err(|m| broken(Some(c), value, m))? {
            let ok = match kind {
                "host" => names.contains(arg),
                "secret" => {
                    !arg.is_empty()
                        && arg
                            .chars()
                            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
                }
                _ => false,
            };
            if !ok {
                let why = match kind {
                    "host" => format!("${{host:{arg}}} names no container of the app"),
                    "secret" => format!("secret name {arg:?}: use lowercase letters, digits and '_'"),
                    _ => format!("unknown placeholder ${{{kind}:…}}: use ${{host:CONTAINER}} or ${{secret:NAME}}"),
                };
                return Err(broken(Some(c), value, format!("{key}: {why}")));
            }
        }
    }
    Ok(())
}

/// The `${kind:arg}` placeholders of an env value. `$$` is a literal `$`.
pub fn placeholders(value: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            rest = r;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            rest = after;
            continue;
        };
        let end = body
            .find('}')
            .ok_or_else(|| format!("unclosed placeholder in {value:?}"))?;
        let (kind, arg) = body[..end]
            .split_once(':')
            .ok_or_else(|| format!("placeholder ${{{}}} needs KIND:NAME", &body[..end]))?;
        out.push((kind, arg));
        rest = &body[end + 1..];
    }
    Ok(out)
}

/// `depends_on` must be acyclic: the containers start in its order.
fn check_cycles(app: &App) -> Result<(), Broken> {
    let deps: BTreeMap<&str, &[String]> = app
        .containers
        .iter()
        .map(|c| (c.name.as_str(), c.depends_on.as_slice()))
        .collect();
    // 0 = unvisited, 1 = on the current path, 2 = done.
    fn visit<'a>(
        n: &'a str,
        deps: &BTreeMap<&'a str, &'a [String]>,
        state: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let from = path.iter().position(|p| *p == n).unwrap_or(0);
                let mut cycle = path[from..].to_vec();
                cycle.push(n);
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n, 1);
        path.push(n);
        for d in deps.get(n).copied().unwrap_or_default() {
            if let Some(c) = visit(d, deps, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n, 2);
        None
    }
    let mut state = BTreeMap::new();
    for c in &app.containers {
        if let Some(cycle) = visit(&c.name, &deps, &mut state, &mut Vec::new()) {
            return Err(broken(
                Some(c),
                "depends_on",
                format!("depends_on forms a cycle: {}", cycle.join(" → ")),
            ));
        }
    }
    Ok(())
}

/// The `(line, column)` (1-based) of `needle` in `text`, searched from the line that
/// names `container` when given; the entry's first line when not found.
pub fn locate(text: &str, container: Option<&str>, needle: &str) -> (usize, usize) {
    let start_line = container
        .and_then(|c| {
            text.lines().position(|l| {
                let l = l.trim_start().trim_start_matches("- ").trim();
                l == format!("name: {c}") || l == format!("name: \"{c}\"")
            })
        })
        .unwrap_or(0);
    text.lines()
        .enumerate()
        .skip(start_line)
        .find_map(|(i, l)| l.find(needle).map(|col| (i + 1, col + 1)))
        .unwrap_or((start_line + 1, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found() {
        assert_eq!(
            placeholders("postgres://u:${secret:pw}@${host:db}:5432/$$x $HOME").unwrap(),
            [("secret", "pw"), ("host", "db")]
        );
        assert!(placeholders("${host:db").is_err());
        assert!(placeholders("${nokind}").is_err());
    }

    #[test]
    fn errors_are_located_under_their_container() {
        let text = "name: a\ncontainers:\n  - name: one\n    depends_on: [x]\n  - name: two\n    depends_on: [x]\n";
        assert_eq!(locate(text, Some("two"), "x"), (6, 18));
        assert_eq!(locate(text, None, "containers"), (2, 1));
        assert_eq!(locate(text, None, "nowhere"), (1, 1));
    }
}
