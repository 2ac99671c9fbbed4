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
mod malloc;
mod options;
mod output;
mod policy;
mod render;
mod render_unpack;
mod rootfs;
mod signing;
mod tty;

use std::process::ExitCode;
use std::time::Duration;

/// How long the end of a command waits for its blocking writer threads.
const WRITER_GRACE: Duration = Duration::from_secs(3);

/// SIGTERM (what `kill`, systemd and `timeout` send) ends a command like Ctrl-C does:
/// the command's future is dropped, which removes its uncommitted output. Without a
/// handler the default action would kill the process with its staging files in place.
async fn terminated() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            term.recv().await;
        }
        // No handler: the default action stays, as without this.
        Err(_) => std::future::pending().await,
    }
}

fn main() -> ExitCode {
    malloc::hold_mmap_threshold();
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
        // Biased, signals first: their handlers are installed by the first poll, which
        // must come before the command's first poll — that runs synchronously up to its
        // first await and may already create something (lxc create reserves
        // LXCPATH/NAME), which a signal's default action would then leave behind.
        tokio::select! {
            biased;
            _ = tokio::signal::ctrl_c() => Err(failure::Failure::interrupted()),
            _ = terminated() => Err(failure::Failure::terminated()),
            r = commands::run(cli) => r,
        }
    });
    // Writer threads of an abandoned (interrupted, timed-out, failed) command hold
    // temporary files that they remove once they see their input gone: give them a
    // moment. A thread stuck in a read that never returns (a FIFO) is not waited for
    // longer than that.
    runtime.shutdown_timeout(WRITER_GRACE);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report(),
    }
}
