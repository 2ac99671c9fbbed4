//! `sync --src docker|dir|yaml --dest docker|dir SOURCE DESTINATION`: flags to
//! skiff-sync's options, one line per image, and the summary.

use std::sync::Arc;

use skiff_sync::{
    DestKind, DestinationHook, DestinationWrapper, ImageOutcome, Naming, Outcome, SourceKind,
    SyncError, SyncOptions, Wrapped,
};
use skiff_transport::{open_source, CopyOptions, ImageName, ManifestFormat, OpenOptions};

use crate::cli::{program_name, FormatArg, GlobalOptions, SyncArgs, SyncDestArg, SyncSourceArg};
use crate::failure::{Failure, Sides};
use crate::options::{host_cache, open_options, platform};
use crate::output::stderr_line;
use crate::policy::Gatekeeper;
use crate::signing::{carried_signatures, Carried, SignedDestination, Signer};

impl From<SyncError> for Failure {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Transport(e) => Failure::from(e),
            other => Failure::new(other.to_string()),
        }
    }
}

/// The registries a sync talks to, for hints that name `--src-*` or `--dest-*`.
pub fn sides(args: &SyncArgs) -> Sides {
    let mut sides = Sides::none();
    if args.src_kind == SyncSourceArg::Docker {
        sides = sides.side(&format!("docker://{}", args.source), "src-");
    }
    if args.dest_kind == SyncDestArg::Docker {
        sides = sides.side(&format!("docker://{}/x", args.destination), "dest-");
    }
    sides
}

/// Flags skiff cannot honour yet: refused with the reason, never silently ignored.
fn refuse_unsupported(args: &SyncArgs) -> Result<(), Failure> {
    if args.digestfile.is_some() {
        return Err(Failure::new(format!(
            "--digestfile is not supported by {} sync yet",
            program_name()
        )));
    }
    if args.src_kind == SyncSourceArg::Dir && args.dest_kind == SyncDestArg::Dir {
        return Err(Failure::new(
            "sync from dir to dir is not supported (as in skopeo): copy the directory instead",
        ));
    }
    Ok(())
}

pub async fn run(global: &GlobalOptions, args: SyncArgs) -> Result<(), Failure> {
    refuse_unsupported(&args)?;
    let src_flags = args.src.flags(
        args.authfile.as_ref(),
        args.retry.retry_times,
        args.retry.retry_delay,
    );
    let dest_flags = args.dest.flags(
        args.authfile.as_ref(),
        args.retry.retry_times,
        args.retry.retry_delay,
    );
    let mut source_options = open_options(global, &src_flags)?;
    // Into a registry, the cache is read but not filled: the destination keeps the
    // blobs, and a mirror's worth of them would push out what this host pulls (see
    // `Cache::read_only`). Into directories it is filled: every dir: image holds all
    // its blobs, and the cache is what fetches a shared base layer once per run.
    source_options.cache = host_cache(&args.cache)?.map(|cache| match args.dest_kind {
        SyncDestArg::Docker => cache.read_only(),
        SyncDestArg::Dir => cache,
    });
    let naming = Naming {
        kind: match args.dest_kind {
            SyncDestArg::Docker => DestKind::Docker,
            SyncDestArg::Dir => DestKind::Dir,
        },
        base: args.destination.clone(),
        scoped: args.scoped,
        append_suffix: args.append_suffix.clone(),
    };
    let kind = match args.src_kind {
        SyncSourceArg::Docker => SourceKind::Docker,
        SyncSourceArg::Dir => SourceKind::Dir,
        SyncSourceArg::Yaml => SourceKind::Yaml,
    };
    let jobs = skiff_sync::jobs(kind, &args.source, &naming, &source_options).await?;
    let defaults = CopyOptions::default();
    // One policy for the whole run, loaded before anything is opened; every source
    // image passes it before any of its layers moves, as with copy.
    let keeper = Gatekeeper::new(global)?;
    let options = SyncOptions {
        open_source: Arc::new(move |name: &ImageName, options: &OpenOptions| {
            Ok(keeper.gate(name, options, open_source(name, options)?))
        }),
        copy: CopyOptions {
            all: args.all,
            platform: platform(global),
            parallel: args.image_parallel_copies.unwrap_or(defaults.parallel),
            preserve_digests: args.preserve_digests,
            format: args.format.map(|f| match f {
                FormatArg::Oci => ManifestFormat::Oci,
                FormatArg::V2s2 => ManifestFormat::DockerV2Schema2,
            }),
            scratch_dir: global.tmpdir.clone(),
            retry_times: args.retry.retry_times,
            retry_delay: args.retry.retry_delay,
            ..defaults
        },
        destination: open_options(global, &dest_flags)?,
        parallel_images: args
            .parallel_images
            .unwrap_or(skiff_sync::DEFAULT_PARALLEL_IMAGES),
        keep_going: args.keep_going,
        dry_run: args.dry_run,
        destination_hook: signatures_hook(global, &args, &open_options(global, &dest_flags)?)?,
    };
    let total = jobs.len();
    let summary = skiff_sync::run(jobs, &options, &mut render).await;
    let mut line = format!(
        "{} copied, {} skipped, {} failed",
        summary.copied, summary.skipped, summary.failed
    );
    if args.dry_run {
        line = format!(
            "{} of {total} images would be synced (dry run)",
            summary.would_copy
        );
    }
    if summary.not_attempted > 0 {
        line.push_str(&format!(
            ", {} not attempted (--keep-going continues past failures)",
            summary.not_attempted
        ));
    }
    stderr_line(&line);
    if summary.failed > 0 {
        return Err(Failure::new(format!(
            "{} of {total} images failed to sync",
            summary.failed
        )));
    }
    Ok(())
}

/// Every destination carries its source's signatures (unless `--remove-signatures`) and
/// gets the ones `--sign-*` asks for, as with copy; an image with signatures to write is
/// copied even when the destination already holds it, so that each ends up signed.
fn signatures_hook(
    global: &GlobalOptions,
    args: &SyncArgs,
    destination: &OpenOptions,
) -> Result<Option<DestinationHook>, Failure> {
    let signer = Signer::from_args(&args.sign)?.map(Arc::new);
    if args.remove_signatures && signer.is_none() {
        return Ok(None);
    }
    let remove = args.remove_signatures;
    let all = args.all;
    let platform = platform(global);
    let registries_d = crate::policy::registries_d(global);
    let dest_open = destination.clone();
    let wrap: DestinationWrapper = Arc::new(move |job, source, destination| {
        let signer = signer.clone();
        let platform = platform.clone();
        let registries_d = registries_d.clone();
        let dest_open = dest_open.clone();
        Box::pin(async move {
            let carried = if remove {
                Carried::default()
            } else {
                carried_signatures(
                    source,
                    &job.source,
                    all,
                    &platform,
                    &registries_d,
                    &job.source_options,
                )
                .await?
            };
            // As containers/image: an image with signatures to write is copied again even
            // when the destination holds it, so the signatures reach it.
            let copy_up_to_date = signer.is_some() || !carried.is_empty();
            Ok(Wrapped {
                destination: Box::new(SignedDestination::new(
                    destination,
                    job.destination.clone(),
                    carried,
                    signer,
                    registries_d,
                    dest_open,
                )),
                copy_up_to_date,
            })
        })
    });
    Ok(Some(DestinationHook { wrap }))
}

/// One line per image on stderr, as it finishes (images finish out of order).
fn render(image: &ImageOutcome) {
    let (n, total) = image.position;
    let route = format!("{} -> {}", image.source, image.destination);
    let line = match &image.outcome {
        Outcome::Copied(r) => format!(
            "copied {n}/{total}: {route} ({} layers, {} bytes; {} layers already there)",
            r.layers_copied, r.bytes_copied, r.layers_reused
        ),
        Outcome::Skipped(d) => format!("skipped {n}/{total}: {route} (up to date at {d})"),
        Outcome::WouldCopy => format!("would sync {n}/{total}: {route}"),
        Outcome::Failed(e) => format!("failed {n}/{total}: {route}: {}", with_causes(e)),
    };
    stderr_line(&line);
}

/// An error with the causes its message does not already spell out.
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        next = cause.source();
    }
    text
}
