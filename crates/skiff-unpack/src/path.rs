//! Lexical normalisation of archive paths.
//!
//! Decision (documented in the crate doc): a leading `/` is stripped, `.` and empty
//! components are dropped and `a/..` collapses lexically — as umoci does — but a `..` that
//! would climb above the root is refused outright: no legitimate layer needs it, and a
//! clear refusal beats silently writing somewhere the author did not mean. Symlinks are
//! *not* resolved here; that happens in the kernel (openat2 `RESOLVE_IN_ROOT`).

/// A cleaned relative path: components joined by `/`, no `.`/`..`/empty components,
/// no leading `/`. The empty path is the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct CleanPath(Vec<u8>);

/// Why a path could not be cleaned.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ClimbsOut;

impl CleanPath {
    pub(crate) fn new(raw: &[u8]) -> Result<Self, ClimbsOut> {
        let mut parts: Vec<&[u8]> = Vec::new();
        for comp in raw.split(|&b| b == b'/') {
            match comp {
                b"" | b"." => {}
                b".." => {
                    if parts.pop().is_none() {
                        return Err(ClimbsOut);
                    }
                }
                c => parts.push(c),
            }
        }
        Ok(CleanPath(parts.join(&b'/')))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// (parent, final component); the root has no final component.
    pub(crate) fn split(&self) -> (&[u8], &[u8]) {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => (&self.0[..i], &self.0[i + 1..]),
            None => (&[], &self.0),
        }
    }

    pub(crate) fn parent(&self) -> Option<CleanPath> {
        if self.is_root() {
            return None;
        }
        Some(CleanPath(self.split().0.to_vec()))
    }

    pub(crate) fn join(&self, name: &[u8]) -> CleanPath {
        if self.is_root() {
            CleanPath(name.to_vec())
        } else {
            let mut v = Vec::with_capacity(self.0.len() + 1 + name.len());
            v.extend_from_slice(&self.0);
            v.push(b'/');
            v.extend_from_slice(name);
            CleanPath(v)
        }
    }

    pub(crate) fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split(|&b| b == b'/').filter(|c| !c.is_empty())
    }

    /// `a`, `a/b`, `a/b/c` for `a/b/c`: the path and every ancestor but the root.
    pub(crate) fn with_ancestors(&self) -> impl Iterator<Item = &[u8]> {
        let ends = self.0.iter().enumerate().filter(|(_, &b)| b == b'/');
        ends.map(|(i, _)| &self.0[..i])
            .chain((!self.is_root()).then_some(self.0.as_slice()))
    }

    pub(crate) fn display(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Result<String, ClimbsOut> {
        CleanPath::new(s.as_bytes()).map(|p| p.display())
    }

    #[test]
    fn lists_the_path_with_its_ancestors() {
        let p = CleanPath::new(b"a/bc/d").unwrap();
        let all: Vec<&[u8]> = p.with_ancestors().collect();
        assert_eq!(all, [&b"a"[..], b"a/bc", b"a/bc/d"]);
        assert_eq!(CleanPath::default().with_ancestors().count(), 0);
    }

    #[test]
    fn cleans() {
        assert_eq!(c("./etc//passwd").unwrap(), "etc/passwd");
        assert_eq!(c("/abs/escape").unwrap(), "abs/escape");
        assert_eq!(c("a/b/../c/").unwrap(), "a/c");
        assert_eq!(c("./").unwrap(), "");
        assert!(c("../escape").is_err());
        assert!(c("a/../../b").is_err());
        assert!(c("/../x").is_err());
        let p = CleanPath::new(b"a/b/c").unwrap();
        assert_eq!(p.split(), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(p.parent().unwrap().display(), "a/b");
        assert_eq!(CleanPath::new(b"x").unwrap().split(), (&b""[..], &b"x"[..]));
    }
}
