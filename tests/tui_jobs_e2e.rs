//! The jobs pane in the real binary, in tmux, against the lab: start a
//! throttled clone from the TUI, read its detail view while it copies,
//! then cancel it with `x`, `y` and check beta is left as it was.

mod clone_util;
mod tmux_util;

use clone_util::{Cleanup, images, lab};
use std::time::{Duration, Instant};
use tmux_util::Tmux;

/// A profile slow enough (archive01 has 64 MiB of data: about 16 s of
/// copying) that the job is still copying when the test presses `x`.
const SLOW: &str = "name = \"e2e-slow\"\n\
    description = \"throttled to 4 MiB/s for the e2e test\"\n\
    verify = false\n\
    bandwidth_limit = \"4MiB/s\"\n\
    connections = 1\n";

/// What of `name` is on beta: its domain and image files.
fn on_beta(name: &str) -> Vec<String> {
    let mut found: Vec<String> = lab()
        .domains("beta")
        .into_iter()
        .filter(|d| d == name)
        .collect();
    if let Ok(rd) = std::fs::read_dir(images("beta")) {
        found.extend(
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|f| f.starts_with(name)),
        );
    }
    found
}

#[test]
fn detail_view_then_cancel_a_running_clone_from_the_tui() {
    let lab = lab();
    let name = format!("e2e-cancel-{}", std::process::id());
    let _cleanup = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let data = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("tempdir");
    let profiles = home.path().join("kvm-clone/profiles");
    std::fs::create_dir_all(&profiles).expect("profiles dir");
    std::fs::write(profiles.join("e2e-slow.toml"), SLOW).expect("write profile");
    let cmd = tmux_util::binary_command(&lab.config(), data.path(), Some(home.path()));
    let tmux = Tmux::start(100, 30, &cmd);
    tmux.wait_for_lab();
    // VMs pane; archive01 is the first row. Name, then the slow profile.
    tmux.keys(&["Tab", "c"]);
    tmux.wait_for("the clone dialog", |s| s.contains("archive01-clone"));
    tmux.keys(&["Tab", "C-u", &name, "Tab"]);
    tmux.wait_for("the name typed", |s| s.contains(&name));
    let picked = |s: &str| s.contains("< e2e-slow >");
    // Every clone profile at most once (the built-ins and this test's own).
    for _ in 0..16 {
        if picked(&tmux.screen()) {
            break;
        }
        let before = tmux.screen();
        tmux.keys(&["Right"]);
        tmux.wait_for("the next profile", |s| s != before);
    }
    assert!(picked(&tmux.screen()), "{}", tmux.screen());
    tmux.keys(&["Enter"]);
    tmux.wait_for("a passing checklist", |s| s.contains("Start clone"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the job copying", |s| s.contains("copying"));

    // Enter on the job: its detail, with phases stamped and its log.
    tmux.keys(&["Enter"]);
    // Phase rows read "  14:03:07 copying".
    let stamped = |s: &str, phase: &str| {
        s.lines()
            .any(|l| l.contains(&format!(" {phase}")) && l.contains(':'))
    };
    let s = tmux.wait_for("the detail view's phases", |s| {
        s.contains("Phases (UTC)") && stamped(s, "copying")
    });
    for phase in ["queued", "validating", "preparing"] {
        assert!(stamped(&s, phase), "no {phase} in the detail:\n{s}");
    }
    assert!(s.contains("profile e2e-slow"), "{s}");
    assert!(s.contains("last 60 s"), "{s}");
    // The log is at the bottom: the job's own lines, phases included.
    tmux.keys(&["End"]);
    tmux.wait_for("the job's log", |s| {
        s.contains("Log (") && s.contains("clone phase") && s.contains("phase=Copying")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the detail closed", |s| !s.contains("Phases (UTC)"));

    // Cancel it while it still copies.
    tmux.keys(&["x"]);
    tmux.wait_for("the cancel question", |s| s.contains("Cancel job?"));
    let copying = on_beta(&name);
    tmux.keys(&["y"]);
    tmux.wait_for("the job cancelled", |s| s.contains("nothing left behind"));
    assert!(
        copying.iter().any(|f| f != &name),
        "no image was being written before the cancel: {copying:?}"
    );
    // Everything the job made on beta is gone.
    assert!(
        on_beta(&name).is_empty(),
        "left on beta: {:?}",
        on_beta(&name)
    );

    // Nothing runs any more: q quits at once.
    tmux.keys(&["q"]);
    let start = Instant::now();
    while tmux.alive() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!tmux.alive(), "kvm-clone did not quit on q");
}
