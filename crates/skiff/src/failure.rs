//! Turning library errors into what a person reads and the exit status scripts test.

use std::process::ExitCode;

use skiff_transport::TransportError;

/// A failed command: the message, an optional hint, and the exit status.
#[derive(Debug)]
pub struct Failure {
    message: String,
    hint: Option<String>,
    code: u8,
}

impl Failure {
    /// A generic failure (exit 1).
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            hint: None,
            code: 1,
        }
    }

    /// Adds a hint the user can act on.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Ctrl-C: the destination was dropped uncommitted, so nothing was left behind.
    pub fn interrupted() -> Self {
        Failure {
            message: "interrupted; nothing was written".into(),
            hint: None,
            code: 130,
        }
    }

    /// Prints the message (and hint) to stderr and returns the exit status.
    pub fn report(self) -> ExitCode {
        eprintln!("skiff: {}", self.message);
        if let Some(h) = self.hint {
            eprintln!("  hint: {h}");
        }
        ExitCode::from(self.code)
    }
}

impl From<TransportError> for Failure {
    fn from(e: TransportError) -> Self {
        let not_found = e.is_not_found();
        let message = e.to_string();
        let mut f = Failure::new(message.clone());
        if not_found {
            f.code = 2;
        }
        let lower = message.to_lowercase();
        if lower.contains("unauthorized") || lower.contains("authentication required") {
            f = f.hint("log in with `skiff login REGISTRY`, or pass --creds USER:PASSWORD (--src-creds for copy)");
        } else if lower.contains("certificate") || lower.contains("https") && lower.contains("http")
        {
            f = f.hint("trust the registry's CA with --cert-dir DIR holding its ca.crt (--src-cert-dir for copy; by default /etc/containers/certs.d/HOST:PORT/), or skip verification with --tls-verify=false (--src-tls-verify=false)");
        } else if not_found {
            f = f.hint(
                "check the name and tag; `skiff list-tags docker://REPOSITORY` lists the tags",
            );
        }
        f
    }
}

impl From<skiff_oci::Error> for Failure {
    fn from(e: skiff_oci::Error) -> Self {
        Failure::new(e.to_string())
    }
}

impl From<skiff_registry::RegistryError> for Failure {
    fn from(e: skiff_registry::RegistryError) -> Self {
        Failure::from(TransportError::from(e))
    }
}
