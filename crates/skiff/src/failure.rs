//! Turning library errors into what a person reads and the exit status scripts test.
//!
//! A hint is chosen from the typed error (its variant, a connection failure's
//! [`ConnectKind`]), never from the message text: every connection failure mentions
//! "https", and a hint picked by substring told users to turn TLS off during a DNS outage.
//! The hint names the flag of the side that failed (`--src-…`, `--dest-…`, or the plain
//! flag), so the failing command keeps the typed error until it is reported and each
//! command says which registry flags it has ([`Sides`]).

use std::process::ExitCode;

use skiff_registry::{ConnectKind, RegistryError};
use skiff_transport::{ImageName, TransportError};

use crate::cli::program_name;
use crate::output::stderr_line;
use crate::signing::SignatureCopyError;

/// A failed command: the message, its causes, an optional hint, and the exit status.
#[derive(Debug)]
pub struct Failure {
    message: String,
    causes: Vec<String>,
    hint: Option<String>,
    code: u8,
    /// The library error the message came from, kept for choosing the hint.
    typed: Option<Box<TransportError>>,
    /// Which registry flags the command has, for naming them in the hint.
    sides: Sides,
}

impl Failure {
    /// A generic failure (exit 1).
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            causes: Vec::new(),
            hint: None,
            code: 1,
            typed: None,
            sides: Sides::plain(),
        }
    }

    /// Adds a hint the user can act on (replacing one chosen from the error).
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Says which registry flags the failed command has, so that the hint names them.
    pub fn on(mut self, sides: &Sides) -> Self {
        self.sides = sides.clone();
        self
    }

    /// Ctrl-C: the destination was dropped uncommitted, so nothing was left behind.
    pub fn interrupted() -> Self {
        Failure {
            code: 130,
            ..Failure::new("interrupted; nothing was written")
        }
    }

    /// SIGTERM: as [`interrupted`](Self::interrupted), with the shell's status for it.
    pub fn terminated() -> Self {
        Failure {
            code: 143,
            ..Failure::new("terminated; nothing was written")
        }
    }

    /// The lines a person reads: the message, each cause on its own line, the hint.
    pub fn lines(&self) -> Vec<String> {
        let program = program_name();
        let mut lines = vec![format!("{program}: {}", self.message)];
        lines.extend(self.causes.iter().map(|c| format!("  caused by: {c}")));
        let hint = self
            .hint
            .clone()
            .or_else(|| self.typed.as_deref().and_then(|e| hint(e, &self.sides)));
        lines.extend(hint.map(|h| format!("  hint: {h}")));
        lines
    }

    /// Prints the message (and hint) to stderr and returns the exit status.
    pub fn report(self) -> ExitCode {
        for line in self.lines() {
            stderr_line(&line);
        }
        ExitCode::from(self.code)
    }
}

impl From<TransportError> for Failure {
    fn from(e: TransportError) -> Self {
        let message = e.to_string();
        let causes = causes(&e, &message);
        Failure {
            code: if e.is_not_found() { 2 } else { 1 },
            causes,
            typed: Some(Box::new(e)),
            ..Failure::new(message)
        }
    }
}

impl From<skiff_oci::Error> for Failure {
    fn from(e: skiff_oci::Error) -> Self {
        Failure::from(TransportError::from(e))
    }
}

impl From<RegistryError> for Failure {
    fn from(e: RegistryError) -> Self {
        Failure::from(TransportError::from(e))
    }
}

/// The error's cause chain, from its typed `source()` links, without the causes its own
/// message already spells out (`context: cause`).
fn causes(e: &(dyn std::error::Error + 'static), message: &str) -> Vec<String> {
    let mut said = message.to_string();
    let mut out = Vec::new();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !said.ends_with(&text) {
            said = text.clone();
            out.push(text);
        }
        next = cause.source();
    }
    out
}

/// The registries a command talks to, each with the prefix of its flags (`src-`,
/// `dest-`, or none), so that a hint names the flag that changes the failing side.
#[derive(Debug, Clone)]
pub struct Sides(Vec<Side>);

#[derive(Debug, Clone)]
struct Side {
    /// The registry host of this side, when the image names one.
    host: Option<String>,
    prefix: &'static str,
}

impl Sides {
    /// Commands with unprefixed flags (`--tls-verify`, `--creds`): inspect, list-tags,
    /// delete, login.
    pub fn plain() -> Sides {
        Sides(vec![Side {
            host: None,
            prefix: "",
        }])
    }

    /// No registry yet; add each side with [`Sides::side`].
    pub fn none() -> Sides {
        Sides(Vec::new())
    }

    /// Adds a side whose flags start with `--{prefix}` if `image` is a registry image.
    pub fn side(mut self, image: &str, prefix: &'static str) -> Sides {
        if let Ok(ImageName::Docker { reference, .. }) = image.parse::<ImageName>() {
            self.0.push(Side {
                host: Some(reference.registry().to_string()),
                prefix,
            });
        }
        self
    }

    /// `--{prefix}{name}` for the sides that can have failed: those whose registry is the
    /// one the error names, or every side when that cannot be told.
    fn flag(&self, error: &RegistryError, name: &str) -> String {
        let host = registry_host(error);
        let matching: Vec<&Side> = self
            .0
            .iter()
            .filter(|s| host.is_some() && s.host.as_deref() == host)
            .collect();
        let sides: Vec<&Side> = match (matching.len(), self.0.is_empty()) {
            (0, true) => return format!("--{name}"),
            (0, false) => self.0.iter().collect(),
            _ => matching,
        };
        let mut prefixes: Vec<&str> = sides.iter().map(|s| s.prefix).collect();
        prefixes.dedup();
        prefixes
            .iter()
            .map(|p| format!("--{p}{name}"))
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// The registry (`host[:port]`) a registry error is about, from its typed fields.
fn registry_host(e: &RegistryError) -> Option<&str> {
    let what = match e {
        RegistryError::Connect { url, .. } => url.split_once("://").map_or(url.as_str(), |u| u.1),
        RegistryError::NotFound { what, .. }
        | RegistryError::Unauthorized { what, .. }
        | RegistryError::Denied { what, .. }
        | RegistryError::TooManyRequests { what, .. }
        | RegistryError::Http { what, .. }
        | RegistryError::InvalidResponse { what, .. }
        | RegistryError::DigestMismatch { what, .. } => what.as_str(),
        RegistryError::Auth { .. } | RegistryError::Setup(_) => return None,
    };
    what.split('/').next().filter(|h| !h.is_empty())
}

/// The hint for a typed error, naming the flags of `sides`.
fn hint(e: &TransportError, sides: &Sides) -> Option<String> {
    let program = program_name();
    match e {
        TransportError::Registry(r) => registry_hint(r, sides),
        TransportError::Oci(skiff_oci::Error::NoMatchingPlatform { available, .. }) => {
            let have = if available.is_empty() {
                "the manifest list names no platforms".to_string()
            } else {
                let list: Vec<String> = available.iter().map(|p| p.to_string()).collect();
                format!("the image has {}", list.join(", "))
            };
            Some(format!(
                "{have}; choose one with --override-os OS, --override-arch ARCH and --override-variant VARIANT"
            ))
        }
        TransportError::NotFound { .. } if e.is_local_not_found() => {
            Some("check the path and, if given, the image's name or tag in it".into())
        }
        TransportError::InvalidName(name, _) => {
            // A name that reads as a registry reference already gets its `docker://…`
            // spelling in the message (skiff-transport's name parser says it).
            if format!("docker://{name}").parse::<ImageName>().is_ok() {
                None
            } else {
                Some("name the transport: docker://HOST/REPOSITORY:TAG for a registry, or oci:DIR, oci-archive:FILE, dir:DIR, docker-archive:FILE".into())
            }
        }
        TransportError::Refused(e) => Some(match e.downcast_ref::<SignatureCopyError>() {
            Some(e) => e.hint().into(),
            None => "the signature policy decides which images may be used: check it and the image's signatures (--policy FILE, --registries.d DIR)".into(),
        }),
        TransportError::Internal(_) => Some(format!(
            "this is a bug in {program}, not a problem of the image: please report it with the command line"
        )),
        _ => None,
    }
}

fn registry_hint(e: &RegistryError, sides: &Sides) -> Option<String> {
    let program = program_name();
    let flag = |name: &str| sides.flag(e, name);
    Some(match e {
        RegistryError::Unauthorized { .. } => format!(
            "log in with `{program} login REGISTRY`, or pass {} USER:PASSWORD",
            flag("creds")
        ),
        RegistryError::Denied { .. } => format!(
            "check the repository name; if it is right, log in as a user allowed to use it (`{program} login REGISTRY` or {} USER:PASSWORD)",
            flag("creds")
        ),
        RegistryError::TooManyRequests { retry_after, .. } => format!(
            "the registry limits how often it may be asked: wait{} and try again, retry longer with --retry-times N and --retry-delay DURATION, or log in (`{program} login REGISTRY`) for a higher limit",
            retry_after.map_or(String::new(), |d| format!(
                " (it asked for {}s)",
                d.as_secs()
            ))
        ),
        RegistryError::NotFound { what, code, .. } if code != "BLOB_UNKNOWN" => {
            let repository = repository_of(what);
            format!(
                "check the name and tag; `{program} list-tags docker://{repository}` lists the tags"
            )
        }
        RegistryError::Connect { kind, .. } => match kind {
            ConnectKind::PlainHttp => format!(
                "the registry speaks plain HTTP, not HTTPS; if you trust the network to it, allow that with {}",
                flag("tls-verify=false")
            ),
            ConnectKind::Certificate => format!(
                "trust the registry's CA with {} DIR holding its ca.crt (by default /etc/containers/certs.d/HOST:PORT/); only on a network you trust, skip verification with {}",
                flag("cert-dir"),
                flag("tls-verify=false")
            ),
            ConnectKind::Dns => {
                "the registry's host name does not resolve: check its spelling and your network (DNS)".into()
            }
            ConnectKind::Refused => {
                "nothing accepts connections there: check the registry's host and port, and that it is running".into()
            }
            ConnectKind::Timeout => {
                "the registry did not answer in time: check its address and your network".into()
            }
            ConnectKind::Broken => {
                "the connection broke off: check your network and try again (--retry-times N retries more)".into()
            }
            ConnectKind::Other => return None,
        },
        _ => return None,
    })
}

/// `host/repo` of `host/repo:tag` or `host/repo@digest`, for a list-tags suggestion.
fn repository_of(what: &str) -> &str {
    let without_digest = what.split_once('@').map_or(what, |w| w.0);
    match without_digest.rfind(':') {
        Some(i) if !without_digest[i..].contains('/') => &without_digest[..i],
        _ => without_digest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(kind: ConnectKind) -> TransportError {
        TransportError::Registry(RegistryError::Connect {
            url: "https://reg.example:5000/v2/".into(),
            kind,
            message: "error sending request for url (https://reg.example:5000/v2/)".into(),
        })
    }

    fn hint_of(e: TransportError, sides: &Sides) -> String {
        hint(&e, sides).unwrap_or_default()
    }

    #[test]
    fn only_plain_http_and_certificates_hint_tls_flags() {
        let plain = Sides::plain();
        assert!(hint_of(connect(ConnectKind::PlainHttp), &plain).contains("--tls-verify=false"));
        let cert = hint_of(connect(ConnectKind::Certificate), &plain);
        assert!(
            cert.find("--cert-dir") < cert.find("--tls-verify=false"),
            "{cert}"
        );
        for kind in [
            ConnectKind::Dns,
            ConnectKind::Refused,
            ConnectKind::Timeout,
            ConnectKind::Broken,
            ConnectKind::Other,
        ] {
            let h = hint_of(connect(kind), &plain);
            assert!(!h.contains("tls"), "{kind:?}: {h}");
        }
        assert!(hint_of(connect(ConnectKind::Dns), &plain).contains("resolve"));
    }

    #[test]
    fn hints_name_the_flag_of_the_failing_side() {
        let copy = Sides::none()
            .side("docker://src.example/a:1", "src-")
            .side("docker://reg.example:5000/b:1", "dest-");
        let h = hint_of(connect(ConnectKind::PlainHttp), &copy);
        assert!(h.contains("--dest-tls-verify=false"), "{h}");
        assert!(!h.contains("--src-"), "{h}");
        let unauthorized = TransportError::Registry(RegistryError::Unauthorized {
            what: "src.example/a:1".into(),
            message: "authentication required".into(),
        });
        assert!(hint_of(unauthorized, &copy).contains("--src-creds"));
        // Both sides on one registry: either may have failed.
        let same = Sides::none()
            .side("docker://reg.example:5000/a", "src-")
            .side("docker://reg.example:5000/b", "dest-");
        let h = hint_of(connect(ConnectKind::PlainHttp), &same);
        assert!(
            h.contains("--src-tls-verify=false or --dest-tls-verify=false"),
            "{h}"
        );
    }

    #[test]
    fn rate_limits_bugs_and_local_images_get_their_own_hints() {
        let plain = Sides::plain();
        let limited = TransportError::Registry(RegistryError::TooManyRequests {
            what: "reg.example/a:1".into(),
            retries: 3,
            retry_after: None,
        });
        let h = hint_of(limited, &plain);
        assert!(h.contains("--retry-times") && h.contains("--retry-delay") && h.contains("login"));
        let bug = hint_of(
            TransportError::Internal("commit before begin".into()),
            &plain,
        );
        assert!(bug.contains("bug"), "{bug}");
        let local = hint_of(
            TransportError::local_not_found("x: no such archive"),
            &plain,
        );
        assert!(!local.contains("list-tags"), "{local}");
        let remote = TransportError::Registry(RegistryError::NotFound {
            what: "reg.example:5000/team/app:v1".into(),
            code: "MANIFEST_UNKNOWN".into(),
            message: "manifest unknown".into(),
        });
        assert!(hint_of(remote, &plain).contains("list-tags docker://reg.example:5000/team/app`"));
    }

    #[test]
    fn no_matching_platform_lists_what_the_image_has() {
        let e = TransportError::Oci(skiff_oci::Error::NoMatchingPlatform {
            os: "linux".into(),
            arch: "amd64".into(),
            variant: Some("v8".into()),
            available: vec![skiff_oci::Platform {
                os: "linux".into(),
                architecture: "arm64".into(),
                variant: Some("v8".into()),
            }],
        });
        let h = hint_of(e, &Sides::plain());
        assert!(h.contains("linux/arm64/v8"), "{h}");
        assert!(
            h.contains("--override-arch") && h.contains("--override-os"),
            "{h}"
        );
    }

    #[test]
    fn causes_keep_their_own_lines_without_repeating_the_message() {
        let io = std::io::Error::other("disk full");
        let e = TransportError::io("writing /x", io);
        let f = Failure::from(e);
        assert!(f.causes.is_empty(), "{:?}", f.causes);
        assert_eq!(f.message, "writing /x: disk full");
    }
}
