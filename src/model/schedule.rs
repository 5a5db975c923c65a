//! What front ends show of the daemon's schedules (`kvm-clone schedules`,
//! the Schedules view, `GET /api/schedules`).

use serde::{Deserialize, Serialize};

/// One schedule: its next run and how its last one went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleView {
    pub name: String,
    pub cron: String,
    /// `export`, `prune` or `verify`.
    pub job: String,
    /// What it runs on, in words.
    pub target: String,
    /// Unix milliseconds; None when the expression has no later time.
    pub next_ms: Option<u64>,
    /// A run is under way.
    pub running: bool,
    pub last: Option<ScheduleRun>,
}

/// One run of a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRun {
    /// The time it was due (Unix milliseconds).
    pub due_ms: u64,
    pub started_ms: u64,
    pub ended_ms: Option<u64>,
    /// None while it runs.
    pub result: Option<RunResult>,
    /// Why it failed or was skipped, or what it did.
    pub message: Option<String>,
    /// The jobs it started (their ids, as in the Jobs pane and history).
    pub jobs: Vec<u64>,
}

impl ScheduleView {
    /// How the last run went: `running` while one runs, then `done`,
    /// `failed` or `skipped`; `-` before the first run.
    pub fn result_label(&self) -> &'static str {
        match (&self.last, self.running) {
            (_, true) => "running",
            (
                Some(ScheduleRun {
                    result: Some(r), ..
                }),
                false,
            ) => r.label(),
            _ => "-",
        }
    }

    /// When the last run started and how it went, in words: ("now",
    /// "running") while one runs, ("never", "-") before the first; the
    /// result is followed by its message ("failed: no retention").
    pub fn last_words(&self, utc: bool) -> (String, String) {
        let label = self.result_label();
        match (&self.last, self.running) {
            (_, true) => ("now".into(), label.into()),
            (Some(r), false) => (
                crate::model::format::datetime(r.started_ms, utc),
                match (&r.result, &r.message) {
                    (Some(_), Some(m)) => format!("{label}: {m}"),
                    _ => label.into(),
                },
            ),
            (None, false) => ("never".into(), label.into()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunResult {
    Done,
    Failed,
    /// The previous run was still going: a schedule never overlaps itself.
    Skipped,
}

impl RunResult {
    pub fn label(self) -> &'static str {
        match self {
            RunResult::Done => "done",
            RunResult::Failed => "failed",
            RunResult::Skipped => "skipped",
        }
    }
}
