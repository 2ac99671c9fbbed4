//! Checking content against the size and digest a descriptor promises, while it streams.
//!
//! Every place that receives a blob or manifest from outside (a registry response, a file
//! in a layout, a member of an archive, a re-encoded scratch file) must refuse content that
//! is longer, shorter or different from what was promised — and refuse *too long* as soon
//! as it happens, so that a hostile source cannot make us buffer or write without bound.
//! [`Verifier`] is that one check, so the rule and its wording exist once.

use crate::digest::{Digest, DigestHasher};

/// Content that is not what its descriptor promised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// More or fewer bytes than the descriptor's size.
    #[error("size mismatch for {what}: expected {expected} bytes, got {actual}")]
    Size {
        /// Which blob or manifest.
        what: String,
        /// The size the descriptor names.
        expected: u64,
        /// What arrived (when too long: at least this many).
        actual: u64,
    },
    /// The bytes hash to another digest.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    Digest {
        /// Which blob or manifest.
        what: String,
        /// The digest the descriptor names.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
}

/// Hashes content as it passes and checks it against an expected digest and (optionally)
/// size: [`update`](Verifier::update) fails as soon as the content is longer than promised,
/// [`finish`](Verifier::finish) checks the total and the digest.
#[derive(Clone)]
pub struct Verifier {
    what: String,
    expected: Digest,
    size: Option<u64>,
    hasher: DigestHasher,
    seen: u64,
}

impl Verifier {
    /// Expects exactly `size` bytes (when given) hashing to `expected`; `what` names the
    /// content in errors (usually the digest, or `registry/repo:tag`).
    pub fn new(what: impl Into<String>, expected: &Digest, size: Option<u64>) -> Self {
        Verifier {
            what: what.into(),
            expected: expected.clone(),
            size,
            hasher: expected.hasher(),
            seen: 0,
        }
    }

    /// A verifier for a blob named by its digest.
    pub fn for_blob(digest: &Digest, size: u64) -> Self {
        Verifier::new(digest.to_string(), digest, Some(size))
    }

    /// Feeds the next bytes; refuses them (without hashing) when they overrun the size.
    pub fn update(&mut self, bytes: &[u8]) -> Result<(), VerifyError> {
        let seen = self.seen.saturating_add(bytes.len() as u64);
        if let Some(expected) = self.size {
            if seen > expected {
                return Err(VerifyError::Size {
                    what: self.what.clone(),
                    expected,
                    actual: seen,
                });
            }
        }
        self.seen = seen;
        self.hasher.update(bytes);
        Ok(())
    }

    /// How many bytes were accepted so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Checks the total size and the digest; returns the digest on success.
    pub fn finish(self) -> Result<Digest, VerifyError> {
        if let Some(expected) = self.size {
            if self.seen != expected {
                return Err(VerifyError::Size {
                    what: self.what,
                    expected,
                    actual: self.seen,
                });
            }
        }
        let actual = self.hasher.finish();
        if actual != self.expected {
            return Err(VerifyError::Digest {
                what: self.what,
                expected: self.expected,
                actual,
            });
        }
        Ok(actual)
    }

    /// Checks a whole in-memory blob.
    pub fn check(
        what: impl Into<String>,
        expected: &Digest,
        size: Option<u64>,
        bytes: &[u8],
    ) -> Result<(), VerifyError> {
        let mut v = Verifier::new(what, expected, size);
        v.update(bytes)?;
        v.finish().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(bytes: &[u8]) -> Digest {
        Digest::sha256(bytes)
    }

    #[test]
    fn accepts_exact_content_in_pieces() {
        let d = digest_of(b"hello world");
        let mut v = Verifier::for_blob(&d, 11);
        v.update(b"hello ").unwrap();
        v.update(b"world").unwrap();
        assert_eq!(v.seen(), 11);
        assert_eq!(v.finish().unwrap(), d);
    }

    #[test]
    fn refuses_overrun_at_once() {
        let d = digest_of(b"abc");
        let mut v = Verifier::for_blob(&d, 3);
        v.update(b"ab").unwrap();
        let e = v.update(b"cd").unwrap_err();
        assert!(matches!(
            e,
            VerifyError::Size {
                expected: 3,
                actual: 4,
                ..
            }
        ));
    }

    #[test]
    fn refuses_short_content() {
        let d = digest_of(b"abc");
        let mut v = Verifier::for_blob(&d, 3);
        v.update(b"ab").unwrap();
        let e = v.finish().unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("size mismatch for {d}: expected 3 bytes, got 2")
        );
    }

    #[test]
    fn refuses_other_content_of_the_same_size() {
        let d = digest_of(b"abc");
        let e = Verifier::check("config", &d, Some(3), b"abd").unwrap_err();
        match e {
            VerifyError::Digest {
                what,
                expected,
                actual,
            } => {
                assert_eq!(what, "config");
                assert_eq!(expected, d);
                assert_eq!(actual, digest_of(b"abd"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn size_may_be_unknown() {
        let d = digest_of(b"manifest");
        Verifier::check("m", &d, None, b"manifest").unwrap();
        assert!(Verifier::check("m", &d, None, b"manifesto").is_err());
    }
}
