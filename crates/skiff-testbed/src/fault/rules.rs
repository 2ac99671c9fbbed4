//! Which armed fault strikes a request, and what it does to it: answer instead of
//! the registry (before the request goes upstream), change the request on its way, or
//! tamper with the response body on its way back.

use std::time::Duration;

use super::Fault;
use crate::httpwire::{Framing, Pace, Tamper};

/// Which requests a [`Fault::Rule`] strikes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Only requests of this method (`None`: any method).
    pub method: Option<String>,
    /// Only requests whose path and query contain this.
    pub path_contains: String,
    /// Strikes the first `times` matching requests, then lets everything through.
    pub times: usize,
}

impl Target {
    /// The first `times` requests of `method` whose path+query contains `path_contains`.
    pub fn new(method: Option<&str>, path_contains: &str, times: usize) -> Target {
        Target {
            method: method.map(str::to_string),
            path_contains: path_contains.to_string(),
            times,
        }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method) && path.contains(&self.path_contains)
    }
}

/// A byte position in a response body, relative to its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// Before the first byte.
    Start,
    /// Half-way.
    Middle,
    /// Before the last byte.
    End,
}

impl At {
    /// The offset in a body of `len` bytes.
    pub fn offset(self, len: u64) -> u64 {
        match self {
            At::Start => 0,
            At::Middle => len / 2,
            At::End => len.saturating_sub(1),
        }
    }
}

/// What a [`Fault::Rule`] does to a request it strikes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// No answer: the connection is closed after the request head (a reset, to a
    /// client still sending a body).
    Reset,
    /// Answers `code` (429, 500, 503, ...) with a Distribution error body and the
    /// `Retry-After` value given (seconds or an HTTP date), without asking the registry.
    Status {
        code: u16,
        retry_after: Option<String>,
    },
    /// Answers `307` to `location`, or to the request's own path (a redirect loop).
    Redirect { location: Option<String> },
    /// Forwards the request without its Authorization header, so the registry answers
    /// `401` with its challenge — what a client whose token expired gets. Strikes only
    /// a request whose Authorization was already used before: a token that expired
    /// since, not one rejected as soon as it was issued.
    ExpireToken,
    /// Sends the response head, stalls, then trickles the body at `bytes_per_sec`
    /// and closes the connection once `total` has passed since the head.
    StallTrickle {
        stall: Duration,
        bytes_per_sec: u64,
        total: Duration,
    },
    /// Closes the connection at `at` of the body. With `content_length` the header
    /// still announces the whole body; without, the body is sent until EOF, which
    /// then looks like a complete, shorter body.
    Truncate { at: At, content_length: bool },
    /// Sends `extra` bytes more than the body, then closes. With `content_length` the
    /// header announces the true length (the rest is trailing garbage); without, the
    /// body runs until EOF and is longer than the descriptor says.
    Overlong { extra: u64, content_length: bool },
    /// Flips the byte at `at`: same length, wrong digest.
    WrongBytes { at: At },
}

impl Action {
    /// A short name for the request log.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Reset => "reset",
            Action::Status { code: 429, .. } => "429",
            Action::Status { code: 500, .. } => "500",
            Action::Status { .. } => "503",
            Action::Redirect { .. } => "redirect",
            Action::ExpireToken => "expire-token",
            Action::StallTrickle { .. } => "trickle",
            Action::Truncate { .. } => "truncate",
            Action::Overlong { .. } => "overlong",
            Action::WrongBytes { .. } => "wrong-bytes",
        }
    }

    fn tampers_body(&self) -> bool {
        matches!(
            self,
            Action::StallTrickle { .. }
                | Action::Truncate { .. }
                | Action::Overlong { .. }
                | Action::WrongBytes { .. }
        )
    }
}

pub(super) struct ArmedFault {
    pub fault: Fault,
    pub fired: usize,
}

/// A fault that answers instead of the registry.
pub(super) enum Refusal {
    /// Close the connection without an answer.
    Close,
    Status {
        code: u16,
        retry_after: Option<String>,
    },
    Redirect {
        location: String,
    },
}

impl Refusal {
    pub fn name(&self) -> &'static str {
        match self {
            Refusal::Close => "closed",
            Refusal::Status { code: 429, .. } => "429",
            Refusal::Status { code: 413, .. } => "413",
            Refusal::Status { code: 500, .. } => "500",
            Refusal::Status { .. } => "503",
            Refusal::Redirect { .. } => "redirect",
        }
    }
}

fn is_blob_get(method: &str, path: &str, digest: &str) -> bool {
    method == "GET"
        && path
            .split('?')
            .next()
            .unwrap_or("")
            .ends_with(&format!("/blobs/{digest}"))
}

/// The first armed fault that answers `method path` itself, counted as fired.
pub(super) fn refusal(
    faults: &mut [ArmedFault],
    method: &str,
    path: &str,
    body: &Framing,
) -> Option<Refusal> {
    for f in faults.iter_mut() {
        let r = match &f.fault {
            Fault::BodyLimit { max_bytes } => match body {
                Framing::Length(n) if n <= max_bytes => continue,
                Framing::None => continue,
                _ => Refusal::Status {
                    code: 413,
                    retry_after: None,
                },
            },
            Fault::TooManyRequests {
                path_contains,
                times,
                retry_after_secs,
            } if path.contains(path_contains.as_str()) && f.fired < *times => Refusal::Status {
                code: 429,
                retry_after: Some(retry_after_secs.to_string()),
            },
            Fault::TooManyRequestsRaw {
                path_contains,
                times,
                retry_after,
            } if path.contains(path_contains.as_str()) && f.fired < *times => Refusal::Status {
                code: 429,
                retry_after: Some(retry_after.clone()),
            },
            Fault::CloseOnRequest {
                method: m,
                path_contains,
                times,
            } if m == method && path.contains(path_contains.as_str()) && f.fired < *times => {
                Refusal::Close
            }
            Fault::ServerError {
                path_contains,
                times,
            } if path.contains(path_contains.as_str()) && f.fired < *times => Refusal::Status {
                code: 503,
                retry_after: None,
            },
            Fault::Rule { target, action }
                if target.matches(method, path) && f.fired < target.times =>
            {
                match action {
                    Action::Reset => Refusal::Close,
                    Action::Status { code, retry_after } => Refusal::Status {
                        code: *code,
                        retry_after: retry_after.clone(),
                    },
                    Action::Redirect { location } => Refusal::Redirect {
                        location: location.clone().unwrap_or_else(|| path.to_string()),
                    },
                    _ => continue,
                }
            }
            _ => continue,
        };
        f.fired += 1;
        return Some(r);
    }
    None
}

/// Whether an armed [`Action::ExpireToken`] strikes this request (counted as fired):
/// `reused` says whether it carries an Authorization already used before.
pub(super) fn expires_token(
    faults: &mut [ArmedFault],
    method: &str,
    path: &str,
    reused: bool,
) -> bool {
    for f in faults.iter_mut() {
        if let Fault::Rule {
            target,
            action: Action::ExpireToken,
        } = &f.fault
        {
            if reused && target.matches(method, path) && f.fired < target.times {
                f.fired += 1;
                return true;
            }
        }
    }
    false
}

/// What to do to a response body, decided once its status and length are known.
#[derive(Debug, Default)]
pub(super) struct BodyPlan {
    pub tamper: Tamper,
    /// Send the body without Content-Length (until EOF).
    pub drop_length: bool,
    /// Close the connection after this response.
    pub close: bool,
    pub name: Option<&'static str>,
}

/// The tampering armed faults want for a response of `status` whose body is `len`
/// bytes long (if known), counted as fired.
pub(super) fn tampering(
    faults: &mut [ArmedFault],
    method: &str,
    path: &str,
    status: u16,
    len: Option<u64>,
) -> BodyPlan {
    let mut plan = BodyPlan::default();
    let body = method == "GET" && matches!(status, 200 | 206);
    for f in faults.iter_mut() {
        match &f.fault {
            Fault::CorruptBlob { digest } if body && is_blob_get(method, path, digest) => {
                plan.tamper.flip = true;
                plan.name = Some("corrupt");
            }
            Fault::CorruptBody { path_contains }
                if method == "GET" && status == 200 && path.contains(path_contains.as_str()) =>
            {
                plan.tamper.flip = true;
                plan.name = Some("corrupt");
            }
            Fault::CutBlobOnce {
                digest,
                after_bytes,
            } if is_blob_get(method, path, digest) && f.fired == 0 => {
                plan.tamper.cut_after = Some(*after_bytes);
                plan.close = true;
                plan.name = Some("cut");
            }
            Fault::Rule { target, action }
                if body
                    && action.tampers_body()
                    && target.matches(method, path)
                    && f.fired < target.times =>
            {
                let len = len.unwrap_or(64 * 1024);
                match action {
                    Action::StallTrickle {
                        stall,
                        bytes_per_sec,
                        total,
                    } => {
                        plan.tamper.pace = Some(Pace {
                            stall: *stall,
                            bytes_per_sec: *bytes_per_sec,
                            total: *total,
                        });
                    }
                    Action::Truncate { at, content_length } => {
                        plan.tamper.cut_after = Some(at.offset(len));
                        plan.drop_length = !content_length;
                    }
                    Action::Overlong {
                        extra,
                        content_length,
                    } => {
                        plan.tamper.extra = *extra;
                        plan.drop_length = !content_length;
                    }
                    Action::WrongBytes { at } => plan.tamper.flip_at = Some(at.offset(len)),
                    _ => continue,
                }
                plan.close = true;
                plan.name = Some(action.name());
            }
            _ => continue,
        }
        f.fired += 1;
    }
    plan
}

pub(super) fn pages_tag_lists(faults: &[ArmedFault]) -> bool {
    faults.iter().any(|f| f.fault == Fault::PageTagLists)
}
