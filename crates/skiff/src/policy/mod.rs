//! The signature policy (containers-policy.json(5)) enforced on every command that reads an
//! image for use: copy, sync, unpack, lxc create.
//!
//! The seam is the image source itself: [`gate`] wraps the opened source so that an image
//! manifest is handed out only after the policy accepted it, and no blob is served that no
//! accepted manifest names. Every pipeline (skiff-transport's copy, skiff-rootfs's unpack)
//! fetches the manifests before any blob, so the check runs once a manifest is fetched and
//! verified and before any layer moves — without either pipeline knowing about trust, and
//! without a pipeline able to forget the check. skiff-transport stays free of skiff-trust:
//! the refusal travels as [`TransportError::Refused`].
//!
//! As in containers/image, the policy judges images, not indexes: a pull from an index
//! (one platform, or every platform with `--all`) evaluates each per-platform image it
//! uses against that image's own signatures (signed by its manifest digest); the index's
//! signatures neither admit nor refuse anything. Since a copy fetches every per-platform
//! manifest before any blob, with `--all` one rejected platform refuses the whole copy
//! before any byte lands (containers/image would have copied the platforms before it).

mod gate;
mod signatures;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use skiff_oci::{Digest, Manifest};
use skiff_transport::{ImageName, ImageSource, OpenOptions, TransportError};
use skiff_trust::registries_d::RegistriesD;
use skiff_trust::{
    evaluate, ImageUnderTest, Policy, PolicyError, PolicyScope, Rejection, Requirement,
};

use crate::cli::{program_name, GlobalOptions};
use crate::failure::Failure;

pub use gate::GatedSource;
pub use signatures::{fetch as source_signatures, Signed};

/// The registries.d directory the flags select (`--registries.d`, else skopeo's default).
pub fn registries_d(global: &GlobalOptions) -> PathBuf {
    global
        .registries_d
        .clone()
        .unwrap_or_else(RegistriesD::default_dir)
}

/// The policy the flags select: `--insecure-policy` accepts anything, else `--policy FILE`
/// or skopeo's default path.
pub fn load(global: &GlobalOptions) -> Result<Policy, Failure> {
    if global.insecure_policy {
        return Ok(Policy::insecure_accept_anything());
    }
    match &global.policy {
        Some(path) => Policy::load(path).map_err(invalid),
        None => load_default(&Policy::default_path()),
    }
}

/// The default policy; a missing one is refused, as skopeo does: a host without a policy
/// has not said which images it trusts.
fn load_default(path: &Path) -> Result<Policy, Failure> {
    Policy::load(path).map_err(|e| match e {
        PolicyError::Read { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Failure::new(format!(
                "no policy.json file found at {}: cannot decide which images to trust",
                path.display()
            ))
            .hint(format!(
                "install one (Debian: apt-get install containers-common), name one with --policy FILE, or run {} --insecure-policy to accept any image",
                program_name()
            ))
        }
        e => invalid(e),
    })
}

fn invalid(e: PolicyError) -> Failure {
    Failure::new(e.to_string())
        .hint("fix the policy file (containers-policy.json(5)), or name another with --policy FILE")
}

/// Wraps `source` (opened from `name`) so that it serves nothing the policy does not accept.
pub fn gate(
    global: &GlobalOptions,
    name: &ImageName,
    open: &OpenOptions,
    source: Box<dyn ImageSource>,
) -> Result<Box<dyn ImageSource>, Failure> {
    Ok(Gatekeeper::new(global)?.gate(name, open, source))
}

/// The policy and signature locations the flags select, loaded once and applied to every
/// source a command opens (`sync` opens many).
#[derive(Clone)]
pub struct Gatekeeper {
    policy: Arc<Policy>,
    registries_d: PathBuf,
}

impl Gatekeeper {
    /// Loads the policy the flags name; a missing or broken policy is refused here, before
    /// any image is opened.
    pub fn new(global: &GlobalOptions) -> Result<Gatekeeper, Failure> {
        Ok(Gatekeeper {
            policy: Arc::new(load(global)?),
            registries_d: registries_d(global),
        })
    }

    /// Wraps `source` (opened from `name` with `open`, which also reaches its sigstore
    /// attachments) so that it serves nothing the policy does not accept.
    pub fn gate(
        &self,
        name: &ImageName,
        open: &OpenOptions,
        source: Box<dyn ImageSource>,
    ) -> Box<dyn ImageSource> {
        let gate = SourceGate {
            policy: self.policy.clone(),
            registries_d: self.registries_d.clone(),
            name: name.clone(),
            open: open.clone(),
        };
        Box::new(GatedSource::new(source, gate))
    }
}

/// What decides whether one source image may be used.
pub struct SourceGate {
    policy: Arc<Policy>,
    registries_d: PathBuf,
    name: ImageName,
    open: OpenOptions,
}

impl SourceGate {
    /// Evaluates the policy for the image manifest `manifest`, which is manifest `which` of
    /// the source: its scope's requirements against the signatures found for it (fetched
    /// only when a requirement needs signatures, so an unused lookaside cannot fail an
    /// `insecureAcceptAnything` pull).
    pub async fn admit(
        &self,
        manifest: &Manifest,
        which: Signed<'_>,
    ) -> Result<(), TransportError> {
        let scope = scope(&self.name)?;
        let requirements = self.policy.requirements_for(&scope);
        let needs_signatures = requirements
            .list
            .iter()
            .any(|r| matches!(r, Requirement::SignedBy(_) | Requirement::SigstoreSigned(_)));
        let signatures = if needs_signatures {
            signatures::fetch(&self.name, which, &self.registries_d, &self.open).await?
        } else {
            Vec::new()
        };
        let docker_reference = match &self.name {
            ImageName::Docker { reference, .. } => Some(reference),
            _ => None,
        };
        let image = ImageUnderTest {
            docker_reference,
            manifest: manifest.raw(),
            signatures: &signatures,
        };
        evaluate(&requirements, &image)
            .map(|_| ())
            .map_err(|rejection| match which {
                Signed::Top(_) => TransportError::Refused(Box::new(rejection)),
                Signed::Instance(digest) => TransportError::Refused(Box::new(InstanceRejected {
                    digest: digest.clone(),
                    rejection,
                })),
            })
    }
}

/// A per-platform image of an index the policy refused (skopeo: "copying image 1/2 from
/// manifest list: Source image rejected: …").
#[derive(Debug, thiserror::Error)]
#[error("per-platform image {digest} of the index: {rejection}")]
pub struct InstanceRejected {
    digest: Digest,
    rejection: Rejection,
}

/// The policy scope of an image name, per transport (paths resolved as skopeo does).
fn scope(name: &ImageName) -> Result<PolicyScope, TransportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| TransportError::io(format!("resolving {} for the policy", path.display()), e)
    };
    Ok(match name {
        ImageName::Docker { reference, .. } => PolicyScope::docker(reference),
        ImageName::Oci { path, reference } => {
            PolicyScope::oci(path, reference.as_deref().unwrap_or("")).map_err(io(path))?
        }
        ImageName::OciArchive { path, .. } => PolicyScope::oci_archive(path).map_err(io(path))?,
        ImageName::Dir { path } => PolicyScope::dir(path).map_err(io(path))?,
        ImageName::DockerArchive { .. } => PolicyScope::docker_archive(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_default_policy_is_refused_with_skopeos_words() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("policy.json");
        let e = load_default(&missing).unwrap_err();
        assert!(
            format!("{e:?}").contains("no policy.json file found"),
            "{e:?}"
        );
        std::fs::write(&missing, r#"{"default": [{"type": "reject"}]}"#).unwrap();
        assert!(load_default(&missing).is_ok());
        std::fs::write(&missing, r#"{"default": [{"type": "acceptEverything"}]}"#).unwrap();
        assert!(load_default(&missing).is_err());
    }
}
