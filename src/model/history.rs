//! The job history as front ends see it: rows, filters, pages and figures
//! (docs/history.md). The SQLite store behind it is `jobs::history`.

use serde::{Deserialize, Serialize};

/// How a job in the history ended (or that it has not yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryResult {
    #[default]
    Running,
    Done,
    Failed,
    Cancelled,
    /// The process running it was killed before the job ended.
    Interrupted,
}

impl HistoryResult {
    pub const ALL: [HistoryResult; 5] = [
        HistoryResult::Running,
        HistoryResult::Done,
        HistoryResult::Failed,
        HistoryResult::Cancelled,
        HistoryResult::Interrupted,
    ];

    /// The word used in the database, JSON, tables and filters.
    pub fn label(self) -> &'static str {
        match self {
            HistoryResult::Running => "running",
            HistoryResult::Done => "done",
            HistoryResult::Failed => "failed",
            HistoryResult::Cancelled => "cancelled",
            HistoryResult::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<HistoryResult> {
        HistoryResult::ALL.into_iter().find(|r| r.label() == s)
    }
}

/// One job of the history (docs/history.md): written when it starts,
/// completed when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Row id: what `kvm-clone history delete --id` takes.
    pub id: u64,
    /// The backend's job id (as in the jobs pane).
    pub job: u64,
    /// "clone", "export", "restore".
    pub kind: String,
    pub vm: String,
    pub from: String,
    pub to: String,
    pub profile: String,
    /// Unix milliseconds.
    pub started_ms: u64,
    /// None while running, or when the job was interrupted.
    pub ended_ms: Option<u64>,
    pub result: HistoryResult,
    pub error: Option<String>,
    /// Data bytes sent to the destination, re-sends after a resume included.
    pub bytes_moved: u64,
    /// Data bytes the destination holds.
    pub bytes_stored: u64,
    /// Bytes never sent: holes and zero runs of the source (sparse).
    pub bytes_skipped: u64,
    /// The average rate: bytes copied over the copy phase's duration
    /// ([`CopySpan`](crate::model::detail::CopySpan)), as the job detail
    /// showed it. Rows written before copy times were kept: bytes moved
    /// over the job's wall-clock duration. None for jobs that never copied.
    pub rate_bytes_per_sec: Option<f64>,
    /// How long the copy phase took; None for older rows and jobs that
    /// never copied.
    #[serde(default)]
    pub copy_secs: Option<f64>,
    /// The pre-flight checklist, when the job got that far.
    pub validation: Option<serde_json::Value>,
    /// The job's log lines.
    pub log: Vec<String>,
}

impl HistoryEntry {
    /// Wall-clock duration, once the job ended.
    pub fn duration_secs(&self) -> Option<f64> {
        self.ended_ms
            .map(|e| e.saturating_sub(self.started_ms) as f64 / 1000.0)
    }
}

/// Which rows to show. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryFilter {
    pub vm: Option<String>,
    /// Matches the source or the destination host.
    pub host: Option<String>,
    pub kind: Option<String>,
    pub result: Option<HistoryResult>,
    /// VM and host match when they contain the text, ignoring case (the
    /// TUI's search as you type); otherwise they must be equal (scripts).
    pub contains: bool,
}

/// A filtered list with the statistics of everything the filter matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub filter: HistoryFilter,
    /// Newest first, at most the limit asked for; without logs and
    /// validation reports (see [`HistoryDb::get`]).
    pub entries: Vec<HistoryEntry>,
    pub stats: HistoryStats,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryStats {
    /// Rows the filter matches, running ones included.
    pub jobs: u64,
    pub succeeded: u64,
    /// Rows that ended: done, failed, cancelled or interrupted.
    pub finished: u64,
    /// Succeeded over finished, 0.0–1.0; None before any job ended.
    pub success_rate: Option<f64>,
    /// Bytes moved by every job, failed ones included.
    pub bytes_moved: u64,
    /// Bytes copied by successful jobs over their total copy time: the
    /// rows' rates weighted by their copy durations (wall-clock durations
    /// for rows without one), so one job's figure is its row's.
    pub average_rate_bytes_per_sec: Option<f64>,
    /// Mean wall-clock duration of successful jobs, in seconds.
    pub average_duration_secs: Option<f64>,
}
