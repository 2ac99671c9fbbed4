//! Commands that talk to a registry directly: list-tags, delete, login, logout.

use std::io::Read;

use skiff_oci::Reference;
use skiff_registry::{credentials, Credentials, RegistryClient, RegistryError};
use skiff_transport::docker_archive::archive_tags;
use skiff_transport::{registry_client, ImageName};

use crate::cli::program_name;
use crate::cli::{DeleteArgs, GlobalOptions, ListTagsArgs, LoginArgs, LogoutArgs};
use crate::failure::Failure;
use crate::options::open_options;
use crate::output::{print_json, print_line};

/// The longest password (or token) `login --password-stdin` accepts.
const MAX_PASSWORD: u64 = 64 << 10;

/// `list-tags docker://REPO` (every page) or `list-tags docker-archive:FILE`.
pub async fn list_tags(global: &GlobalOptions, args: ListTagsArgs) -> Result<(), Failure> {
    if let Some(path) = args.image.strip_prefix("docker-archive:") {
        let tags = archive_tags(std::path::Path::new(path), global.tmpdir.as_deref())?;
        return print_json(&serde_json::json!({ "Tags": tags }));
    }
    let rest = args.image.strip_prefix("docker://").ok_or_else(|| {
        Failure::new(format!(
            "{}: list-tags takes docker://REPOSITORY or docker-archive:FILE",
            args.image
        ))
    })?;
    let reference = Reference::parse_unnormalised_tag(rest)?;
    if reference.tag().is_some() || reference.digest().is_some() {
        return Err(Failure::new(format!(
            "{}: list-tags takes a repository without tag or digest",
            args.image
        )));
    }
    let flags = args
        .registry
        .flags(None, args.retry.retry_times, args.retry.retry_delay);
    let client = client_for(global, &flags, &reference)?;
    let tags = client.list_tags(reference.repository()).await?;
    print_json(&serde_json::json!({ "Repository": reference.name(), "Tags": tags }))
}

/// A client for the registry of `reference` (registries.conf's `blocked` and `insecure`
/// applied), from a command's registry flags.
fn client_for(
    global: &GlobalOptions,
    flags: &crate::options::RegistryFlags,
    reference: &Reference,
) -> Result<RegistryClient, Failure> {
    let open = open_options(global, flags)?;
    Ok(registry_client(
        &reference.name(),
        reference.registry(),
        &open,
    )?)
}

/// `delete docker://REF`: a tag is resolved to its digest first, as registries delete
/// manifests only by digest.
pub async fn delete(global: &GlobalOptions, args: DeleteArgs) -> Result<(), Failure> {
    let name = args.image.parse::<ImageName>()?;
    let ImageName::Docker { reference, .. } = &name else {
        return Err(Failure::new("delete takes docker://REFERENCE"));
    };
    let flags = args
        .registry
        .flags(None, args.retry.retry_times, args.retry.retry_delay);
    let client = client_for(global, &flags, reference)?;
    let digest = match reference.digest() {
        Some(d) => d.clone(),
        None => {
            let head = client
                .head_manifest(reference.repository(), &reference.manifest_reference())
                .await?;
            match head.and_then(|h| h.digest) {
                Some(d) => d,
                None => {
                    // No digest header: fetch the manifest and digest its bytes.
                    client
                        .get_manifest(reference.repository(), &reference.manifest_reference())
                        .await?
                        .digest
                }
            }
        }
    };
    client
        .delete_manifest(reference.repository(), &digest)
        .await?;
    Ok(())
}

/// `login REGISTRY`: checks the credentials against the registry before saving them.
pub async fn login(global: &GlobalOptions, args: LoginArgs) -> Result<(), Failure> {
    let registry = normalise_registry(&args.registry);
    if args.get_login {
        let found = credentials::lookup(args.authfile.as_deref(), &registry)
            .map_err(|e| Failure::new(e.to_string()))?;
        return match found {
            Some(c) => print_line(&c.username),
            None => Err(Failure::new(format!("not logged into {registry}"))),
        };
    }
    let username = match &args.username {
        Some(u) => u.clone(),
        None => {
            return Err(Failure::new("--username is required").hint(format!(
                "{} login -u USER --password-stdin REGISTRY",
                program_name()
            )))
        }
    };
    let password = match (&args.password, args.password_stdin) {
        (Some(_), true) => {
            return Err(Failure::new(
                "--password and --password-stdin are mutually exclusive",
            ))
        }
        (Some(p), false) => p.clone(),
        (None, true) => {
            // A password is short; an endless or huge stdin would otherwise be read whole
            // and written into auth.json.
            let mut s = String::new();
            let read = std::io::stdin()
                .take(MAX_PASSWORD + 1)
                .read_to_string(&mut s)
                .map_err(|e| Failure::new(format!("reading the password from stdin: {e}")))?;
            if read as u64 > MAX_PASSWORD {
                return Err(Failure::new(format!(
                    "the password on stdin is longer than {MAX_PASSWORD} bytes"
                ))
                .hint("pipe only the password (or token) into --password-stdin"));
            }
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => {
            return Err(
                Failure::new("no password given").hint("use --password-stdin (or --password)")
            )
        }
    };
    let creds = Credentials { username, password };
    let flags = crate::options::RegistryFlags {
        tls_verify: args.tls_verify,
        cert_dir: args.cert_dir.clone(),
        retry_times: 2,
        ..Default::default()
    };
    let mut open = open_options(global, &flags)?;
    open.registry.credentials = Some(creds.clone());
    let client = registry_client(&registry, &registry, &open)?;
    client.ping().await.map_err(|e| {
        // Only the registry's own refusal says anything about the credentials; a network
        // or TLS failure gets the hint of its kind.
        let refused = matches!(
            e,
            RegistryError::Unauthorized { .. } | RegistryError::Denied { .. }
        );
        let failure = Failure::from(e);
        if refused {
            failure.hint("the registry refused these credentials; nothing was saved")
        } else {
            failure
        }
    })?;
    credentials::store(args.authfile.as_deref(), &registry, &creds)
        .map_err(|e| Failure::new(e.to_string()))?;
    print_line("Login Succeeded!")
}

/// `logout [--all] REGISTRY`.
pub async fn logout(args: LogoutArgs) -> Result<(), Failure> {
    if args.all {
        credentials::erase_all(args.authfile.as_deref())
            .map_err(|e| Failure::new(e.to_string()))?;
        return print_line("Removed login credentials for all registries");
    }
    let registry = args
        .registry
        .as_deref()
        .map(normalise_registry)
        .ok_or_else(|| Failure::new("name the registry to log out of, or use --all"))?;
    let removed = credentials::erase(args.authfile.as_deref(), &registry)
        .map_err(|e| Failure::new(e.to_string()))?;
    if !removed {
        return Err(Failure::new(format!("not logged into {registry}")));
    }
    print_line(&format!("Removed login credentials for {registry}"))
}

/// Accepts `docker://host`, `https://host/` and `host` alike, as skopeo does.
fn normalise_registry(input: &str) -> String {
    let s = input
        .trim_start_matches("docker://")
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    s.trim_end_matches('/').to_string()
}
