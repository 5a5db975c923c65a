//! The store against real SQLite files in temporary directories.

use super::*;
use crate::model::HistoryResult;
use crate::model::detail::CopySpan;

fn job(n: u64, vm: &str, from: &str, to: &str, kind: &str) -> NewJob {
    NewJob {
        job: n,
        kind: crate::model::JobKind::parse(kind).expect("a job kind"),
        vm: vm.into(),
        from: from.into(),
        to: to.into(),
        profile: "default".into(),
        started_ms: 1_000_000 + n * 1000,
    }
}

/// A job of `took_ms` whose copy of `moved` bytes took the middle half.
fn finished(result: HistoryResult, moved: u64, took_ms: u64, started_ms: u64) -> Finish {
    let copy_start = started_ms + took_ms / 4;
    Finish {
        copy: CopySpan {
            start_ms: Some(copy_start),
            end_ms: Some(copy_start + took_ms / 2),
            bytes: moved,
        },
        result,
        bytes_moved: moved,
        bytes_stored: moved,
        bytes_skipped: 10,
        ended_ms: Some(started_ms + took_ms),
        error: (result != HistoryResult::Done).then(|| format!("{} for a test", result.label())),
        ..Finish::default()
    }
}

/// Rows: web01 a→b done, web01 b→a failed, db01 a→c done (export),
/// web02 c→b cancelled, db01 running.
fn sample(db: &mut HistoryDb) -> Vec<u64> {
    let mut ids = Vec::new();
    let rows = [
        (
            job(1, "web01", "alpha", "beta", "clone"),
            Some((HistoryResult::Done, 100, 10_000)),
        ),
        (
            job(2, "web01", "beta", "alpha", "clone"),
            Some((HistoryResult::Failed, 20, 2_000)),
        ),
        (
            job(3, "db01", "alpha", "gamma", "export"),
            Some((HistoryResult::Done, 300, 20_000)),
        ),
        (
            job(4, "web02", "gamma", "beta", "clone"),
            Some((HistoryResult::Cancelled, 0, 1_000)),
        ),
        (job(5, "db01", "alpha", "beta", "clone"), None),
    ];
    for (j, end) in rows {
        let id = db.start(&j).unwrap();
        if let Some((r, moved, took)) = end {
            db.finish(id, &finished(r, moved, took, j.started_ms), &["log".into()])
                .unwrap();
        }
        ids.push(id);
    }
    ids
}

fn open() -> (tempfile::TempDir, HistoryDb) {
    let dir = tempfile::tempdir().unwrap();
    let (db, report) = HistoryDb::open(dir.path()).unwrap();
    assert_eq!(report, OpenReport::default());
    (dir, db)
}

fn vms(entries: &[crate::model::HistoryEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.vm.as_str()).collect()
}

#[test]
fn a_row_is_written_at_start_and_completed_at_the_end() {
    let (_dir, mut db) = open();
    let j = job(7, "web01", "alpha", "beta", "clone");
    let id = db.start(&j).unwrap();
    let running = db.get(id).unwrap().unwrap();
    assert_eq!(running.result, HistoryResult::Running);
    assert_eq!(running.ended_ms, None);
    assert_eq!((running.job, running.profile.as_str()), (7, "default"));

    let report = serde_json::json!({"ok": true, "items": []});
    let fin = Finish {
        validation: Some(report.clone()),
        ..finished(HistoryResult::Done, 4_000, 2_000, j.started_ms)
    };
    let log = vec!["one".to_string(), "two".to_string()];
    db.finish(id, &fin, &log).unwrap();
    let done = db.get(id).unwrap().unwrap();
    assert_eq!(done.result, HistoryResult::Done);
    assert_eq!(done.ended_ms, Some(j.started_ms + 2_000));
    assert_eq!(done.duration_secs(), Some(2.0));
    assert_eq!(
        (done.bytes_moved, done.bytes_stored, done.bytes_skipped),
        (4_000, 4_000, 10)
    );
    // 4 000 bytes copied in the 1 s the copy took, not over the 2 s job.
    assert_eq!(done.rate_bytes_per_sec, Some(4_000.0));
    assert_eq!(done.copy_secs, Some(1.0));
    assert_eq!(done.validation, Some(report));
    assert_eq!(done.log, log);
    assert_eq!(done.error, None);
    assert!(db.get(id + 1).unwrap().is_none());
}

#[test]
fn lists_are_newest_first_and_filtered() {
    let (_dir, mut db) = open();
    sample(&mut db);
    let all = db.list(&HistoryFilter::default(), 100, false).unwrap();
    assert_eq!(vms(&all), ["db01", "web02", "db01", "web01", "web01"]);
    // List rows leave the log out; full rows carry it.
    assert!(all[1].log.is_empty());
    let full = db.list(&HistoryFilter::default(), 100, true).unwrap();
    assert_eq!(full[1].log, ["log"]);
    assert_eq!(
        db.list(&HistoryFilter::default(), 2, false).unwrap().len(),
        2
    );

    let f = |vm: Option<&str>, host: Option<&str>, kind: Option<&str>, result, contains| {
        HistoryFilter {
            vm: vm.map(String::from),
            host: host.map(String::from),
            kind: kind.map(String::from),
            result,
            contains,
        }
    };
    let ids = |f: HistoryFilter| -> Vec<u64> {
        db.list(&f, 100, false)
            .unwrap()
            .iter()
            .map(|e| e.job)
            .collect()
    };
    assert_eq!(ids(f(Some("web01"), None, None, None, false)), [2, 1]);
    // Exact unless asked to search.
    assert!(ids(f(Some("web"), None, None, None, false)).is_empty());
    assert_eq!(ids(f(Some("WEB"), None, None, None, true)), [4, 2, 1]);
    // Host matches either end.
    assert_eq!(ids(f(None, Some("gamma"), None, None, false)), [4, 3]);
    assert_eq!(ids(f(None, None, Some("export"), None, false)), [3]);
    assert_eq!(
        ids(f(None, None, None, Some(HistoryResult::Running), false)),
        [5]
    );
    assert_eq!(
        ids(f(Some("db01"), Some("beta"), Some("clone"), None, false)),
        [5]
    );
    assert_eq!(
        ids(f(
            None,
            Some("alpha"),
            None,
            Some(HistoryResult::Done),
            false
        )),
        [3, 1]
    );
}

#[test]
fn stats_count_success_data_rate_and_duration() {
    let (_dir, mut db) = open();
    sample(&mut db);
    let s = db.stats(&HistoryFilter::default()).unwrap();
    assert_eq!((s.jobs, s.finished, s.succeeded), (5, 4, 2));
    assert_eq!(s.success_rate, Some(0.5));
    assert_eq!(s.bytes_moved, 420);
    // Successful jobs: 400 bytes copied in 15 s of copying.
    let rate = s.average_rate_bytes_per_sec.unwrap();
    assert!((rate - 400.0 / 15.0).abs() < 1e-9, "{rate}");
    assert_eq!(s.average_duration_secs, Some(15.0));

    let web = db
        .stats(&HistoryFilter {
            vm: Some("web01".into()),
            ..HistoryFilter::default()
        })
        .unwrap();
    assert_eq!((web.jobs, web.succeeded, web.bytes_moved), (2, 1, 120));

    let none = db
        .stats(&HistoryFilter {
            vm: Some("nothing".into()),
            ..HistoryFilter::default()
        })
        .unwrap();
    assert_eq!(none.jobs, 0);
    assert_eq!(none.success_rate, None);
    assert_eq!(none.average_rate_bytes_per_sec, None);

    let page = db.page(&HistoryFilter::default(), 3).unwrap();
    assert_eq!(page.entries.len(), 3);
    assert_eq!(page.stats, s, "a page's totals cover every matching row");
}

#[test]
fn rows_of_dead_processes_become_interrupted_and_live_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let (mut db, _) = HistoryDb::open(dir.path()).unwrap();
    let mine = db
        .start(&job(1, "web01", "alpha", "beta", "clone"))
        .unwrap();
    // A row owned by a process that has exited.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let dead = db
        .start(&job(2, "web02", "alpha", "beta", "clone"))
        .unwrap();
    // And one whose pid is alive but was reused by another process.
    let reused = db
        .start(&job(3, "web03", "alpha", "beta", "clone"))
        .unwrap();
    db.conn
        .execute(
            "UPDATE jobs SET owner_pid = ?1, owner_start = 'x' WHERE id = ?2",
            rusqlite::params![dead_pid, dead as i64],
        )
        .unwrap();
    db.conn
        .execute(
            "UPDATE jobs SET owner_start = 'old-boot:1' WHERE id = ?1",
            [reused as i64],
        )
        .unwrap();
    drop(db);

    let (db, report) = HistoryDb::open(dir.path()).unwrap();
    assert_eq!(report.interrupted, 2);
    let result = |id| db.get(id).unwrap().unwrap();
    assert_eq!(result(mine).result, HistoryResult::Running);
    for id in [dead, reused] {
        let e = result(id);
        assert_eq!(e.result, HistoryResult::Interrupted);
        assert!(e.error.unwrap().contains("ended before the job did"));
    }
}

#[test]
fn the_old_jsonl_history_is_imported_once() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = jsonl_file(dir.path());
    std::fs::write(
        &jsonl,
        concat!(
            r#"{"id":7,"kind":"clone","vm":"oldvm","from":"alpha","to":"beta","started":1700000000,"duration_secs":42,"bytes_moved":4200,"outcome":"done","message":null}"#,
            "\n",
            r#"{"id":8,"kind":"clone","vm":"oldvm2","from":"beta","to":"alpha","started":1700000100,"duration_secs":2,"bytes_moved":0,"outcome":"failed","message":"no space"}"#,
            "\n",
            r#"{"id":9,"kin"#,
        ),
    )
    .unwrap();
    let (db, report) = HistoryDb::open(dir.path()).unwrap();
    assert_eq!(report.imported, Some(2), "the torn last line is skipped");
    assert!(!jsonl.exists());
    assert!(dir.path().join("history.jsonl.imported").exists());
    let all = db.list(&HistoryFilter::default(), 10, true).unwrap();
    assert_eq!(vms(&all), ["oldvm2", "oldvm"]);
    let old = &all[1];
    assert_eq!((old.job, old.result), (7, HistoryResult::Done));
    assert_eq!(
        (old.started_ms, old.ended_ms),
        (1_700_000_000_000, Some(1_700_000_042_000))
    );
    assert_eq!(old.rate_bytes_per_sec, Some(100.0));
    assert_eq!(all[0].error.as_deref(), Some("no space"));
    drop(db);
    // Opening again imports nothing more.
    let (db, report) = HistoryDb::open(dir.path()).unwrap();
    assert_eq!(report.imported, None);
    assert_eq!(
        db.list(&HistoryFilter::default(), 10, false).unwrap().len(),
        2
    );
}

#[test]
fn concurrent_writers_lose_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    HistoryDb::open(dir.path()).unwrap();
    const WRITERS: u64 = 8;
    const ROWS: u64 = 50;
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let path = dir.path().to_path_buf();
            std::thread::spawn(move || {
                // Each writer has its own connection, as separate processes do.
                let (mut db, _) = HistoryDb::open(&path).unwrap();
                for n in 0..ROWS {
                    let j = job(w * 1000 + n, &format!("vm{w}"), "alpha", "beta", "clone");
                    let id = db.start(&j).unwrap();
                    db.finish(id, &finished(HistoryResult::Done, n, 10, j.started_ms), &[])
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (db, _) = HistoryDb::open(dir.path()).unwrap();
    let all = db.list(&HistoryFilter::default(), 10_000, false).unwrap();
    assert_eq!(all.len() as u64, WRITERS * ROWS);
    let mut jobs: Vec<u64> = all.iter().map(|e| e.job).collect();
    jobs.sort_unstable();
    jobs.dedup();
    assert_eq!(jobs.len() as u64, WRITERS * ROWS);
    assert!(all.iter().all(|e| e.result == HistoryResult::Done));
}

#[test]
fn deleting_is_explicit_and_spares_running_rows() {
    let (_dir, mut db) = open();
    let ids = sample(&mut db);
    // Jobs 1–3 started before 1_004_000 ms; 4 and 5 (running) after.
    assert_eq!(db.delete_before(1_004_000).unwrap(), 3);
    assert!(db.delete_id(ids[3]).unwrap());
    assert!(!db.delete_id(ids[3]).unwrap());
    // The running row is spared even by a date after it.
    assert_eq!(db.delete_before(u64::MAX).unwrap(), 0);
    let left = db.list(&HistoryFilter::default(), 10, false).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].result, HistoryResult::Running);
    let (before, after) = db.compact().unwrap();
    assert!(after <= before, "{before} → {after}");
    assert_eq!(
        db.list(&HistoryFilter::default(), 10, false).unwrap().len(),
        1
    );
}

#[test]
fn a_newer_schema_is_refused_and_the_version_is_recorded() {
    let (dir, db) = open();
    assert_eq!(schema::version(&db.conn).unwrap(), schema::VERSION);
    db.conn
        .execute("UPDATE schema_version SET version = 99", [])
        .unwrap();
    drop(db);
    match HistoryDb::open(dir.path()) {
        Err(HistoryError::TooNew { found: 99, .. }) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

#[test]
fn the_database_is_in_wal_mode() {
    let (_dir, db) = open();
    let mode: String = db
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn the_async_handle_runs_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let (h, _) = History::open(dir.path().to_path_buf()).await.unwrap();
    let j = job(1, "web01", "alpha", "beta", "clone");
    let id = h.start(j.clone()).await.unwrap();
    h.finish(
        id,
        finished(HistoryResult::Failed, 5, 1000, j.started_ms),
        vec!["x".into()],
    )
    .await
    .unwrap();
    let page = h.page(HistoryFilter::default(), 10).await.unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.stats.finished, 1);
    let e = h.get(id).await.unwrap().unwrap();
    assert_eq!(e.error.as_deref(), Some("failed for a test"));
    assert_eq!(e.log, ["x"]);
}

/// Issue 14: one job showed 7.7, 4.6 and 3.2 MiB/s in its detail, its
/// history row and the history statistics. All three are now the bytes
/// copied over the copy phase: the job detail's figure.
#[test]
fn one_job_has_one_average_rate() {
    const MIB: u64 = 1 << 20;
    let (_dir, mut db) = open();
    let j = job(1, "web01", "alpha", "beta", "clone");
    // 300 MiB copied in 39 s of a 65 s job (checks, verify and define aside).
    let copy = CopySpan {
        start_ms: Some(j.started_ms + 6_000),
        end_ms: Some(j.started_ms + 45_000),
        bytes: 300 * MIB,
    };
    let detail = copy.average(j.started_ms + 65_000).unwrap();
    let id = db.start(&j).unwrap();
    let fin = Finish {
        copy,
        bytes_moved: 280 * MIB,
        ended_ms: Some(j.started_ms + 65_000),
        ..Finish::default()
    };
    db.finish(
        id,
        &Finish {
            result: HistoryResult::Done,
            ..fin
        },
        &[],
    )
    .unwrap();
    let row = db.get(id).unwrap().unwrap();
    let stats = db.stats(&HistoryFilter::default()).unwrap();
    assert_eq!(row.rate_bytes_per_sec, Some(detail));
    let s = stats.average_rate_bytes_per_sec.unwrap();
    assert!((s - detail).abs() < 1e-6, "stats {s} vs detail {detail}");
    assert_eq!(row.copy_secs, Some(39.0));
}

/// A file written before copy times were kept (schema 1) opens; its rows
/// keep their wall-clock rate, and the statistics weigh them by their
/// duration, as they did, next to new rows weighed by their copy time.
#[test]
fn rows_from_before_copy_times_keep_their_rate() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = rusqlite::Connection::open(db_file(dir.path())).unwrap();
        conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version VALUES (1);
             INSERT INTO jobs (job_id, kind, vm, source_host, dest_host, started_at,
                               ended_at, result, bytes_moved, avg_rate)
             VALUES (1, 'clone', 'old01', 'alpha', 'beta', 1000, 11000, 'done', 1000, 100.0);",
        )
        .unwrap();
    }
    let (mut db, _) = HistoryDb::open(dir.path()).unwrap();
    assert_eq!(schema::version(&db.conn).unwrap(), schema::VERSION);
    let old = db.list(&HistoryFilter::default(), 10, false).unwrap();
    assert_eq!(old[0].rate_bytes_per_sec, Some(100.0));
    assert_eq!(old[0].copy_secs, None);
    // A new job: 3 000 bytes in a 5 s copy (600 B/s).
    let j = job(2, "new01", "alpha", "beta", "clone");
    let id = db.start(&j).unwrap();
    let fin = finished(HistoryResult::Done, 3_000, 10_000, j.started_ms);
    db.finish(id, &fin, &[]).unwrap();
    let s = db.stats(&HistoryFilter::default()).unwrap();
    // 1 000 bytes over 10 s, 3 000 over 5 s: 4 000 bytes in 15 s.
    let rate = s.average_rate_bytes_per_sec.unwrap();
    assert!((rate - 4_000.0 / 15.0).abs() < 1e-9, "{rate}");
}
