//! Worker tasks: create, start and upload answer at once with a task id (UPID) and do
//! their work in the background; only the task's exit status tells whether it worked.

use std::time::Duration;

use serde::Deserialize;

use super::client::PveApi;
use super::error::ApiError;

/// A task id, `UPID:NODE:PID:PSTART:STARTTIME:TYPE:ID:USER:`, with the fields skiff
/// needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upid {
    /// The whole id, as the API gave it.
    pub text: String,
    /// The node running the task (whose tasks endpoint knows it).
    pub node: String,
    /// The task type: `vzcreate`, `vzstart`, `imgcopy`, …
    pub kind: String,
}

impl Upid {
    /// Parses a UPID; `None` for anything else.
    pub fn parse(text: &str) -> Option<Upid> {
        let fields: Vec<&str> = text.split(':').collect();
        // UPID, node, pid, pstart, starttime, type, id, user, and the trailing empty field.
        if fields.len() != 9 || fields[0] != "UPID" || fields[1].is_empty() || fields[5].is_empty()
        {
            return None;
        }
        Some(Upid {
            text: text.to_string(),
            node: fields[1].to_string(),
            kind: fields[5].to_string(),
        })
    }
}

#[derive(Debug, Deserialize)]
struct Status {
    status: String,
    #[serde(default)]
    exitstatus: Option<String>,
}

/// How often a task's status is asked: quickly at first (most tasks of skiff take a
/// second or two), then every second.
fn poll_delay(attempt: u32) -> Duration {
    Duration::from_millis((100 * u64::from(attempt + 1)).min(1000))
}

impl PveApi {
    /// Waits for the task `upid` (as a create/start/upload call returned it) to stop.
    /// `OK` and `WARNINGS: n` are success; any other exit status is the error.
    pub async fn wait_task(&self, what: &str, upid: &str) -> Result<String, ApiError> {
        let parsed = Upid::parse(upid).ok_or_else(|| ApiError::InvalidResponse {
            what: what.to_string(),
            message: format!("expected a task id (UPID:…), got {upid:?}"),
        })?;
        let mut attempt = 0;
        loop {
            let status: Status = self
                .get(
                    &["nodes", &parsed.node, "tasks", &parsed.text, "status"],
                    &[],
                )
                .await?;
            if status.status == "stopped" {
                let exit = status.exitstatus.unwrap_or_else(|| "unknown".into());
                return if exit == "OK" || exit.starts_with("WARNINGS") {
                    Ok(exit)
                } else {
                    Err(ApiError::TaskFailed {
                        upid: parsed.text,
                        exitstatus: exit,
                    })
                };
            }
            tokio::time::sleep(poll_delay(attempt)).await;
            attempt = attempt.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upids_parse() {
        let u = Upid::parse("UPID:pve1:000A1B2C:0012D687:67890ABC:vzcreate:105:skiff@pve!deploy:")
            .unwrap();
        assert_eq!((u.node.as_str(), u.kind.as_str()), ("pve1", "vzcreate"));
        assert!(Upid::parse("UPID:pve1:1:2:3:vzcreate:105:user").is_none());
        assert!(Upid::parse("ok").is_none());
    }
}
