//! Where the signatures of a source image are found: a registry image's in the lookaside
//! its registries.d scope names (file:// or http(s)://; else the built-in one) and, where it says
//! `use-sigstore-attachments`, in the registry as attachments; a `dir:` image's beside it as
//! `signature-N` files, a per-platform image's of a `dir:` index as `<hex>.signature-N`
//! (skopeo's layout). Other transports carry none here, which a policy that requires
//! signatures then rejects.

use std::path::Path;

use skiff_oci::{Digest, Reference};
use skiff_transport::{registry_client, ImageName, OpenOptions, TransportError};
use skiff_trust::registries_d::{lookaside_signature_url, RegistriesD};
use skiff_trust::Signature;
use url::Url;

/// A signature is a few hundred bytes; anything this large is not one, and is not read
/// into memory.
const MAX_SIGNATURE: u64 = 4 << 20;

/// Signatures are numbered from 1 without gaps; this many is far beyond any real image and
/// stops a lookaside that answers every URL.
const MAX_SIGNATURES: usize = 128;

/// Which manifest of an image signatures are looked up for. A registry keeps both kinds
/// by manifest digest; a `dir:` image names them differently.
#[derive(Debug, Clone, Copy)]
pub enum Signed<'a> {
    /// The manifest the image name points at (an image, or an index).
    Top(&'a Digest),
    /// A per-platform image manifest listed by the index the image name points at.
    Instance(&'a Digest),
}

impl Signed<'_> {
    fn digest(&self) -> &Digest {
        match self {
            Signed::Top(d) | Signed::Instance(d) => d,
        }
    }
}

/// All signatures stored for manifest `which` of the image `name`.
pub async fn fetch(
    name: &ImageName,
    which: Signed<'_>,
    registries_d: &Path,
    open: &OpenOptions,
) -> Result<Vec<Signature>, TransportError> {
    let digest = which.digest();
    match name {
        ImageName::Docker { reference, .. } => {
            let config = RegistriesD::load_dir(registries_d).map_err(refused)?;
            // Without a configured lookaside, containers/image's built-in one (where a
            // signing copy without registries.d wrote them); none when it has no path.
            let base = config
                .lookaside(reference, false)
                .or_else(|| crate::signing::lookaside::builtin().ok());
            let mut found = match base {
                Some(base) => lookaside(&base, reference, digest).await?,
                None => Vec::new(),
            };
            if config.use_sigstore_attachments(reference) {
                let client = registry_client(&reference.name(), reference.registry(), open)?;
                let attached = crate::signing::read_attachments(&client, reference, digest)
                    .await
                    .map_err(unreadable)?;
                found.extend(attached.into_iter().map(Signature::Sigstore));
            }
            Ok(found)
        }
        ImageName::Dir { path } => {
            let prefix = match which {
                Signed::Top(_) => String::new(),
                Signed::Instance(d) => format!("{}.", d.hex()),
            };
            let mut found = Vec::new();
            for index in 1..=MAX_SIGNATURES {
                let file = path.join(format!("{prefix}signature-{index}"));
                let Some(blob) = read_file(&file)? else { break };
                found.push(decode(&blob, &file.display().to_string())?);
            }
            Ok(found)
        }
        _ => Ok(Vec::new()),
    }
}

/// `BASE/REPOSITORY@sha256=HEX/signature-N` for N = 1, 2, … until one is missing.
async fn lookaside(
    base: &Url,
    reference: &Reference,
    digest: &Digest,
) -> Result<Vec<Signature>, TransportError> {
    // Made only for an HTTP lookaside: making one reads the system's roots from disk,
    // which a sync would otherwise do again for every image.
    let mut client = None;
    let mut found = Vec::new();
    for index in 1..=MAX_SIGNATURES {
        let url = lookaside_signature_url(base, reference, digest, index);
        let blob = match url.scheme() {
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|()| unreadable(format!("lookaside {url} is not a local file URL")))?;
                read_file(&path)?
            }
            "http" | "https" => {
                http_get(client.get_or_insert_with(reqwest::Client::new), &url).await?
            }
            other => {
                return Err(unreadable(format!(
                "lookaside {url}: the {other}:// scheme is not supported (file, http, https are)"
            )))
            }
        };
        let Some(blob) = blob else { break };
        found.push(decode(&blob, url.as_str())?);
    }
    Ok(found)
}

/// A file's bytes, `None` when it does not exist.
fn read_file(path: &Path) -> Result<Option<Vec<u8>>, TransportError> {
    let io = |e| TransportError::io(format!("reading signature {}", path.display()), e);
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
        Ok(m) if m.len() > MAX_SIGNATURE => return Err(too_large(&path.display().to_string())),
        Ok(_) => {}
    }
    std::fs::read(path).map(Some).map_err(io)
}

/// A lookaside signature over HTTP: 404 ends the list, any other failure is an error.
async fn http_get(client: &reqwest::Client, url: &Url) -> Result<Option<Vec<u8>>, TransportError> {
    let failed = |e: reqwest::Error| unreadable(format!("reading signature {url}: {e}"));
    let mut response = client.get(url.clone()).send().await.map_err(failed)?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !response.status().is_success() {
        return Err(unreadable(format!(
            "reading signature {url}: HTTP {}",
            response.status()
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > MAX_SIGNATURE {
            return Err(too_large(url.as_str()));
        }
    }
    Ok(Some(body))
}

fn decode(blob: &[u8], origin: &str) -> Result<Signature, TransportError> {
    Signature::from_blob(blob)
        .map_err(|e| unreadable(format!("signature {origin} cannot be read: {e}")))
}

fn too_large(origin: &str) -> TransportError {
    unreadable(format!(
        "signature {origin} is larger than {MAX_SIGNATURE} bytes; it is not a signature"
    ))
}

/// Signatures that cannot be read leave the policy undecided, which refuses the image.
fn unreadable(message: String) -> TransportError {
    refused(message)
}

fn refused(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> TransportError {
    TransportError::Refused(e.into())
}
