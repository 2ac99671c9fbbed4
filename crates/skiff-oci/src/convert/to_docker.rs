//! OCI → Docker v2 schema 2, as containers/image converts for `--format v2s2`.
//!
//! Only media types change: the config blob keeps its bytes (an OCI image configuration
//! is a valid Docker one), layer descriptors keep digest, size and urls. Annotations,
//! `subject` and `artifactType` have no Docker spelling and are dropped, as skopeo drops
//! them. Refused: zstd layers (Docker has no media type for them), encrypted or unknown
//! layer types, and artifacts whose config is not an image configuration.
//!
//! The documents are serialised with Docker's field order (`mediaType`, `size`, `digest`),
//! so a converted manifest has the same bytes — and digest — as skopeo's.

use oci_spec::image::{Descriptor, ImageManifest};
use serde::Serialize;

use super::{descriptor_for, Converted};
use crate::media_type;
use crate::Error;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DockerManifest {
    schema_version: u32,
    media_type: &'static str,
    config: DockerDescriptor,
    layers: Vec<DockerDescriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DockerList {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<DockerListEntry>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DockerDescriptor {
    media_type: String,
    size: u64,
    digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    urls: Option<Vec<String>>,
}

#[derive(Serialize)]
struct DockerListEntry {
    #[serde(flatten)]
    descriptor: DockerDescriptor,
    platform: DockerPlatform,
}

#[derive(Serialize)]
struct DockerPlatform {
    architecture: String,
    os: String,
    #[serde(rename = "os.version", skip_serializing_if = "Option::is_none")]
    os_version: Option<String>,
    #[serde(rename = "os.features", skip_serializing_if = "Option::is_none")]
    os_features: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    features: Option<Vec<String>>,
}

impl DockerDescriptor {
    fn new(d: &Descriptor, media_type: &str) -> DockerDescriptor {
        DockerDescriptor {
            media_type: media_type.to_string(),
            size: d.size(),
            digest: d.digest().to_string(),
            urls: d.urls().clone().filter(|u| !u.is_empty()),
        }
    }
}

/// Re-encodes an image manifest with Docker v2 schema 2 media types. The config blob is
/// kept, so the config descriptor only changes its media type.
pub fn manifest_to_docker(
    manifest: &ImageManifest,
    template: Option<&Descriptor>,
) -> Result<Converted, Error> {
    let config = manifest.config();
    let config_type = config.media_type().to_string();
    if config_type != media_type::OCI_CONFIG && config_type != media_type::DOCKER_CONFIG {
        return Err(Error::NotConvertible(format!(
            "its config is {config_type:?}, not an image configuration (an OCI artifact)"
        )));
    }
    let layers = manifest
        .layers()
        .iter()
        .map(|l| {
            let mt = l.media_type().to_string();
            match media_type::docker_layer_type(&mt) {
                Some(docker) => Ok(DockerDescriptor::new(l, docker)),
                None if media_type::layer_compression(&mt) == media_type::Compression::Zstd => {
                    Err(Error::NotConvertible(format!(
                        "layer {} is zstd-compressed, which Docker images cannot hold",
                        l.digest()
                    )))
                }
                None => Err(Error::NotConvertible(format!(
                    "layer {} has media type {mt:?}, which has no Docker equivalent",
                    l.digest()
                ))),
            }
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let doc = DockerManifest {
        schema_version: 2,
        media_type: media_type::DOCKER_MANIFEST,
        config: DockerDescriptor::new(config, media_type::DOCKER_CONFIG),
        layers,
    };
    let bytes = serde_json::to_vec(&doc).map_err(|e| Error::InvalidManifest(e.to_string()))?;
    let descriptor = descriptor_for(media_type::DOCKER_MANIFEST, &bytes, template)?;
    Ok(Converted { bytes, descriptor })
}

/// Re-encodes an index as a Docker manifest list whose entries are `manifests` (the
/// descriptors of the converted per-platform manifests, in the same order). An entry
/// without platform gets an empty one, as in containers/image.
pub fn index_to_docker(manifests: &[Descriptor]) -> Result<Converted, Error> {
    let manifests = manifests
        .iter()
        .map(|d| {
            let p = d.platform().as_ref();
            DockerListEntry {
                descriptor: DockerDescriptor::new(d, d.media_type().as_ref()),
                platform: DockerPlatform {
                    architecture: p.map(|p| p.architecture().to_string()).unwrap_or_default(),
                    os: p.map(|p| p.os().to_string()).unwrap_or_default(),
                    os_version: p.and_then(|p| p.os_version().clone()),
                    os_features: p.and_then(|p| p.os_features().clone()),
                    variant: p.and_then(|p| p.variant().clone()),
                    features: p.and_then(|p| p.features().clone()),
                },
            }
        })
        .collect();
    let doc = DockerList {
        schema_version: 2,
        media_type: media_type::DOCKER_MANIFEST_LIST,
        manifests,
    };
    let bytes = serde_json::to_vec(&doc).map_err(|e| Error::InvalidManifest(e.to_string()))?;
    let descriptor = descriptor_for(media_type::DOCKER_MANIFEST_LIST, &bytes, None)?;
    Ok(Converted { bytes, descriptor })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Digest, Manifest};

    /// An OCI manifest as skopeo 1.9.3 stores it in an `oci:` layout.
    const OCI: &str = r#"{
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": "sha256:8cb7e4fad8aa22952eb180a6c4321c38631e12a55022283c3095036147e5ff70", "size": 737},
      "layers": [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
         "digest": "sha256:41d3463642cad93ec007cbd085bf471e97f6b499fb2463625551b7e3326b8554", "size": 1058973,
         "annotations": {"org.example": "dropped"}},
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
         "digest": "sha256:94b367f07a11c654e7056cd29ef177d8f942be6151c896afc9f88eb20802b499", "size": 342}
      ],
      "annotations": {"org.opencontainers.image.created": "dropped too"}
    }"#;

    /// What `skopeo copy --format v2s2 oci:… dir:…` wrote for it.
    const SKOPEO_V2S2: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":737,"digest":"sha256:8cb7e4fad8aa22952eb180a6c4321c38631e12a55022283c3095036147e5ff70"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":1058973,"digest":"sha256:41d3463642cad93ec007cbd085bf471e97f6b499fb2463625551b7e3326b8554"},{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":342,"digest":"sha256:94b367f07a11c654e7056cd29ef177d8f942be6151c896afc9f88eb20802b499"}]}"#;

    /// And for a two-platform index of that image (`--all --format v2s2`).
    const SKOPEO_LIST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":587,"digest":"sha256:b7ff9b240247a3e3d9b040e8546483c0330c962f56904fa9cb1aab97120fe5e5","platform":{"architecture":"amd64","os":"linux"}},{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":587,"digest":"sha256:05b1e0dffdc0bbcf379a49e9d1fcebe17996efd60ba337887302d10117760a4b","platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}"#;

    fn oci_manifest(raw: &str) -> ImageManifest {
        Manifest::parse(raw.as_bytes().to_vec(), None)
            .unwrap()
            .as_image()
            .unwrap()
            .clone()
    }

    #[test]
    fn a_converted_manifest_has_skopeos_bytes() {
        let out = manifest_to_docker(&oci_manifest(OCI), None).unwrap();
        assert_eq!(String::from_utf8(out.bytes.clone()).unwrap(), SKOPEO_V2S2);
        assert_eq!(
            out.descriptor.digest().to_string(),
            Digest::sha256(SKOPEO_V2S2.as_bytes()).to_string()
        );
        assert_eq!(
            out.descriptor.media_type().to_string(),
            media_type::DOCKER_MANIFEST
        );
    }

    #[test]
    fn a_converted_index_has_skopeos_bytes() {
        let entries: serde_json::Value = serde_json::from_str(SKOPEO_LIST).unwrap();
        let descriptors: Vec<Descriptor> =
            serde_json::from_value(entries["manifests"].clone()).unwrap();
        let out = index_to_docker(&descriptors).unwrap();
        assert_eq!(String::from_utf8(out.bytes).unwrap(), SKOPEO_LIST);
    }

    #[test]
    fn zstd_layers_and_artifacts_are_refused() {
        let zstd = OCI.replacen("v1.tar+gzip", "v1.tar+zstd", 1);
        let e = manifest_to_docker(&oci_manifest(&zstd), None).unwrap_err();
        assert!(e.to_string().contains("zstd"), "{e}");
        assert!(e.to_string().contains("41d3463642ca"), "{e}");
        let artifact = OCI.replace(
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.example.sbom+json",
        );
        let e = manifest_to_docker(&oci_manifest(&artifact), None).unwrap_err();
        assert!(e.to_string().contains("artifact"), "{e}");
    }

    #[test]
    fn uncompressed_and_foreign_layers_keep_their_meaning() {
        let raw = OCI
            .replacen(
                "application/vnd.oci.image.layer.v1.tar+gzip",
                "application/vnd.oci.image.layer.v1.tar",
                1,
            )
            .replacen(
                "application/vnd.oci.image.layer.v1.tar+gzip",
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                1,
            );
        let out = manifest_to_docker(&oci_manifest(&raw), None).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.bytes).unwrap();
        assert_eq!(v["layers"][0]["mediaType"], media_type::DOCKER_LAYER_TAR);
        assert_eq!(
            v["layers"][1]["mediaType"],
            media_type::DOCKER_FOREIGN_LAYER_GZIP
        );
    }
}
