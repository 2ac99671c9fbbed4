//! The images the matrix reads besides the synthetic ones: the runnable image of
//! `apply`, and decompression bombs (gzip and zstd layers, xz and bzip2 archives).

use std::path::Path;

use super::matrix::Codec;
use super::world::err;
use crate::image::{busybox_builder, Compression, ImageBuilder, LayerBuilder};
use crate::{Format, Image};

/// Uncompressed size of a bomb layer: far past the ratio limit's grace.
const BOMB_BYTES: usize = 96 << 20;

/// A busybox image whose program waits (apply runs it as the containers' init) and
/// ends on the stop signal at once, as a service does (an init without a handler
/// ignores it, and lxc-stop waits out its timeout); `version` goes into its config, so
/// into its digest.
pub fn sleeper(version: &str) -> Image {
    busybox_builder(Format::Docker)
        .entrypoint(&["/bin/sh", "-c"])
        .cmd(&["trap 'exit 0' TERM PWR INT; sleep 3600 & wait"])
        .env(&format!("VERSION={version}"))
        .build()
}

/// One file of zeros that compresses far beyond the ratio limit.
fn bomb_layer() -> Vec<u8> {
    LayerBuilder::new()
        .file("zeros", 0o644, &vec![0u8; BOMB_BYTES])
        .build()
}

pub fn bomb_image(compression: Compression) -> Image {
    ImageBuilder::new(Format::Oci)
        .layer(bomb_layer(), compression)
        .build_with_level(flate2::Compression::best())
}

/// A `docker save` archive holding the bomb layer uncompressed, compressed as a whole
/// by the system's `xz` or `bzip2`.
pub fn write_archive_bomb(path: &Path, codec: Codec) -> Result<(), String> {
    let image = ImageBuilder::new(Format::Docker)
        .layer(bomb_layer(), Compression::None)
        .build();
    let config_name = format!("{}.json", &image.config.digest[7..]);
    let layer_name = format!("{}/layer.tar", &image.layers[0].digest[7..]);
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": ["chaos/bomb:v1"],
        "Layers": [layer_name],
    }]);
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, data)
    };
    add("manifest.json", manifest.to_string().as_bytes()).map_err(err("tar"))?;
    add(&config_name, &image.config.data).map_err(err("tar"))?;
    add(&layer_name, &image.layers[0].data).map_err(err("tar"))?;
    let plain = tar.into_inner().map_err(err("tar"))?;
    let program = match codec {
        Codec::Xz => "xz",
        Codec::Bzip2 => "bzip2",
        Codec::Gzip | Codec::Zstd => return Err("layer bombs are images".into()),
    };
    let plain_path = path.with_extension("plain");
    std::fs::write(&plain_path, plain).map_err(err("bomb"))?;
    let out = std::fs::File::create(path).map_err(err("bomb"))?;
    let status = std::process::Command::new(program)
        .args(["-9", "-c"])
        .arg(&plain_path)
        .stdout(out)
        .status()
        .map_err(err(program))?;
    let _ = std::fs::remove_file(&plain_path);
    if !status.success() {
        return Err(format!("{program} failed"));
    }
    Ok(())
}
