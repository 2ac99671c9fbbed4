//! A Docker-Hub-like token server for distribution's `auth.token`.
//!
//! Grants `pull` to anyone and `pull,push,delete` to the configured user, and
//! signs RS256 JWTs whose header carries the signing certificate (`x5c`), the
//! form distribution verifies against `rootcertbundle`.

use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde::Serialize;
use tiny_http::{Request, Response};

use crate::tinyserve::{h, header, Background};

/// `service` in the challenge and `aud` in tokens.
pub const SERVICE: &str = "skiff-testbed-registry";
/// `iss` in tokens.
pub const ISSUER: &str = "skiff-testbed-token-server";

/// distribution accepts a token until `exp + 60 s` (and from `nbf - 60 s`):
/// its clock-skew leeway (registry/auth/token, `Leeway`).
pub const DISTRIBUTION_LEEWAY_SECS: u64 = 60;

struct SigningIdentity {
    /// PKCS#1 DER of the RSA private key (what the JWT signer takes).
    key_pkcs1: Vec<u8>,
    cert_der_b64: String,
    cert_pem: String,
}

/// One RSA key and self-signed certificate per test process: RSA key
/// generation is the slow part and sharing it changes nothing for the tests.
fn identity() -> &'static SigningIdentity {
    static ID: OnceLock<SigningIdentity> = OnceLock::new();
    ID.get_or_init(|| {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
            .expect("RSA key generation (aws-lc-rs)");
        let mut params = rcgen::CertificateParams::new(vec!["skiff-testbed-token".to_string()])
            .expect("cert params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "skiff-testbed token signer");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        SigningIdentity {
            key_pkcs1: pkcs8_to_pkcs1(&key.serialize_der()).expect("rcgen writes PKCS#8 RSA keys"),
            cert_der_b64: base64::engine::general_purpose::STANDARD.encode(cert.der()),
            cert_pem: cert.pem(),
        }
    })
}

/// Reads one DER TLV at the start of `d`: (tag, content, rest).
fn der_tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, d) = d.split_first()?;
    let (&l0, mut d) = d.split_first()?;
    let len = if l0 < 0x80 {
        l0 as usize
    } else {
        let n = (l0 & 0x7f) as usize;
        if n == 0 || n > 4 || d.len() < n {
            return None;
        }
        let len = d[..n].iter().fold(0usize, |a, b| (a << 8) | *b as usize);
        d = &d[n..];
        len
    };
    (d.len() >= len).then(|| (tag, &d[..len], &d[len..]))
}

/// PrivateKeyInfo ::= SEQUENCE { version, algorithm, privateKey OCTET STRING }
/// and the OCTET STRING holds the PKCS#1 RSAPrivateKey.
fn pkcs8_to_pkcs1(pkcs8: &[u8]) -> Option<Vec<u8>> {
    let (0x30, seq, _) = der_tlv(pkcs8)? else {
        return None;
    };
    let (0x02, _, rest) = der_tlv(seq)? else {
        return None;
    };
    let (0x30, _, rest) = der_tlv(rest)? else {
        return None;
    };
    let (0x04, key, _) = der_tlv(rest)? else {
        return None;
    };
    Some(key.to_vec())
}

#[derive(Serialize)]
struct Access {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    actions: Vec<String>,
}

#[derive(Serialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    nbf: i64,
    iat: i64,
    jti: String,
    access: Vec<Access>,
}

/// What the token server was asked, for assertions.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub method: String,
    pub scopes: Vec<String>,
    pub authenticated: bool,
    pub status: u16,
}

struct Policy {
    user: String,
    password: String,
    lifetime_secs: u64,
    leeway_secs: u64,
    log: Mutex<Vec<TokenRequest>>,
    count: AtomicUsize,
    jti: AtomicU64,
}

pub struct TokenServer {
    server: Background,
    policy: Arc<Policy>,
}

impl TokenServer {
    /// Starts the server; `lifetime_secs` is how long the registry accepts
    /// its tokens. The JWT `exp` is `iat + lifetime - leeway_secs` so that,
    /// with distribution's leeway, tokens really stop working after
    /// `lifetime_secs` (pass 0 as leeway for an honest `exp`).
    pub fn start(
        user: &str,
        password: &str,
        lifetime_secs: u64,
        leeway_secs: u64,
    ) -> io::Result<TokenServer> {
        let policy = Arc::new(Policy {
            user: user.into(),
            password: password.into(),
            lifetime_secs,
            leeway_secs,
            log: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
            jti: AtomicU64::new(0),
        });
        let p = policy.clone();
        let server = Background::start("skiff-token-server", move |req| handle(&p, req))?;
        Ok(TokenServer { server, policy })
    }

    /// Writes the certificate distribution must trust (`rootcertbundle`).
    pub fn write_root_cert(path: &Path) -> io::Result<()> {
        std::fs::write(path, &identity().cert_pem)
    }

    /// `http://127.0.0.1:PORT/token`
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.server.host())
    }

    pub fn requests(&self) -> Vec<TokenRequest> {
        self.policy
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn request_count(&self) -> usize {
        self.policy.count.load(Ordering::SeqCst)
    }
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

/// `Some(Some(user))` for valid Basic credentials, `Some(None)` for none,
/// `None` for wrong ones.
fn check_basic(policy: &Policy, authz: Option<&str>) -> Option<Option<String>> {
    let Some(a) = authz else { return Some(None) };
    let b64 = a
        .strip_prefix("Basic ")
        .or_else(|| a.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (u, p) = raw.split_once(':')?;
    (u == policy.user && p == policy.password).then(|| Some(u.to_string()))
}

fn json_response(status: u16, v: serde_json::Value) -> Response<io::Cursor<Vec<u8>>> {
    Response::from_data(serde_json::to_vec(&v).expect("json"))
        .with_status_code(status)
        .with_header(h("Content-Type", "application/json"))
}

fn handle(policy: &Policy, mut req: Request) {
    policy.count.fetch_add(1, Ordering::SeqCst);
    let method = req.method().as_str().to_string();
    let query = req
        .url()
        .split_once('?')
        .map(|(_, q)| q.to_string())
        .unwrap_or_default();
    let mut params = form_pairs(&query);
    let mut authz = header(&req, "authorization");
    if req.method() == &tiny_http::Method::Post {
        // OAuth2 password grant, as docker login uses when offered.
        let mut body = String::new();
        let _ = req.as_reader().take(1 << 20).read_to_string(&mut body);
        let form = form_pairs(&body);
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if get("grant_type").as_deref() == Some("password") {
            let creds = format!(
                "{}:{}",
                get("username").unwrap_or_default(),
                get("password").unwrap_or_default()
            );
            authz = Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(creds)
            ));
        }
        params.extend(form);
    }
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect();
    let user = check_basic(policy, authz.as_deref());
    let (status, response) = match &user {
        None => (
            401,
            json_response(
                401,
                serde_json::json!({"details": "incorrect username or password"}),
            )
            .with_header(h("WWW-Authenticate", "Basic realm=\"skiff-testbed\"")),
        ),
        Some(user) => (
            200,
            json_response(200, issue(policy, user.as_deref(), &scopes)),
        ),
    };
    policy
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(TokenRequest {
            method,
            scopes,
            authenticated: matches!(user, Some(Some(_))),
            status,
        });
    let _ = req.respond(response);
}

fn grant(user: Option<&str>, scope: &str) -> Option<Access> {
    // repository:NAME:ACTIONS, where NAME may contain ':' only via a port in
    // the registry host part, which repository names here never have.
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let allowed: &[&str] = match (kind, user) {
        ("repository", None) => &["pull"],
        ("repository", Some(_)) => &["pull", "push", "delete"],
        ("registry", Some(_)) => &["*"],
        _ => &[],
    };
    let actions = actions
        .split(',')
        .filter(|a| allowed.contains(a) || (user.is_some() && *a == "*" && kind == "repository"))
        .map(str::to_string)
        .collect();
    Some(Access {
        kind: kind.into(),
        name: name.into(),
        actions,
    })
}

fn issue(policy: &Policy, user: Option<&str>, scopes: &[String]) -> serde_json::Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let claims = Claims {
        iss: ISSUER.into(),
        sub: user.unwrap_or("").into(),
        aud: SERVICE.into(),
        exp: now as i64 + policy.lifetime_secs as i64 - policy.leeway_secs as i64,
        nbf: now as i64 - 1,
        iat: now as i64,
        jti: format!(
            "skiff-{}-{}",
            std::process::id(),
            policy.jti.fetch_add(1, Ordering::SeqCst)
        ),
        access: scopes.iter().filter_map(|s| grant(user, s)).collect(),
    };
    let id = identity();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5c = Some(vec![id.cert_der_b64.clone()]);
    let key = jsonwebtoken::EncodingKey::from_rsa_der(&id.key_pkcs1);
    let token = jsonwebtoken::encode(&header, &claims, &key).expect("RS256 signing");
    serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": policy.lifetime_secs,
        "issued_at": rfc3339(now),
    })
}

/// UTC RFC 3339 timestamp without a date library (Howard Hinnant's
/// civil-from-days).
pub(crate) fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn grants() {
        let a = grant(None, "repository:a/b:pull,push").unwrap();
        assert_eq!(a.actions, vec!["pull"]);
        let a = grant(Some("u"), "repository:a/b:pull,push").unwrap();
        assert_eq!(a.actions, vec!["pull", "push"]);
        assert!(grant(None, "registry:catalog:*")
            .unwrap()
            .actions
            .is_empty());
    }

    #[test]
    fn decode() {
        assert_eq!(
            url_decode("repository%3Aa%2Fb%3Apull%2Cpush"),
            "repository:a/b:pull,push"
        );
        assert_eq!(url_decode("a+b%"), "a b%");
    }
}
