//! How far layers may decompress ahead of the one being applied, counted in bytes.
//!
//! A gzip stream inflates on one core, so a large layer is only as fast as its own
//! decompression thread — unless that thread started early, while earlier layers were
//! still being applied. A fixed channel depth per layer either starves that head start
//! (a few MiB) or multiplies memory by the number of layers in flight. So the layers
//! share one byte budget instead: the layers ahead may queue up to [`SHARED`] bytes all
//! together, which mostly goes to the next one, and the layer being applied may always
//! queue [`RESERVE`] bytes of its own, so it can never be starved by the layers behind
//! it (the budget cannot deadlock).

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Bytes all layers together may have queued for the applying thread.
const SHARED: usize = 20 << 20;
/// Bytes the layer being applied may queue whatever the others hold.
const RESERVE: usize = 4 << 20;

struct State {
    /// Index of the layer being applied.
    current: usize,
    /// Queued bytes per layer.
    queued: Vec<usize>,
    total: usize,
    /// The applying side stopped (finished or failed): producers give up.
    closed: bool,
    /// Producers blocked in `acquire` (so that a test can wait for one to block).
    waiting: usize,
}

/// The shared budget; producers [`acquire`](Lookahead::acquire) before queuing a batch,
/// the applying thread [`release`](Lookahead::release)s it when it takes the batch.
pub(crate) struct Lookahead {
    state: Mutex<State>,
    changed: Condvar,
}

impl Lookahead {
    pub(crate) fn new(layers: usize) -> Self {
        Lookahead {
            state: Mutex::new(State {
                current: 0,
                queued: vec![0; layers],
                total: 0,
                closed: false,
                waiting: 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `layer` may queue `bytes` more and counts them; false once closed.
    pub(crate) fn acquire(&self, layer: usize, bytes: usize) -> bool {
        let mut st = self.lock();
        loop {
            if st.closed {
                return false;
            }
            let own = st.queued[layer];
            let fits_reserve = layer == st.current && (own == 0 || own + bytes <= RESERVE);
            let fits_shared = st.total == 0 || st.total + bytes <= SHARED;
            if fits_reserve || fits_shared {
                st.queued[layer] += bytes;
                st.total += bytes;
                return true;
            }
            st.waiting += 1;
            st = self
                .changed
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
            st.waiting -= 1;
        }
    }

    /// `bytes` of `layer` were taken off its queue.
    pub(crate) fn release(&self, layer: usize, bytes: usize) {
        let mut st = self.lock();
        st.queued[layer] -= bytes;
        st.total -= bytes;
        self.changed.notify_all();
    }

    /// `layer` is now the one being applied.
    pub(crate) fn advance(&self, layer: usize) {
        self.lock().current = layer;
        self.changed.notify_all();
    }

    /// The applying side is done: wake and stop every producer.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Lookahead {
        fn waiting(&self) -> usize {
            self.lock().waiting
        }
    }

    #[test]
    fn the_layer_being_applied_is_never_starved_by_those_ahead() {
        let budget = Lookahead::new(3);
        // Layers 1 and 2 fill the shared budget...
        assert!(budget.acquire(1, SHARED - 1));
        assert!(budget.acquire(2, 1));
        // ...yet layer 0, being applied, still gets its reserve.
        assert!(budget.acquire(0, RESERVE / 2));
        assert!(budget.acquire(0, RESERVE / 2));
        // Once layer 0 is done and layer 1 applies, freed bytes let the others go on.
        budget.release(0, RESERVE);
        budget.advance(1);
        budget.release(1, SHARED - 1);
        assert!(budget.acquire(2, SHARED / 2));
    }

    #[test]
    fn closing_wakes_a_waiting_producer() {
        let budget = std::sync::Arc::new(Lookahead::new(2));
        assert!(budget.acquire(1, SHARED));
        let waiting = {
            let budget = budget.clone();
            std::thread::spawn(move || budget.acquire(1, 1))
        };
        // Wait for the event — the producer blocked in acquire — not for a while.
        while budget.waiting() == 0 {
            std::thread::yield_now();
        }
        budget.close();
        assert!(!waiting.join().unwrap());
    }
}
