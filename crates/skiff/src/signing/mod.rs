//! Signatures on the command line: the standalone signing commands' helpers, and signing
//! and carrying signatures while copy and sync write an image.
//!
//! * [`passphrase`] reads a passphrase file the way skopeo does (first line only).
//! * [`Signer`] turns the `--sign-*` flags into signatures of a manifest digest.
//! * [`carried_signatures`] finds the source's signatures a copy carries ([`Carried`]):
//!   the top manifest's and, with `--all`, each per-platform image's.
//! * [`SignedDestination`] wraps an opened destination: once the pipeline's plan names the
//!   manifests that will be written, it checks that signatures carried from the source
//!   still match them, signs them, and stores all of them where the destination keeps
//!   signatures (`dir:` files, or for a registry the lookaside registries.d names and
//!   sigstore attachments).
//!   skiff-transport never learns about trust; it only offers `put_signatures`.

mod attachments;
mod carried;
mod destination;
pub mod lookaside;
pub mod passphrase;
mod signer;

pub use attachments::read as read_attachments;
pub use carried::{carried_signatures, Carried};
pub use destination::{SignatureCopyError, SignedDestination};
pub use signer::Signer;

/// A Unix time as RFC 3339 in UTC (`2006-01-02T15:04:05Z`), as Go prints a `time.Time`
/// on a host whose zone is UTC.
pub fn rfc3339_utc(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Seconds since the epoch now (0 on a clock set before 1970).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_times_as_go_does_in_utc() {
        assert_eq!(super::rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339_utc(1_796_457_592), "2026-12-05T07:59:52Z");
        assert_eq!(super::rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}
