//! A blob body that resumes itself with `Range` requests when the connection breaks.
//!
//! A layer of hundreds of megabytes outlives many connections on a bad link; starting it
//! over after each break may never finish. The stream counts the bytes it delivered and,
//! when the body breaks or ends short of the blob's size, asks for the rest — up to
//! `--retry-times` resumes, each announced like any retry. It does not verify: the
//! consumer hashes what it reads (skiff_oci::Verifier), so a resumed body that does not
//! fit is still caught.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::Response;

use crate::connect::classify;
use crate::error::{describe, RegistryError};
use crate::retry::{RetryNotice, RetryPolicy};

/// A resume waits at most this long: the connection just worked, so a long backoff
/// would only slow the copy.
const MAX_RESUME_WAIT: Duration = Duration::from_secs(2);

type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, RegistryError>> + Send>>;
type HttpBody = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;
type Opening = Pin<Box<dyn Future<Output = Result<(Response, u64), RegistryError>> + Send>>;

/// Opens the blob at an offset: the response, and how many of its bytes to skip (a
/// server that ignores `Range` answers from the start).
pub(crate) type Opener = Box<dyn Fn(u64) -> Opening + Send + Sync>;

/// A blob body that resumes itself with `Range` requests when the connection breaks.
pub struct BlobStream {
    inner: ByteStream,
}

/// What a resume needs to know about the blob and the transfer so far.
pub(crate) struct Resume {
    /// `registry/repo@digest`, in errors and notices.
    pub what: String,
    /// The blob's size when known: a body that ends before it is resumed too.
    pub size: Option<u64>,
    pub open: Opener,
    pub policy: RetryPolicy,
}

struct State {
    resume: Resume,
    offset: u64,
    skip: u64,
    body: Option<HttpBody>,
    resumed: u32,
    done: bool,
}

impl BlobStream {
    /// A stream over `first` (with `skip` bytes to drop), resuming through `resume.open`.
    pub(crate) fn new(resume: Resume, first: Response, skip: u64) -> BlobStream {
        let state = State {
            resume,
            offset: 0,
            skip,
            body: Some(Box::pin(first.bytes_stream())),
            resumed: 0,
            done: false,
        };
        let inner = futures_util::stream::unfold(state, |mut s| async move {
            let item = s.next_chunk().await?;
            Some((item, s))
        });
        BlobStream {
            inner: Box::pin(inner),
        }
    }
}

impl State {
    async fn next_chunk(&mut self) -> Option<Result<Bytes, RegistryError>> {
        loop {
            if self.done {
                return None;
            }
            let Some(body) = self.body.as_mut() else {
                match (self.resume.open)(self.offset).await {
                    Ok((resp, skip)) => {
                        self.body = Some(Box::pin(resp.bytes_stream()));
                        self.skip = skip;
                        continue;
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            };
            match body.next().await {
                Some(Ok(mut chunk)) => {
                    if self.skip > 0 {
                        let n = usize::try_from(self.skip)
                            .unwrap_or(usize::MAX)
                            .min(chunk.len());
                        chunk = chunk.slice(n..);
                        self.skip -= n as u64;
                        if chunk.is_empty() {
                            continue;
                        }
                    }
                    self.offset = self.offset.saturating_add(chunk.len() as u64);
                    return Some(Ok(chunk));
                }
                Some(Err(e)) => {
                    let kind = classify(&e);
                    let reason = kind
                        .reason()
                        .map(str::to_string)
                        .unwrap_or_else(|| describe(&e));
                    if self.resumed < self.resume.policy.retries() {
                        self.wait_to_resume(reason).await;
                        continue;
                    }
                    self.done = true;
                    return Some(Err(RegistryError::Connect {
                        url: self.resume.what.clone(),
                        kind,
                        message: format!(
                            "transfer broke at byte {} and could not be resumed: {}",
                            self.offset,
                            describe(&e)
                        ),
                    }));
                }
                None => {
                    let short = self.resume.size.is_some_and(|s| self.offset < s);
                    if short && self.resumed < self.resume.policy.retries() {
                        self.wait_to_resume("the body ended early".into()).await;
                        continue;
                    }
                    self.done = true;
                    return None;
                }
            }
        }
    }

    async fn wait_to_resume(&mut self, reason: String) {
        self.resumed += 1;
        self.body = None;
        let delay = self
            .resume
            .policy
            .backoff(self.resumed)
            .min(MAX_RESUME_WAIT);
        self.resume.policy.notify(&RetryNotice {
            what: format!("{} from byte {}", self.resume.what, self.offset),
            attempt: self.resumed + 1,
            of: self.resume.policy.retries().saturating_add(1),
            delay,
            reason,
        });
        tokio::time::sleep(delay).await;
    }
}

impl Stream for BlobStream {
    type Item = Result<Bytes, RegistryError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}
