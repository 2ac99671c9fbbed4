//! Policy requirements: their JSON syntax (parsed strictly) and validated form.
//!
//! Parsing goes through serde with `deny_unknown_fields` and internally tagged enums, so an
//! unknown `type`, a misspelt field or a duplicated field is an error naming the problem;
//! the raw form is then validated into [`Requirement`] (exactly one key source, supported
//! `keyType`, well-formed identities). Nothing unrecognised is ever treated as "accept".

use serde::Deserialize;
use skiff_oci::Reference;

use crate::identity::{valid_remap_prefix, SignedIdentity};

/// Where a requirement's trusted keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Files, each holding one or more keys (`keyPath`, `keyPaths`).
    Paths(Vec<String>),
    /// Inline keys (`keyData`, `keyDatas`), already base64-decoded.
    Data(Vec<Vec<u8>>),
}

/// `signedBy`: a simple signing (OpenPGP) signature by one of the keys is required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedBy {
    /// The trusted GPG keys.
    pub keys: KeySource,
    /// Which identity the signature must claim.
    pub identity: SignedIdentity,
}

/// `sigstoreSigned`: a sigstore signature by one of the keys is required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigstoreSigned {
    /// The trusted public keys; `None` when the requirement uses Fulcio or PKI instead.
    pub keys: Option<KeySource>,
    /// A part of the requirement skiff does not verify (Fulcio, PKI); images under such a
    /// requirement are refused with this explanation rather than half-checked.
    pub unverifiable: Option<&'static str>,
    /// Trusted rekor log keys (`rekorPublicKey*`): when given, a signature is accepted only
    /// with a log entry for it signed by one of them.
    pub rekor: Option<KeySource>,
    /// Which identity the signature must claim.
    pub identity: SignedIdentity,
}

/// One policy requirement. All requirements of a scope must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// Accepts any image (other requirements still apply).
    InsecureAcceptAnything,
    /// Rejects every image.
    Reject,
    /// See [`SignedBy`].
    SignedBy(SignedBy),
    /// See [`SigstoreSigned`].
    SigstoreSigned(SigstoreSigned),
}

#[derive(Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub(super) enum RawRequirement {
    #[serde(rename = "insecureAcceptAnything")]
    InsecureAcceptAnything {},
    #[serde(rename = "reject")]
    Reject {},
    #[serde(rename = "signedBy", rename_all = "camelCase")]
    SignedBy {
        key_type: String,
        key_path: Option<String>,
        key_paths: Option<Vec<String>>,
        key_data: Option<String>,
        signed_identity: Option<RawIdentity>,
    },
    #[serde(rename = "sigstoreSigned", rename_all = "camelCase")]
    SigstoreSigned {
        key_path: Option<String>,
        key_paths: Option<Vec<String>>,
        key_data: Option<String>,
        key_datas: Option<Vec<String>>,
        fulcio: Option<serde_json::Value>,
        pki: Option<serde_json::Value>,
        rekor_public_key_path: Option<String>,
        rekor_public_key_paths: Option<Vec<String>>,
        rekor_public_key_data: Option<String>,
        rekor_public_key_datas: Option<Vec<String>>,
        signed_identity: Option<RawIdentity>,
    },
}

#[derive(Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub(super) enum RawIdentity {
    #[serde(rename = "matchExact")]
    MatchExact {},
    #[serde(rename = "matchRepoDigestOrExact")]
    MatchRepoDigestOrExact {},
    #[serde(rename = "matchRepository")]
    MatchRepository {},
    #[serde(rename = "exactReference", rename_all = "camelCase")]
    ExactReference { docker_reference: String },
    #[serde(rename = "exactRepository", rename_all = "camelCase")]
    ExactRepository { docker_repository: String },
    #[serde(rename = "remapIdentity", rename_all = "camelCase")]
    RemapIdentity {
        prefix: String,
        signed_prefix: String,
    },
}

fn key_source(
    path: Option<String>,
    paths: Option<Vec<String>>,
    data: Option<String>,
    datas: Option<Vec<String>>,
) -> Result<Option<KeySource>, String> {
    let given = [
        path.is_some(),
        paths.is_some(),
        data.is_some(),
        datas.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err("only one of keyPath, keyPaths, keyData and keyDatas may be given".into());
    }
    let decode = |d: String| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .map_err(|e| format!("keyData is not valid base64: {e}"))
    };
    let source = if let Some(p) = path {
        Some(KeySource::Paths(vec![p]))
    } else if let Some(ps) = paths {
        Some(KeySource::Paths(ps))
    } else if let Some(d) = data {
        Some(KeySource::Data(vec![decode(d)?]))
    } else if let Some(ds) = datas {
        Some(KeySource::Data(
            ds.into_iter().map(decode).collect::<Result<_, _>>()?,
        ))
    } else {
        None
    };
    match &source {
        Some(KeySource::Paths(p)) if p.is_empty() => Err("keyPaths must not be empty".into()),
        Some(KeySource::Data(d)) if d.is_empty() => Err("keyDatas must not be empty".into()),
        _ => Ok(source),
    }
}

impl RawIdentity {
    fn validate(self) -> Result<SignedIdentity, String> {
        Ok(match self {
            RawIdentity::MatchExact {} => SignedIdentity::MatchExact,
            RawIdentity::MatchRepoDigestOrExact {} => SignedIdentity::MatchRepoDigestOrExact,
            RawIdentity::MatchRepository {} => SignedIdentity::MatchRepository,
            RawIdentity::ExactReference { docker_reference } => {
                let r = Reference::parse_unnormalised_tag(&docker_reference)
                    .map_err(|e| format!("exactReference: {e}"))?;
                if r.tag().is_none() && r.digest().is_none() {
                    return Err(format!(
                        "exactReference {docker_reference:?} must name a tag or digest"
                    ));
                }
                SignedIdentity::ExactReference(r)
            }
            RawIdentity::ExactRepository { docker_repository } => {
                let r = Reference::parse_unnormalised_tag(&docker_repository)
                    .map_err(|e| format!("exactRepository: {e}"))?;
                SignedIdentity::ExactRepository(r)
            }
            RawIdentity::RemapIdentity {
                prefix,
                signed_prefix,
            } => {
                for p in [&prefix, &signed_prefix] {
                    if !valid_remap_prefix(p) {
                        return Err(format!(
                            "remapIdentity prefix {p:?} must be a host[:port], namespace or repository in fully expanded form"
                        ));
                    }
                }
                SignedIdentity::RemapIdentity {
                    prefix,
                    signed_prefix,
                }
            }
        })
    }
}

fn identity(raw: Option<RawIdentity>) -> Result<SignedIdentity, String> {
    raw.map_or(
        Ok(SignedIdentity::MatchRepoDigestOrExact),
        RawIdentity::validate,
    )
}

impl RawRequirement {
    pub(super) fn validate(self) -> Result<Requirement, String> {
        Ok(match self {
            RawRequirement::InsecureAcceptAnything {} => Requirement::InsecureAcceptAnything,
            RawRequirement::Reject {} => Requirement::Reject,
            RawRequirement::SignedBy {
                key_type,
                key_path,
                key_paths,
                key_data,
                signed_identity,
            } => {
                if key_type != "GPGKeys" {
                    return Err(format!(
                        "signedBy keyType {key_type:?} is not supported (only \"GPGKeys\")"
                    ));
                }
                let keys = key_source(key_path, key_paths, key_data, None)?
                    .ok_or("signedBy needs one of keyPath, keyPaths or keyData")?;
                Requirement::SignedBy(SignedBy {
                    keys,
                    identity: identity(signed_identity)?,
                })
            }
            RawRequirement::SigstoreSigned {
                key_path,
                key_paths,
                key_data,
                key_datas,
                fulcio,
                pki,
                rekor_public_key_path,
                rekor_public_key_paths,
                rekor_public_key_data,
                rekor_public_key_datas,
                signed_identity,
            } => {
                let keys = key_source(key_path, key_paths, key_data, key_datas)?;
                let roots = [keys.is_some(), fulcio.is_some(), pki.is_some()];
                if roots.iter().filter(|g| **g).count() != 1 {
                    return Err(
                        "sigstoreSigned needs exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio or pki"
                            .into(),
                    );
                }
                let rekor = key_source(
                    rekor_public_key_path,
                    rekor_public_key_paths,
                    rekor_public_key_data,
                    rekor_public_key_datas,
                )
                .map_err(|e| format!("rekorPublicKey*: {e}"))?;
                let unverifiable = if fulcio.is_some() {
                    Some("skiff does not verify Fulcio certificates (keyless signing)")
                } else if pki.is_some() {
                    Some("skiff does not verify X.509 PKI sigstore signatures")
                } else {
                    None
                };
                Requirement::SigstoreSigned(SigstoreSigned {
                    keys,
                    unverifiable,
                    rekor,
                    identity: identity(signed_identity)?,
                })
            }
        })
    }
}
