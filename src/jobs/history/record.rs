//! Writing rows: one when a job starts, its completion when it ends, and
//! "interrupted" for rows whose owning process died.

use super::{HistoryDb, HistoryError, now_ms, owner};
use crate::model::HistoryResult;
use crate::model::detail::CopySpan;
use rusqlite::{TransactionBehavior, params};

/// A job that is starting.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The backend's job id.
    pub job: u64,
    /// "clone", "export", "restore".
    pub kind: crate::model::JobKind,
    pub vm: String,
    pub from: String,
    pub to: String,
    pub profile: String,
    /// Unix milliseconds; [`now_ms`] for a job starting now.
    pub started_ms: u64,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Finish {
    /// Done, failed or cancelled; `Running` (the default) is recorded as
    /// failed, since a row that ends cannot still be running.
    pub result: HistoryResult,
    pub error: Option<String>,
    pub bytes_moved: u64,
    pub bytes_stored: u64,
    pub bytes_skipped: u64,
    /// The validation report, as JSON.
    pub validation: Option<serde_json::Value>,
    /// Unix milliseconds; None means now.
    pub ended_ms: Option<u64>,
    /// The copy phase: its duration and average rate go into the row.
    pub copy: CopySpan,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl HistoryDb {
    /// Writes the row of a starting job, owned by this process; returns its id.
    pub fn start(&mut self, job: &NewJob) -> Result<u64, HistoryError> {
        let (pid, token) = owner::me();
        self.conn
            .execute(
                "INSERT INTO jobs (job_id, kind, vm, source_host, dest_host, profile,
                                   started_at, result, owner_pid, owner_start)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?8, ?9)",
                params![
                    to_i64(job.job),
                    job.kind.label(),
                    job.vm,
                    job.from,
                    job.to,
                    job.profile,
                    to_i64(job.started_ms),
                    pid,
                    token
                ],
            )
            .map_err(self.err())?;
        Ok(self.conn.last_insert_rowid() as u64)
    }

    /// Completes row `id`: result, bytes, validation report, the job's log,
    /// and the copy phase's duration and average rate ([`CopySpan`]).
    pub fn finish(&mut self, id: u64, fin: &Finish, log: &[String]) -> Result<(), HistoryError> {
        let result = match fin.result {
            HistoryResult::Running => HistoryResult::Failed,
            r => r,
        };
        let validation = fin.validation.as_ref().map(serde_json::Value::to_string);
        let ended_ms = fin.ended_ms.unwrap_or_else(now_ms);
        let ended = to_i64(ended_ms);
        let copy_ms = fin.copy.duration_ms(ended_ms).map(to_i64);
        let avg_rate = fin.copy.average(ended_ms);
        self.conn
            .execute(
                "UPDATE jobs SET
                    ended_at = max(?2, started_at), result = ?3, error = ?4,
                    bytes_moved = ?5, bytes_stored = ?6, bytes_skipped = ?7,
                    avg_rate = ?10, copy_ms = ?11,
                    validation = ?8, log = ?9, owner_pid = NULL, owner_start = NULL
                 WHERE id = ?1",
                params![
                    to_i64(id),
                    ended,
                    result.label(),
                    fin.error,
                    to_i64(fin.bytes_moved),
                    to_i64(fin.bytes_stored),
                    to_i64(fin.bytes_skipped),
                    validation,
                    log.join("\n"),
                    avg_rate,
                    copy_ms,
                ],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Marks "interrupted" every running row whose owning process is gone
    /// (pid dead, or reused by another process). Returns how many.
    pub fn reap_dead_owners(&mut self) -> Result<usize, HistoryError> {
        let err = self.err();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let running: Vec<(i64, Option<u32>, Option<String>)> = {
            let mut st = tx
                .prepare("SELECT id, owner_pid, owner_start FROM jobs WHERE result = 'running'")
                .map_err(&err)?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(&err)?
                .collect::<Result<_, _>>()
                .map_err(&err)?
        };
        let mut n = 0;
        for (id, pid, token) in running {
            if pid.is_some_and(|p| owner::alive(p, token.as_deref())) {
                continue;
            }
            let why = match pid {
                Some(p) => format!(
                    "interrupted: the process running the job (pid {p}) ended before the job did"
                ),
                None => "interrupted: the process running the job is unknown".into(),
            };
            n += tx
                .execute(
                    "UPDATE jobs SET result = 'interrupted', error = coalesce(error, ?2),
                        owner_pid = NULL, owner_start = NULL
                     WHERE id = ?1 AND result = 'running'",
                    params![id, why],
                )
                .map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        Ok(n)
    }
}
