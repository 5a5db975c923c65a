//! The daemon's REST API with the real binary and no hosts: the token on
//! every endpoint, 4xx answers for bad requests, a scrape parsed by a
//! Prometheus parser, a token file others can read refused at start, and
//! the last good export of each VM read from history into the metrics.

use std::path::Path;
use std::process::Command;

mod api_util;
mod daemon_util;

use api_util::{Client, TOKEN};
use daemon_util::Daemon;

/// A daemon with no hosts and an `[api]` table.
fn start(dir: &Path, metrics_open: bool) -> (Daemon, Client) {
    let port = api_util::free_port();
    let token = api_util::token_file(dir);
    let config = dir.join("config.toml");
    std::fs::write(&config, api_util::table(port, &token, metrics_open)).unwrap();
    let daemon = Daemon::start(command(dir, &config), dir.join("run/d.sock"));
    let client = Client::new(port);
    client.wait_up();
    (daemon, client)
}

fn command(dir: &Path, config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kvm-clone"));
    c.args(["daemon", "--socket"])
        .arg(dir.join("run/d.sock"))
        .env("KVM_CLONE_CONFIG", config)
        .env("KVM_CLONE_DATA_DIR", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir);
    c
}

const READS: [&str; 6] = [
    "/api/hosts",
    "/api/vms",
    "/api/jobs",
    "/api/jobs/1",
    "/api/history",
    "/metrics",
];

#[test]
fn every_endpoint_needs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, api) = start(dir.path(), false);
    for path in READS {
        for token in [None, Some("wrong-token-0123456789abcdef")] {
            let a = api.get(path, token);
            assert_eq!(a.status, 401, "{path} with {token:?}: {}", a.body);
            assert!(a.json()["error"].as_str().unwrap().contains("bearer token"));
        }
    }
    let a = api.post("/api/jobs", None, "{}");
    assert_eq!(a.status, 401, "{}", a.body);
    let a = api.delete("/api/jobs/1", None);
    assert_eq!(a.status, 401, "{}", a.body);

    // With it, the reads answer (an unknown job is a 404).
    let t = Some(TOKEN);
    assert_eq!(
        api.get("/api/hosts", t).json()["hosts"],
        serde_json::json!([])
    );
    assert_eq!(
        api.get("/api/vms", t).json()["hosts"],
        serde_json::json!([])
    );
    assert_eq!(
        api.get("/api/jobs", t).json()["jobs"],
        serde_json::json!([])
    );
    assert_eq!(
        api.get("/api/history", t).json()["entries"],
        serde_json::json!([])
    );
    assert_eq!(api.get("/api/jobs/1", t).status, 404);
    let m = api.get("/metrics", t);
    assert_eq!(m.status, 200, "{}", m.body);
    assert_eq!(
        api_util::sample(&m.body, "kvm_clone_jobs_running", &[("kind", "clone")]),
        Some(0.0),
        "{}",
        m.body
    );
}

#[test]
fn metrics_can_be_open_while_the_api_stays_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, api) = start(dir.path(), true);
    let m = api.get("/metrics", None);
    assert_eq!(m.status, 200, "{}", m.body);
    assert!(
        m.body.contains("# TYPE kvm_clone_jobs_running gauge"),
        "{}",
        m.body
    );
    assert_eq!(api.get("/api/hosts", None).status, 401);
}

#[test]
fn bad_requests_get_a_4xx_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, api) = start(dir.path(), false);
    let t = Some(TOKEN);
    type Call<'a> = Box<dyn Fn() -> api_util::Answer + 'a>;
    let cases: Vec<(Call, u16, &str)> = vec![
        (
            Box::new(|| api.post("/api/jobs", t, "{not json")),
            400,
            "request body",
        ),
        (
            Box::new(|| {
                api.post("/api/jobs", t, r#"{"kind":"clone","from":"a","vm":"w","to":"b","new_name":"n","colour":"red"}"#)
            }),
            400,
            "unknown field `colour`",
        ),
        (
            Box::new(|| api.post("/api/jobs", t, r#"{"kind":"teleport"}"#)),
            400,
            "unknown variant",
        ),
        (
            Box::new(|| {
                api.post(
                    "/api/jobs",
                    t,
                    r#"{"kind":"clone","from":"alpha","vm":"w","to":"beta","new_name":"n"}"#,
                )
            }),
            400,
            "no host named \"alpha\"",
        ),
        (
            Box::new(|| api.get("/api/jobs/abc", t)),
            400,
            "not a job id",
        ),
        (Box::new(|| api.delete("/api/jobs/42", t)), 404, "no job 42"),
        (
            Box::new(|| api.get("/api/history?limit=0", t)),
            400,
            "limit",
        ),
        (
            Box::new(|| api.get("/api/history?result=great", t)),
            400,
            "use one of",
        ),
        (
            Box::new(|| api.get("/api/history?colour=red", t)),
            400,
            "unknown field",
        ),
        (
            Box::new(|| api.get("/api/vms?host=gamma", t)),
            404,
            "no host named",
        ),
        (
            Box::new(|| api.get("/api/nothing", t)),
            404,
            "no such endpoint",
        ),
    ];
    for (call, status, text) in cases {
        let a = call();
        assert_eq!(a.status, status, "{}", a.body);
        let message = a.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(message.contains(text), "{message:?} lacks {text:?}");
    }
}

#[test]
fn a_token_file_others_can_read_stops_the_daemon_with_one_line() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let token = api_util::token_file(dir.path());
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o640)).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        api_util::table(api_util::free_port(), &token, false),
    )
    .unwrap();
    let out = command(dir.path(), &config).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("token_file"))
        .unwrap_or_default();
    assert!(line.contains("chmod 600"), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert!(!dir.path().join("run/d.sock").exists(), "the socket stayed");
}

/// Alerts on "no good backup for a day" must survive a daemon restart.
#[test]
fn the_last_good_export_of_each_vm_comes_from_history() {
    use kvm_clone::jobs::history::{Finish, HistoryDb, NewJob};
    let dir = tempfile::tempdir().unwrap();
    let (mut db, _) = HistoryDb::open(&dir.path().join("data")).unwrap();
    let job = NewJob {
        job: 7,
        kind: kvm_clone::model::JobKind::Export,
        vm: "web01".into(),
        from: "alpha".into(),
        to: "/srv/repo".into(),
        profile: "default".into(),
        started_ms: 1_700_000_000_000,
    };
    let id = db.start(&job).unwrap();
    let fin = Finish {
        result: kvm_clone::model::HistoryResult::Done,
        ended_ms: Some(1_700_000_060_000),
        ..Finish::default()
    };
    db.finish(id, &fin, &[]).unwrap();
    drop(db);
    let (_daemon, api) = start(dir.path(), false);
    let m = api.get("/metrics", Some(TOKEN));
    let got = api_util::sample(
        &m.body,
        "kvm_clone_last_export_success_timestamp_seconds",
        &[("vm", "web01"), ("host", "alpha")],
    );
    assert_eq!(got, Some(1_700_000_060.0), "{}", m.body);
    let h = api
        .get("/api/history?kind=export&vm=web01", Some(TOKEN))
        .json();
    assert_eq!(h["entries"][0]["vm"], "web01", "{h}");
}
