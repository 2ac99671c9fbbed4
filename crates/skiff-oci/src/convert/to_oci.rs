//! Docker v2 schema 2 → OCI, as containers/image converts for an OCI destination: the
//! config is re-encoded as an OCI image configuration (Docker-only fields such as
//! `container_config` disappear), manifests and indexes get OCI media types, layer blobs
//! stay byte-for-byte unchanged.

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};

use super::{descriptor_for, parse_config, Converted};
use crate::media_type;
use crate::Error;

/// Re-encodes a Docker image configuration as an OCI image configuration. `history` is
/// always present (Proxmox's extractor requires the field).
pub fn config_to_oci(raw: &[u8]) -> Result<Converted, Error> {
    let mut config = parse_config(raw)?;
    if config.history().is_none() {
        config.set_history(Some(Vec::new()));
    }
    let bytes = serde_json::to_vec(&config).map_err(|e| Error::InvalidConfig(e.to_string()))?;
    let descriptor = descriptor_for(media_type::OCI_CONFIG, &bytes, None)?;
    Ok(Converted { bytes, descriptor })
}

/// Re-encodes an image manifest with OCI media types, pointing at `config` (the descriptor
/// of the converted config). Layer descriptors keep digest, size, urls and annotations.
pub fn manifest_to_oci(
    manifest: &ImageManifest,
    config: &Descriptor,
    template: Option<&Descriptor>,
) -> Result<Converted, Error> {
    let mut m = manifest.clone();
    m.set_media_type(Some(MediaType::ImageManifest));
    m.set_config(config.clone());
    let layers = m
        .layers()
        .iter()
        .map(|l| {
            let mut l = l.clone();
            let mt = l.media_type().to_string();
            l.set_media_type(MediaType::from(media_type::oci_layer_type(&mt)));
            l
        })
        .collect();
    m.set_layers(layers);
    let bytes = serde_json::to_vec(&m).map_err(|e| Error::InvalidManifest(e.to_string()))?;
    let descriptor = descriptor_for(media_type::OCI_MANIFEST, &bytes, template)?;
    Ok(Converted { bytes, descriptor })
}

/// Re-encodes an index with OCI media types, replacing its entries by `manifests` (the
/// descriptors of the converted per-platform manifests, in the same order).
pub fn index_to_oci(index: &ImageIndex, manifests: Vec<Descriptor>) -> Result<Converted, Error> {
    let mut i = index.clone();
    i.set_media_type(Some(MediaType::ImageIndex));
    i.set_manifests(manifests);
    let bytes = serde_json::to_vec(&i).map_err(|e| Error::InvalidManifest(e.to_string()))?;
    let descriptor = descriptor_for(media_type::OCI_INDEX, &bytes, None)?;
    Ok(Converted { bytes, descriptor })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Digest, Manifest};

    const CONFIG: &str = r#"{"architecture":"amd64","os":"linux","container_config":{"Hostname":"x"},"docker_version":"20.10",
        "config":{"Env":["PATH=/bin"],"Entrypoint":["/bin/sh"],"Healthcheck":{"Test":["NONE"]}},
        "rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]}}"#;

    #[test]
    fn config_conversion_drops_docker_fields_and_adds_history() {
        let c = config_to_oci(CONFIG.as_bytes()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&c.bytes).unwrap();
        assert!(v.get("container_config").is_none());
        assert!(v.get("docker_version").is_none());
        assert_eq!(v["config"]["Env"][0], "PATH=/bin");
        assert!(v["history"].is_array());
        assert_eq!(
            c.descriptor.media_type().to_string(),
            media_type::OCI_CONFIG
        );
        assert_eq!(c.descriptor.size(), c.bytes.len() as u64);
        assert_eq!(
            c.descriptor.digest().to_string(),
            Digest::sha256(&c.bytes).to_string()
        );
    }

    #[test]
    fn manifest_conversion_rewrites_media_types_only() {
        let raw = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
          "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
          "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":3,"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]}"#;
        let m = Manifest::parse(raw.to_vec(), None).unwrap();
        let cfg = config_to_oci(CONFIG.as_bytes()).unwrap();
        let out = manifest_to_oci(m.as_image().unwrap(), &cfg.descriptor, None).unwrap();
        let back = Manifest::parse(out.bytes.clone(), None).unwrap();
        assert_eq!(back.media_type(), media_type::OCI_MANIFEST);
        let img = back.as_image().unwrap();
        assert_eq!(
            img.config().media_type().to_string(),
            media_type::OCI_CONFIG
        );
        assert_eq!(
            img.layers()[0].media_type().to_string(),
            media_type::OCI_LAYER_GZIP
        );
        assert_eq!(img.layers()[0].size(), 3);
        assert_eq!(
            back.digest().to_string(),
            out.descriptor.digest().to_string()
        );
    }
}
