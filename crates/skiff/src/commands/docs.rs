//! `man` and `completion`: manual pages and shell completions, generated from the command
//! line definition so that they cannot drift from it, and named after the program as it
//! was invoked (`skopeo` through a symlink of that name).

use std::path::Path;

use clap::CommandFactory;

use crate::cli::{program_name, Cli, CompletionArgs, ManArgs};
use crate::failure::Failure;
use crate::output::print_raw;

/// The EXIT STATUS section every page ends with: the statuses scripts test, as skopeo's.
const EXIT_STATUS: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Success.
.TP
\fB1\fR
Failure, including a command line that cannot be used.
.TP
\fB2\fR
The image was not found.
.TP
\fB130\fR
Interrupted (Ctrl\-C); nothing was written.
"#;

/// The command tree as the manual and completions see it: named after the invoked program,
/// with clap's `help` pseudo-command left out, built so that subcommands carry their
/// page names (`skiff-copy`).
fn command_tree() -> clap::Command {
    let mut cmd = Cli::command()
        .name(program_name())
        .bin_name(program_name())
        .disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// `man`: the main page on stdout, or with `--dir DIR` one page per command (`skiff.1`,
/// `skiff-copy.1`, `skiff-lxc-create.1`, …), as the SEE ALSO style references in the main
/// page promise.
pub fn man(args: ManArgs) -> Result<(), Failure> {
    let cmd = command_tree();
    match &args.dir {
        None => print_raw(&page(&cmd)?),
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::new(format!("creating {}: {e}", dir.display())))?;
            write_pages(&cmd, dir)
        }
    }
}

/// Writes the page of `cmd` and of each of its visible subcommands, recursively.
fn write_pages(cmd: &clap::Command, dir: &Path) -> Result<(), Failure> {
    let man = clap_mangen::Man::new(cmd.clone());
    let path = dir.join(man.get_filename());
    std::fs::write(&path, page(cmd)?)
        .map_err(|e| Failure::new(format!("writing {}: {e}", path.display())))?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir)?;
    }
    Ok(())
}

/// One manual page in roff: clap_mangen's sections, then EXIT STATUS.
fn page(cmd: &clap::Command) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .map_err(|e| Failure::new(format!("rendering the manual: {e}")))?;
    out.extend_from_slice(EXIT_STATUS.as_bytes());
    Ok(out)
}

/// `completion SHELL [--name NAME]`: completions registered for the invoked program's
/// name, or for `--name` (so `skiff completion bash --name skopeo` serves a `skopeo`
/// symlink).
pub fn completion(args: CompletionArgs) -> Result<(), Failure> {
    let name = args.name.as_deref().unwrap_or(program_name());
    print_raw(&completions(args.shell, name))
}

/// The completion script of `shell` for the command called `name`. Rendered into memory
/// first: clap_complete panics when its writer fails.
fn completions(shell: clap_complete::Shell, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command_tree(), name, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_gets_a_page_with_exit_status() {
        let dir = tempfile::tempdir().unwrap();
        man(ManArgs {
            dir: Some(dir.path().to_path_buf()),
        })
        .unwrap();
        let main = std::fs::read_to_string(dir.path().join("skiff.1")).unwrap();
        for reference in [r"skiff\-copy(1)", r"skiff\-unpack(1)", r"skiff\-lxc(1)"] {
            assert!(main.contains(reference), "{reference}");
        }
        for name in [
            "skiff.1",
            "skiff-copy.1",
            "skiff-inspect.1",
            "skiff-lxc-create.1",
        ] {
            let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
            assert!(text.contains(".SH \"EXIT STATUS\""), "{name}");
        }
        let copy = std::fs::read_to_string(dir.path().join("skiff-copy.1")).unwrap();
        assert!(
            copy.contains("dest\\-tls\\-verify"),
            "the copy page lists copy's flags"
        );
    }

    #[test]
    fn completions_register_the_name_asked_for() {
        let out = completions(clap_complete::Shell::Bash, "skopeo");
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("complete -F _skopeo"), "{}", &text[..200]);
    }
}
