//! [`History`]: the store for async callers. Every call runs on tokio's
//! blocking pool, never on the runtime's threads.

use super::{Finish, HistoryDb, HistoryError, HistoryFilter, HistoryPage, NewJob, OpenReport};
use crate::model::HistoryEntry;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A shared handle; clones use the same connection, one call at a time.
#[derive(Clone)]
pub struct History {
    db: Arc<Mutex<HistoryDb>>,
}

impl History {
    /// Opens the store of a data directory (see [`HistoryDb::open`]).
    pub async fn open(data_dir: PathBuf) -> Result<(History, OpenReport), HistoryError> {
        let (db, report) = tokio::task::spawn_blocking(move || HistoryDb::open(&data_dir))
            .await
            .map_err(|e| HistoryError::Task(e.to_string()))??;
        Ok((
            History {
                db: Arc::new(Mutex::new(db)),
            },
            report,
        ))
    }

    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut HistoryDb) -> Result<T, HistoryError> + Send + 'static,
    ) -> Result<T, HistoryError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            // A panic elsewhere poisons the lock but leaves SQLite consistent.
            let mut db = db.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut db)
        })
        .await
        .map_err(|e| HistoryError::Task(e.to_string()))?
    }

    pub async fn start(&self, job: NewJob) -> Result<u64, HistoryError> {
        self.call(move |db| db.start(&job)).await
    }

    pub async fn finish(&self, id: u64, fin: Finish, log: Vec<String>) -> Result<(), HistoryError> {
        self.call(move |db| db.finish(id, &fin, &log)).await
    }

    pub async fn page(
        &self,
        filter: HistoryFilter,
        limit: usize,
    ) -> Result<HistoryPage, HistoryError> {
        self.call(move |db| db.page(&filter, limit)).await
    }

    pub async fn get(&self, id: u64) -> Result<Option<HistoryEntry>, HistoryError> {
        self.call(move |db| db.get(id)).await
    }
}
