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
