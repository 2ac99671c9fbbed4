//! What turns a hang or an unbounded allocation into a reported failure, with the input
//! that caused it saved: an allocator that refuses oversized requests, and a watchdog that
//! notices an input running too long. Both end the process (neither can be unwound), so
//! the input being run is kept where they can write it out first.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs::File;
use std::io::Write;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The largest single allocation an input may cause.
pub const MAX_ALLOCATION: usize = 256 << 20;
/// The most memory live at once while an input runs.
pub const MAX_LIVE: usize = 1 << 30;
/// How long one input may run.
pub const MAX_EXEC_TIME: Duration = Duration::from_secs(10);

static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Where a fatal input is written: a file opened before the first input runs, so writing
/// it needs no allocation (the allocator itself may be the one writing).
static DUMP_FD: AtomicI32 = AtomicI32::new(-1);
/// The input being run.
static CURRENT: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// Executions so far, and when the current one started (ms since [`EPOCH`]).
static EXECS: AtomicU64 = AtomicU64::new(0);
static STARTED_MS: AtomicU64 = AtomicU64::new(u64::MAX);
static EPOCH: Mutex<Option<Instant>> = Mutex::new(None);

/// The system allocator, refusing any allocation over [`MAX_ALLOCATION`] or past
/// [`MAX_LIVE`] live bytes. Install it as the `#[global_allocator]` of a harness binary.
pub struct CappedAlloc;

// SAFETY: delegates to `System`, only refusing (returning null for) some requests.
unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() && !admit(new_size - layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            LIVE.fetch_sub(new_size.saturating_sub(layout.size()), Ordering::Relaxed);
        } else if new_size < layout.size() {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        p
    }
}

/// Counts `more` bytes in, or refuses them (after saving the input: the process aborts
/// next, in `handle_alloc_error`).
fn admit(more: usize) -> bool {
    let live = LIVE.fetch_add(more, Ordering::Relaxed) + more;
    if more <= MAX_ALLOCATION && live <= MAX_LIVE {
        return true;
    }
    LIVE.fetch_sub(more, Ordering::Relaxed);
    if STARTED_MS.load(Ordering::Relaxed) != u64::MAX {
        dump(b"skiff-fuzz: an input made an oversized allocation; it is saved in the fatal-input file\n");
    }
    false
}

/// Writes `message` to stderr and the current input to the dump file, allocating nothing.
fn dump(message: &[u8]) {
    let _ = std::io::stderr().write_all(message);
    let fd = DUMP_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    // SAFETY: `fd` was opened by `arm` and is never closed; ManuallyDrop keeps it open.
    let mut file = ManuallyDrop::new(unsafe { File::from_raw_fd(fd) });
    if let Ok(current) = CURRENT.try_lock() {
        let _ = file.set_len(0);
        let _ = file.write_all(&current);
    }
}

/// Opens the file fatal inputs go to and starts the watchdog (once per process).
pub fn arm(dump_path: &std::path::Path) -> std::io::Result<()> {
    if DUMP_FD.load(Ordering::Relaxed) >= 0 {
        return Ok(());
    }
    if let Some(dir) = dump_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = File::create(dump_path)?;
    DUMP_FD.store(file.as_raw_fd(), Ordering::Relaxed);
    std::mem::forget(file);
    if let Ok(mut e) = EPOCH.lock() {
        e.get_or_insert_with(Instant::now);
    }
    std::thread::spawn(watchdog);
    Ok(())
}

fn now_ms() -> u64 {
    EPOCH
        .lock()
        .ok()
        .and_then(|e| *e)
        .map_or(0, |e| e.elapsed().as_millis() as u64)
}

/// Runs `f` as the current input `data`: kept for the dump and timed by the watchdog.
pub fn running<R>(data: &[u8], f: impl FnOnce() -> R) -> R {
    if let Ok(mut c) = CURRENT.lock() {
        c.clear();
        c.extend_from_slice(data);
    }
    STARTED_MS.store(now_ms(), Ordering::Relaxed);
    let r = f();
    STARTED_MS.store(u64::MAX, Ordering::Relaxed);
    EXECS.fetch_add(1, Ordering::Relaxed);
    r
}

fn watchdog() {
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let started = STARTED_MS.load(Ordering::Relaxed);
        if started != u64::MAX
            && now_ms().saturating_sub(started) > MAX_EXEC_TIME.as_millis() as u64
        {
            dump(b"skiff-fuzz: an input ran longer than the time limit (a hang); it is saved in the fatal-input file\n");
            std::process::abort();
        }
    }
}
