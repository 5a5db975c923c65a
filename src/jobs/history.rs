//! Finished jobs, kept as JSON lines in `<data dir>/history.jsonl` (one
//! [`HistoryEntry`] a line, appended), with the statistics operators ask
//! for: success rate, data moved, average duration.

use crate::model::HistoryEntry;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("history {path}: {source}")]
pub struct HistoryError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

pub fn file(data_dir: &Path) -> PathBuf {
    data_dir.join("history.jsonl")
}

/// Appends one entry; the line is written with a single write so a crash
/// leaves at worst a truncated last line, which [`load`] skips.
pub fn append(path: &Path, entry: &HistoryEntry) -> Result<(), HistoryError> {
    let err = |source| HistoryError {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut line = serde_json::to_vec(entry).map_err(|e| err(std::io::Error::other(e)))?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    f.write_all(&line).map_err(err)
}

/// The newest `limit` entries, newest first. Unreadable lines are skipped
/// (and logged): history is informative, it must never stop the app.
pub fn load(path: &Path, limit: usize) -> Result<Vec<HistoryEntry>, HistoryError> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(HistoryError {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut all = std::collections::VecDeque::with_capacity(limit.min(1024));
    for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|source| HistoryError {
            path: path.to_path_buf(),
            source,
        })?;
        match serde_json::from_str::<HistoryEntry>(&line) {
            Ok(e) => {
                if all.len() == limit {
                    all.pop_front();
                }
                all.push_back(e);
            }
            Err(e) => tracing::warn!("{}:{}: skipped: {e}", path.display(), n + 1),
        }
    }
    Ok(all.into_iter().rev().collect())
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stats {
    pub jobs: usize,
    pub succeeded: usize,
    /// 0.0–1.0; None with no jobs.
    pub success_rate: Option<f64>,
    pub bytes_moved: u64,
    pub average_duration_secs: Option<f64>,
}

pub fn stats(entries: &[HistoryEntry]) -> Stats {
    let jobs = entries.len();
    let succeeded = entries.iter().filter(|e| e.outcome == "done").count();
    let total_secs: u64 = entries.iter().map(|e| e.duration_secs).sum();
    Stats {
        jobs,
        succeeded,
        success_rate: (jobs > 0).then(|| succeeded as f64 / jobs as f64),
        bytes_moved: entries.iter().map(|e| e.bytes_moved).sum(),
        average_duration_secs: (jobs > 0).then(|| total_secs as f64 / jobs as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, outcome: &str, bytes: u64, secs: u64) -> HistoryEntry {
        HistoryEntry {
            id,
            kind: "clone".into(),
            vm: "web01".into(),
            from: "alpha".into(),
            to: "beta".into(),
            started: 1_700_000_000 + id,
            duration_secs: secs,
            bytes_moved: bytes,
            outcome: outcome.into(),
            message: None,
        }
    }

    #[test]
    fn appends_and_loads_newest_first_within_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path());
        for i in 1..=5 {
            append(&path, &entry(i, "done", i * 10, i)).unwrap();
        }
        let got = load(&path, 3).unwrap();
        let ids: Vec<u64> = got.iter().map(|e| e.id).collect();
        assert_eq!(ids, [5, 4, 3]);
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path());
        append(&path, &entry(1, "done", 1, 1)).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"id\":2,\"kin")
            .unwrap();
        assert_eq!(load(&path, 10).unwrap().len(), 1);
    }

    #[test]
    fn stats_count_success_data_and_duration() {
        let s = stats(&[
            entry(1, "done", 100, 10),
            entry(2, "failed", 50, 2),
            entry(3, "done", 300, 30),
            entry(4, "cancelled", 0, 0),
        ]);
        assert_eq!(s.jobs, 4);
        assert_eq!(s.succeeded, 2);
        assert_eq!(s.success_rate, Some(0.5));
        assert_eq!(s.bytes_moved, 450);
        assert_eq!(s.average_duration_secs, Some(10.5));
        assert_eq!(stats(&[]).success_rate, None);
    }
}
