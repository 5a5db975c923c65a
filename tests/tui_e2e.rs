//! Drives the real binary in tmux against the lab, as an operator would.

mod common;
mod tmux_util;

use std::process::Command;
use std::time::{Duration, Instant};
use tmux_util::Tmux;

#[test]
fn navigate_to_beta_and_see_its_vms() {
    let lab = common::lab();
    let data = tempfile::tempdir().expect("tempdir");
    // A job finished in an earlier run: the history pane must show it.
    std::fs::write(
        data.path().join("history.jsonl"),
        r#"{"id":7,"kind":"clone","vm":"oldvm7","from":"alpha","to":"beta","started":1700000000,"duration_secs":42,"bytes_moved":314572800,"outcome":"done","message":null}"#
            .to_string()
            + "\n",
    )
    .expect("write history");
    let cmd = tmux_util::binary_command(&lab.config(), data.path(), None);
    // 80x24: the smallest size the TUI promises to stay readable at.
    let tmux = Tmux::start(80, 24, &cmd);
    tmux.wait_for("alpha's VMs", |s| {
        s.contains("alpha") && s.contains("web01")
    });
    tmux.wait_for("beta up", |s| {
        s.contains("beta") && s.matches(" up").count() >= 2
    });
    // The old JSON-lines history was imported into history.db.
    tmux.wait_for("the imported history row", |s| s.contains("oldvm7"));
    assert!(data.path().join("history.jsonl.imported").exists());
    // Hosts pane has focus with alpha selected: move down to beta.
    tmux.keys(&["j"]);
    let s = tmux.wait_for("beta's VMs", |s| s.contains("web02"));
    assert!(s.contains("archive02"), "{s}");
    assert!(!s.contains("web01"), "alpha's VM still listed:\n{s}");
    // Help overlay lists bindings, Esc closes it.
    tmux.keys(&["?"]);
    tmux.wait_for("help", |s| s.to_lowercase().contains("help"));
    tmux.keys(&["Escape"]);
    // No job runs, so q quits at once.
    tmux.keys(&["q"]);
    let start = Instant::now();
    while tmux.alive() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!tmux.alive(), "kvm-clone did not quit on q");
}

/// Removes the TUI's clone from beta, even if the test fails.
struct CloneCleanup(&'static str);

impl Drop for CloneCleanup {
    fn drop(&mut self) {
        let lab = common::lab();
        let uri = lab.socket_uri("beta");
        for args in [["destroy", self.0], ["undefine", self.0]] {
            let _ = Command::new("virsh")
                .args(["-q", "-c", &uri])
                .args(args)
                .output();
        }
        if let Ok(rd) = std::fs::read_dir(lab.dir.join("hosts/beta/lib/images")) {
            for e in rd.flatten() {
                if e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{}-", self.0))
                {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let _ = Command::new("virsh")
            .args(["-q", "-c", &uri, "pool-refresh", "default"])
            .output();
    }
}

#[test]
fn clone_a_vm_from_the_tui_and_see_it_in_history() {
    let lab = common::lab();
    let _cleanup = CloneCleanup("archive01-clone");
    let data = tempfile::tempdir().expect("tempdir");
    let cmd = tmux_util::binary_command(&lab.config(), data.path(), None);
    let tmux = Tmux::start(100, 30, &cmd);
    tmux.wait_for_lab();
    // VMs pane; archive01 is the first row.
    tmux.keys(&["Tab"]);
    tmux.keys(&["c"]);
    tmux.wait_for("the clone dialog", |s| s.contains("archive01-clone"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("a passing checklist", |s| s.contains("Start clone"));
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("the finished clone in history", |s| {
        s.contains("done") && s.contains("alpha→beta")
    });
    assert!(s.contains("archive01"), "{s}");
    assert!(
        lab.domains("beta").contains(&"archive01-clone".to_string()),
        "the clone is not defined on beta"
    );
    // The jobs pane has focus after the start; the history pane is next.
    // Enter opens the row in full: its validation report and its log.
    tmux.keys(&["Tab", "Enter"]);
    tmux.wait_for("the history detail", |s| s.contains("Validation report"));
    tmux.keys(&["End"]);
    tmux.wait_for("the job's log", |s| {
        s.contains("Log (") && s.contains("phase: copying")
    });
    tmux.keys(&["Escape", "q"]);
}

#[test]
fn pick_a_profile_from_the_menu_and_clone_with_it() {
    let lab = common::lab();
    let name: &'static str =
        Box::leak(format!("profiles-e2e-{}", std::process::id()).into_boxed_str());
    let _cleanup = CloneCleanup(name);
    let data = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("tempdir");
    let cmd = tmux_util::binary_command(&lab.config(), data.path(), Some(home.path()));
    let tmux = Tmux::start(100, 30, &cmd);
    tmux.wait_for_lab();
    // VMs pane, archive01 (first row): the profile menu.
    tmux.keys(&["Tab"]);
    tmux.keys(&["p"]);
    tmux.wait_for("the profile menu", |s| {
        s.contains("Profile for cloning archive01 from alpha") && s.contains("migration")
    });
    tmux.keys(&["j"]);
    tmux.wait_for("quick-clone's settings", |s| {
        s.contains("fast clone, live if possible, no verify") && s.contains("4 connections × 8")
    });
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("the dialog with the pick", |s| {
        s.contains("Clone archive01 from alpha")
    });
    assert!(s.contains("quick-clone  2 of 6 profiles"), "{s}");
    // New name: the field after the destination.
    tmux.keys(&["Tab", "C-u", name]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("a passing checklist", |s| s.contains("Start clone"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the finished clone in history", |s| {
        s.contains("done") && s.contains("alpha→beta")
    });
    assert!(
        lab.domains("beta").contains(&name.to_string()),
        "the clone is not defined on beta"
    );
    tmux.keys(&["q"]);
}
