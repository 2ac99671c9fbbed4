//! Running a sync: images in parallel (bounded), each skipped when its destination
//! already holds it, each copied by the one copy pipeline (`copy_image`), and a summary.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use skiff_oci::{Digest, ManifestKind};
use skiff_transport::progress::Silent;
use skiff_transport::{
    copy_image, open_destination, registry_client, CopyOptions, CopyReport, ImageDestination,
    ImageName, ImageSource, OpenOptions, TransportError,
};

use crate::source::Job;

/// Images copied at once unless told otherwise: enough to hide per-image latency
/// (manifest round trips, commits) without multiplying memory or connections much, as
/// each image already moves several layers at once.
pub const DEFAULT_PARALLEL_IMAGES: usize = 4;

/// How a sync runs.
#[derive(Clone)]
pub struct SyncOptions {
    /// How each source image is opened: [`skiff_transport::open_source`], or that wrapped
    /// by the caller (the binary puts every source behind the signature policy).
    pub open_source: SourceOpener,
    /// The choices of each copy (`--all`, `--format`, `--preserve-digests`, …).
    pub copy: CopyOptions,
    /// How the destination is opened.
    pub destination: OpenOptions,
    /// Images copied at once.
    pub parallel_images: usize,
    /// `--keep-going`: a failed image does not stop the others.
    pub keep_going: bool,
    /// `--dry-run`: list what would be copied, copy nothing.
    pub dry_run: bool,
    /// What the caller adds to each opened destination (the binary carries and makes
    /// signatures there); `None` writes to it as opened.
    pub destination_hook: Option<DestinationHook>,
}

/// Wraps one opened destination of a sync, given its source (already opened and gated)
/// and both names.
pub type DestinationWrapper = Arc<
    dyn for<'a> Fn(
            &'a Job,
            &'a dyn ImageSource,
            Box<dyn ImageDestination>,
        ) -> BoxFuture<'a, Result<Wrapped, TransportError>>
        + Send
        + Sync,
>;

/// A destination as the caller's hook wrapped it.
pub struct Wrapped {
    /// What the copy writes to.
    pub destination: Box<dyn ImageDestination>,
    /// Copy the image even if the destination already holds it: it gets something the
    /// holding copy may lack (signatures carried from the source or made now), as
    /// containers/image copies a signed image again rather than skip it.
    pub copy_up_to_date: bool,
}

/// A caller's addition to every destination of a sync.
#[derive(Clone)]
pub struct DestinationHook {
    /// Wraps each opened destination.
    pub wrap: DestinationWrapper,
}

/// Opens one source image of a sync.
pub type SourceOpener = Arc<
    dyn Fn(&ImageName, &OpenOptions) -> Result<Box<dyn ImageSource>, TransportError> + Send + Sync,
>;

/// What happened to one image.
#[derive(Debug)]
pub enum Outcome {
    /// Copied; the report says what moved.
    Copied(CopyReport),
    /// The destination already held this manifest.
    Skipped(Digest),
    /// `--dry-run`: would have been copied (or found up to date).
    WouldCopy,
    /// The copy failed; the destination was left as it was.
    Failed(TransportError),
}

/// One image's result, told as soon as it is known.
#[derive(Debug)]
pub struct ImageOutcome {
    /// Its place in the list (1-based) and the list's length.
    pub position: (usize, usize),
    /// Where it was read.
    pub source: String,
    /// Where it was written.
    pub destination: String,
    /// What happened.
    pub outcome: Outcome,
}

/// The counts at the end.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Images copied.
    pub copied: usize,
    /// Images whose destination was already up to date.
    pub skipped: usize,
    /// Images that failed.
    pub failed: usize,
    /// Images not attempted because an earlier one failed (without `--keep-going`).
    pub not_attempted: usize,
    /// Images listed by `--dry-run`.
    pub would_copy: usize,
}

/// Syncs `jobs`, telling `observe` about each image as it finishes.
///
/// Three phases: the first image alone, then one image per other destination
/// repository, then all the others. Images usually share base layers, and a registry
/// only finds a blob by HEAD once it is linked into that repository; copied all at once,
/// every image would upload the shared layers again. The first image puts them into
/// the registry, the other repositories' first images mount them from there (the run's
/// client remembers where it put each blob), and the later images of each repository
/// find them by HEAD.
pub async fn run(
    jobs: Vec<Job>,
    options: &SyncOptions,
    observe: &mut (dyn FnMut(&ImageOutcome) + Send),
) -> Summary {
    let total = jobs.len();
    let mut summary = Summary::default();
    // Every destination image of the run shares one client per registry: the HEADs
    // that find images up to date and the pushes reuse connections and tokens.
    let destination = OpenOptions {
        clients: Some(options.destination.clients.clone().unwrap_or_default()),
        ..options.destination.clone()
    };
    let mut repositories = std::collections::HashSet::new();
    let (mut leaders, followers): (Vec<_>, Vec<_>) = jobs
        .into_iter()
        .enumerate()
        .partition(|(_, job)| repositories.insert(repository_of(&job.destination)));
    let other_leaders = leaders.split_off(leaders.len().min(1));
    let mut done = 0;
    for phase in [leaders, other_leaders, followers] {
        let mut results = futures_util::stream::iter(phase)
            .map(|(i, job)| {
                let destination = &destination;
                async move {
                    let outcome = if options.dry_run {
                        Outcome::WouldCopy
                    } else {
                        sync_one(&job, options, destination)
                            .await
                            .unwrap_or_else(Outcome::Failed)
                    };
                    ImageOutcome {
                        position: (i + 1, total),
                        source: job.source.to_string(),
                        destination: job.destination.to_string(),
                        outcome,
                    }
                }
            })
            .buffer_unordered(options.parallel_images.max(1));
        while let Some(result) = results.next().await {
            done += 1;
            match &result.outcome {
                Outcome::Copied(_) => summary.copied += 1,
                Outcome::Skipped(_) => summary.skipped += 1,
                Outcome::WouldCopy => summary.would_copy += 1,
                Outcome::Failed(_) => summary.failed += 1,
            }
            observe(&result);
            if summary.failed > 0 && !options.keep_going {
                // Dropping the stream drops the copies still running, uncommitted: their
                // destinations stay as they were.
                summary.not_attempted = total - done;
                return summary;
            }
        }
    }
    summary
}

/// The repository a destination image belongs to, for the phases of [`run`]: the
/// registry repository, or for a directory the image itself (`dir:` images share no
/// blobs).
fn repository_of(name: &ImageName) -> String {
    match name {
        ImageName::Docker { reference, .. } => reference.name(),
        other => other.to_string(),
    }
}

/// Copies one image unless its destination already holds it.
async fn sync_one(
    job: &Job,
    options: &SyncOptions,
    destination_options: &OpenOptions,
) -> Result<Outcome, TransportError> {
    let source = (options.open_source)(&job.source, &job.source_options)?;
    // The source's manifest and the destination's HEAD, at once.
    let (wanted, current) = futures_util::try_join!(
        wanted_digests(source.as_ref(), &options.copy),
        current_digest(&job.destination, destination_options),
    )?;
    let mut destination = open_destination(&job.destination, destination_options)?;
    let mut copy_up_to_date = false;
    if let Some(hook) = &options.destination_hook {
        let wrapped = (hook.wrap)(job, source.as_ref(), destination).await?;
        destination = wrapped.destination;
        copy_up_to_date = wrapped.copy_up_to_date;
    }
    if let Some(current) = current {
        if !copy_up_to_date && wanted.contains(&current) {
            return Ok(Outcome::Skipped(current));
        }
    }
    if let ImageName::Dir { path } = &job.destination {
        // skopeo creates the tree of a scoped name; the image directory itself is
        // created by the destination, atomically.
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| TransportError::io(format!("creating {}", parent.display()), e))?;
        }
    }
    let report = copy_image(
        source.as_ref(),
        destination,
        &options.copy,
        Arc::new(Silent),
    )
    .await?;
    Ok(Outcome::Copied(report))
}

/// The manifest digests a destination holding this image would name: the source's top
/// manifest, or with an index and without `--all` the chosen platform's manifest (which
/// is what a copy writes then). A conversion (`--format`, Docker → OCI) makes a digest
/// that is not among them; such an image is copied again, with every blob the
/// destination has reused.
async fn wanted_digests(
    source: &dyn ImageSource,
    options: &CopyOptions,
) -> Result<Vec<Digest>, TransportError> {
    let top = source.top_manifest().await?;
    let mut wanted = vec![top.digest().clone()];
    if let ManifestKind::Index(index) = top.kind() {
        if !options.all {
            wanted.push(skiff_oci::descriptor_digest(
                options.platform.choose(index)?,
            )?);
        }
    }
    Ok(wanted)
}

/// The digest of what a destination holds now: one HEAD for a registry (through the
/// run's shared client, see [`run`]), one file read for a `dir:`.
async fn current_digest(
    name: &ImageName,
    options: &OpenOptions,
) -> Result<Option<Digest>, TransportError> {
    match name {
        ImageName::Docker { reference, .. } => {
            let repository = format!("{}/{}", reference.registry(), reference.repository());
            let client = registry_client(&repository, reference.registry(), options)?;
            let head = client
                .head_manifest(reference.repository(), &reference.manifest_reference())
                .await?;
            Ok(head.and_then(|h| h.digest))
        }
        ImageName::Dir { path } => match std::fs::read(path.join("manifest.json")) {
            Ok(bytes) => Ok(Some(Digest::sha256(&bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(TransportError::io(
                format!("reading {}", path.join("manifest.json").display()),
                e,
            )),
        },
        _ => Ok(None),
    }
}
