//! Explicit maintenance: deleting rows and compacting the file. Nothing
//! here runs on its own; history is only ever removed when asked.

use super::{HistoryDb, HistoryError};

impl HistoryDb {
    /// Deletes the rows of jobs that started before `ms` (Unix milliseconds).
    /// Running rows are kept: their job may still be writing.
    pub fn delete_before(&mut self, ms: u64) -> Result<usize, HistoryError> {
        self.conn
            .execute(
                "DELETE FROM jobs WHERE started_at < ?1 AND result <> 'running'",
                [i64::try_from(ms).unwrap_or(i64::MAX)],
            )
            .map_err(self.err())
    }

    /// Deletes one row; false when there is none with that id.
    pub fn delete_id(&mut self, id: u64) -> Result<bool, HistoryError> {
        let n = self
            .conn
            .execute(
                "DELETE FROM jobs WHERE id = ?1",
                [i64::try_from(id).unwrap_or(-1)],
            )
            .map_err(self.err())?;
        Ok(n > 0)
    }

    /// Rewrites the file without free pages (VACUUM) and folds the WAL
    /// back in. Returns the file size before and after, in bytes.
    pub fn compact(&mut self) -> Result<(u64, u64), HistoryError> {
        let size = |db: &HistoryDb| std::fs::metadata(&db.path).map(|m| m.len()).unwrap_or(0);
        let checkpoint = |db: &HistoryDb| {
            db.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(db.err())
        };
        checkpoint(self)?;
        let before = size(self);
        self.conn.execute_batch("VACUUM").map_err(self.err())?;
        checkpoint(self)?;
        Ok((before, size(self)))
    }
}
