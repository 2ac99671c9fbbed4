//! `WWW-Authenticate` challenges (RFC 7235), as registries send them.

use std::collections::HashMap;

/// One authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="…"`.
    Basic,
    /// `Bearer realm="…",service="…",scope="…"` — a token must be fetched from `realm`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The service parameter to pass on.
        service: Option<String>,
        /// The scope the registry asked for, if it said.
        scope: Option<String>,
    },
}

/// Parses a header value; the first Basic or Bearer challenge wins (Bearer preferred when
/// both are offered, as Docker does).
pub fn parse(header: &str) -> Option<Challenge> {
    let mut found = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        let (scheme, after) = match rest.find(char::is_whitespace) {
            Some(i) => (&rest[..i], rest[i..].trim_start()),
            None => (rest, ""),
        };
        let (params, remaining) = parse_params(after);
        found.push((scheme.to_ascii_lowercase(), params));
        rest = remaining.trim_start_matches([',', ' ']);
    }
    let bearer = found.iter().find(|(s, _)| s == "bearer");
    if let Some((_, p)) = bearer {
        let realm = p.get("realm")?.clone();
        return Some(Challenge::Bearer {
            realm,
            service: p.get("service").cloned(),
            scope: p.get("scope").cloned(),
        });
    }
    found
        .iter()
        .any(|(s, _)| s == "basic")
        .then_some(Challenge::Basic)
}

/// Parses `key=value, key="quoted, with \" escapes"` pairs; stops at the start of the
/// next challenge (a token not followed by `=`).
fn parse_params(mut s: &str) -> (HashMap<String, String>, &str) {
    let mut params = HashMap::new();
    loop {
        s = s.trim_start_matches([',', ' ', '\t']);
        let Some(eq) = s.find('=') else {
            return (params, s);
        };
        let key = &s[..eq];
        if key.is_empty() || key.contains(char::is_whitespace) {
            return (params, s);
        }
        let after = &s[eq + 1..];
        let (value, rest) = if let Some(q) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &q[end.min(q.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.insert(key.to_ascii_lowercase(), value);
        s = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_bearer_challenge() {
        let c = parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull".into()),
            })
        );
    }

    #[test]
    fn quoted_commas_and_escapes_and_basic() {
        let c = parse(r#"Bearer realm="http://x/token",scope="repository:a:pull,push",error="insufficient \"scope\"""#).unwrap();
        let Challenge::Bearer { scope, .. } = c else {
            panic!("bearer")
        };
        assert_eq!(scope.as_deref(), Some("repository:a:pull,push"));
        assert_eq!(
            parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse("Negotiate"), None);
        assert_eq!(
            parse(r#"Bearer service="x""#),
            None,
            "a bearer challenge needs a realm"
        );
        assert!(matches!(
            parse(r#"Basic realm="a", Bearer realm="b""#),
            Some(Challenge::Bearer { .. })
        ));
    }
}
