//! A bound on how deeply untrusted YAML nests in flow style, checked before parsing.
//!
//! libyaml (behind serde_yaml) re-examines every open flow level for each token it reads,
//! so `{a: {a: {a: …` 50,000 levels deep takes minutes to be refused — a hang for anyone
//! who hands skiff such a file (an apply file, a catalog entry, a sync list, a registries.d
//! file). serde_yaml refuses anything nested deeper than 128 levels anyway, once parsed;
//! checking the bracket depth first refuses the same documents at once.

/// serde_yaml's own recursion limit: no document deeper than this deserialises.
pub const MAX_DEPTH: usize = 128;

/// A document nested too deeply, refused before parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("nested deeper than {MAX_DEPTH} levels")]
pub struct TooDeep {
    /// The line (1-based) where the limit was passed.
    pub line: usize,
}

/// Refuses `text` when its flow brackets (`[`, `{`) nest deeper than [`MAX_DEPTH`].
/// Brackets in comments and in quoted scalars do not count. A quote opens a scalar only
/// after a space, a line start, `[`, `{` or `,` — so the apostrophe in `don't` opens
/// nothing — and nowhere else: erring toward counting keeps every bracket libyaml would
/// see as flow counted.
pub fn check_yaml_depth(text: &str) -> Result<(), TooDeep> {
    #[derive(PartialEq)]
    enum In {
        Plain,
        Single,
        Double,
        Comment,
    }
    let mut state = In::Plain;
    let (mut depth, mut line) = (0usize, 1usize);
    let (mut prev, mut escaped, mut closed_single) = (b'\n', false, false);
    for b in text.bytes() {
        let reopen = std::mem::take(&mut closed_single);
        let token_start = matches!(prev, b' ' | b'\t' | b'\n' | b'[' | b'{' | b',');
        match state {
            In::Plain => match b {
                b'[' | b'{' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(TooDeep { line });
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                // `''` inside a single-quoted scalar closed it and at once reopens it.
                b'\'' if token_start || reopen => state = In::Single,
                b'"' if token_start => state = In::Double,
                b'#' if matches!(prev, b' ' | b'\t' | b'\n') => state = In::Comment,
                _ => {}
            },
            In::Single if b == b'\'' => {
                state = In::Plain;
                closed_single = true;
            }
            In::Double if escaped => escaped = false,
            In::Double if b == b'\\' => escaped = true,
            In::Double if b == b'"' => state = In::Plain,
            In::Comment if b == b'\n' => state = In::Plain,
            _ => {}
        }
        if b == b'\n' {
            line += 1;
        }
        prev = b;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_nesting_is_refused_with_its_line() {
        let deep = format!("a: 1\nb: {}", "{c: ".repeat(MAX_DEPTH + 1));
        let e = check_yaml_depth(&deep).unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.to_string(), "nested deeper than 128 levels");
    }

    #[test]
    fn ordinary_documents_pass() {
        let yaml =
            "a: [1, {b: [2, 3]}] # [[\nc: \"[[\\\"[\"\nd: '[[''['\ne: don't [x]\n".repeat(1000);
        assert_eq!(check_yaml_depth(&yaml), Ok(()));
        let nested = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(check_yaml_depth(&nested), Ok(()));
    }
}
