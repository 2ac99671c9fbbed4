//! # Cluster mode: Proxmox VE through its REST API
//!
//! Where one node is not enough, the engine users already run is the cluster itself.
//! skiff pulls on the machine it runs on (credentials, policy, verification — what
//! Proxmox's `oci-registry-pull` cannot do for private registries), then:
//!
//! * [`target`]: which cluster and as whom — `--api`, `--token`, `--fingerprint`, their
//!   environment variables and the 0600 config file;
//! * [`client`]: the authenticated HTTPS client; the node certificate is verified
//!   against the system roots or pinned by fingerprint, with the verifier skiff-registry
//!   uses for registries; `--debug` shows requests with the token redacted;
//! * [`upload`]: the archive streamed into the node's template storage, unless the same
//!   archive is there ([`record`] says how that is known);
//! * [`create`]: create, re-apply overrides, start; what only root@pam may do is refused
//!   first;
//! * [`task`]: every worker task followed to its exit status;
//! * [`guest`]: the containers afterwards — config, start, shutdown, destroy (apply);
//! * [`cluster`]: nodes, free memory, next VMID, template listings.

pub mod client;
pub mod cluster;
pub mod create;
pub mod error;
pub mod guest;
pub mod record;
pub mod target;
pub mod task;
pub mod upload;

pub use client::PveApi;
pub use cluster::{NodeResource, Volume};
pub use create::{root_only, Created};
pub use error::ApiError;
pub use guest::{GuestConfig, GuestResource};
pub use record::{UploadRecord, Uploaded};
pub use target::{api_base, config_paths, process_env, ApiTarget, Secret, TargetArgs, Token};
pub use task::Upid;
pub use upload::Placed;
