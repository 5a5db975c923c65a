//! The daemon's REST API on the lab, as a script drives it: a clone whose
//! pre-flight check fails is refused with its checklist (nothing starts),
//! a slow clone is started and cancelled (beta left clean), another is
//! started and followed to its end; history and the metrics show them,
//! and an e-mail for each reaches a real SMTP server.

mod api_util;
mod clone_util;
mod daemon_util;
mod smtp_util;

use api_util::{Client, TOKEN};
use clone_util::{Cleanup, Env, lab, run_dirs};
use daemon_util::{Daemon, wait_until};
use serde_json::{Value, json};
use std::time::Duration;

/// A daemon on the lab's config plus an `[api]` table and e-mail for
/// every ended job to the SMTP server on port `smtp`.
fn start(env: &mut Env, dir: &std::path::Path, smtp: u16) -> (Daemon, Client) {
    let port = api_util::free_port();
    let token = api_util::token_file(dir);
    let config = dir.join("config.toml");
    let lab_config = std::fs::read_to_string(&env.config).unwrap();
    let email = format!(
        "\n[notify.email]\nhost = \"127.0.0.1\"\nport = {smtp}\ntls = \"none\"\n\
         from = \"kvm-clone@example.test\"\nto = [\"ops@example.test\"]\non = [\"done\", \"cancelled\"]\n"
    );
    let text = lab_config + &api_util::table(port, &token, false) + &email;
    std::fs::write(&config, text).unwrap();
    env.config = config;
    let socket = dir.join("d.sock");
    let daemon = Daemon::start(
        env.command(&["daemon", "--socket", socket.to_str().unwrap()]),
        socket,
    );
    let api = Client::new(port);
    api.wait_up();
    wait_until("both hosts up", Duration::from_secs(60), || {
        let hosts = api.get("/api/hosts", Some(TOKEN)).json();
        hosts["hosts"].as_array().is_some_and(|h| {
            h.len() == 2 && h.iter().all(|h| h["state"] == "up" && !h["info"].is_null())
        })
    });
    (daemon, api)
}

fn clone_body(name: &str, profile: &str) -> String {
    json!({"kind": "clone", "from": "alpha", "vm": "archive01", "to": "beta",
           "new_name": name, "profile": profile})
    .to_string()
}

/// Polls a job until it has a result.
fn result_of(api: &Client, id: u64) -> Value {
    let mut doc = Value::Null;
    wait_until("the job's end", Duration::from_secs(240), || {
        doc = api.get(&format!("/api/jobs/{id}"), Some(TOKEN)).json();
        !doc["result"].is_null()
    });
    doc
}

fn on_beta(name: &str) -> bool {
    lab()
        .virsh("beta", &["list", "--all", "--name"])
        .lines()
        .any(|l| l.trim() == name)
}

#[test]
fn clones_are_started_cancelled_and_followed_through_the_api() {
    let _serial = clone_util::serial();
    let mut env = Env::new();
    env.profile("slow", "bandwidth_limit = \"4MiB/s\"\nverify = false\n");
    let dir = tempfile::tempdir().unwrap();
    let dirs = run_dirs();
    let smtp = smtp_util::Smtp::start(dir.path(), 0);
    let (mut daemon, api) = start(&mut env, dir.path(), smtp.port);
    let t = Some(TOKEN);
    let vms = api.get("/api/vms?host=alpha", t).json();
    assert!(
        vms["hosts"][0]["vms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "archive01"),
        "{vms}"
    );

    // A failing pre-flight check: 422 with the checklist, and no job.
    let a = api.post("/api/jobs", t, &clone_body("-bad name", "default"));
    assert_eq!(a.status, 422, "{}", a.body);
    let doc = a.json();
    assert!(
        doc["checklist"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["status"] == "fail"),
        "{doc}"
    );
    assert_eq!(api.get("/api/jobs", t).json()["jobs"], json!([]));

    // Started, then cancelled: beta as it was.
    let name = format!("t-api-{}", std::process::id());
    let _g = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let a = api.post("/api/jobs", t, &clone_body(&name, "slow"));
    assert_eq!(a.status, 202, "{}", a.body);
    let started = a.json();
    assert_eq!(started["job"]["vm"], "archive01", "{started}");
    assert!(
        started["checklist"]["items"]
            .as_array()
            .is_some_and(|i| !i.is_empty())
    );
    let id = started["job"]["id"].as_u64().unwrap();
    wait_until("copying", Duration::from_secs(120), || {
        api.get(&format!("/api/jobs/{id}"), t).json()["phase"] == "copying"
    });
    assert_eq!(api.delete(&format!("/api/jobs/{id}"), t).status, 202);
    let done = result_of(&api, id);
    assert_eq!(done["result"], "cancelled", "{done}");
    assert!(!on_beta(&name), "the cancelled clone is on beta");
    assert_eq!(api.delete(&format!("/api/jobs/{id}"), t).status, 409);

    // Started and followed to its end.
    let a = api.post("/api/jobs", t, &clone_body(&name, "default"));
    assert_eq!(a.status, 202, "{}", a.body);
    let id = a.json()["job"]["id"].as_u64().unwrap();
    let done = result_of(&api, id);
    assert_eq!(done["result"], "done", "{done}");
    assert_eq!(done["report"]["new_name"], name.as_str(), "{done}");
    assert!(on_beta(&name));

    // History and the metrics saw both.
    let h = api.get("/api/history?kind=clone", t).json();
    let results: Vec<&str> = h["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["done", "cancelled"], "{h}");
    let m = api.get("/metrics", t).body;
    let sample = |name: &str, labels: &[(&str, &str)]| api_util::sample(&m, name, labels);
    let clone_done = [("kind", "clone"), ("result", "done")];
    assert_eq!(
        sample("kvm_clone_jobs_total", &clone_done),
        Some(1.0),
        "{m}"
    );
    let clone_cancelled = [("kind", "clone"), ("result", "cancelled")];
    assert_eq!(
        sample("kvm_clone_jobs_total", &clone_cancelled),
        Some(1.0),
        "{m}"
    );
    let moved = sample("kvm_clone_moved_bytes_total", &[("kind", "clone")]).unwrap_or(0.0);
    assert!(moved > 0.0, "{m}");
    assert_eq!(
        sample("kvm_clone_jobs_running", &[("kind", "clone")]),
        Some(0.0),
        "{m}"
    );
    assert_eq!(
        sample("kvm_clone_host_up", &[("host", "beta")]),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample("kvm_clone_job_duration_seconds_count", &[("kind", "clone")]),
        Some(2.0),
        "{m}"
    );

    // An e-mail for each ended job, the cancelled one first.
    wait_until("two e-mails", Duration::from_secs(60), || {
        smtp.messages().len() >= 2
    });
    let mail = smtp.messages();
    assert!(
        mail[0].contains("clone of archive01 from alpha to beta cancelled"),
        "{}",
        mail[0]
    );
    assert!(
        mail[1].contains("clone of archive01 from alpha to beta done"),
        "{}",
        mail[1]
    );

    assert!(daemon.stop(Duration::from_secs(120)).success());
    assert_eq!(run_dirs(), dirs, "run directories left behind");
}
