//! Helpers shared by the client tests.

#![allow(dead_code)] // each test file uses its own part

use std::sync::{Arc, Mutex};

use skiff_registry::{ClientOptions, RetryHook, RetryNotice};
use skiff_testbed::image::{Compression, Format, Image, ImageBuilder, LayerBuilder};

/// Anonymous, unverified TLS then plain HTTP: what the plain-HTTP test registries need.
pub fn insecure() -> ClientOptions {
    ClientOptions {
        tls_verify: Some(false),
        no_creds: true,
        ..ClientOptions::default()
    }
}

/// A one-layer image whose content differs by `seed`.
pub fn small_image(seed: &str) -> Image {
    ImageBuilder::new(Format::Oci)
        .layer(
            LayerBuilder::new()
                .file("f", 0o644, seed.as_bytes())
                .build(),
            Compression::Gzip,
        )
        .build()
}

/// Collects the retry notices of a client.
#[derive(Clone, Default)]
pub struct Notices(Arc<Mutex<Vec<RetryNotice>>>);

impl Notices {
    pub fn hook(&self) -> Option<RetryHook> {
        let seen = self.0.clone();
        Some(RetryHook::new(move |n| {
            seen.lock().unwrap().push(n.clone())
        }))
    }

    pub fn all(&self) -> Vec<RetryNotice> {
        self.0.lock().unwrap().clone()
    }
}
