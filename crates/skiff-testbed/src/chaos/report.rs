//! The figures of a chaos run: one line per scenario while it runs, and the table.

use std::fmt;

use super::judge::{Outcome, Verdict};

/// Everything a chaos run found.
#[derive(Debug, Default)]
pub struct Report {
    pub seed: u64,
    pub outcomes: Vec<Outcome>,
    /// Peak RSS of any skiff process, KiB.
    pub peak_rss_kib: u64,
    pub secs: f64,
}

/// The counts of the table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub run: usize,
    pub recovered: usize,
    pub failed_cleanly: usize,
    pub corrupt: usize,
    pub leftovers: usize,
    pub panics: usize,
    pub hung: usize,
    /// Scenarios whose documented outcome did not hold.
    pub unexpected: usize,
    /// Faults that struck, each a retry or resume skiff made or refused.
    pub struck: usize,
}

impl Report {
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for o in &self.outcomes {
            t.run += 1;
            t.struck += o.struck;
            match o.verdict {
                Verdict::Recovered => t.recovered += 1,
                Verdict::FailedCleanly => t.failed_cleanly += 1,
                Verdict::Corrupt => t.corrupt += 1,
                Verdict::Panic => t.panics += 1,
                Verdict::Hung => t.hung += 1,
            }
            t.leftovers += usize::from(!o.leftovers.is_empty());
            t.unexpected += usize::from(o.unexpected.is_some());
        }
        t
    }

    /// Whether the promises held everywhere: nothing corrupt, left behind, panicked,
    /// hung, and every documented outcome met.
    pub fn clean(&self) -> bool {
        let t = self.totals();
        t.corrupt + t.leftovers + t.panics + t.hung + t.unexpected == 0
    }

    /// The scenarios that broke a promise, one line each.
    pub fn problems(&self) -> Vec<String> {
        self.outcomes
            .iter()
            .filter(|o| {
                o.unexpected.is_some()
                    || !o.leftovers.is_empty()
                    || !matches!(o.verdict, Verdict::Recovered | Verdict::FailedCleanly)
            })
            .map(line)
            .collect()
    }
}

/// One scenario as a line.
pub fn line(o: &Outcome) -> String {
    let mut s = format!(
        "{:<14} {:>6.1}s {:>4} MiB {:>3} struck  {}",
        format!("{:?}", o.verdict),
        o.secs,
        o.peak_rss_kib / 1024,
        o.struck,
        o.name
    );
    if let Some(u) = &o.unexpected {
        s.push_str(&format!("  !! {u}"));
    }
    if !o.leftovers.is_empty() {
        s.push_str(&format!("  !! left behind: {}", o.leftovers.join(", ")));
    }
    if o.verdict != Verdict::Recovered && !o.message.is_empty() {
        let msg: String = o.message.chars().take(160).collect();
        s.push_str(&format!("  — {msg}"));
    }
    s
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.totals();
        let rows: [(&str, String); 11] = [
            ("seed", self.seed.to_string()),
            ("scenarios run", t.run.to_string()),
            (
                "recovered",
                format!("{} ({} faults struck)", t.recovered, t.struck),
            ),
            ("failed cleanly", t.failed_cleanly.to_string()),
            ("outputs corrupt (must be 0)", t.corrupt.to_string()),
            ("leftovers (must be 0)", t.leftovers.to_string()),
            ("panics (must be 0)", t.panics.to_string()),
            ("hung (must be 0)", t.hung.to_string()),
            ("documented outcome missed", t.unexpected.to_string()),
            (
                "peak RSS of skiff",
                format!("{:.1} MiB", self.peak_rss_kib as f64 / 1024.0),
            ),
            ("wall time", format!("{:.0} s", self.secs)),
        ];
        writeln!(f, "| {:<28} | {:<28} |", "figure", "value")?;
        writeln!(f, "|{}|{}|", "-".repeat(30), "-".repeat(30))?;
        for (k, v) in rows {
            writeln!(f, "| {k:<28} | {v:<28} |")?;
        }
        Ok(())
    }
}
