//! What a caller sees of an unpack while it runs, and how it stops one.
//!
//! Unpacking is blocking work on its own threads; the caller (an async command, a
//! terminal renderer) needs to show progress and, on Ctrl-C or a timeout, to stop the
//! writers *before* it removes the half-written tree — removing a tree that threads are
//! still writing into leaves files behind or fails. [`Cancel`] is checked between
//! entries by the applying and decompressing threads and between batches by the
//! writers; [`unpack_layers_with`](crate::unpack_layers_with) returns
//! [`UnpackError::Cancelled`](crate::UnpackError::Cancelled) only after every thread
//! has stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::LayerStats;

/// A cancellation flag shared between the caller and the unpacking threads.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A flag not yet raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every thread of the unpack to stop at its next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Something that happened while unpacking.
#[derive(Debug, Clone)]
pub enum UnpackEvent {
    /// The applying thread starts on layer `index` (0-based, in image order).
    LayerStarted {
        /// Position of the layer.
        index: usize,
        /// Its name as given (usually the digest).
        name: String,
    },
    /// Progress within the layer being applied, sent every few hundred entries or few
    /// MiB: totals so far in this layer.
    Applying {
        /// Position of the layer.
        index: usize,
        /// Entries applied.
        entries: u64,
        /// Bytes of file content handed to the writers.
        bytes: u64,
    },
    /// Layer `index` is applied and its diff_id verified.
    LayerApplied {
        /// Position of the layer.
        index: usize,
        /// What it did.
        stats: LayerStats,
    },
}

/// Receives [`UnpackEvent`]s, on the applying thread: keep it cheap.
pub trait Observer: Send + Sync {
    /// One event.
    fn event(&self, event: UnpackEvent);
}

/// How a caller follows and stops an unpack; the default does neither.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Raised by the caller to stop the unpack.
    pub cancel: Cancel,
    /// Told what happens, when given.
    pub observer: Option<Arc<dyn Observer>>,
}

impl Hooks {
    pub(crate) fn emit(&self, event: impl FnOnce() -> UnpackEvent) {
        if let Some(o) = &self.observer {
            o.event(event());
        }
    }
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("cancel", &self.cancel)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}
