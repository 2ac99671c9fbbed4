//! Asking the person at the terminal for a password, as skopeo does for `--creds USER`
//! without `:PASSWORD`. The terminal is `/dev/tty`, not stdin, so piped input stays the
//! command's; echo is off while the password is typed and restored afterwards, whatever
//! happens in between.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};

use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};

use crate::failure::Failure;

/// Prompts `prompt` on the terminal and reads one line without echoing it.
pub fn read_password(prompt: &str) -> Result<String, Failure> {
    let tty = File::options()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| {
            Failure::new(format!("no terminal to ask for the password on: {e}")).hint(format!(
                "give USERNAME:PASSWORD, or log in once with `{} login --password-stdin`",
                crate::cli::program_name()
            ))
        })?;
    let io = |e: std::io::Error| Failure::new(format!("reading the password: {e}"));
    let saved = tcgetattr(&tty).map_err(|e| io(e.into()))?;
    let mut silent = saved.clone();
    silent.local_modes.remove(LocalModes::ECHO);
    silent.local_modes.insert(LocalModes::ECHONL);
    tcsetattr(&tty, OptionalActions::Flush, &silent).map_err(|e| io(e.into()))?;
    let answer = (|| {
        let mut writer = &tty;
        writer.write_all(prompt.as_bytes())?;
        writer.flush()?;
        let mut line = String::new();
        BufReader::new(&tty).read_line(&mut line)?;
        Ok(line)
    })();
    // Restored before anything else can fail: a terminal left without echo is worse than
    // the error itself.
    let restored = tcsetattr(&tty, OptionalActions::Flush, &saved);
    let line = answer.map_err(io)?;
    restored.map_err(|e| io(e.into()))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
