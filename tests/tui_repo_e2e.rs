//! Export and the repository view in the real binary, in tmux, against the
//! lab: `e` on archive01 exports it into an encrypted repository (the
//! passphrase typed in the dialog, never shown), then `b` opens the
//! repository, asks for its passphrase, lists the snapshot and verifies it
//! reading every chunk; a second `e` with no passphrase typed uses the key
//! the view unlocked. Then a chunk file is damaged: `V` names it, `F` and
//! `y` remove it, a third export stores it again and `V` finds no damage.
//! Last, `R` restores it to beta: the first enter shows the checklist and
//! starts nothing, the second starts the restore.

mod clone_util;
mod repo_util;
mod tmux_util;

use clone_util::lab;
use tmux_util::Tmux;

#[test]
fn export_from_the_tui_then_list_and_verify_it_in_the_repository_view() {
    let lab = lab();
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    drop(repo_util::encrypted_repo(&repo));
    // The lab's config plus the repository the dialog and view start with.
    let config = dir.path().join("config.toml");
    let lab_config = std::fs::read_to_string(lab.config()).expect("lab config");
    std::fs::write(
        &config,
        format!(
            "{lab_config}\n[export]\nrepository = \"{}\"\n",
            repo.display()
        ),
    )
    .expect("write config");
    let data = dir.path().join("data");
    let cmd = tmux_util::binary_command(&config, &data, Some(dir.path()));
    let tmux = Tmux::start(100, 30, &cmd);
    tmux.wait_for_lab();

    // VMs pane; archive01 is the first row.
    tmux.keys(&["Tab", "e"]);
    tmux.wait_for("the export dialog", |s| {
        s.contains("Export archive01 from alpha") && s.contains(&repo.display().to_string())
    });
    tmux.keys(&["Tab", "Tab", repo_util::PASS]);
    let typed = tmux.wait_for("the masked passphrase", |s| s.contains("passphrase  ****"));
    assert!(!typed.contains(repo_util::PASS), "{typed}");
    tmux.keys(&["Enter"]);
    let done = tmux.wait_for("the export to end", |s| {
        s.contains("exported as snapshot") || s.contains("failed")
    });
    assert!(done.contains("exported as snapshot"), "{done}");
    let first = snapshot_id(&done);

    // The repository view: locked until the passphrase is typed.
    tmux.keys(&["b"]);
    tmux.wait_for("the passphrase prompt", |s| s.contains("is encrypted"));
    tmux.keys(&[repo_util::PASS]);
    let prompt = tmux.wait_for("the masked input", |s| s.contains("Passphrase: ****"));
    assert!(!prompt.contains(repo_util::PASS), "{prompt}");
    tmux.keys(&["Enter"]);
    let list = tmux.wait_for("the snapshot list", |s| s.contains("1 snapshot(s)"));
    assert!(
        list.contains("archive01") && list.contains("alpha"),
        "{list}"
    );
    assert!(list.contains("encrypted"), "{list}");

    // V: verify reading every chunk.
    tmux.keys(&["V"]);
    let verified = tmux.wait_for("the verify result", |s| s.contains("Verify:"));
    assert!(
        verified.contains("OK:") && verified.contains("no damage"),
        "{verified}"
    );
    // Esc back to the list, Esc closes the view; q on its own (an Esc
    // followed at once by q would read as alt-q).
    tmux.keys(&["Escape"]);
    tmux.wait_for("the list again", |s| s.contains("R restore"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("the view closed", |s| !s.contains("Repository"));

    // The view unlocked the repository for this session: a second export
    // with the passphrase left empty uses that key (the binary runs
    // without KVM_CLONE_PASSPHRASE, so nothing else could unlock it).
    tmux.keys(&["e"]);
    tmux.wait_for("the export dialog again", |s| {
        s.contains("Export archive01 from alpha")
    });
    tmux.keys(&["Enter"]);
    let again = tmux.wait_for("the second export to end", |s| {
        s.lines().any(|l| {
            (l.contains("exported as snapshot") && !l.contains(&first)) || l.contains("failed")
        })
    });
    let second = snapshot_id(&again);
    assert!(second != first, "{again}");

    // A damaged chunk file: V names it, F then y removes it, and an export
    // (archive01 is shut off: everything is read) stores it again.
    let chunk = any_chunk_file(&repo);
    let mut bytes = std::fs::read(&chunk).expect("chunk file");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&chunk, bytes).expect("damage the chunk");
    tmux.keys(&["b"]);
    tmux.wait_for("the list, no passphrase asked", |s| {
        s.contains("2 snapshot(s)")
    });
    tmux.keys(&["V"]);
    let damaged = tmux.wait_for("the damage", |s| s.contains("DAMAGED:"));
    assert!(
        damaged.contains("F remove the damaged chunk files"),
        "{damaged}"
    );
    tmux.keys(&["F"]);
    tmux.wait_for("the question", |s| {
        s.contains("Remove the 1 damaged chunk file(s)?")
    });
    tmux.keys(&["y"]);
    let removed = tmux.wait_for("the repair", |s| s.contains("removed 1 damaged chunk file"));
    assert!(!removed.contains("F remove"), "{removed}");
    assert!(!chunk.exists(), "{}", chunk.display());
    tmux.keys(&["Escape"]);
    tmux.wait_for("the list again", |s| s.contains("R restore"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("the view closed", |s| !s.contains("Repository"));
    tmux.keys(&["e"]);
    tmux.wait_for("the export dialog a third time", |s| {
        s.contains("Export archive01 from alpha")
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("the third export to end", |s| {
        s.lines().any(|l| {
            (l.contains("exported as snapshot") && !l.contains(&first) && !l.contains(&second))
                || l.contains("failed")
        })
    });
    assert!(chunk.exists(), "stored again: {}", chunk.display());
    tmux.keys(&["b"]);
    tmux.wait_for("the list", |s| s.contains("3 snapshot(s)"));
    tmux.keys(&["V"]);
    let healed = tmux.wait_for("the verify result", |s| s.contains("Verify:"));
    assert!(healed.contains("no damage"), "{healed}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("the list again", |s| s.contains("R restore"));

    // Restore the newest snapshot to beta under a new name: the first
    // enter only checks, the second starts it.
    let name = format!("e2e-restored-{}", std::process::id());
    let _restored = clone_util::Cleanup {
        host: "beta",
        name: name.clone(),
    };
    tmux.keys(&["R"]);
    tmux.wait_for("the restore form", |s| {
        s.contains("Restore archive01 from snapshot")
    });
    let to_beta = |s: &str| s.contains("to host     ◂ beta ▸");
    for _ in 0..4 {
        if to_beta(&tmux.screen()) {
            break;
        }
        let before = tmux.screen();
        tmux.keys(&["Right"]);
        tmux.wait_for("the next host", |s| s != before);
    }
    assert!(to_beta(&tmux.screen()), "{}", tmux.screen());
    tmux.keys(&["Tab", "C-u", &name]);
    tmux.wait_for("the name typed", |s| s.contains(&name));
    tmux.keys(&["Enter"]);
    let checked = tmux.wait_for("the checklist", |s| {
        s.contains("checks passed") || s.contains("check(s) failed") || s.contains("could not run")
    });
    assert!(checked.contains("checks passed"), "{checked}");
    assert!(
        checked.contains("[PASS]") && !checked.contains("[FAIL]"),
        "{checked}"
    );
    assert!(
        !lab.domains("beta").contains(&name),
        "the first enter started the restore"
    );
    tmux.keys(&["Enter"]);
    let start = std::time::Instant::now();
    while !lab.domains("beta").contains(&name) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(180),
            "the restore never defined {name} on beta:\n{}",
            tmux.screen()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    tmux.keys(&["Escape"]);
    tmux.wait_for("the view closed", |s| !s.contains("Repository"));
    tmux.keys(&["q"]);
    tmux.wait_for("the app to quit", |_| !tmux.alive());
}

/// The id in the status line's "exported as snapshot <id>".
fn snapshot_id(screen: &str) -> String {
    let (_, rest) = screen
        .split_once("exported as snapshot ")
        .unwrap_or_else(|| panic!("no snapshot id on screen:\n{screen}"));
    rest.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Some chunk file of the repository.
fn any_chunk_file(repo: &std::path::Path) -> std::path::PathBuf {
    let dirs = std::fs::read_dir(repo.join("chunks")).expect("chunks/");
    for dir in dirs.flatten() {
        for f in std::fs::read_dir(dir.path())
            .expect("a chunk directory")
            .flatten()
        {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.len() == 64 {
                return f.path();
            }
        }
    }
    panic!("no chunk file under {}", repo.display());
}
