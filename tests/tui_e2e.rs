//! Drives the real binary in tmux against the lab, as an operator would.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    session: String,
}

impl Tmux {
    fn start(width: u16, height: u16, cmd: &str) -> Tmux {
        // Unique per test: tests of this file run in parallel.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let session = format!("kvm-clone-e2e-{}-{n}", std::process::id());
        let st = Command::new("tmux")
            .args(["new-session", "-d", "-s", &session])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(cmd)
            .status()
            .expect("tmux");
        assert!(st.success(), "tmux new-session failed");
        Tmux { session }
    }

    fn keys(&self, keys: &[&str]) {
        let st = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(st.success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `pred`; the bound only keeps a broken
    /// run from hanging, it is not a timing assertion.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &self.session])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

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
    let cmd = format!(
        "env NO_COLOR=1 KVM_CLONE_CONFIG={} KVM_CLONE_DATA_DIR={} {}",
        lab.config().display(),
        data.path().display(),
        env!("CARGO_BIN_EXE_kvm-clone")
    );
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
    let cmd = format!(
        "env NO_COLOR=1 KVM_CLONE_CONFIG={} KVM_CLONE_DATA_DIR={} {}",
        lab.config().display(),
        data.path().display(),
        env!("CARGO_BIN_EXE_kvm-clone")
    );
    let tmux = Tmux::start(100, 30, &cmd);
    tmux.wait_for("alpha's VMs", |s| {
        s.contains("archive01") && s.contains("web01")
    });
    tmux.wait_for("beta up", |s| {
        s.contains("beta") && s.matches(" up").count() >= 2
    });
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
