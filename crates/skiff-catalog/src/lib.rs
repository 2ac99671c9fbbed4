//! # skiff-catalog: popular self-hosted apps, ready to apply
//!
//! Each entry says how an app runs as LXC / Proxmox containers: the image as its project
//! publishes it (and where that name comes from — nothing here asks a registry), cores,
//! memory and disk, the data directories to keep across image updates (the volumes the
//! image declares), environment defaults that link containers (`${host:postgres}`) and
//! name generated secrets (`${secret:db_password}`), start order and GPU capability.
//!
//! * [`App`], [`Container`], [`Mount`] — the schema, shared with `apply`; unknown keys are
//!   refused and every error names the file, line and column.
//! * [`Catalog`] — the entries built in from `catalog/*.yaml` (embedded by build.rs),
//!   overlaid by user directories (`/etc/skiff/catalog`, `$XDG_CONFIG_HOME/skiff/catalog`
//!   or `--catalog-dir`): same name replaces, new name adds.
//!
//! The crate only reads and checks entries; turning them into containers is `apply`'s.

mod check;
mod entry;
mod error;
mod load;
mod size;

pub use check::placeholders;
pub use entry::{valid_name, App, Container, Gpu, Mount};
pub use error::CatalogError;
pub use load::{parse_entry, Catalog, Entry, Origin};
pub use size::{DiskGib, MemoryMib};

#[cfg(test)]
mod tests;
