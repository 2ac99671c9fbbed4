//! Media type strings and what they mean for a copy.

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image configuration.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// OCI non-distributable gzip layer (Docker's "foreign" layers after conversion).
pub const OCI_LAYER_NONDIST_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/// OCI non-distributable uncompressed layer.
pub const OCI_LAYER_NONDIST_TAR: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
/// Docker v2 schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker uncompressed layer (rare, but written by some tools).
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker foreign (non-distributable) gzip layer.
pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// Docker foreign (non-distributable) uncompressed layer.
pub const DOCKER_FOREIGN_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar";
/// Docker schema 1 manifest (refused).
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Signed Docker schema 1 manifest (refused).
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The `Accept` header value a registry client sends for manifests, most preferred first.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// How a layer's bytes are compressed, judged from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

/// The compression a layer media type declares. Unknown types are assumed gzip when they
/// end in `gzip`, zstd when in `zstd`, else plain — the same guess skopeo makes.
pub fn layer_compression(media_type: &str) -> Compression {
    if media_type.ends_with("gzip") {
        Compression::Gzip
    } else if media_type.ends_with("zstd") {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// The OCI layer media type for a compression.
pub fn oci_layer_for(compression: Compression) -> &'static str {
    match compression {
        Compression::None => OCI_LAYER_TAR,
        Compression::Gzip => OCI_LAYER_GZIP,
        Compression::Zstd => OCI_LAYER_ZSTD,
    }
}

/// Whether a media type is an ordinary (distributable, unencrypted) layer of either
/// format — the layers skiff may recompress.
pub fn is_plain_layer(media_type: &str) -> bool {
    matches!(
        media_type,
        OCI_LAYER_TAR | OCI_LAYER_GZIP | OCI_LAYER_ZSTD | DOCKER_LAYER_TAR | DOCKER_LAYER_GZIP
    )
}

/// Whether a media type names a Docker (not OCI) format.
pub fn is_docker(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.docker.")
}

/// Whether a media type names an index / manifest list.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// The OCI layer media type a Docker layer media type converts to (skopeo's mapping);
/// OCI types map to themselves.
pub fn oci_layer_type(media_type: &str) -> &str {
    match media_type {
        DOCKER_LAYER_GZIP => OCI_LAYER_GZIP,
        DOCKER_LAYER_TAR => OCI_LAYER_TAR,
        DOCKER_FOREIGN_LAYER_GZIP => OCI_LAYER_NONDIST_GZIP,
        DOCKER_FOREIGN_LAYER_TAR => OCI_LAYER_NONDIST_TAR,
        other => other,
    }
}

/// The Docker layer media type an OCI layer media type converts to, when there is one.
pub fn docker_layer_type(media_type: &str) -> Option<&'static str> {
    match media_type {
        OCI_LAYER_GZIP | DOCKER_LAYER_GZIP => Some(DOCKER_LAYER_GZIP),
        OCI_LAYER_TAR | DOCKER_LAYER_TAR => Some(DOCKER_LAYER_TAR),
        OCI_LAYER_NONDIST_GZIP | DOCKER_FOREIGN_LAYER_GZIP => Some(DOCKER_FOREIGN_LAYER_GZIP),
        OCI_LAYER_NONDIST_TAR | DOCKER_FOREIGN_LAYER_TAR => Some(DOCKER_FOREIGN_LAYER_TAR),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_layers_map_to_oci() {
        assert_eq!(oci_layer_type(DOCKER_LAYER_GZIP), OCI_LAYER_GZIP);
        assert_eq!(oci_layer_type(OCI_LAYER_ZSTD), OCI_LAYER_ZSTD);
        assert_eq!(docker_layer_type(OCI_LAYER_ZSTD), None);
        assert_eq!(layer_compression(OCI_LAYER_ZSTD), Compression::Zstd);
        assert_eq!(layer_compression(DOCKER_LAYER_GZIP), Compression::Gzip);
        assert_eq!(layer_compression(OCI_LAYER_TAR), Compression::None);
        assert!(is_index(DOCKER_MANIFEST_LIST) && !is_index(OCI_MANIFEST));
    }
}
