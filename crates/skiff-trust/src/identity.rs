//! `signedIdentity`: which docker reference a signature must claim for the image at hand.
//!
//! The matchers compare the reference the image is being used under ("intended") with the
//! one the verified payload names ("signed"), following containers-policy.json(5). They
//! compare normalised references (`busybox` ≡ `docker.io/library/busybox`) and never add a
//! default tag: a name-only reference matches nothing that requires a tag.

use skiff_oci::Reference;

/// One `signedIdentity` alternative, validated at policy load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedIdentity {
    /// The signed reference must equal the image reference (tag or digest included).
    MatchExact,
    /// Tagged image: exact match; digest-pinned image: same repository (the digest itself is
    /// checked against the manifest separately). The default when `signedIdentity` is absent.
    MatchRepoDigestOrExact,
    /// Same repository, any tag.
    MatchRepository,
    /// The signed reference must equal this fixed reference (image identity not used).
    ExactReference(Reference),
    /// The signed reference must be in this fixed repository.
    ExactRepository(Reference),
    /// Rewrite `prefix` of the image reference to `signed_prefix`, then
    /// `MatchRepoDigestOrExact`.
    RemapIdentity {
        /// Prefix of the image's fully expanded name (host, namespace or repository).
        prefix: String,
        /// What replaces it before matching.
        signed_prefix: String,
    },
}

/// Why an identity requirement could not be satisfied; shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The matcher needs the image's docker reference and the transport has none.
    #[error("{0} needs a docker reference for the image, and this transport has none (use exactReference or exactRepository)")]
    NoImageReference(&'static str),
    /// The signature names another image.
    #[error("signature is for {signed}, not for {intended} ({matcher})")]
    Mismatch {
        /// The reference in the signature.
        signed: String,
        /// What the image was expected to be signed as.
        intended: String,
        /// The matcher that refused.
        matcher: &'static str,
    },
}

impl SignedIdentity {
    /// The policy.json name of this matcher.
    pub fn name(&self) -> &'static str {
        match self {
            SignedIdentity::MatchExact => "matchExact",
            SignedIdentity::MatchRepoDigestOrExact => "matchRepoDigestOrExact",
            SignedIdentity::MatchRepository => "matchRepository",
            SignedIdentity::ExactReference(_) => "exactReference",
            SignedIdentity::ExactRepository(_) => "exactRepository",
            SignedIdentity::RemapIdentity { .. } => "remapIdentity",
        }
    }

    /// Checks the `signed` reference of a verified payload against the image's reference.
    pub fn check(
        &self,
        image: Option<&Reference>,
        signed: &Reference,
    ) -> Result<(), IdentityError> {
        let matcher = self.name();
        let need_image = || image.ok_or(IdentityError::NoImageReference(matcher));
        let (ok, intended) = match self {
            SignedIdentity::MatchExact => {
                let i = need_image()?;
                (exact(i, signed), i.to_string())
            }
            SignedIdentity::MatchRepoDigestOrExact => {
                let i = need_image()?;
                (repo_digest_or_exact(i, signed), i.to_string())
            }
            SignedIdentity::MatchRepository => {
                let i = need_image()?;
                (i.name() == signed.name(), i.name())
            }
            SignedIdentity::ExactReference(r) => (exact(r, signed), r.to_string()),
            SignedIdentity::ExactRepository(r) => (r.name() == signed.name(), r.name()),
            SignedIdentity::RemapIdentity {
                prefix,
                signed_prefix,
            } => {
                let i = need_image()?;
                match remap(i, prefix, signed_prefix) {
                    Some(r) => (repo_digest_or_exact(&r, signed), r.to_string()),
                    None => (
                        false,
                        format!("{i} remapped from {prefix} to {signed_prefix}"),
                    ),
                }
            }
        };
        if ok {
            Ok(())
        } else {
            Err(IdentityError::Mismatch {
                signed: signed.to_string(),
                intended,
                matcher,
            })
        }
    }
}

fn is_name_only(r: &Reference) -> bool {
    r.tag().is_none() && r.digest().is_none()
}

/// Exact equality; a name-only reference on either side never matches, since an exact match
/// must pin a tag or digest.
fn exact(intended: &Reference, signed: &Reference) -> bool {
    !is_name_only(intended) && !is_name_only(signed) && intended == signed
}

fn repo_digest_or_exact(intended: &Reference, signed: &Reference) -> bool {
    if intended.tag().is_some() {
        exact(intended, signed)
    } else if intended.digest().is_some() {
        intended.name() == signed.name()
    } else {
        false
    }
}

/// `prefix` matches the image's name exactly or at a `/` boundary, so `example.com/ns` does
/// not capture `example.com/nsx/app`. `None` when the remapped text is no reference.
fn remap(image: &Reference, prefix: &str, signed_prefix: &str) -> Option<Reference> {
    let name = image.name();
    let matches = match name.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    };
    if !matches {
        return Some(image.clone());
    }
    let full = image.to_string();
    // `full` starts with `name`, which starts with `prefix`; `get` keeps that assumption
    // from ever becoming a panic.
    let rewritten = format!("{signed_prefix}{}", full.get(prefix.len()..)?);
    Reference::parse_unnormalised_tag(&rewritten).ok()
}

/// Validates a `remapIdentity` prefix: a `host[:port]`, optionally followed by namespace or
/// repository path components in fully expanded form; never a tag or digest.
pub(crate) fn valid_remap_prefix(s: &str) -> bool {
    let (host, path) = match s.split_once('/') {
        Some((host, path)) => (host, Some(path)),
        None => (s, None),
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    let path_ok = path.is_none_or(|p| {
        p.split('/').all(|c| {
            !c.is_empty()
                && c.chars().all(|ch| {
                    ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-')
                })
        })
    });
    host_ok && path_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        Reference::parse_unnormalised_tag(s).unwrap()
    }
    const DIG: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn match_exact_requires_same_tag() {
        let m = SignedIdentity::MatchExact;
        assert!(m
            .check(Some(&r("busybox:1")), &r("docker.io/library/busybox:1"))
            .is_ok());
        assert!(m.check(Some(&r("busybox:1")), &r("busybox:2")).is_err());
        assert!(m.check(Some(&r("busybox")), &r("busybox")).is_err());
        let pinned = r(&format!("busybox@{DIG}"));
        assert!(m.check(Some(&pinned), &r("busybox:1")).is_err());
    }

    #[test]
    fn repo_digest_or_exact_accepts_any_tag_for_a_digest() {
        let m = SignedIdentity::MatchRepoDigestOrExact;
        let pinned = r(&format!("example.com/app@{DIG}"));
        assert!(m.check(Some(&pinned), &r("example.com/app:v1")).is_ok());
        assert!(m.check(Some(&pinned), &r("example.com/other:v1")).is_err());
        assert!(m
            .check(Some(&r("example.com/app:v1")), &r("example.com/app:v2"))
            .is_err());
        assert!(matches!(
            m.check(None, &r("example.com/app:v1")),
            Err(IdentityError::NoImageReference(_))
        ));
    }

    #[test]
    fn repository_matchers() {
        let m = SignedIdentity::MatchRepository;
        assert!(m
            .check(Some(&r("example.com/app:latest")), &r("example.com/app:v1"))
            .is_ok());
        assert!(m
            .check(Some(&r("example.com/app:latest")), &r("example.com/app"))
            .is_ok());
        let e = SignedIdentity::ExactRepository(r("vendor.example/product/repo"));
        assert!(e.check(None, &r("vendor.example/product/repo:3")).is_ok());
        assert!(e.check(None, &r("vendor.example/product/other:3")).is_err());
        let x = SignedIdentity::ExactReference(r("vendor.example/product/repo:3"));
        assert!(x.check(None, &r("vendor.example/product/repo:3")).is_ok());
        assert!(x.check(None, &r("vendor.example/product/repo:4")).is_err());
    }

    #[test]
    fn remap_identity_rewrites_the_prefix_at_a_boundary() {
        let m = SignedIdentity::RemapIdentity {
            prefix: "private-mirror:5000/vendor-mirror".into(),
            signed_prefix: "vendor.example.com".into(),
        };
        let image = r("private-mirror:5000/vendor-mirror/product-a/image1:latest");
        assert!(m
            .check(
                Some(&image),
                &r("vendor.example.com/product-a/image1:latest")
            )
            .is_ok());
        assert!(m
            .check(
                Some(&image),
                &r("private-mirror:5000/vendor-mirror/product-a/image1:latest")
            )
            .is_err());
        // Not at a component boundary: no remapping, so the unchanged identity must match.
        let other = r("private-mirror:5000/vendor-mirrorx/app:1");
        assert!(m
            .check(Some(&other), &r("private-mirror:5000/vendor-mirrorx/app:1"))
            .is_ok());
        assert!(m
            .check(Some(&other), &r("vendor.example.comx/app:1"))
            .is_err());
    }

    #[test]
    fn remap_prefix_validation() {
        assert!(valid_remap_prefix("example.com:5000"));
        assert!(valid_remap_prefix("docker.io/library"));
        assert!(valid_remap_prefix("docker.io/library/busybox"));
        assert!(!valid_remap_prefix("example.com/app:tag"));
        assert!(!valid_remap_prefix(""));
    }
}
