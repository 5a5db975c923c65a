//! Job history in SQLite (`<data dir>/history.db`, docs/history.md): a row
//! is written when a job starts and completed when it ends, so a killed
//! process leaves a row that the next start marks "interrupted".
//!
//! [`HistoryDb`] is the synchronous store; [`History`] wraps it for async
//! callers and runs every call on the blocking pool.

mod handle;
mod import;
mod latest;
mod maintain;
mod owner;
mod query;
mod record;
mod schema;
mod stats;
mod store;

pub use crate::model::history::{HistoryFilter, HistoryPage, HistoryStats};
pub use handle::History;
pub use latest::LastSuccess;
pub use record::{Finish, NewJob};
pub use store::{HistoryDb, OpenReport};

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history {path}: {source}")]
    Db {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("history {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "history {path}: written by a newer kvm-clone (schema version {found}, this one knows up to {known})"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("history: the database task failed: {0}")]
    Task(String),
}

/// The database file in a data directory.
pub fn db_file(data_dir: &Path) -> PathBuf {
    data_dir.join("history.db")
}

/// The JSON-lines history of earlier versions, imported once by [`HistoryDb::open`].
pub fn jsonl_file(data_dir: &Path) -> PathBuf {
    data_dir.join("history.jsonl")
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
