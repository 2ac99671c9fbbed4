//! The bounded fuzzing loop that runs on the stable toolchain: replay the corpus, then
//! mutate corpus inputs for a time budget. Without compiler coverage, an input whose
//! *outcome* (the target's normalised result or error message) was not seen before joins
//! the in-memory corpus: a cheap stand-in for new coverage that steers mutations toward
//! inputs that get further into a parser.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::guard;
use crate::mutate::{fix_tar_checksums, mutate, Rng};
use crate::targets::Target;

/// Largest input the mutator builds.
pub const MAX_INPUT: usize = 256 << 10;
/// In-memory corpus bounds: inputs, and their bytes (well under the allocation guard's
/// live limit, which the harness itself must not come near).
const MAX_CORPUS: usize = 4096;
const MAX_CORPUS_BYTES: usize = 64 << 20;
/// Distinct outcomes remembered (as hashes); past it no new input joins the corpus.
const MAX_OUTCOMES: usize = 1 << 20;

/// How long and from which seed to run one target.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Time for mutation after the corpus replay.
    pub time: Duration,
    /// Seed of the mutation sequence.
    pub seed: u64,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// Target name.
    pub target: &'static str,
    /// Inputs run, corpus included.
    pub execs: u64,
    /// Corpus files replayed.
    pub replayed: usize,
    /// Distinct outcomes seen.
    pub outcomes: usize,
}

/// A panicking input, saved to `saved`.
#[derive(Debug, Clone)]
pub struct Crash {
    /// Target name.
    pub target: &'static str,
    /// The panic message.
    pub message: String,
    /// Where the input was written.
    pub saved: PathBuf,
}

/// The corpus of `target` under `corpus_root`, sorted by file name.
pub fn load_corpus(corpus_root: &Path, target: &str) -> std::io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let dir = corpus_root.join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| std::fs::read(&p).map(|b| (p, b)))
        .collect()
}

/// Replays every corpus file of `target`, then mutates for `budget`. Returns the report,
/// or the first crash (its input saved under `crash_dir`).
pub fn run(
    target: &'static Target,
    corpus_root: &Path,
    crash_dir: &Path,
    budget: &Budget,
) -> Result<Report, Crash> {
    let seeds = load_corpus(corpus_root, target.name).map_err(|e| Crash {
        target: target.name,
        message: format!("cannot read the corpus: {e}"),
        saved: corpus_root.join(target.name),
    })?;
    let mut outcomes = HashSet::new();
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    let mut execs = 0u64;
    let mut corpus_bytes = 0usize;
    for (path, data) in &seeds {
        let outcome = exec(target, data, crash_dir).map_err(|c| Crash {
            message: format!("{} (corpus file {})", c.message, path.display()),
            ..c
        })?;
        execs += 1;
        outcomes.insert(hash(&outcome));
        corpus_bytes += data.len();
        corpus.push(data.clone());
    }
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let mut rng = Rng::new(budget.seed);
    let deadline = Instant::now() + budget.time;
    let mut input = Vec::new();
    while Instant::now() < deadline {
        for _ in 0..64 {
            // The shorter of two picks: small inputs run fast and mutate meaningfully;
            // the huge seeds (deep nesting) still get their turns.
            let (a, b) = (
                &corpus[rng.below(corpus.len())],
                &corpus[rng.below(corpus.len())],
            );
            let base = if a.len() <= b.len() { a } else { b };
            let other = &corpus[rng.below(corpus.len())];
            input.clear();
            input.extend_from_slice(base);
            mutate(&mut input, other, &mut rng, MAX_INPUT);
            if target.name == "layer" && input.first().is_some_and(|b| b % 3 == 0) {
                fix_tar_checksums(&mut input[1..]);
            }
            let outcome = exec(target, &input, crash_dir)?;
            execs += 1;
            if outcomes.len() < MAX_OUTCOMES
                && outcomes.insert(hash(&outcome))
                && corpus.len() < MAX_CORPUS
                && corpus_bytes + input.len() <= MAX_CORPUS_BYTES
            {
                corpus_bytes += input.len();
                corpus.push(input.clone());
            }
        }
    }
    Ok(Report {
        target: target.name,
        execs,
        replayed: seeds.len(),
        outcomes: outcomes.len(),
    })
}

fn hash(outcome: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    outcome.hash(&mut h);
    h.finish()
}

/// Runs one input, turning a panic into a saved [`Crash`].
fn exec(target: &'static Target, data: &[u8], crash_dir: &Path) -> Result<String, Crash> {
    match guard::running(data, || {
        catch_unwind(AssertUnwindSafe(|| (target.run)(data)))
    }) {
        Ok(outcome) => Ok(normalise(&outcome, data)),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".to_string());
            let name = format!("crash-{}", &skiff_oci::Digest::sha256(data).hex()[..16]);
            let saved = crash_dir.join(target.name).join(name);
            let _ = std::fs::create_dir_all(crash_dir.join(target.name));
            let _ = std::fs::write(&saved, data);
            Err(Crash {
                target: target.name,
                message,
                saved,
            })
        }
    }
}

/// An outcome without the parts that echo the input (quoted text, words found in the
/// input, numbers), so that it tells code paths apart rather than inputs.
pub fn normalise(outcome: &str, input: &[u8]) -> String {
    // Searching a large input for every word costs more than the run; numbers and quoted
    // text are still removed.
    let input = String::from_utf8_lossy(&input[..input.len().min(16 << 10)]);
    let mut unquoted = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in outcome.chars() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (_, _, '"') => quoted = !quoted,
            (true, _, _) => {}
            (false, _, c) => unquoted.push(c),
        }
    }
    let words: Vec<&str> = unquoted
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(40)
        .map(|w| {
            if w.bytes().any(|b| b.is_ascii_digit()) || (w.len() > 1 && input.contains(w)) {
                "_"
            } else {
                w
            }
        })
        .collect();
    words.join(" ")
}
