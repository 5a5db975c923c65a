//! The daemon's schedules with the real binary and no hosts: a prune
//! schedule of a local repository. A run missed while the daemon was down
//! is caught up once at start; a run asked for now runs; `kvm-clone
//! schedules --json` shows both through the daemon, and the config's view
//! without one; a schedule with no retention to prune by fails, and says
//! why. (Export schedules, which need hosts, are in schedules_lab.rs.)

use std::path::Path;
use std::time::Duration;

mod daemon_util;
mod schedule_util;

use daemon_util::{Daemon, wait_until};
use schedule_util::kvm_clone;
use serde_json::Value;

fn schedules_json(dir: &Path) -> Value {
    let out = kvm_clone(dir)
        .args(["schedules", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A repository without encryption, two profiles (one with retention), and
/// two schedules due every 5 minutes.
fn setup(dir: &Path) {
    let repo = schedule_util::repo_and_profiles(dir);
    let config = format!(
        "[[schedules]]\nname = \"tidy\"\ncron = \"*/5 * * * *\"\njob = \"prune\"\nrepo = {r:?}\nprofile = \"keep3\"\ncatch_up = \"1h\"\n\n\
         [[schedules]]\nname = \"no-rules\"\ncron = \"*/5 * * * *\"\njob = \"prune\"\nrepo = {r:?}\nprofile = \"all\"\ncatch_up = \"0s\"\n",
        r = repo.display().to_string()
    );
    std::fs::write(dir.join("config.toml"), config).unwrap();
}

fn start(dir: &Path) -> Daemon {
    let mut c = kvm_clone(dir);
    c.args(["daemon"]);
    Daemon::start(c, dir.join("run/d.sock"))
}

fn named<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no schedule {name}: {doc}"))
}

#[test]
fn a_missed_run_is_caught_up_and_a_run_can_be_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    setup(dir);

    // Without a daemon: the config's schedules, next times, no runs.
    let doc = schedules_json(dir);
    assert!(named(&doc, "tidy")["next_ms"].as_u64().is_some(), "{doc}");
    assert!(named(&doc, "tidy")["last"].is_null(), "{doc}");

    // The daemon was last up 20 minutes ago: "tidy" missed runs and
    // catches up one; "no-rules" (catch_up = 0s) does not.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let old = now_ms - 20 * 60_000;
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(
        dir.join("data/schedules.json"),
        format!(
            r#"{{"schedules": {{"tidy": {{"last_due_ms": {old}, "last": null}},
                 "no-rules": {{"last_due_ms": {old}, "last": null}}}}}}"#
        ),
    )
    .unwrap();
    let mut daemon = start(dir);
    let mut doc = Value::Null;
    wait_until("the caught-up run", Duration::from_secs(30), || {
        doc = schedules_json(dir);
        named(&doc, "tidy")["last"]["result"] == "done"
    });
    let tidy = named(&doc, "tidy");
    let due = tidy["last"]["due_ms"].as_u64().unwrap();
    assert!(due > old && due <= now_ms + 1000, "{tidy}");
    assert!(named(&doc, "no-rules")["last"].is_null(), "{doc}");

    // Asked for now, through the socket: the profile has no retention, so
    // the run fails and says why.
    let out = kvm_clone(dir)
        .args(["schedules", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    run_now(dir, "no-rules");
    let asked = std::time::Instant::now();
    while named(&doc, "no-rules")["last"]["result"] != "failed" {
        assert!(
            asked.elapsed() < Duration::from_secs(30),
            "the asked-for run: {doc}"
        );
        std::thread::sleep(Duration::from_millis(200));
        doc = schedules_json(dir);
    }
    let msg = named(&doc, "no-rules")["last"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("profile all has no retention"), "{msg}");

    // Kept across a restart: the last runs stay, nothing runs again.
    assert!(daemon.stop(Duration::from_secs(30)).success());
    let doc = schedules_json(dir);
    assert_eq!(
        named(&doc, "tidy")["last"]["due_ms"].as_u64(),
        Some(due),
        "{doc}"
    );
    assert_eq!(named(&doc, "no-rules")["last"]["result"], "failed", "{doc}");
    let _daemon = start(dir);
    std::thread::sleep(Duration::from_secs(2));
    let doc = schedules_json(dir);
    assert_eq!(
        named(&doc, "tidy")["last"]["due_ms"].as_u64(),
        Some(due),
        "a handled run ran again: {doc}"
    );
}

/// "Run now" the way a front end asks: Action::RunSchedule over the socket.
fn run_now(dir: &Path, name: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let link = kvm_clone::daemon::client::connect(&dir.join("run/d.sock"), "test")
            .await
            .unwrap();
        link.actions
            .send(kvm_clone::backend::messages::Action::RunSchedule(
                name.into(),
            ))
            .unwrap();
        link.actions
            .send(kvm_clone::backend::messages::Action::Quit)
            .unwrap();
        let _ = link.task.await;
    });
}
