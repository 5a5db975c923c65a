//! Issue 14, items 5 and 6, in the real binary, in tmux, against the lab
//! (a VM must be selected for the profile menu and the export dialog):
//! - a profile file added by hand while the TUI runs shows up when the
//!   menu opens again; `e` edits a built-in and saves it under a new name;
//! - the export dialog, given a path with no repository, offers to create
//!   one (passphrase twice) and exports archive01 into it.

mod common;
mod tmux_util;

use tmux_util::Tmux;

const PASS: &str = "lab-create-pass";

#[test]
fn edit_a_profile_and_export_into_a_repository_created_from_the_dialog() {
    let lab = common::lab();
    let dir = tempfile::tempdir().expect("tempdir");
    let profiles = dir.path().join("kvm-clone/profiles");
    std::fs::create_dir_all(&profiles).expect("profiles dir");
    let data = dir.path().join("data");
    let cmd = tmux_util::binary_command(&lab.config(), &data, Some(dir.path()));
    let tmux = Tmux::start(100, 30, &cmd);
    tmux.wait_for_lab();

    // VMs pane; archive01 is the first row. The menu lists the built-ins.
    tmux.keys(&["Tab", "p"]);
    tmux.wait_for("the profile menu", |s| {
        s.contains("Profile for cloning archive01")
    });
    tmux.keys(&["Escape"]);
    // A file written by hand while the TUI runs: listed when the menu opens.
    std::fs::write(
        profiles.join("by-hand.toml"),
        "name = \"by-hand\"\ndescription = \"written while the TUI ran\"\n",
    )
    .expect("write profile");
    tmux.keys(&["p"]);
    tmux.wait_for("the hand-written profile", |s| s.contains("by-hand *"));

    // e on default: a copy named my-default; running VM one step right.
    tmux.keys(&["e"]);
    tmux.wait_for("the editor", |s| s.contains("Edit a copy of default"));
    tmux.keys(&["Tab", "Right", "Enter"]);
    tmux.wait_for("saved", |s| s.contains("saved profile my-default"));
    let text = std::fs::read_to_string(profiles.join("my-default.toml")).expect("saved file");
    assert!(text.contains("live = \"require-shutdown\""), "{text}");
    tmux.keys(&["Escape"]);

    // e on archive01: a new repository path, created from the dialog.
    let repo = dir.path().join("new-repo");
    tmux.keys(&["e"]);
    tmux.wait_for("the export dialog", |s| {
        s.contains("Export archive01 from alpha")
    });
    tmux.keys(&["C-u"]);
    tmux.keys(&["-l", &repo.display().to_string()]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the offer to create it", |s| s.contains("Create one?"));
    tmux.keys(&["Tab"]);
    tmux.keys(&["-l", PASS]);
    tmux.keys(&["Tab"]);
    tmux.keys(&["-l", PASS]);
    tmux.keys(&["Enter"]);
    let done = tmux.wait_for("the export to end", |s| {
        s.contains("exported as snapshot") || s.contains("failed")
    });
    assert!(done.contains("exported as snapshot"), "{done}");
    assert!(!done.contains(PASS), "{done}");
    assert!(repo.join("config").is_file());
    // The next dialog starts on that repository.
    tmux.keys(&["e"]);
    tmux.wait_for("the remembered path", |s| {
        s.contains("Export archive01") && s.contains(&repo.display().to_string())
    });
    tmux.keys(&["Escape"]);
}
