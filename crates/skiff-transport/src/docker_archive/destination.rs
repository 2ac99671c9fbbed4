//! `docker-archive:` as a destination.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use skiff_codec::DecodingWriter;
use skiff_oci::media_type::layer_compression;
use skiff_oci::{Digest, Manifest, Reference, Verifier};

use super::layout::{append_bytes, header};
use crate::atomic::{create_error, sibling, Cleanup};
use crate::destination::{BlobSink, DocumentKind, ImageDestination, ManifestPolicy, WritePlan};
use crate::error::{Result, TransportError};
use crate::plan_state::PlanState;

/// Writes a `docker save`-style archive that `docker load` and skopeo read: the config as
/// `<hex>.json`, each layer **uncompressed** as `<diff_id hex>.tar` (what `docker load`
/// expects; containers/image decompresses for this transport too), and `manifest.json`.
/// Layers are decompressed while they arrive, checked against the config's diff_ids, kept
/// in a staging directory beside the target, and assembled into the archive at commit
/// (their uncompressed sizes are unknown until then). The legacy `repositories` file and
/// per-layer `VERSION`/`json` directories are not written; `docker load` does not need them.
pub struct DockerArchiveDestination {
    target: PathBuf,
    repo_tags: Vec<String>,
    /// The plan's layers, and what this copy has staged.
    state: PlanState<Staged>,
}

/// One copy into a docker archive, between `begin` and `commit`.
struct Staged {
    /// Uncompressed layers, as `<plan index>.tar`.
    dir: Cleanup,
    config: Vec<u8>,
    config_digest: Digest,
    /// The manifest's layers in order, as indexes into the plan's layers, with their
    /// diff_ids.
    order: Vec<(usize, Digest)>,
}

impl Staged {
    fn layer_path(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("{index}.tar"))
    }
}

impl DockerArchiveDestination {
    /// A destination for `target`, recording `references` (tagged, possibly none) in
    /// RepoTags.
    pub fn new(target: PathBuf, references: Vec<Reference>) -> DockerArchiveDestination {
        let mut repo_tags: Vec<String> = Vec::new();
        for tag in references.iter().map(familiar) {
            if !repo_tags.contains(&tag) {
                repo_tags.push(tag);
            }
        }
        DockerArchiveDestination {
            target,
            repo_tags,
            state: PlanState::default(),
        }
    }
}

/// The short form Docker shows (`app:v1` for `docker.io/library/app:v1`).
fn familiar(r: &Reference) -> String {
    let name = r.name();
    let short = name
        .strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(&name)
        .to_string();
    match r.tag() {
        Some(t) => format!("{short}:{t}"),
        None => short,
    }
}

/// Checks a staged uncompressed layer against the diff_id the config names.
fn verify_file(path: &Path, what: String, diff_id: &Digest) -> Result<()> {
    let io = |e| TransportError::io(format!("reading {}", path.display()), e);
    let mut verifier = Verifier::new(what, diff_id, None);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        verifier.update(&buf[..n])?;
    }
    verifier.finish()?;
    Ok(())
}

#[async_trait]
impl ImageDestination for DockerArchiveDestination {
    fn describe(&self) -> String {
        format!("docker-archive:{}", self.target.display())
    }

    fn manifest_policy(&self) -> ManifestPolicy {
        ManifestPolicy::Keep
    }

    async fn begin(&mut self, plan: &WritePlan) -> Result<Vec<bool>> {
        if plan
            .documents
            .iter()
            .any(|d| d.kind == DocumentKind::Instance)
        {
            return Err(TransportError::Unsupported(
                "docker-archive: holds single images; copy without --all".into(),
            ));
        }
        let top = plan
            .documents
            .iter()
            .find(|d| d.kind == DocumentKind::Top)
            .ok_or_else(|| TransportError::internal("a plan without a manifest"))?;
        let manifest = Manifest::parse(top.bytes.clone(), None)?;
        let config = plan
            .documents
            .iter()
            .find(|d| d.kind == DocumentKind::Config)
            .ok_or_else(|| TransportError::internal("a plan without a config"))?;
        let diff_ids = skiff_oci::convert::parse_config(&config.bytes)?
            .rootfs()
            .diff_ids()
            .iter()
            .map(|d| d.parse::<Digest>())
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let image = manifest.as_image()?;
        if diff_ids.len() != image.layers().len() {
            // The image's own config disagrees with its manifest: damaged input.
            return Err(TransportError::Corrupt(format!(
                "config lists {} diff_ids for {} layers",
                diff_ids.len(),
                image.layers().len()
            )));
        }
        let mut order = Vec::with_capacity(diff_ids.len());
        for (layer, diff_id) in image.layers().iter().zip(diff_ids) {
            let digest = skiff_oci::descriptor_digest(layer)?;
            let index = plan
                .layers
                .iter()
                .position(|l| l.digest == digest)
                .ok_or_else(|| {
                    TransportError::internal(format!("layer {digest} missing from the plan"))
                })?;
            order.push((index, diff_id));
        }
        let dir = Cleanup::new(sibling(&self.target));
        std::fs::create_dir(dir.path()).map_err(|e| create_error(&self.target, e))?;
        let staged = Staged {
            dir,
            config: config.bytes.clone(),
            config_digest: config.digest.clone(),
            order,
        };
        self.state.begin(plan, staged)?;
        Ok(vec![false; plan.layers.len()])
    }

    fn layer_sink(&self, index: usize) -> Result<Box<dyn BlobSink>> {
        let (blob, staged) = self.state.layer(index)?;
        let path = staged.layer_path(index);
        let file = std::fs::File::create(&path)
            .map_err(|e| TransportError::io(format!("creating {}", path.display()), e))?;
        let out = std::io::BufWriter::with_capacity(1 << 20, file);
        // Layers come from outside: decoded within the same limits as unpack's.
        let writer = DecodingWriter::new(
            out,
            layer_compression(&blob.media_type),
            &skiff_codec::Limits::default(),
        )
        .map_err(|e| TransportError::io(format!("decoding {}", blob.digest), e))?;
        Ok(Box::new(DecompressingSink { writer }))
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        let (layers, staged) = self.state.take()?;
        let mut out = Cleanup::new(sibling(&self.target));
        let io = |e| TransportError::io(format!("writing {}", self.target.display()), e);
        let file = std::fs::File::create(out.path()).map_err(|e| create_error(&self.target, e))?;
        let mut builder = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, file));
        let config_name = format!("{}.json", staged.config_digest.hex());
        append_bytes(&mut builder, &config_name, &staged.config).map_err(io)?;
        let mut names = Vec::new();
        let mut written = std::collections::HashSet::new();
        for (index, diff_id) in &staged.order {
            let path = staged.layer_path(*index);
            let what = match layers.get(*index) {
                Some(l) => format!("uncompressed layer {}", l.digest),
                None => format!("uncompressed layer {diff_id}"),
            };
            verify_file(&path, what, diff_id)?;
            let name = format!("{}.tar", diff_id.hex());
            if written.insert(name.clone()) {
                let mut f = std::fs::File::open(&path).map_err(io)?;
                let h = header(&name, f.metadata().map_err(io)?.len());
                builder.append(&h, &mut f).map_err(io)?;
            }
            names.push(name);
        }
        let manifest = serde_json::json!([{
            "Config": config_name,
            "RepoTags": self.repo_tags,
            "Layers": names,
        }]);
        append_bytes(
            &mut builder,
            "manifest.json",
            manifest.to_string().as_bytes(),
        )
        .map_err(io)?;
        let inner = builder.into_inner().map_err(io)?;
        inner.into_inner().map_err(|e| io(e.into_error()))?;
        std::fs::rename(out.path(), &self.target).map_err(io)?;
        out.disarm();
        Ok(())
    }
}

/// Decompresses a layer into its staging file while it arrives.
struct DecompressingSink {
    writer: DecodingWriter<std::io::BufWriter<std::fs::File>>,
}

impl BlobSink for DecompressingSink {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }

    fn commit(mut self: Box<Self>) -> std::io::Result<()> {
        self.writer.flush()
    }
}
