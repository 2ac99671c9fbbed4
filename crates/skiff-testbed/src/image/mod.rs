//! Test images built in memory with exact, deterministic bytes.
//!
//! Everything a registry or layout needs (manifest, config, compressed
//! layers, index) is produced here, so a test knows every digest in advance
//! and can compare what skiff wrote byte for byte. The same inputs always give
//! the same digests: no timestamps from the clock, no random names.

mod layer;
mod layout;
mod samples;

pub use layer::{pax_records, LayerBuilder, LongName, DEFAULT_MTIME};
pub use layout::{write_oci_layout, write_oci_layout_index};
pub use samples::{busybox_builder, busybox_image, large_image, GROUP, HOST_BUSYBOX, PASSWD};

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Media types used by the builders.
pub mod media {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
}

/// Fixed creation time written into configs and history.
pub const CREATED: &str = "2024-01-01T00:00:00Z";

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Which family of media types the manifest, config and layers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OCI image manifest / index.
    Oci,
    /// Docker image manifest v2 schema 2 / manifest list.
    Docker,
}

/// Compresses a tar the way `compression` says. Gzip output has a zeroed
/// header timestamp, so it is deterministic.
pub fn compress(tar: &[u8], compression: Compression) -> Vec<u8> {
    compress_level(tar, compression, flate2::Compression::default())
}

pub(crate) fn compress_level(
    tar: &[u8],
    compression: Compression,
    level: flate2::Compression,
) -> Vec<u8> {
    use std::io::Write;
    match compression {
        Compression::None => tar.to_vec(),
        Compression::Gzip => {
            let mut enc = flate2::GzBuilder::new().write(Vec::with_capacity(tar.len() / 2), level);
            enc.write_all(tar).expect("write to Vec");
            enc.finish().expect("write to Vec")
        }
        Compression::Zstd => zstd::encode_all(tar, 3).expect("zstd to Vec"),
    }
}

/// Decompresses a layer according to its media type suffix (`gzip`, `zstd`
/// or none).
pub fn decompress(media_type: &str, data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    if media_type.ends_with("gzip") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .expect("own gzip layer");
        out
    } else if media_type.ends_with("zstd") {
        zstd::decode_all(data).expect("own zstd layer")
    } else {
        data.to_vec()
    }
}

/// A content-addressed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: String,
    pub media_type: String,
    pub data: Vec<u8>,
}

impl Blob {
    pub fn new(media_type: &str, data: Vec<u8>) -> Blob {
        Blob {
            digest: sha256_digest(&data),
            media_type: media_type.to_string(),
            data,
        }
    }

    fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.data.len() as u64,
            platform: None,
        }
    }
}

/// A single-platform image: manifest bytes plus every blob it references.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest: Vec<u8>,
    pub manifest_media_type: String,
    pub manifest_digest: String,
    pub config: Blob,
    pub layers: Vec<Blob>,
}

impl Image {
    /// Config and layers: everything to upload before the manifest.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(self.layers.iter())
    }

    /// The uncompressed tar of each layer, in order (decompressed according
    /// to its media type): what an unpacker applies.
    pub fn layer_tars(&self) -> Vec<Vec<u8>> {
        self.layers
            .iter()
            .map(|l| decompress(&l.media_type, &l.data))
            .collect()
    }

    /// `sha256` of each uncompressed layer, as listed in the config's
    /// `rootfs.diff_ids`.
    pub fn diff_ids(&self) -> Vec<String> {
        self.layer_tars().iter().map(|t| sha256_digest(t)).collect()
    }

    /// `(os, architecture, variant)` read back from the config.
    pub fn platform(&self) -> (String, String, Option<String>) {
        let v: serde_json::Value =
            serde_json::from_slice(&self.config.data).expect("own config is JSON");
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        (
            s("os").unwrap_or_default(),
            s("architecture").unwrap_or_default(),
            s("variant"),
        )
    }

    fn descriptor(&self, with_platform: bool) -> Descriptor {
        let platform = with_platform.then(|| {
            let (os, architecture, variant) = self.platform();
            Platform {
                architecture,
                os,
                variant,
            }
        });
        Descriptor {
            media_type: self.manifest_media_type.clone(),
            digest: self.manifest_digest.clone(),
            size: self.manifest.len() as u64,
            platform,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<Platform>,
}

#[derive(Serialize)]
struct Platform {
    architecture: String,
    os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    media_type: String,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    media_type: String,
    manifests: Vec<Descriptor>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RunConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    env: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_dir: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    volumes: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    exposed_ports: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_signal: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct History {
    created: String,
    created_by: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    empty_layer: bool,
}

#[derive(Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: String,
    diff_ids: Vec<String>,
}

#[derive(Serialize)]
struct ImageConfig {
    created: String,
    architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
    os: String,
    config: RunConfig,
    rootfs: RootFs,
    history: Vec<History>,
}

/// Builds an [`Image`]: config (with correct `rootfs.diff_ids` and one
/// history entry per layer) and manifest, in OCI or Docker v2s2 media types.
pub struct ImageBuilder {
    format: Format,
    os: String,
    arch: String,
    variant: Option<String>,
    run: RunConfig,
    layers: Vec<(Vec<u8>, Compression)>,
    /// (position among layers, created_by) of history entries without a layer.
    empty_history: Vec<(usize, String)>,
}

impl ImageBuilder {
    /// An image for linux/amd64 with no layers and an empty run config.
    pub fn new(format: Format) -> Self {
        ImageBuilder {
            format,
            os: "linux".into(),
            arch: "amd64".into(),
            variant: None,
            run: RunConfig::default(),
            layers: Vec::new(),
            empty_history: Vec::new(),
        }
    }

    /// Adds a layer from an uncompressed tar. Docker media types only exist
    /// for uncompressed and gzip layers: `Format::Docker` with `Zstd` panics.
    pub fn layer(mut self, tar: Vec<u8>, compression: Compression) -> Self {
        assert!(
            !(self.format == Format::Docker && compression == Compression::Zstd),
            "skiff-testbed: Docker v2s2 has no zstd layer media type; use Format::Oci"
        );
        self.layers.push((tar, compression));
        self
    }

    /// A history entry with `empty_layer: true` at the current position (as
    /// `ENV` or `CMD` steps of a Dockerfile produce).
    pub fn empty_history(mut self, created_by: &str) -> Self {
        self.empty_history
            .push((self.layers.len(), created_by.to_string()));
        self
    }

    pub fn platform(mut self, os: &str, arch: &str, variant: Option<&str>) -> Self {
        self.os = os.into();
        self.arch = arch.into();
        self.variant = variant.map(Into::into);
        self
    }

    pub fn entrypoint(mut self, args: &[&str]) -> Self {
        self.run.entrypoint = Some(args.iter().map(|s| s.to_string()).collect());
        self
    }

    pub fn cmd(mut self, args: &[&str]) -> Self {
        self.run.cmd = Some(args.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Adds one `KEY=value` to Env.
    pub fn env(mut self, kv: &str) -> Self {
        self.run.env.push(kv.into());
        self
    }

    pub fn workdir(mut self, d: &str) -> Self {
        self.run.working_dir = Some(d.into());
        self
    }

    pub fn user(mut self, u: &str) -> Self {
        self.run.user = Some(u.into());
        self
    }

    pub fn volume(mut self, path: &str) -> Self {
        self.run.volumes.insert(path.into(), Default::default());
        self
    }

    /// Adds an exposed port such as `8080/tcp`.
    pub fn expose(mut self, port: &str) -> Self {
        self.run
            .exposed_ports
            .insert(port.into(), Default::default());
        self
    }

    pub fn stop_signal(mut self, s: &str) -> Self {
        self.run.stop_signal = Some(s.into());
        self
    }

    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.run.labels.insert(k.into(), v.into());
        self
    }

    pub fn build(self) -> Image {
        self.build_with_level(flate2::Compression::default())
    }

    pub(crate) fn build_with_level(self, level: flate2::Compression) -> Image {
        let oci = self.format == Format::Oci;
        let layer_media = |c: Compression| match (oci, c) {
            (true, Compression::None) => media::OCI_LAYER,
            (true, Compression::Gzip) => media::OCI_LAYER_GZIP,
            (true, Compression::Zstd) => media::OCI_LAYER_ZSTD,
            (false, Compression::None) => media::DOCKER_LAYER,
            (false, Compression::Gzip) => media::DOCKER_LAYER_GZIP,
            (false, Compression::Zstd) => unreachable!("rejected in layer()"),
        };
        // Compressing is the slow part of big images: one thread per layer.
        let layers: Vec<Blob> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .layers
                .iter()
                .map(|(tar, c)| {
                    s.spawn(move || Blob::new(layer_media(*c), compress_level(tar, *c, level)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("compression thread"))
                .collect()
        });
        let diff_ids: Vec<String> = self
            .layers
            .iter()
            .map(|(tar, _)| sha256_digest(tar))
            .collect();

        let mut history = Vec::new();
        for i in 0..=self.layers.len() {
            for (_, by) in self.empty_history.iter().filter(|(pos, _)| *pos == i) {
                history.push(History {
                    created: CREATED.into(),
                    created_by: by.clone(),
                    empty_layer: true,
                });
            }
            if i < self.layers.len() {
                history.push(History {
                    created: CREATED.into(),
                    created_by: format!("skiff-testbed layer {i}"),
                    empty_layer: false,
                });
            }
        }
        let config = ImageConfig {
            created: CREATED.into(),
            architecture: self.arch,
            variant: self.variant,
            os: self.os,
            config: self.run,
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: diff_ids.clone(),
            },
            history,
        };
        let config = Blob::new(
            if oci {
                media::OCI_CONFIG
            } else {
                media::DOCKER_CONFIG
            },
            serde_json::to_vec(&config).expect("config serialises"),
        );
        let manifest_media_type = if oci {
            media::OCI_MANIFEST
        } else {
            media::DOCKER_MANIFEST
        };
        let manifest = Manifest {
            schema_version: 2,
            media_type: manifest_media_type.into(),
            config: config.descriptor(),
            layers: layers.iter().map(Blob::descriptor).collect(),
        };
        let manifest = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
        Image {
            manifest_digest: sha256_digest(&manifest),
            manifest,
            manifest_media_type: manifest_media_type.into(),
            config,
            layers,
        }
    }
}

/// An OCI index or Docker manifest list with the images it lists.
#[derive(Debug, Clone)]
pub struct MultiArch {
    pub index: Vec<u8>,
    pub media_type: String,
    pub digest: String,
    pub images: Vec<Image>,
}

/// Lists `images` in an index (OCI) or manifest list (Docker); each entry's
/// platform is read from that image's config.
pub fn multi_arch(format: Format, images: Vec<Image>) -> MultiArch {
    let media_type = match format {
        Format::Oci => media::OCI_INDEX,
        Format::Docker => media::DOCKER_LIST,
    };
    let index = Index {
        schema_version: 2,
        media_type: media_type.into(),
        manifests: images.iter().map(|i| i.descriptor(true)).collect(),
    };
    let index = serde_json::to_vec_pretty(&index).expect("index serialises");
    MultiArch {
        digest: sha256_digest(&index),
        index,
        media_type: media_type.into(),
        images,
    }
}
