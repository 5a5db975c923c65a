//! The one-time import of `history.jsonl`, the JSON-lines history of
//! earlier versions: each readable line becomes a finished row, then the
//! file is renamed `history.jsonl.imported` so it is never imported twice
//! and nothing is lost.

use super::{HistoryDb, HistoryError};
use rusqlite::{TransactionBehavior, params};
use serde::Deserialize;
use std::io::BufRead;
use std::path::Path;

/// A line of the old file.
#[derive(Deserialize)]
struct OldEntry {
    id: u64,
    kind: String,
    vm: String,
    from: String,
    to: String,
    /// Unix seconds.
    started: u64,
    duration_secs: u64,
    bytes_moved: u64,
    /// "done", "failed", "cancelled".
    outcome: String,
    message: Option<String>,
}

/// Imports `path` if it exists; returns how many entries were imported.
pub fn import_jsonl(db: &mut HistoryDb, path: &Path) -> Result<Option<usize>, HistoryError> {
    let io = |source| HistoryError::Io {
        path: path.to_path_buf(),
        source,
    };
    let err = db.err();
    // Under the write lock, so two processes starting at once import once:
    // the second finds the file already renamed.
    let tx = db
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(&err)?;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mut entries = Vec::new();
    for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        // A torn last line (the old format's crash case) is skipped.
        match serde_json::from_str::<OldEntry>(&line) {
            Ok(e) => entries.push(e),
            Err(e) => tracing::warn!("{}:{}: not imported: {e}", path.display(), n + 1),
        }
    }
    for e in &entries {
        let result = match e.outcome.as_str() {
            "done" | "failed" | "cancelled" => e.outcome.as_str(),
            _ => "failed",
        };
        let started = e.started.saturating_mul(1000);
        let ended = started.saturating_add(e.duration_secs.saturating_mul(1000));
        tx.execute(
            "INSERT INTO jobs (job_id, kind, vm, source_host, dest_host, started_at, ended_at,
                               result, error, bytes_moved, avg_rate, log)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,
                     CASE WHEN ?7 > ?6 THEN ?10 * 1000.0 / (?7 - ?6) END, ?11)",
            params![
                i64::try_from(e.id).unwrap_or(i64::MAX),
                e.kind,
                e.vm,
                e.from,
                e.to,
                i64::try_from(started).unwrap_or(i64::MAX),
                i64::try_from(ended).unwrap_or(i64::MAX),
                result,
                e.message,
                i64::try_from(e.bytes_moved).unwrap_or(i64::MAX),
                format!("imported from {}", path.display()),
            ],
        )
        .map_err(&err)?;
    }
    // Renamed before the commit: if the rename fails the rows roll back and
    // the next start tries again. A crash between the two loses no data:
    // the renamed file keeps every line.
    let mut done = path.as_os_str().to_owned();
    done.push(".imported");
    std::fs::rename(path, &done).map_err(io)?;
    tx.commit().map_err(&err)?;
    tracing::info!(
        "imported {} history entries from {} (renamed {})",
        entries.len(),
        path.display(),
        Path::new(&done).display()
    );
    Ok(Some(entries.len()))
}
