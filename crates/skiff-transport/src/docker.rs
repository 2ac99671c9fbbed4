//! `docker://` as a source — with registries.conf resolution: the fully qualified name (a
//! short name is Docker Hub's, as in skopeo) may be served by mirrors before its primary
//! location, which may itself be rewritten. The endpoints are tried in order until one
//! serves the manifest; that one then serves everything else of the image.

use std::sync::OnceLock;

use async_trait::async_trait;
use futures_util::StreamExt;
use skiff_oci::{Digest, Manifest, Reference};
use skiff_registry::registries_conf::RegistriesConf;
use skiff_registry::{ClientOptions, RegistryClient};

use crate::cached::ThroughCache;
use crate::client_pool::{client_for, ClientPool};
use crate::error::{Place, Result, TransportError};
use crate::source::{BlobInfo, BlobStream, ImageSource};

/// One place the image may be pulled from.
struct Endpoint {
    client: RegistryClient,
    reference: Reference,
}

/// An image in a registry (or its mirrors).
pub struct DockerSource {
    name: String,
    endpoints: Vec<Endpoint>,
    chosen: OnceLock<usize>,
    /// The host's blob cache, when blobs should go through it.
    cache: Option<ThroughCache>,
}

impl DockerSource {
    /// Resolves the fully qualified `reference` through registries.conf into the
    /// endpoints to try, in order; their clients come from `pool` when given.
    pub fn open(
        reference: &Reference,
        conf: &RegistriesConf,
        options: &ClientOptions,
        pool: Option<&ClientPool>,
    ) -> Result<DockerSource> {
        let sources = conf
            .pull_sources(reference)
            .map_err(|e| TransportError::Unsupported(format!("docker://{reference}: {e}")))?;
        let mut endpoints = Vec::new();
        for s in sources {
            let mut opts = options.clone();
            if s.insecure && opts.tls_verify.is_none() {
                opts.tls_verify = Some(false);
            }
            endpoints.push(Endpoint {
                client: client_for(pool, s.reference.registry(), opts)?,
                reference: s.reference,
            });
        }
        Ok(DockerSource {
            name: format!("docker://{reference}"),
            endpoints,
            chosen: OnceLock::new(),
            cache: None,
        })
    }

    /// Reads blobs through the host's blob cache (`None`: straight from the registry).
    pub fn with_cache(mut self, cache: Option<skiff_cache::Cache>) -> DockerSource {
        self.cache = cache.map(ThroughCache::new);
        self
    }

    fn endpoint(&self) -> &Endpoint {
        let i = self
            .chosen
            .get()
            .copied()
            .unwrap_or(self.endpoints.len().saturating_sub(1));
        &self.endpoints[i.min(self.endpoints.len() - 1)]
    }
}

async fn fetch_manifest(
    ep: &Endpoint,
    reference: &str,
    expected: Option<&Digest>,
) -> Result<Manifest> {
    let r = ep
        .client
        .get_manifest(ep.reference.repository(), reference)
        .await?;
    let m = Manifest::parse(r.bytes, r.content_type.as_deref())?;
    if let Some(d) = expected {
        m.verify(d)?;
    }
    Ok(m)
}

#[async_trait]
impl ImageSource for DockerSource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    async fn top_manifest(&self) -> Result<Manifest> {
        let mut last = None;
        for (i, ep) in self.endpoints.iter().enumerate() {
            match fetch_manifest(
                ep,
                &ep.reference.manifest_reference(),
                ep.reference.digest(),
            )
            .await
            {
                Ok(m) => {
                    let _ = self.chosen.set(i);
                    return Ok(m);
                }
                // A mirror or an earlier search registry that fails is skipped, as skopeo does.
                Err(e) if i + 1 < self.endpoints.len() => {
                    say_skipped_endpoint(&ep.reference, &e);
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| TransportError::NotFound {
            message: format!("{}: no registry to pull from", self.name),
            place: Place::Registry,
        }))
    }

    async fn manifest_by_digest(&self, digest: &Digest) -> Result<Manifest> {
        fetch_manifest(self.endpoint(), &digest.to_string(), Some(digest)).await
    }

    async fn blob(&self, blob: &BlobInfo) -> Result<BlobStream> {
        let fetch = || async {
            let ep = self.endpoint();
            let stream = ep
                .client
                .get_blob(ep.reference.repository(), &blob.digest, Some(blob.size))
                .await?;
            let stream: BlobStream = Box::pin(stream.map(|r| r.map_err(std::io::Error::other)));
            Ok(stream)
        };
        match &self.cache {
            Some(cache) => cache.blob(blob, fetch).await,
            None => fetch().await,
        }
    }

    fn blob_verified(&self, blob: &BlobInfo) {
        if let Some(cache) = &self.cache {
            cache.verified(&blob.digest);
        }
    }
}

/// Says (with SKIFF_DEBUG set) why an endpoint (mirror, search registry) was skipped.
fn say_skipped_endpoint(reference: &Reference, e: &TransportError) {
    if std::env::var_os("SKIFF_DEBUG").is_some() {
        eprintln!("skiff: {reference}: {e}; trying the next location");
    }
}
