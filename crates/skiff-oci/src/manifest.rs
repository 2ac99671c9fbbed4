//! Parsed manifests that keep their exact bytes.

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use crate::media_type::{self, DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED};
use crate::{Digest, Error};

/// A manifest or index together with the bytes it was parsed from and their digest.
#[derive(Debug, Clone)]
pub struct Manifest {
    raw: Vec<u8>,
    digest: Digest,
    media_type: String,
    kind: ManifestKind,
}

/// What a manifest describes.
#[derive(Debug, Clone)]
pub enum ManifestKind {
    /// A single image: config plus layers (OCI manifest or Docker v2 schema 2).
    Image(Box<ImageManifest>),
    /// A list of per-platform manifests (OCI index or Docker manifest list).
    Index(Box<ImageIndex>),
}

impl Manifest {
    /// Parses manifest bytes. `content_type` is what the server said (may be absent or
    /// generic); the document's own `mediaType` field wins when present, as in
    /// containers/image.
    pub fn parse(raw: Vec<u8>, content_type: Option<&str>) -> Result<Manifest, Error> {
        #[derive(serde::Deserialize)]
        struct Probe {
            #[serde(rename = "schemaVersion")]
            schema_version: Option<u64>,
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
            config: Option<serde_json::Value>,
            #[serde(rename = "fsLayers")]
            fs_layers: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(&raw)
            .map_err(|e| Error::InvalidManifest(format!("not a JSON manifest: {e}")))?;
        let content_type = content_type
            .map(|c| c.split(';').next().unwrap_or("").trim())
            .filter(|c| !c.is_empty() && *c != "application/json" && *c != "text/plain");
        if probe.schema_version == Some(1)
            || probe.fs_layers.is_some()
            || matches!(content_type, Some(DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED))
        {
            return Err(Error::SchemaOne(
                content_type.unwrap_or(DOCKER_SCHEMA1).to_string(),
            ));
        }
        if probe.schema_version != Some(2) {
            return Err(Error::InvalidManifest(format!(
                "unsupported schemaVersion {:?}",
                probe.schema_version
            )));
        }
        let media_type = match (probe.media_type, content_type) {
            (Some(m), _) => m,
            (None, Some(c)) => c.to_string(),
            (None, None) if probe.manifests.is_some() => media_type::OCI_INDEX.to_string(),
            (None, None) if probe.config.is_some() => media_type::OCI_MANIFEST.to_string(),
            (None, None) => {
                return Err(Error::InvalidManifest(
                    "neither manifests nor config: cannot tell what this is".into(),
                ))
            }
        };
        let kind = if media_type::is_index(&media_type) {
            ManifestKind::Index(
                serde_json::from_slice(&raw)
                    .map_err(|e| Error::InvalidManifest(format!("{media_type}: {e}")))?,
            )
        } else if media_type == media_type::OCI_MANIFEST
            || media_type == media_type::DOCKER_MANIFEST
        {
            ManifestKind::Image(
                serde_json::from_slice(&raw)
                    .map_err(|e| Error::InvalidManifest(format!("{media_type}: {e}")))?,
            )
        } else {
            return Err(Error::InvalidManifest(format!(
                "unsupported manifest media type {media_type:?}"
            )));
        };
        let digest = Digest::sha256(&raw);
        Ok(Manifest {
            raw,
            digest,
            media_type,
            kind,
        })
    }

    /// The exact bytes.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The sha256 digest of the exact bytes.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The manifest's media type.
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// The parsed content.
    pub fn kind(&self) -> &ManifestKind {
        &self.kind
    }

    /// Whether this is an index / manifest list.
    pub fn is_index(&self) -> bool {
        matches!(self.kind, ManifestKind::Index(_))
    }

    /// Whether this is a Docker (rather than OCI) format.
    pub fn is_docker(&self) -> bool {
        media_type::is_docker(&self.media_type)
    }

    /// The image manifest, or an error naming what this is instead.
    pub fn as_image(&self) -> Result<&ImageManifest, Error> {
        match &self.kind {
            ManifestKind::Image(m) => Ok(m),
            ManifestKind::Index(_) => Err(Error::InvalidManifest(format!(
                "expected an image manifest, found {}",
                self.media_type
            ))),
        }
    }

    /// Checks that these bytes are what `expected` names (used when a manifest was asked
    /// for by digest: the server must not substitute another).
    pub fn verify(&self, expected: &Digest) -> Result<(), Error> {
        let actual = expected.of_same_kind(&self.raw);
        if &actual == expected {
            Ok(())
        } else {
            Err(Error::InvalidManifest(format!(
                "manifest digest mismatch: expected {expected}, got {actual}"
            )))
        }
    }
}

/// The validated digest of a descriptor.
pub fn descriptor_digest(d: &Descriptor) -> Result<Digest, Error> {
    Digest::try_from(d.digest())
}

/// The size of a descriptor. (oci-spec already refuses negative sizes while parsing.)
pub fn descriptor_size(d: &Descriptor) -> Result<u64, Error> {
    Ok(d.size())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
      "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
      "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":3,"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]}"#;

    #[test]
    fn docker_v2s2_parses_and_keeps_bytes() {
        let m = Manifest::parse(
            DOCKER.as_bytes().to_vec(),
            Some("application/vnd.docker.distribution.manifest.v2+json"),
        )
        .unwrap();
        assert!(m.is_docker());
        assert_eq!(m.raw(), DOCKER.as_bytes());
        assert_eq!(m.digest(), &Digest::sha256(DOCKER.as_bytes()));
        assert_eq!(m.as_image().unwrap().layers().len(), 1);
    }

    #[test]
    fn schema1_is_refused_clearly() {
        let s1 = br#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#.to_vec();
        let err = Manifest::parse(s1, None).unwrap_err().to_string();
        assert!(err.contains("schema 1"), "{err}");
    }

    #[test]
    fn garbage_and_unknown_types_are_refused() {
        assert!(Manifest::parse(b"not json".to_vec(), None).is_err());
        assert!(Manifest::parse(br#"{"schemaVersion":2}"#.to_vec(), None).is_err());
        assert!(Manifest::parse(
            br#"{"schemaVersion":2,"mediaType":"text/html","config":{}}"#.to_vec(),
            None
        )
        .is_err());
        // A manifest whose digest field is hostile must not parse.
        let hostile = DOCKER.replace("sha256:e3b0", "sha256:../");
        assert!(Manifest::parse(hostile.into_bytes(), None).is_err());
    }

    #[test]
    fn verify_detects_substitution() {
        let m = Manifest::parse(DOCKER.as_bytes().to_vec(), None).unwrap();
        assert!(m.verify(&Digest::sha256(DOCKER.as_bytes())).is_ok());
        assert!(m.verify(&Digest::sha256(b"other")).is_err());
    }
}
