//! Opening the database: pragmas for concurrent use, migrations, the
//! one-time import of the old JSON-lines file, and marking the rows of
//! dead processes interrupted.

use super::{HistoryError, db_file, import, jsonl_file, schema};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a writer waits for another's lock before giving up. Writes are
/// a few rows, so this is only reached when something is badly stuck.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The history store. One per process (or thread); SQLite's WAL lets the
/// TUI and headless runs read and write the same file at once.
pub struct HistoryDb {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
}

/// What [`HistoryDb::open`] did besides opening.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Entries imported from `history.jsonl` (then renamed `.imported`).
    pub imported: Option<usize>,
    /// Rows of killed processes now marked interrupted.
    pub interrupted: usize,
}

impl HistoryDb {
    /// Opens (creating if needed) `<data_dir>/history.db`, imports an old
    /// `history.jsonl` once, and marks rows whose process died interrupted.
    pub fn open(data_dir: &Path) -> Result<(HistoryDb, OpenReport), HistoryError> {
        std::fs::create_dir_all(data_dir).map_err(|source| HistoryError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let mut db = HistoryDb::open_file(&db_file(data_dir))?;
        let imported = import::import_jsonl(&mut db, &jsonl_file(data_dir))?;
        let interrupted = db.reap_dead_owners()?;
        Ok((
            db,
            OpenReport {
                imported,
                interrupted,
            },
        ))
    }

    /// Opens one database file and brings its schema up to date. Several
    /// processes opening a new file at once can get SQLITE_BUSY where
    /// SQLite does not wait (the switch to WAL, a read lock upgraded to a
    /// write lock): the whole open is tried again then, up to the busy
    /// timeout.
    pub fn open_file(path: &Path) -> Result<HistoryDb, HistoryError> {
        let start = std::time::Instant::now();
        loop {
            match Self::open_once(path) {
                Err(HistoryError::Db { source, .. })
                    if is_busy(&source) && start.elapsed() < BUSY_TIMEOUT =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    fn open_once(path: &Path) -> Result<HistoryDb, HistoryError> {
        let err = |source| HistoryError::Db {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        // WAL: readers never block the writer; NORMAL sync is durable across
        // a process crash (only a power loss may drop the last commits).
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        let found = schema::migrate(&mut conn).map_err(err)?;
        if found > schema::VERSION {
            return Err(HistoryError::TooNew {
                path: path.to_path_buf(),
                found,
                known: schema::VERSION,
            });
        }
        Ok(HistoryDb {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Maps a SQLite error to one that names the file. Owns its copy of
    /// the path, so it can be held while the connection is borrowed.
    pub(super) fn err(&self) -> impl Fn(rusqlite::Error) -> HistoryError + use<> {
        let path = self.path.clone();
        move |source| HistoryError::Db {
            path: path.clone(),
            source,
        }
    }
}

/// SQLITE_BUSY or SQLITE_LOCKED: another connection holds the lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}
