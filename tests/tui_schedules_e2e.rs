//! The Schedules view of the real binary in tmux, attached to a daemon
//! with no hosts and one prune schedule of a local repository (no lab):
//! `S` lists it as never run, enter asks the daemon to run it now, and the
//! row shows the run `done`.

use std::path::Path;

mod daemon_util;
mod schedule_util;
mod tmux_util;

use daemon_util::Daemon;
use schedule_util::kvm_clone;
use tmux_util::Tmux;

/// A schedule pruning the repository by `keep3` on 29 February only, so
/// it is never due while the test runs.
fn setup(dir: &Path) {
    let repo = schedule_util::repo_and_profiles(dir);
    let config = format!(
        "[[schedules]]\nname = \"tidy\"\ncron = \"0 3 29 2 *\"\njob = \"prune\"\nrepo = {:?}\nprofile = \"keep3\"\ncatch_up = \"0s\"\n",
        repo.display().to_string()
    );
    std::fs::write(dir.join("config.toml"), config).expect("config");
}

/// The list row of the schedule `name` (not the detail under the list).
fn row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|l| l.contains(&format!(" {name} ")) && l.contains(" prune "))
}

#[test]
fn enter_in_the_schedules_view_runs_the_schedule_and_its_row_shows_done() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    setup(dir);
    let socket = dir.join("run/d.sock");
    let mut daemon = kvm_clone(dir);
    daemon.arg("daemon").arg("--socket").arg(&socket);
    let _daemon = Daemon::start(daemon, socket.clone());

    let cmd = format!(
        "{} --daemon --socket {}",
        tmux_util::binary_command(&dir.join("config.toml"), &dir.join("data"), Some(dir)),
        socket.display()
    );
    let tmux = Tmux::start(100, 30, &cmd);
    tmux.wait_for("the TUI", |s| s.contains("Hosts"));

    tmux.keys(&["S"]);
    let listed = tmux.wait_for("the schedule", |s| row(s, "tidy").is_some());
    let before = row(&listed, "tidy").unwrap_or_default();
    assert!(before.contains("0 3 29 2 *"), "{listed}");
    assert!(!before.contains("done"), "ran before enter:\n{listed}");
    assert!(listed.contains("never run"), "{listed}");

    tmux.keys(&["Enter"]);
    let done = tmux.wait_for("the run to end", |s| {
        row(s, "tidy").is_some_and(|r| r.contains("done") || r.contains("failed"))
    });
    assert!(
        row(&done, "tidy").is_some_and(|r| r.contains("done")),
        "{done}"
    );

    // q closes the view, a second q quits (nothing runs in the TUI).
    tmux.keys(&["q"]);
    tmux.wait_for("the panes", |s| !s.contains("Schedules ·"));
    tmux.keys(&["q"]);
    daemon_util::wait_until("the TUI quits", std::time::Duration::from_secs(20), || {
        !tmux.alive()
    });
}
