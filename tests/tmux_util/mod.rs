//! The real binary in a tmux session: send keys, read the screen.
#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

/// A detached tmux session running one command; killed on drop.
pub struct Tmux {
    session: String,
}

impl Tmux {
    pub fn start(width: u16, height: u16, cmd: &str) -> Tmux {
        // Unique per test: tests of this file run in parallel.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let session = format!("kvm-clone-e2e-{}-{n}", std::process::id());
        // A server whose last session was just killed (by the previous
        // test) is still exiting and refuses new sessions: try again.
        for _ in 0..10 {
            let st = Command::new("tmux")
                .args(["new-session", "-d", "-s", &session])
                .args(["-x", &width.to_string(), "-y", &height.to_string()])
                .arg(cmd)
                .status()
                .expect("tmux");
            if st.success() {
                return Tmux { session };
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!("tmux new-session failed");
    }

    pub fn keys(&self, keys: &[&str]) {
        let st = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(st.success());
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `pred`; the bound only keeps a broken
    /// run from hanging, it is not a timing assertion.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
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

    pub fn alive(&self) -> bool {
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

/// The command line of the real binary on `config` with `data` as its data
/// directory, without colour, and with `config_home` as XDG_CONFIG_HOME
/// (user profiles) when given. The TUI runs its own backend: it neither
/// attaches to a daemon nor leaves one behind (append `--daemon --socket`
/// for one, which wins over KVM_CLONE_NO_DAEMON).
pub fn binary_command(
    config: &std::path::Path,
    data: &std::path::Path,
    config_home: Option<&std::path::Path>,
) -> String {
    let home = config_home
        .map(|h| format!("XDG_CONFIG_HOME={} ", h.display()))
        .unwrap_or_default();
    format!(
        "env NO_COLOR=1 KVM_CLONE_NO_DAEMON=1 KVM_CLONE_CONFIG={} KVM_CLONE_DATA_DIR={} {home}{}",
        config.display(),
        data.display(),
        env!("CARGO_BIN_EXE_kvm-clone")
    )
}

impl Tmux {
    /// Waits until alpha's VMs are listed and both lab hosts are up.
    pub fn wait_for_lab(&self) {
        self.wait_for("alpha's VMs", |s| {
            s.contains("archive01") && s.contains("web01")
        });
        self.wait_for("both hosts up", |s| {
            s.contains("beta") && s.matches(" up").count() >= 2
        });
    }
}
