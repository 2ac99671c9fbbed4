//! What SOURCE holds: the list of images a sync copies, each with its destination name.
//!
//! Listing happens before any copy starts, so a typo in a repository or a YAML entry
//! fails the sync before anything is written, as in skopeo.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use skiff_oci::Reference;
use skiff_transport::{client_for, ClientPool, ImageName, OpenOptions};

use crate::error::SyncError;
use crate::naming::Naming;

/// What SOURCE names (`--src`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// `REGISTRY/REPOSITORY[:TAG|@DIGEST]`; without tag or digest, every tag.
    Docker,
    /// A directory holding `dir:` images at any depth (as `skopeo sync --dest dir`
    /// writes them).
    Dir,
    /// A YAML file in skopeo's sync format.
    Yaml,
}

/// One image to sync.
#[derive(Clone)]
pub struct Job {
    /// Where it is read.
    pub source: ImageName,
    /// Where it is written.
    pub destination: ImageName,
    /// How the source is opened (a YAML registry can bring its own credentials and TLS
    /// settings).
    pub source_options: Arc<OpenOptions>,
}

/// Every image SOURCE holds, in a stable order, with its destination.
pub async fn jobs(
    kind: SourceKind,
    source: &str,
    naming: &Naming,
    options: &OpenOptions,
) -> Result<Vec<Job>, SyncError> {
    // The images of one source share a client per registry (see `ClientPool`).
    let options = Arc::new(OpenOptions {
        clients: Some(ClientPool::default()),
        ..options.clone()
    });
    let all = match kind {
        SourceKind::Docker => {
            let reference = Reference::parse_unnormalised_tag(source)?;
            let images = match reference.tag().is_some() || reference.digest().is_some() {
                true => vec![reference],
                false => every_tag(&reference, &options).await?,
            };
            images
                .into_iter()
                .map(|r| registry_job(r, naming, options.clone()))
                .collect()
        }
        SourceKind::Dir => dir_jobs(Path::new(source), naming, options),
        SourceKind::Yaml => crate::yaml::jobs(Path::new(source), naming, &options).await,
    }?;
    unique(all)
}

/// The jobs without repeats (a YAML file may name an image twice, by tag and by regex).
/// Two different images that would land at one name are refused: copied in parallel,
/// which one wins would be chance (skopeo, sequential, silently keeps the last).
fn unique(jobs: Vec<Job>) -> Result<Vec<Job>, SyncError> {
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        let (source, destination) = (job.source.to_string(), job.destination.to_string());
        match seen.get(&destination) {
            Some(first) if *first == source => continue,
            Some(first) => {
                return Err(SyncError::InvalidArgument(format!(
                    "{first} and {source} would both be written to {destination}; \
                     --scoped keeps their names apart"
                )))
            }
            None => {
                seen.insert(destination, source);
                out.push(job);
            }
        }
    }
    Ok(out)
}

/// The repository at every tag it has (skopeo's "a repository without a tag").
pub async fn every_tag(
    repository: &Reference,
    options: &OpenOptions,
) -> Result<Vec<Reference>, SyncError> {
    let client = client_for(
        options.clients.as_ref(),
        repository.registry(),
        options.registry.clone(),
    )?;
    let tags = client.list_tags(repository.repository()).await?;
    let mut tagged: Vec<Reference> = tags
        .iter()
        .map(|t| repository.with_tag(t))
        .collect::<Result<_, _>>()?;
    tagged.sort_by_key(|r| r.to_string());
    Ok(tagged)
}

/// A registry image and its destination: the suffix is the full reference.
pub fn registry_job(
    reference: Reference,
    naming: &Naming,
    source_options: Arc<OpenOptions>,
) -> Result<Job, SyncError> {
    let written = reference.to_string();
    Ok(Job {
        destination: naming.destination(&written)?,
        source: ImageName::Docker { reference, written },
        source_options,
    })
}

/// Every `dir:` image below `root`: each directory holding a `manifest.json` is one
/// image (its subdirectories are not searched further). The suffix is the path below
/// `root`, or `root`'s own name when `root` itself is an image.
fn dir_jobs(
    root: &Path,
    naming: &Naming,
    options: Arc<OpenOptions>,
) -> Result<Vec<Job>, SyncError> {
    let mut found = Vec::new();
    find_images(root, &mut found)?;
    if found.is_empty() {
        return Err(SyncError::InvalidArgument(format!(
            "{}: no dir: images found (a dir: image is a directory with a manifest.json)",
            root.display()
        )));
    }
    found.sort();
    let base = root.to_string_lossy();
    found
        .into_iter()
        .map(|path| {
            let written = path.to_string_lossy();
            let below = written.strip_prefix(base.as_ref()).unwrap_or(&written);
            let suffix = match below.trim_matches('/') {
                "" => crate::naming::base_name(&base).to_string(),
                _ => below.to_string(),
            };
            Ok(Job {
                destination: naming.destination(&suffix)?,
                source: ImageName::Dir { path },
                source_options: options.clone(),
            })
        })
        .collect()
}

/// Collects image directories below `dir`. Symbolic links are not followed (as Go's
/// `filepath.WalkDir`), and skiff's own unfinished writes (`.NAME.skiff-tmp-…`) are no
/// images.
fn find_images(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), SyncError> {
    let io = |e| SyncError::Io {
        what: format!("reading {}", dir.display()),
        source: e,
    };
    if dir.join("manifest.json").is_file() {
        found.push(dir.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let unfinished = entry.file_name().to_string_lossy().contains(".skiff-tmp-");
        if entry.file_type().map_err(io)?.is_dir() && !unfinished {
            find_images(&entry.path(), found)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::DestKind;

    #[test]
    fn finds_dir_images_at_any_depth() {
        let root = std::env::temp_dir().join(format!("skiff-sync-src-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for d in ["a:1", "reg:5000/ns/b:2", ".c.skiff-tmp-1-0"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
            std::fs::write(root.join(d).join("manifest.json"), b"{}").unwrap();
        }
        std::fs::create_dir_all(root.join("empty")).unwrap();
        let naming = Naming {
            kind: DestKind::Docker,
            base: "mirror:5000/x".into(),
            scoped: false,
            append_suffix: String::new(),
        };
        let jobs = dir_jobs(&root, &naming, Arc::default()).unwrap();
        let names: Vec<String> = jobs.iter().map(|j| j.destination.to_string()).collect();
        assert_eq!(
            names,
            ["docker://mirror:5000/x/a:1", "docker://mirror:5000/x/b:2"]
        );
        // The root itself as the image: named after the root.
        let one = dir_jobs(&root.join("a:1"), &naming, Arc::default()).unwrap();
        assert_eq!(one[0].destination.to_string(), "docker://mirror:5000/x/a:1");
        // Two images that would land at one name are refused; --scoped keeps both.
        std::fs::create_dir_all(root.join("other/a:1")).unwrap();
        std::fs::write(root.join("other/a:1/manifest.json"), b"{}").unwrap();
        let Err(e) = unique(dir_jobs(&root, &naming, Arc::default()).unwrap()) else {
            panic!("two images at one name accepted")
        };
        assert!(e.to_string().contains("--scoped"), "{e}");
        let scoped = Naming {
            kind: DestKind::Dir,
            scoped: true,
            ..naming
        };
        assert_eq!(
            unique(dir_jobs(&root, &scoped, Arc::default()).unwrap())
                .unwrap()
                .len(),
            3
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
