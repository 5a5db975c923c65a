//! Job history with the real binary: a clone's row as `kvm-clone history`
//! shows it, a row left by a SIGKILLed run shown as interrupted at the next
//! start, and several processes writing one database at once.

mod clone_util;

use clone_util::{Cleanup, Env, run_dirs, snapshot};
use kvm_clone::jobs::history::{Finish, HistoryDb, HistoryFilter, NewJob};
use kvm_clone::model::HistoryResult;
use serde_json::Value;
use std::process::Command;

const MIB: u64 = 1 << 20;

/// `kvm-clone history --json [args]`: the rows.
fn history_json(env: &Env, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["history", "--json"];
    all.extend_from_slice(args);
    let out = env.run(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("history JSON");
    doc["jobs"].as_array().expect("jobs array").clone()
}

#[test]
fn a_clone_is_recorded_with_its_bytes_report_and_log() {
    let _serial = clone_util::serial();
    let env = Env::new();
    env.profile("hist", "verify = true\n");
    let name = format!("t-hist-{}", std::process::id());
    let _g = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let (code, doc) = env.clone_json(&clone_util::to_beta("archive01", &name, "hist"));
    assert_eq!(code, 0, "{doc}");
    let rows = history_json(&env, &["--vm", "archive01"]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["result"], "done");
    assert_eq!(r["job"], doc["job_id"]);
    assert_eq!(
        (r["from"].as_str(), r["to"].as_str()),
        (Some("alpha"), Some("beta"))
    );
    assert_eq!(r["profile"], "hist");
    // archive01: a sparse 1 GiB raw disk with 64 MiB of data.
    let moved = r["bytes_moved"].as_u64().unwrap();
    let stored = r["bytes_stored"].as_u64().unwrap();
    let skipped = r["bytes_skipped"].as_u64().unwrap();
    assert_eq!(moved, doc["result"]["bytes_moved"].as_u64().unwrap());
    assert!((60 * MIB..=70 * MIB).contains(&stored), "stored {stored}");
    assert_eq!(stored + skipped, 1024 * MIB, "stored + skipped = the disk");
    assert!(r["ended_ms"].as_u64().unwrap() >= r["started_ms"].as_u64().unwrap());
    assert!(r["rate_bytes_per_sec"].as_f64().unwrap() > 0.0);
    assert_eq!(r["validation"]["ok"], true);
    let log: Vec<&str> = r["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for phase in ["validating", "copying", "verifying", "defining", "done"] {
        assert!(
            log.iter().any(|l| l.ends_with(&format!("phase: {phase}"))),
            "no {phase} phase in {log:?}"
        );
    }
    assert!(
        log.iter()
            .any(|l| l.contains(" done: ") && l.contains(" moved")),
        "no summary line in {log:?}"
    );
    // What the job itself logged (its tracing span) follows the summary.
    assert!(
        log.iter()
            .any(|l| l.contains("copy done; stopping the exports")),
        "the job's captured log is missing from {log:?}"
    );

    let out = env.run(&["history", "stats", "--json"]);
    let stats: Value = serde_json::from_slice(&out.stdout).expect("stats JSON");
    assert_eq!(stats["jobs"], 1);
    assert_eq!(stats["success_rate"], 1.0);
    assert_eq!(stats["bytes_moved"].as_u64(), Some(moved));
    // Issue 14: one job, one average rate: the row's (bytes copied over the
    // copy phase, which is shorter than the job) is the statistics'.
    let rate = r["rate_bytes_per_sec"].as_f64().unwrap();
    let avg = stats["average_rate_bytes_per_sec"].as_f64().unwrap();
    assert!(
        (rate - avg).abs() <= rate * 1e-9,
        "row {rate} vs stats {avg}"
    );
    let copy_secs = r["copy_secs"].as_f64().expect("copy time recorded");
    let took = (r["ended_ms"].as_u64().unwrap() - r["started_ms"].as_u64().unwrap()) as f64;
    assert!(
        copy_secs > 0.0 && copy_secs * 1000.0 <= took,
        "{copy_secs} s of {took} ms"
    );
}

#[test]
fn a_sigkilled_clone_shows_as_interrupted_at_the_next_start() {
    let _serial = clone_util::serial();
    let env = Env::new();
    env.profile("slow", "bandwidth_limit = \"4MiB/s\"\nverify = false\n");
    let name = format!("t-hist-kill-{}", std::process::id());
    let _g = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let before = snapshot("beta");
    let dirs = run_dirs();
    let mut child = env.clone_until_copying(&clone_util::to_beta("archive01", &name, "slow"));
    let pid = child.id();
    child.kill().expect("SIGKILL");
    let _ = child.wait();

    let rows = history_json(&env, &[]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["result"], "interrupted", "{r}");
    assert_eq!(r["vm"], "archive01");
    assert_eq!(r["profile"], "slow");
    assert!(r["ended_ms"].is_null());
    let why = r["error"].as_str().unwrap_or_default();
    assert!(why.contains(&format!("pid {pid}")), "{why}");
    // Reading it again changes nothing: the row is settled.
    assert_eq!(history_json(&env, &[]), rows);

    // The next start that connects cleans beta up (journal recovery).
    let out = env.run(&["hosts"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(snapshot("beta"), before, "beta not cleaned up");
    assert_eq!(run_dirs(), dirs, "run directories left behind");
}

/// Env var that turns [`child_writer`] into one of the concurrent writers.
const WRITER_ENV: &str = "KVM_CLONE_TEST_HISTORY_WRITER";
const ROWS_PER_WRITER: u64 = 100;

/// Not a test of its own: the body of each writer process that
/// [`concurrent_processes_lose_no_rows`] starts (this test binary run again).
#[test]
#[ignore = "run as a child process by concurrent_processes_lose_no_rows"]
fn child_writer() {
    let spec = std::env::var(WRITER_ENV).expect("started by concurrent_processes_lose_no_rows");
    let (dir, writer) = spec.rsplit_once(',').expect("dir,writer");
    let writer: u64 = writer.parse().expect("writer number");
    let (mut db, _) = HistoryDb::open(std::path::Path::new(dir)).expect("open");
    for n in 0..ROWS_PER_WRITER {
        let id = db
            .start(&NewJob {
                job: writer * 10_000 + n,
                kind: kvm_clone::model::JobKind::Clone,
                vm: format!("vm-{writer}"),
                from: "alpha".into(),
                to: "beta".into(),
                profile: "default".into(),
                started_ms: kvm_clone::jobs::history::now_ms(),
            })
            .expect("start");
        let fin = Finish {
            result: HistoryResult::Done,
            bytes_moved: n,
            ..Finish::default()
        };
        db.finish(id, &fin, &[format!("row {n}")]).expect("finish");
    }
}

#[test]
fn concurrent_processes_lose_no_rows() {
    const WRITERS: u64 = 6;
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    // All at once, each with its own connection and file locks.
    let running: Vec<_> = (0..WRITERS)
        .map(|w| {
            Command::new(&exe)
                .args(["--exact", "child_writer", "--ignored", "--test-threads=1"])
                .env(WRITER_ENV, format!("{},{w}", dir.path().display()))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn writer")
        })
        .collect();
    for child in running {
        let out = child.wait_with_output().expect("writer");
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "writer failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (db, _) = HistoryDb::open(dir.path()).expect("open");
    let all = db
        .list(&HistoryFilter::default(), 100_000, false)
        .expect("list");
    assert_eq!(all.len() as u64, WRITERS * ROWS_PER_WRITER);
    for w in 0..WRITERS {
        let mine = all.iter().filter(|e| e.vm == format!("vm-{w}")).count() as u64;
        assert_eq!(mine, ROWS_PER_WRITER, "writer {w}");
    }
    assert!(all.iter().all(|e| e.result == HistoryResult::Done));
}
