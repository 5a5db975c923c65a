//! An export schedule on the lab: due every 15 seconds, it exports
//! archive01 from alpha as ordinary jobs (history rows, snapshots in the
//! repository), its runs never overlap, and `kvm-clone schedules` shows
//! the last run with its job.

mod clone_util;
mod daemon_util;
mod export_util;

use clone_util::{Env, run_dirs};
use daemon_util::{Daemon, wait_until};
use serde_json::Value;
use std::time::Duration;

#[test]
fn an_export_schedule_runs_exports_as_jobs_without_overlap() {
    let _serial = clone_util::serial();
    let mut env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let repo = export_util::repo(dir.path());
    let pass = dir.path().join("pass");
    std::fs::write(&pass, export_util::PASS).unwrap();
    env.profile(
        "sched",
        &format!(
            "kind = \"export\"\n[encryption]\nmode = \"passphrase\"\npassphrase_file = {:?}\n",
            pass.display().to_string()
        ),
    );
    let config = dir.path().join("config.toml");
    let schedule = format!(
        "\n[[schedules]]\nname = \"quarter-minute\"\ncron = \"*/15 * * * * *\"\njob = \"export\"\nhost = \"alpha\"\nvms = [\"archive0?\", \"nosuchvm\"]\nrepo = {:?}\nprofile = \"sched\"\n",
        repo.display().to_string()
    );
    std::fs::write(
        &config,
        std::fs::read_to_string(&env.config).unwrap() + &schedule,
    )
    .unwrap();
    env.config = config;
    let dirs = run_dirs();
    let socket = dir.path().join("d.sock");
    let mut daemon = Daemon::start(
        env.command(&["daemon", "--socket", socket.to_str().unwrap()]),
        socket.clone(),
    );
    let schedules = || -> Value {
        let out = env
            .command(&["--socket", socket.to_str().unwrap(), "schedules", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // Two runs end. "nosuchvm" matches nothing, so each run fails and says
    // so, but archive01 (matched by its glob) is exported each time.
    let mut seen = Vec::new();
    wait_until("two runs", Duration::from_secs(150), || {
        let doc = schedules();
        let last = &doc["schedules"][0]["last"];
        if last["result"] == "failed" && !seen.contains(&last["due_ms"]) {
            seen.push(last["due_ms"].clone());
        }
        seen.len() >= 2
    });
    let doc = schedules();
    let last = &doc["schedules"][0]["last"];
    let message = last["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("no VM named \"nosuchvm\" on alpha"),
        "{doc}"
    );
    assert_eq!(last["jobs"].as_array().map(Vec::len), Some(1), "{doc}");
    assert!(daemon.stop(Duration::from_secs(120)).success());

    // Ordinary jobs: history rows, one snapshot each, never two at once.
    let (code, hist) = env.json(&["history", "--kind", "export", "--vm", "archive01"]);
    assert_eq!(code, 0, "{hist}");
    let mut rows: Vec<(u64, u64)> = hist["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["result"] == "done")
        .map(|r| {
            (
                r["started_ms"].as_u64().unwrap(),
                r["ended_ms"].as_u64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    assert!(rows.len() >= 2, "{hist}");
    for w in rows.windows(2) {
        assert!(w[1].0 >= w[0].1, "two runs overlapped: {rows:?}");
    }
    let snaps = export_util::open(&repo).snapshots().unwrap();
    assert!(snaps.len() >= 2, "{} snapshots", snaps.len());
    assert_eq!(run_dirs(), dirs, "run directories left behind");
}
