//! `copy SOURCE DESTINATION`.

use skiff_oci::media_type::Compression;
use skiff_transport::{
    copy_image, open_destination, open_source, CopyOptions, ImageName, LayerEncoding,
    ManifestFormat,
};

use std::sync::Arc;

use skiff_oci::Reference;

use crate::cli::{CompressArg, CopyArgs, FormatArg, GlobalOptions, MultiArch};
use crate::failure::Failure;
use crate::options::{host_cache, open_options, platform};
use crate::render;
use crate::signing::{carried_signatures, Carried, SignedDestination, Signer};

/// `--additional-tag` values: references that carry a tag (skopeo refuses others).
fn additional_tags(values: &[String]) -> Result<Vec<Reference>, Failure> {
    values
        .iter()
        .map(|v| {
            let r = Reference::parse_unnormalised_tag(v)?;
            if r.tag().is_none() || r.digest().is_some() {
                return Err(Failure::new(format!(
                    "additional tag {v:?} must be a tagged reference (NAME:TAG)"
                )));
            }
            Ok(r)
        })
        .collect()
}

/// What the --dest-compress* and --dest-decompress flags ask of the layers.
fn layer_encoding(args: &CopyArgs) -> Result<Option<LayerEncoding>, Failure> {
    if args.dest_decompress {
        return Ok(Some(LayerEncoding {
            format: Compression::None,
            only_uncompressed: false,
            level: None,
        }));
    }
    let format = args.dest_compress_format.map(|f| match f {
        CompressArg::Gzip => Compression::Gzip,
        CompressArg::Zstd => Compression::Zstd,
    });
    if format.is_none() && !args.dest_compress {
        if args.dest_compress_level.is_some() {
            return Err(Failure::new(
                "--dest-compress-level needs --dest-compress-format or --dest-compress",
            ));
        }
        return Ok(None);
    }
    Ok(Some(LayerEncoding {
        format: format.unwrap_or(Compression::Gzip),
        only_uncompressed: format.is_none(),
        level: args.dest_compress_level,
    }))
}

/// `--src-shared-blob-dir` / `--dest-shared-blob-dir` (`side` says which): only an
/// `oci:` layout keeps its blobs elsewhere, so the flag is refused with any other image.
fn shared_blob_dir(
    name: &ImageName,
    dir: &Option<std::path::PathBuf>,
    side: &str,
) -> Result<Option<std::path::PathBuf>, Failure> {
    match (dir, name) {
        (None, _) | (Some(_), ImageName::Oci { .. }) => Ok(dir.clone()),
        (Some(_), _) => Err(Failure::new(format!(
            "--{side}-shared-blob-dir applies to oci: images only, not {name}"
        ))),
    }
}

pub async fn run(global: &GlobalOptions, args: CopyArgs) -> Result<(), Failure> {
    let source: ImageName = args.source.parse()?;
    let destination: ImageName = args.destination.parse()?;
    let all =
        match args.multi_arch {
            Some(MultiArch::All) => true,
            Some(MultiArch::System) | None => args.all,
            Some(MultiArch::IndexOnly) => return Err(Failure::new(
                "--multi-arch=index-only is not supported yet; use --all or --multi-arch=system",
            )),
        };
    let src_flags = args
        .src
        .flags(
            args.authfile.as_ref(),
            args.retry.retry_times,
            args.retry.retry_delay,
        )
        .quiet(args.quiet);
    let dest_flags = args
        .dest
        .flags(
            args.authfile.as_ref(),
            args.retry.retry_times,
            args.retry.retry_delay,
        )
        .quiet(args.quiet);
    // Keys and passphrases are checked before any image is opened.
    let signer = Signer::from_args(&args.sign)?.map(Arc::new);
    let src_blobs = shared_blob_dir(&source, &args.src_shared_blob_dir, "src")?;
    let dest_blobs = shared_blob_dir(&destination, &args.dest_shared_blob_dir, "dest")?;
    let mut src_options = open_options(global, &src_flags)?;
    src_options.shared_blob_dir = src_blobs;
    // Into a registry, the cache is read but not filled, as by `sync`: the registry keeps
    // the blobs, and checks their digests itself, so skiff does not hash them — and keeps
    // in its cache only what it hashed.
    src_options.cache = host_cache(&args.cache)?.map(|cache| match &destination {
        ImageName::Docker { .. } => cache.read_only(),
        _ => cache,
    });
    let src = crate::policy::gate(
        global,
        &source,
        &src_options,
        open_source(&source, &src_options)?,
    )?;
    let mut dest_options = open_options(global, &dest_flags)?;
    dest_options.shared_blob_dir = dest_blobs;
    if let ImageName::Docker { reference, .. } = &source {
        dest_options.mount_from = Some(reference.clone());
    }
    dest_options.additional_tags = additional_tags(&args.additional_tags)?;
    dest_options.oci_accept_uncompressed_layers = args.dest_oci_accept_uncompressed_layers;
    let registries_d = crate::policy::registries_d(global);
    let carried = if args.remove_signatures {
        Carried::default()
    } else {
        carried_signatures(
            src.as_ref(),
            &source,
            all,
            &platform(global),
            &registries_d,
            &src_options,
        )
        .await?
    };
    let dest = Box::new(SignedDestination::new(
        open_destination(&destination, &dest_options)?,
        destination,
        carried,
        signer,
        registries_d,
        dest_options.clone(),
    ));
    let options = CopyOptions {
        all,
        platform: platform(global),
        parallel: args
            .image_parallel_copies
            .unwrap_or(CopyOptions::default().parallel),
        preserve_digests: args.preserve_digests,
        format: args.format.map(|f| match f {
            FormatArg::Oci => ManifestFormat::Oci,
            FormatArg::V2s2 => ManifestFormat::DockerV2Schema2,
        }),
        layer_encoding: layer_encoding(&args)?,
        scratch_dir: global.tmpdir.clone(),
        retry_times: args.retry.retry_times,
        retry_delay: args.retry.retry_delay,
    };
    let report = copy_image(src.as_ref(), dest, &options, render::reporter(args.quiet)).await?;
    if let Some(path) = &args.digestfile {
        std::fs::write(path, report.manifest_digest.to_string())
            .map_err(|e| Failure::new(format!("writing --digestfile {}: {e}", path.display())))?;
    }
    Ok(())
}
