//! Jobs outlive the TUI that started them (issue 19), in tmux on the lab:
//! a clone started in a TUI attached to the daemon keeps copying after
//! that TUI quits; a second TUI attached mid-job shows it copying with
//! its progress moving; the clone ends whole on beta and the daemon's
//! history has it.

mod clone_util;
mod daemon_util;
mod tmux_util;

use clone_util::{Cleanup, Env, identical, images, lab, run_dirs};
use daemon_util::{Daemon, wait_until};
use std::time::Duration;
use tmux_util::Tmux;

/// About 16 s of copying for archive01's 64 MiB.
const SLOW: &str = "verify = false\nbandwidth_limit = \"4MiB/s\"\nconnections = 1\n";

/// The percentage on the jobs pane's copying row ("██ 18%│").
fn percent(screen: &str) -> Option<u32> {
    let line = screen.lines().find(|l| l.contains("copying"))?;
    let before = &line[..line.rfind('%')?];
    let digits = before.len() - before.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    before[before.len() - digits..].parse().ok()
}

#[test]
fn a_clone_started_in_the_tui_outlives_it_and_a_second_tui_follows_it() {
    let _serial = clone_util::serial();
    let env = Env::new();
    env.profile("e2e-slow", SLOW);
    let name = format!("t-tui-daemon-{}", std::process::id());
    let _g = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let dirs = run_dirs();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("d.sock");
    let mut daemon = Daemon::start(
        env.command(&["daemon", "--socket", socket.to_str().unwrap()]),
        socket.clone(),
    );
    let tui_command = || {
        let data = tempfile::tempdir().unwrap().keep();
        format!(
            "{} --daemon --socket {}",
            tmux_util::binary_command(&lab().config(), &data, Some(env.home.path())),
            socket.display()
        )
    };

    // The first TUI starts the clone with the slow profile.
    let first = Tmux::start(100, 30, &tui_command());
    first.wait_for_lab();
    first.keys(&["Tab", "c"]);
    first.wait_for("the clone dialog", |s| s.contains("archive01-clone"));
    first.keys(&["Tab", "C-u", &name, "Tab"]);
    first.wait_for("the name typed", |s| s.contains(&name));
    for _ in 0..16 {
        if first.screen().contains("< e2e-slow >") {
            break;
        }
        let before = first.screen();
        first.keys(&["Right"]);
        first.wait_for("the next profile", |s| s != before);
    }
    assert!(
        first.screen().contains("< e2e-slow >"),
        "{}",
        first.screen()
    );
    first.keys(&["Enter"]);
    first.wait_for("a passing checklist", |s| s.contains("Start clone"));
    first.keys(&["Enter"]);
    first.wait_for("the job copying", |s| s.contains("copying"));

    // A second TUI, attached mid-job: the same job, its progress moving.
    let second = Tmux::start(100, 30, &tui_command());
    let seen = second.wait_for("the job in the second TUI", |s| {
        s.contains("copying") && percent(s).is_some()
    });
    let at_first = percent(&seen).unwrap_or(0);
    second.wait_for("progress moving in the second TUI", |s| {
        percent(s).is_some_and(|p| p > at_first) || s.contains("done")
    });

    // The first TUI quits; the job keeps running.
    first.keys(&["q"]);
    let asked = first.wait_for("the quit dialog", |s| s.contains("Quit?"));
    assert!(
        asked.contains("1 job keeps running in the daemon"),
        "{asked}"
    );
    first.keys(&["y"]);
    wait_until("the first TUI gone", Duration::from_secs(20), || {
        !first.alive()
    });
    second.wait_for("the job still copying after the first TUI quit", |s| {
        s.contains("copying") || s.contains("done")
    });

    // It ends whole on beta, and the daemon's history has it.
    wait_until("the clone on beta", Duration::from_secs(180), || {
        lab().domains("beta").contains(&name)
    });
    assert!(identical(
        &images("alpha").join("archive01.raw"),
        &images("beta").join(format!("{name}-vda.raw"))
    ));
    wait_until("the history row", Duration::from_secs(30), || {
        let (_, doc) = env.json(&["history", "--vm", "archive01", "--kind", "clone"]);
        doc["jobs"][0]["result"] == "done"
    });
    second.keys(&["q"]);
    assert!(daemon.stop(Duration::from_secs(120)).success());
    assert_eq!(run_dirs(), dirs, "run directories left behind");
}
