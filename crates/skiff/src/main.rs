//! # skiff — OCI images to anywhere, and into LXC / Proxmox containers
//!
//! The binary is a thin layer over the library crates: it parses skopeo-compatible command
//! lines (clap), turns flags into library options, renders the pipeline's progress events,
//! and maps errors to messages with hints and to skopeo's exit codes (0 success, 1 failure,
//! 2 image not found). Called through a symlink named `skopeo`, it presents itself as
//! skopeo, so existing scripts (Proxmox VE's pull, LXC's lxc-oci template) can use it.

mod argv;
mod cli;
mod commands;
mod failure;
mod options;
mod output;
mod policy;
mod render;
mod render_unpack;
mod rootfs;
mod signing;
mod tty;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(e) => return cli::usage_error(e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return failure::Failure::new(format!("cannot start the async runtime: {e}")).report()
        }
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            r = commands::run(cli) => r,
            _ = tokio::signal::ctrl_c() => Err(failure::Failure::interrupted()),
        }
    });
    // Dropping the runtime would wait for blocking writer threads of an abandoned copy;
    // their output was already removed, so do not wait.
    runtime.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report(),
    }
}
