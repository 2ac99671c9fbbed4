//! When to try again, how long to wait, and the one loop that does it.
//!
//! Every request skiff sends to a registry or its token server goes through
//! [`RetryPolicy::run`]: plain requests, blob uploads, and token fetches as part of the
//! attempt that needs the token — so the rules below hold everywhere, retries never
//! nest, and the user hears about every wait (see [`RetryNotice`]).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::RETRY_AFTER;
use reqwest::{Response, StatusCode};

use crate::error::RegistryError;

/// The longest wait skiff accepts from a `Retry-After` header, so a hostile or confused
/// server cannot park a copy for hours. A longer request is cut to this, and the error
/// after the last retry says what the registry asked for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// One wait before a retry, told to the user so a slow registry does not look like a hang.
#[derive(Debug, Clone)]
pub struct RetryNotice {
    /// The request, e.g. `GET https://registry.example/v2/app/manifests/v1`.
    pub what: String,
    /// The attempt about to be made (2 for the first retry).
    pub attempt: u32,
    /// How many attempts there will be at most.
    pub of: u32,
    /// How long skiff waits before it.
    pub delay: Duration,
    /// Why the previous attempt failed, e.g. `connection refused` or `HTTP 503`.
    pub reason: String,
}

impl fmt::Display for RetryNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "retrying {} in {} (attempt {} of {}): {}",
            self.what,
            human(self.delay),
            self.attempt,
            self.of,
            self.reason
        )
    }
}

/// `2s`, `1.5s`, `250ms`.
fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Called before every wait; the binary prints it (unless `--quiet`).
#[derive(Clone)]
pub struct RetryHook(Arc<dyn Fn(&RetryNotice) + Send + Sync>);

impl RetryHook {
    /// A hook calling `f` with each notice.
    pub fn new(f: impl Fn(&RetryNotice) + Send + Sync + 'static) -> Self {
        RetryHook(Arc::new(f))
    }
}

impl fmt::Debug for RetryHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RetryHook")
    }
}

/// How often and how long to retry, from `--retry-times` / `--retry-delay`.
#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy {
    retries: u32,
    fixed: Option<Duration>,
    hook: Option<RetryHook>,
}

impl RetryPolicy {
    pub(crate) fn new(retries: u32, fixed: Option<Duration>, hook: Option<RetryHook>) -> Self {
        RetryPolicy {
            retries,
            fixed,
            hook,
        }
    }

    /// How many times a failure may be retried.
    pub(crate) fn retries(&self) -> u32 {
        self.retries
    }

    /// The wait before attempt `attempt + 1`.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        backoff(attempt, self.fixed)
    }

    /// Tells the hook (if any) about a wait.
    pub(crate) fn notify(&self, notice: &RetryNotice) {
        if let Some(RetryHook(f)) = &self.hook {
            f(notice);
        }
    }

    /// Runs attempts until one gives an answer worth returning: a response that is not
    /// 429 or 5xx, an error that repeating cannot mend, or the last allowed attempt.
    ///
    /// `attempt` makes the next attempt, or `None` when it cannot be made again (an upload
    /// whose body can be read only once): then the last outcome is returned at once,
    /// without a pointless wait. A 429 that outlasts the retries becomes
    /// [`RegistryError::TooManyRequests`], carrying the registry's `Retry-After`.
    ///
    /// `label` names the request in notices (`GET https://…`), `what` in errors
    /// (`registry/repo:tag`).
    pub(crate) async fn run<F, Fut>(
        &self,
        label: &str,
        what: &str,
        mut attempt: F,
    ) -> Result<Response, RegistryError>
    where
        F: FnMut() -> Option<Fut>,
        Fut: Future<Output = Result<Response, RegistryError>>,
    {
        let mut next = attempt();
        let mut made = 0u32;
        loop {
            let Some(fut) = next.take() else {
                return Err(RegistryError::Setup(format!(
                    "{label}: the request cannot be sent (its body was already consumed)"
                )));
            };
            made += 1;
            let outcome = fut.await;
            let Some(failure) = Failure::of(&outcome) else {
                return outcome;
            };
            if made > self.retries {
                return finish(outcome, what, made - 1, failure.asked);
            }
            next = attempt();
            if next.is_none() {
                return finish(outcome, what, made - 1, failure.asked);
            }
            let delay = failure
                .asked
                .map(|a| a.min(MAX_RETRY_AFTER))
                .unwrap_or_else(|| self.backoff(made));
            self.notify(&RetryNotice {
                what: label.to_string(),
                attempt: made + 1,
                of: self.retries.saturating_add(1),
                delay,
                reason: failure.reason,
            });
            tokio::time::sleep(delay).await;
        }
    }
}

/// Why an attempt is worth repeating, and the wait the registry asked for.
struct Failure {
    reason: String,
    asked: Option<Duration>,
}

impl Failure {
    fn of(outcome: &Result<Response, RegistryError>) -> Option<Failure> {
        match outcome {
            Ok(resp) => {
                let status = resp.status();
                if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
                    return None;
                }
                let asked = resp
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| retry_after(v, SystemTime::now()));
                Some(Failure {
                    reason: format!("HTTP {status}"),
                    asked,
                })
            }
            // A token server's refusal, from within the attempt.
            Err(RegistryError::TooManyRequests { retry_after, .. }) => Some(Failure {
                reason: "HTTP 429 Too Many Requests".into(),
                asked: *retry_after,
            }),
            Err(RegistryError::Http { status, .. }) if *status >= 500 => Some(Failure {
                reason: format!("HTTP {status}"),
                asked: None,
            }),
            Err(RegistryError::Connect { kind, message, .. }) if kind.retryable() => {
                Some(Failure {
                    reason: kind
                        .reason()
                        .map(str::to_string)
                        .unwrap_or_else(|| message.clone()),
                    asked: None,
                })
            }
            Err(_) => None,
        }
    }
}

/// The outcome of the last attempt, with 429 made a typed error.
fn finish(
    outcome: Result<Response, RegistryError>,
    what: &str,
    retries: u32,
    asked: Option<Duration>,
) -> Result<Response, RegistryError> {
    match outcome {
        Ok(resp) if resp.status() == StatusCode::TOO_MANY_REQUESTS => {
            Err(RegistryError::TooManyRequests {
                what: what.to_string(),
                retries,
                retry_after: asked,
            })
        }
        Err(RegistryError::TooManyRequests {
            what, retry_after, ..
        }) => Err(RegistryError::TooManyRequests {
            what,
            retries,
            retry_after,
        }),
        other => other,
    }
}

/// Exponential backoff from 1 s, capped at 30 s; a fixed `--retry-delay` replaces it.
pub fn backoff(attempt: u32, fixed: Option<Duration>) -> Duration {
    if let Some(d) = fixed {
        return d;
    }
    let secs = 1u64 << attempt.saturating_sub(1).min(5);
    Duration::from_secs(secs.min(30))
}

/// Parses `Retry-After`: delta seconds, or an HTTP date (RFC 9110 IMF-fixdate). The wait
/// is returned as asked (a date in the past is no wait); [`RetryPolicy::run`] caps it.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(v)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let now = i64::try_from(now).ok()?;
    let wait = at.checked_sub(now)?;
    Some(Duration::from_secs(u64::try_from(wait).unwrap_or(0)))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` as seconds since 1970 (negative before it). Every
/// field comes from the server, so every step is checked: nonsense is `None`, never a
/// panic or a wrapped number.
fn parse_http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: i64 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as i64
        + 1;
    let year: i64 = year.parse().ok().filter(|y| (0..=9999).contains(y))?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h @ 0..=23, m @ 0..=59, sec @ 0..=60] = hms.as_slice() else {
        return None;
    };
    // Days from the civil date (Howard Hinnant's algorithm); the ranges checked above keep
    // every intermediate far from overflow, and signed arithmetic handles dates before 1970.
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_770);
        assert_eq!(retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry_after("86400", now), Some(Duration::from_secs(86_400)));
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn hostile_retry_after_values_never_panic() {
        let now = SystemTime::now();
        for v in [
            "Thu, 01 Jan 1900 00:00:00 GMT",
            "Mon, 01 Jan 0000 00:00:00 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
        ] {
            assert_eq!(retry_after(v, now), Some(Duration::ZERO), "{v}");
        }
        for v in [
            "Fri, 31 Dec 99999999999 23:59:59 GMT",
            "Fri, 99 Dec 2030 23:59:59 GMT",
            "Fri, 01 Dec 2030 99:00:00 GMT",
            "Fri, 01 Dec 2030 -1:00:00 GMT",
            "18446744073709551616",
            "-5",
        ] {
            assert_eq!(retry_after(v, now), None, "{v}");
        }
        assert_eq!(
            retry_after("Fri, 31 Dec 9999 23:59:59 GMT", UNIX_EPOCH).map(|d| d.as_secs()),
            Some(253_402_300_799)
        );
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(1, None), Duration::from_secs(1));
        assert_eq!(backoff(3, None), Duration::from_secs(4));
        assert_eq!(backoff(20, None), Duration::from_secs(30));
        assert_eq!(
            backoff(5, Some(Duration::from_millis(10))),
            Duration::from_millis(10)
        );
    }

    #[test]
    fn notices_read_as_a_sentence() {
        let n = RetryNotice {
            what: "GET https://r.example/v2/".into(),
            attempt: 2,
            of: 4,
            delay: Duration::from_secs(2),
            reason: "connection refused".into(),
        };
        assert_eq!(
            n.to_string(),
            "retrying GET https://r.example/v2/ in 2s (attempt 2 of 4): connection refused"
        );
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
    }
}
