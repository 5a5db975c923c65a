//! Jobs handed to the daemon, on the lab: a clone started with `--daemon`
//! goes on when the command that started it is killed, and the daemon
//! stops cleanly afterwards; two commands on one daemon each follow their
//! own job; without a daemon `--daemon` exits 75. A clone without
//! `--daemon` goes to a daemon of its config on its own.

mod clone_util;
mod daemon_util;
mod export_util;
mod tmux_util;

use clone_util::{Cleanup, Env, identical, images, lab, run_dirs};
use daemon_util::Daemon;
use std::time::{Duration, Instant};

/// Slow enough to kill the command midway.
const SLOW: &str = "bandwidth_limit = \"4MiB/s\"\nverify = false\n";

fn start(env: &Env, dir: &tempfile::TempDir) -> Daemon {
    let socket = dir.path().join("d.sock");
    let command = env.command(&["daemon", "--socket", socket.to_str().unwrap()]);
    Daemon::start(command, socket)
}

#[test]
fn a_clone_handed_to_the_daemon_outlives_its_command() {
    outlives_its_command(&["--daemon"], true);
}

/// Without `--daemon`: a daemon of the command's config on its socket is
/// found and used all the same.
#[test]
fn a_clone_goes_to_a_running_daemon_without_being_told() {
    outlives_its_command(&[], false);
}

fn outlives_its_command(flags: &[&str], in_process: bool) {
    let _serial = clone_util::serial();
    let mut env = Env::new();
    env.in_process = in_process;
    env.profile("slow", SLOW);
    let name = format!("t-daemon-{}", std::process::id());
    let _g = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let dirs = run_dirs();
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = start(&env, &dir);
    let socket = daemon.socket.to_str().unwrap().to_string();
    let mut args = flags.to_vec();
    args.extend(["--socket", &socket]);
    args.extend(clone_util::to_beta("archive01", &name, "slow"));
    let mut command = env.clone_until_copying(&args);
    command.kill().unwrap();
    let _ = command.wait();

    // The job goes on in the daemon: the clone appears on beta, whole.
    let start = Instant::now();
    while !lab()
        .virsh("beta", &["list", "--all", "--name"])
        .lines()
        .any(|l| l.trim() == name)
    {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "the clone never appeared on beta after its command was killed"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(identical(
        &images("alpha").join("archive01.raw"),
        &images("beta").join(format!("{name}-vda.raw"))
    ));

    // A clean stop: the socket goes, nothing is left on the hosts.
    let st = daemon.stop(Duration::from_secs(120));
    assert!(st.success(), "{st:?}");
    assert!(!daemon.socket.exists());
    assert_eq!(run_dirs(), dirs, "run directories left behind");
}

/// An export runs slowly in the daemon; meanwhile another command clones
/// through it, and that clone ends first. The export's command must go on
/// following its export (not take the clone's views or end), then report
/// the export; the clone's command reports its clone.
#[test]
fn two_commands_on_one_daemon_each_follow_their_own_job() {
    let _serial = clone_util::serial();
    let env = Env::new();
    env.profile(
        "slow-export",
        "kind = \"export\"\nbandwidth_limit = \"4MiB/s\"\n",
    );
    let name = format!("t-daemon2-{}", std::process::id());
    let _g = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let dirs = run_dirs();
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = start(&env, &dir);
    let socket = daemon.socket.to_str().unwrap().to_string();
    let repo = export_util::repo(dir.path());
    let pass = dir.path().join("pass");
    std::fs::write(&pass, export_util::PASS).unwrap();
    let mut export = env.until_copying(&[
        "--daemon",
        "--socket",
        &socket,
        "export",
        "--from",
        "alpha",
        "--vm",
        "archive01",
        "--repo",
        repo.to_str().unwrap(),
        "--passphrase-file",
        pass.to_str().unwrap(),
        "--profile",
        "slow-export",
    ]);

    let mut args = vec!["--daemon", "--socket", &socket, "clone"];
    args.extend(clone_util::to_beta("archive01", &name, "default"));
    let (code, doc) = env.json(&args);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["result"]["new_name"], name.as_str(), "{doc}");
    assert!(
        export.try_wait().unwrap().is_none(),
        "the export's command ended with the clone"
    );

    let st = clone_util::wait_exit(&mut export, Duration::from_secs(180));
    let mut out = String::new();
    use std::io::Read;
    export
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(st.success(), "the export's command: {st:?} {out}");
    assert!(
        out.contains("exported archive01 from alpha as snapshot"),
        "{out}"
    );
    assert_eq!(export_util::open(&repo).snapshots().unwrap().len(), 1);
    assert!(daemon.stop(Duration::from_secs(120)).success());
    assert_eq!(run_dirs(), dirs, "run directories left behind");
}

/// The TUI attached to the daemon shows a job a headless command handed
/// to it; quitting the TUI asks, says the job keeps running, and leaves it
/// running: the clone completes after the TUI is gone.
#[test]
fn the_tui_attaches_and_quitting_it_leaves_the_job_running() {
    let _serial = clone_util::serial();
    let env = Env::new();
    env.profile("slow", SLOW);
    let name = format!("t-daemon3-{}", std::process::id());
    let _g = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let dirs = run_dirs();
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = start(&env, &dir);
    let socket = daemon.socket.to_str().unwrap().to_string();
    let mut args = vec!["--daemon", "--socket", &socket];
    args.extend(clone_util::to_beta("archive01", &name, "slow"));
    let mut clone = env.clone_until_copying(&args);

    // A TUI of its own data directory: what it shows comes from the daemon.
    let tui_data = tempfile::tempdir().unwrap();
    let cmd = format!(
        "{} --daemon --socket {socket}",
        tmux_util::binary_command(&lab().config(), tui_data.path(), Some(env.home.path()))
    );
    let tmux = tmux_util::Tmux::start(100, 30, &cmd);
    tmux.wait_for_lab();
    tmux.wait_for("the daemon's running clone", |s| s.contains("copying"));
    tmux.keys(&["q"]);
    let asked = tmux.wait_for("the quit dialog", |s| s.contains("Quit?"));
    assert!(
        asked.contains("1 job keeps running in the daemon"),
        "{asked}"
    );
    tmux.keys(&["y"]);
    let start = Instant::now();
    while tmux.alive() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the TUI did not quit"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let st = clone_util::wait_exit(&mut clone, Duration::from_secs(180));
    assert!(st.success(), "the clone after the TUI quit: {st:?}");
    assert!(identical(
        &images("alpha").join("archive01.raw"),
        &images("beta").join(format!("{name}-vda.raw"))
    ));
    assert!(daemon.stop(Duration::from_secs(120)).success());
    assert_eq!(run_dirs(), dirs, "run directories left behind");
}

#[test]
fn without_a_daemon_a_daemon_job_is_a_temporary_failure() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("none.sock");
    let mut args = vec!["--daemon", "--socket", socket.to_str().unwrap(), "clone"];
    args.extend(clone_util::to_beta("archive01", "t-nodaemon", "default"));
    let out = env.run(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(err.contains("no kvm-clone daemon answers"), "{err}");
    assert!(err.contains("kvm-clone daemon"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// Issue 19: a daemon killed (SIGKILL) mid-clone. The next daemon start
/// finishes the cleanup from the journal, so beta is as it was, and marks
/// the clone's history row interrupted.
#[test]
fn a_killed_daemons_clone_is_cleaned_up_and_marked_interrupted_at_the_next_start() {
    let _serial = clone_util::serial();
    let env = Env::new();
    env.profile("slow", SLOW);
    let name = format!("t-daemon-kill-{}", std::process::id());
    let _g = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let before = clone_util::snapshot("beta");
    let dirs = run_dirs();
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = start(&env, &dir);
    let socket = daemon.socket.to_str().unwrap().to_string();
    let mut args = vec!["--daemon", "--socket", &socket];
    args.extend(clone_util::to_beta("archive01", &name, "slow"));
    let mut command = env.clone_until_copying(&args);
    let pid = daemon.child.id();
    daemon.child.kill().unwrap();
    let _ = daemon.child.wait();
    let _ = clone_util::wait_exit(&mut command, Duration::from_secs(30));

    // A new daemon on the same data directory.
    std::fs::remove_file(&daemon.socket).ok();
    let mut again = start(&env, &dir);
    daemon_util::wait_until("beta cleaned up", Duration::from_secs(120), || {
        clone_util::snapshot("beta") == before
    });
    let (code, doc) = env.json(&["history", "--vm", "archive01", "--kind", "clone"]);
    assert_eq!(code, 0, "{doc}");
    let row = &doc["jobs"][0];
    assert_eq!(row["result"], "interrupted", "{doc}");
    let why = row["error"].as_str().unwrap_or_default();
    assert!(why.contains(&format!("pid {pid}")), "{why}");
    assert!(again.stop(Duration::from_secs(120)).success());
    assert_eq!(run_dirs(), dirs, "run directories left behind");
}
