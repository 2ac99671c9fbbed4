//! Registry clients shared by the images of one run.
//!
//! A client per image (what opening one image alone makes) costs each image a fresh
//! connection, a fresh token and, for `--tls-verify=false`, another https attempt before
//! plain http. A sync opens dozens of images on the same registries; with a pool in its
//! [`OpenOptions`](crate::OpenOptions) every image of the run uses the one client per
//! registry, which shares connections, tokens and the scheme it found.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use skiff_registry::{ClientOptions, RegistryClient};

use crate::error::{Result, TransportError};

/// One client per registry (and TLS setting), made on first use. Clones share the pool.
///
/// A pool belongs to one set of client options: the options it is handed must be the
/// same for every use but for TLS verification (registries.conf marks single registries
/// insecure), which is part of the key. Options with other credentials need a pool of
/// their own.
#[derive(Clone, Default)]
pub struct ClientPool {
    clients: Arc<Mutex<HashMap<PoolKey, RegistryClient>>>,
}

/// A registry (as written in references) and whether TLS is verified for it.
type PoolKey = (String, Option<bool>);

impl std::fmt::Debug for ClientPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientPool")
    }
}

impl ClientPool {
    /// The pool's client for `registry`, made with `options` if it has none yet.
    pub fn client(&self, registry: &str, options: &ClientOptions) -> Result<RegistryClient> {
        let key = (registry.to_string(), options.tls_verify);
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| TransportError::Internal("registry client pool poisoned".into()))?;
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let client = RegistryClient::new(registry, options.clone())?;
        clients.insert(key, client.clone());
        Ok(client)
    }
}

/// A client for `registry`: the pool's when there is one, else a new one.
pub fn client_for(
    pool: Option<&ClientPool>,
    registry: &str,
    options: ClientOptions,
) -> Result<RegistryClient> {
    match pool {
        Some(pool) => pool.client(registry, &options),
        None => Ok(RegistryClient::new(registry, options)?),
    }
}
