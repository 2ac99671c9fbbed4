//! Who we are to a registry: the scheme it asked for, and Bearer tokens per scope.
//!
//! The scheme is learned from the first `WWW-Authenticate` challenge and shared by every
//! request of the client; tokens are fetched from the realm the registry names (with our
//! Basic credentials when we have them), cached per scope and renewed shortly before
//! they expire — a long copy outlives the 60 to 300 s most token servers grant.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;
use url::Url;

use crate::challenge::Challenge;
use crate::connect::connect_error;
use crate::credentials::Credentials;
use crate::debug::{self, ExchangeHook};
use crate::error::RegistryError;
use crate::response::{error_for, read_limited};

/// The longest token lifetime believed: `expires_in` comes from the server, and a
/// nonsense value must neither overflow the clock nor pin a token for years.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Tokens are renewed this long before they run out, so one never expires between the
/// check and its use.
const RENEW_EARLY: Duration = Duration::from_secs(5);
/// The largest token response read.
const MAX_TOKEN_RESPONSE: usize = 1 << 20;

/// How this registry wants requests authenticated, learned from its challenges.
#[derive(Debug, Clone)]
enum Scheme {
    Unknown,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

struct Token {
    value: String,
    expires: Instant,
}

/// The authentication state of one client, shared by its clones.
pub(crate) struct Auth {
    registry: String,
    http: reqwest::Client,
    basic: Option<Credentials>,
    registry_token: Option<String>,
    scheme: Mutex<Scheme>,
    tokens: Mutex<HashMap<String, Token>>,
    on_exchange: Option<ExchangeHook>,
}

impl Auth {
    pub(crate) fn new(
        registry: &str,
        http: reqwest::Client,
        basic: Option<Credentials>,
        registry_token: Option<String>,
        on_exchange: Option<ExchangeHook>,
    ) -> Self {
        Auth {
            registry: registry.to_string(),
            http,
            basic,
            registry_token,
            scheme: Mutex::new(Scheme::Unknown),
            tokens: Mutex::new(HashMap::new()),
            on_exchange,
        }
    }

    /// Whether a 401 can be answered by authenticating again: not with a fixed
    /// `--registry-token`, which is all we have.
    pub(crate) fn can_reauthenticate(&self) -> bool {
        self.registry_token.is_none()
    }

    /// The Authorization header for a request in `scope`, fetching a token if needed.
    pub(crate) async fn header(&self, scope: &str) -> Result<Option<String>, RegistryError> {
        if let Some(t) = &self.registry_token {
            return Ok(Some(format!("Bearer {t}")));
        }
        let scheme = self
            .scheme
            .lock()
            .map(|s| s.clone())
            .unwrap_or(Scheme::Unknown);
        match scheme {
            Scheme::Unknown => Ok(None),
            Scheme::Basic => Ok(self.basic.as_ref().map(basic_header)),
            Scheme::Bearer { realm, service } => {
                if let Some(t) = self.cached_token(scope) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let token = self
                    .fetch_token(&realm, service.as_deref(), scope, scope)
                    .await?;
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    fn cached_token(&self, scope: &str) -> Option<String> {
        let tokens = self.tokens.lock().ok()?;
        tokens
            .get(scope)
            .filter(|t| t.expires > Instant::now())
            .map(|t| t.value.clone())
    }

    /// Learns the scheme from a challenge; returns whether retrying can help (a Bearer
    /// token was obtained, or Basic credentials exist).
    pub(crate) async fn authenticate(
        &self,
        ch: Challenge,
        scope: &str,
    ) -> Result<bool, RegistryError> {
        match ch {
            Challenge::Basic => {
                if let Ok(mut s) = self.scheme.lock() {
                    *s = Scheme::Basic;
                }
                Ok(self.basic.is_some())
            }
            Challenge::Bearer {
                realm,
                service,
                scope: wanted,
            } => {
                if let Ok(mut s) = self.scheme.lock() {
                    *s = Scheme::Bearer {
                        realm: realm.clone(),
                        service: service.clone(),
                    };
                }
                if let Ok(mut t) = self.tokens.lock() {
                    t.remove(scope);
                }
                // Ask for what the registry asked for when it said (it may need more
                // than we guessed), filed under our scope key.
                let fetch_scope = wanted.unwrap_or_else(|| scope.to_string());
                let token = self
                    .fetch_token(&realm, service.as_deref(), &fetch_scope, scope)
                    .await?;
                Ok(!token.is_empty())
            }
        }
    }

    /// `GET realm?service=…&scope=…` (with Basic credentials when we have them); the token
    /// is cached under `key` until shortly before it expires.
    ///
    /// One attempt: a token is fetched within an attempt of the request that needs it, and
    /// the retry loop repeating that attempt repeats the fetch too. A loop of its own here
    /// would multiply the retries (and the waits) of a token server that is down.
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        key: &str,
    ) -> Result<String, RegistryError> {
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let auth_err = |message: String| RegistryError::Auth {
            realm: realm.to_string(),
            message,
        };
        let mut url = Url::parse(realm).map_err(|e| auth_err(format!("invalid realm: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for s in scope.split(' ').filter(|s| !s.is_empty()) {
                q.append_pair("scope", s);
            }
        }
        let mut builder = self.http.get(url.clone());
        if let Some(c) = &self.basic {
            builder = builder.header(AUTHORIZATION, basic_header(c));
        }
        let resp = debug::send(&self.http, builder, self.on_exchange.as_ref())
            .await
            .map_err(|e| connect_error(url.as_str(), &e))?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(RegistryError::Unauthorized {
                what: self.registry.clone(),
                message: "the token server refused these credentials".into(),
            });
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            // Typed, so that the retry loop of the request this token is for tries again.
            return Err(error_for(resp, realm).await);
        }
        if !status.is_success() {
            return Err(auth_err(format!("HTTP {status}")));
        }
        let body = read_limited(resp, MAX_TOKEN_RESPONSE, realm).await?;
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| auth_err(format!("invalid token response: {e}")))?;
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| auth_err("no token in the response".into()))?;
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(60)).min(MAX_TOKEN_LIFETIME);
        let usable = lifetime
            .saturating_sub(RENEW_EARLY)
            .max(Duration::from_millis(500));
        let now = Instant::now();
        let expires = now.checked_add(usable).unwrap_or(now);
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(
                key.to_string(),
                Token {
                    value: token.clone(),
                    expires,
                },
            );
        }
        Ok(token)
    }
}

fn basic_header(c: &Credentials) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password))
    )
}
