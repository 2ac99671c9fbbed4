//! # skiff-lxc: from an image configuration to a container configuration
//!
//! An OCI image says how its process should run (Entrypoint, Cmd, Env, WorkingDir, User,
//! StopSignal, Volumes). LXC and Proxmox VE say the same things in their own config
//! languages. This crate translates — exactly as Proxmox VE 9.1's `pct create` does for
//! an OCI template, and as LXC's own `lxc-oci` template does on plain LXC hosts:
//!
//! * [`ContainerSpec`] — the runtime facts of an image, validated (no control
//!   characters), with the user resolved through the image's own `/etc/passwd` and
//!   `/etc/group` (read inside the root filesystem, never following its symlinks out).
//! * [`pve_shell_quote`] — Perl's `String::ShellQuote`, which Proxmox uses to join
//!   Entrypoint and Cmd into its `entrypoint:` option.
//! * [`pve_config_fragment`] — the lines `pct create` writes into `VMID.conf`.
//! * [`lxc_config`] / [`write_container`] — a plain LXC container under `LXCPATH/NAME`,
//!   runnable by `lxc-execute` and as a service by `lxc-start` (the entrypoint is its
//!   init; [`launcher`] keeps the argv exact where LXC's `lxc.init.cmd` would split it).
//!
//! It knows nothing of registries or HTTP; the binary feeds it an unpacked rootfs. Files
//! inside that rootfs are read and written through skiff-unpack's `Root`, the project's
//! one implementation of in-root path resolution.

mod config;
mod error;
pub mod launcher;
mod quote;
mod rootfs;
mod spec;

pub use config::{
    lxc_config, pve_config_fragment, validate_name, write_container, write_identity,
    LxcConfigOptions,
};
pub use error::LxcError;
pub use quote::pve_shell_quote;
pub use spec::{ContainerSpec, ResolvedUser};
