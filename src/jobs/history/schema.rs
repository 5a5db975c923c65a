//! The schema and its migrations (docs/history.md). Each migration runs
//! once, in one transaction with the version bump, so a crash mid-way
//! leaves the previous version intact.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// Migration `i` brings the schema from version `i` to `i + 1`. Append only:
/// a released migration is never edited.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the jobs table.
    "CREATE TABLE jobs (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id        INTEGER NOT NULL,
        kind          TEXT    NOT NULL,
        vm            TEXT    NOT NULL,
        source_host   TEXT    NOT NULL,
        dest_host     TEXT    NOT NULL,
        profile       TEXT    NOT NULL DEFAULT '',
        started_at    INTEGER NOT NULL,
        ended_at      INTEGER,
        result        TEXT    NOT NULL
            CHECK (result IN ('running', 'done', 'failed', 'cancelled', 'interrupted')),
        error         TEXT,
        bytes_moved   INTEGER NOT NULL DEFAULT 0,
        bytes_stored  INTEGER NOT NULL DEFAULT 0,
        bytes_skipped INTEGER NOT NULL DEFAULT 0,
        avg_rate      REAL,
        validation    TEXT,
        log           TEXT    NOT NULL DEFAULT '',
        owner_pid     INTEGER,
        owner_start   TEXT
    );
    CREATE INDEX jobs_started_at ON jobs (started_at);
    CREATE INDEX jobs_vm ON jobs (vm);
    CREATE INDEX jobs_running ON jobs (result) WHERE result = 'running';",
    // 2: the copy phase's duration; avg_rate is now bytes copied over it.
    // Older rows keep NULL and their wall-clock rate.
    "ALTER TABLE jobs ADD COLUMN copy_ms INTEGER;",
];

/// The version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// The schema version stored in the database (0 for a new file).
pub fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);")?;
    Ok(conn
        .query_row("SELECT max(version) FROM schema_version", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()?
        .flatten()
        .unwrap_or(0))
}

/// Brings the schema up to [`VERSION`]. Returns the version found, which
/// the caller refuses when it is newer than this build knows.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<i64> {
    let found = version(conn)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        // IMMEDIATE: take the write lock first, so two processes opening a new
        // file at once run each migration once (the second sees it done).
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = version(&tx)?;
        if now <= i as i64 {
            tx.execute_batch(sql)?;
            tx.execute("DELETE FROM schema_version", [])?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                [i as i64 + 1],
            )?;
        }
        tx.commit()?;
    }
    Ok(found)
}
