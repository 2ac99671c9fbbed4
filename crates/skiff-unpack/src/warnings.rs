//! Warnings collected while unpacking, and the poison-tolerant lock every thread of the
//! pipeline uses.
//!
//! Threads of every stage (applying thread, writers) report what they had to skip here;
//! each kind is reported once, so a rootless unpack of 60k files says "owners not
//! applied" once, not 60k times.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, also after another thread panicked while holding it: the data guarded here
/// (queues, counters, warnings) stays consistent across a panic, and the error that panic
/// caused is reported on its own path.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Warnings collected during unpacking, each kind reported once.
#[derive(Default)]
pub(crate) struct Warnings(Mutex<(Vec<String>, HashSet<String>)>);

impl Warnings {
    pub(crate) fn once(&self, kind: &'static str, msg: String) {
        self.once_dynamic(kind.to_string(), msg)
    }
    pub(crate) fn once_dynamic(&self, kind: String, msg: String) {
        let mut w = lock(&self.0);
        if w.1.insert(kind) {
            w.0.push(msg);
        }
    }
    pub(crate) fn take(&self) -> Vec<String> {
        std::mem::take(&mut lock(&self.0).0)
    }
}
