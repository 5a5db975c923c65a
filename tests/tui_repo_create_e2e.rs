//! Creating a repository from the real binary's TUI, in tmux, with no lab
//! (issue 14, item 5): `b`, a path that does not exist, the offer to
//! create it with a passphrase typed twice (a mismatch refused first), the
//! empty repository listed. The next run starts the view on that path (it
//! remembers the last repository) and asks for its passphrase.

mod tmux_util;

use std::time::{Duration, Instant};
use tmux_util::Tmux;

const PASS: &str = "correct-horse-e2e";

fn quit(tmux: &Tmux) {
    tmux.keys(&["q"]);
    let start = Instant::now();
    while tmux.alive() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!tmux.alive(), "kvm-clone did not quit on q");
}

#[test]
fn the_repository_view_creates_a_missing_repository_and_remembers_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No hosts: the repository view needs none.
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").expect("write config");
    let data = dir.path().join("data");
    let repo = dir.path().join("backups").join("new-repo");
    let cmd = tmux_util::binary_command(&config, &data, Some(dir.path()));

    let tmux = Tmux::start(100, 30, &cmd);
    tmux.wait_for("the main screen", |s| s.contains("Hosts"));
    tmux.keys(&["b"]);
    tmux.wait_for("the path prompt", |s| s.contains("Which repository?"));
    tmux.keys(&["-l", &repo.display().to_string()]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the offer to create it", |s| {
        s.contains("No repository at") && s.contains("Create one?")
    });
    // Passphrase, then a different one again: refused, nothing created.
    // tmux reads -l only before the first key: one call per kind.
    tmux.keys(&["Tab"]);
    tmux.keys(&["-l", PASS]);
    tmux.keys(&["Tab"]);
    tmux.keys(&["-l", "other"]);
    tmux.keys(&["Enter"]);
    let refused = tmux.wait_for("the mismatch", |s| s.contains("passphrases differ"));
    assert!(!refused.contains(PASS), "{refused}");
    assert!(!repo.exists(), "created despite the mismatch");
    tmux.keys(&["C-u"]);
    tmux.keys(&["-l", PASS]);
    tmux.keys(&["Enter"]);
    let listed = tmux.wait_for("the new, empty repository", |s| {
        s.contains("no snapshots yet")
    });
    assert!(listed.contains("encrypted"), "{listed}");
    assert!(!listed.contains(PASS), "{listed}");
    assert!(repo.join("config").is_file() && repo.join("keys").is_file());
    tmux.keys(&["Escape"]);
    tmux.wait_for("the view closed", |s| !s.contains("no snapshots yet"));
    quit(&tmux);
    let state = std::fs::read_to_string(data.join("tui-state.toml")).expect("state file");
    assert!(state.contains(&repo.display().to_string()), "{state}");
    assert!(!state.contains(PASS), "{state}");

    // A new run: b opens the remembered repository, which asks for its key.
    let tmux = Tmux::start(100, 30, &cmd);
    tmux.wait_for("the main screen", |s| s.contains("Hosts"));
    tmux.keys(&["b"]);
    tmux.wait_for("the passphrase prompt", |s| s.contains("is encrypted"));
    tmux.keys(&["-l", PASS]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the repository again", |s| s.contains("no snapshots yet"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("the view closed", |s| !s.contains("no snapshots yet"));
    quit(&tmux);
}
