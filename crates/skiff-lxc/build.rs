//! Builds the container launcher (launcher/init.rs) as a static executable that
//! src/launcher.rs embeds. Static because the images it runs in may have no libc; static
//! glibc is fine for a program that only reads a file and calls execve.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "launcher/init.rs";
    println!("cargo:rerun-if-changed={src}");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    let status = Command::new(rustc)
        .args([
            "--edition",
            "2021",
            "--crate-name",
            "skiff_init",
            "--target",
        ])
        .arg(&target)
        .args([
            "-C",
            "opt-level=z",
            "-C",
            "lto=fat",
            "-C",
            "codegen-units=1",
            "-C",
            "panic=abort",
            "-C",
            "strip=symbols",
            "-C",
            "debuginfo=0",
            "-C",
            "target-feature=+crt-static",
            "-o",
        ])
        .arg(out.join("skiff-init"))
        .arg(src)
        .status()
        .expect("running rustc for the container launcher");
    assert!(status.success(), "building the container launcher failed");
}
