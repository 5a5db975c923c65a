//! Jobs handed to the daemon, on the lab: a clone started with `--daemon`
//! goes on when the command that started it is killed, and the daemon
//! stops cleanly afterwards; without a daemon `--daemon` exits 75.

mod clone_util;
mod daemon_util;

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
    let _serial = clone_util::serial();
    let env = Env::new();
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
    let mut args = vec!["--daemon", "--socket", &socket];
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
