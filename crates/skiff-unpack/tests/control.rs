//! Following and stopping an unpack: progress events in order, and a cancellation that
//! stops every thread before the call returns.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use skiff_unpack::{unpack_layers_with, Hooks, Observer, UnpackError, UnpackEvent};

/// Records every event; optionally raises the cancel flag at the first `Applying`.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<UnpackEvent>>,
    cancel_on_progress: Option<skiff_unpack::Cancel>,
}

impl Observer for Recorder {
    fn event(&self, event: UnpackEvent) {
        if let (UnpackEvent::Applying { .. }, Some(c)) = (&event, &self.cancel_on_progress) {
            c.cancel();
        }
        self.events.lock().unwrap().push(event);
    }
}

fn many_files(n: usize) -> Vec<u8> {
    let mut l = Layer::new();
    l.dir("d/", 0o755);
    for i in 0..n {
        l.file(&format!("d/f{i}"), format!("content {i}").as_bytes(), 0o644);
    }
    l.finish()
}

#[test]
fn events_report_each_layer_in_order_with_its_progress() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder::default());
    let hooks = Hooks {
        observer: Some(recorder.clone()),
        ..Hooks::default()
    };
    let layers = vec![
        gz_source("one", many_files(1000)),
        gz_source("two", Layer::new().file("x", b"x", 0o644).finish()),
    ];
    let report = unpack_layers_with(dir.path(), layers, &opts(), &hooks).unwrap();
    let events = recorder.events.lock().unwrap();
    let mut seen = Vec::new();
    for e in events.iter() {
        match e {
            UnpackEvent::LayerStarted { index, name } => seen.push(format!("start {index} {name}")),
            UnpackEvent::Applying { index, entries, .. } => {
                assert!(*entries > 0);
                if seen.last().is_none_or(|s| !s.starts_with("progress")) {
                    seen.push(format!("progress {index}"));
                }
            }
            UnpackEvent::LayerApplied { index, stats } => {
                assert_eq!(
                    stats.counts.entries,
                    report.per_layer[*index].counts.entries
                );
                seen.push(format!("applied {index}"));
            }
        }
    }
    assert_eq!(
        seen,
        [
            "start 0 one",
            "progress 0",
            "applied 0",
            "start 1 two",
            "applied 1"
        ]
    );
}

#[test]
fn a_cancelled_unpack_stops_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = skiff_unpack::Cancel::new();
    let recorder = Arc::new(Recorder {
        cancel_on_progress: Some(cancel.clone()),
        ..Recorder::default()
    });
    let hooks = Hooks {
        cancel,
        observer: Some(recorder.clone()),
    };
    let layers = vec![
        gz_source("one", many_files(20_000)),
        gz_source("two", many_files(10)),
    ];
    let err = unpack_layers_with(dir.path(), layers, &opts(), &hooks).unwrap_err();
    assert!(matches!(err, UnpackError::Cancelled), "{err}");
    // Every thread has stopped when the call returns: nothing appears afterwards.
    let count = || std::fs::read_dir(dir.path().join("d")).unwrap().count();
    let written = count();
    assert!(written < 20_000, "stopped early, not after {written} files");
    std::thread::yield_now();
    assert_eq!(count(), written);
    let events = recorder.events.lock().unwrap();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, UnpackEvent::LayerApplied { .. })),
        "no layer completes after the cancel"
    );
}
