//! The figures operators ask of a history: how many jobs, how many
//! succeeded, how much data moved, and how fast and long jobs take.

use super::{HistoryDb, HistoryError};
use crate::model::history::{HistoryFilter, HistoryStats};
use rusqlite::params_from_iter;

fn u(n: Option<i64>) -> u64 {
    n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

impl HistoryDb {
    pub fn stats(&self, filter: &HistoryFilter) -> Result<HistoryStats, HistoryError> {
        let (cond, args) = filter.to_sql();
        let sql = format!(
            "SELECT count(*),
                    sum(result = 'done'),
                    sum(result <> 'running'),
                    sum(bytes_moved),
                    sum(CASE WHEN result = 'done' AND avg_rate IS NOT NULL
                             THEN avg_rate * coalesce(copy_ms, ended_at - started_at) END),
                    sum(CASE WHEN result = 'done' AND avg_rate IS NOT NULL
                             THEN coalesce(copy_ms, ended_at - started_at) END),
                    avg(CASE WHEN result = 'done' AND ended_at IS NOT NULL
                             THEN ended_at - started_at END)
             FROM jobs WHERE {cond}"
        );
        self.conn
            .query_row(&sql, params_from_iter(args), |r| {
                let (jobs, succeeded, finished) = (u(r.get(0)?), u(r.get(1)?), u(r.get(2)?));
                // Σ rate × ms over Σ ms: bytes per second.
                let rate_weighted: Option<f64> = r.get(4)?;
                let rate_ms: Option<i64> = r.get(5)?;
                let avg_ms: Option<f64> = r.get(6)?;
                Ok(HistoryStats {
                    jobs,
                    succeeded,
                    finished,
                    success_rate: (finished > 0).then(|| succeeded as f64 / finished as f64),
                    bytes_moved: u(r.get(3)?),
                    average_rate_bytes_per_sec: match (rate_weighted, rate_ms) {
                        (Some(w), Some(ms)) if ms > 0 => Some(w / ms as f64),
                        _ => None,
                    },
                    average_duration_secs: avg_ms.map(|ms| ms / 1000.0),
                })
            })
            .map_err(self.err())
    }
}
