//! Where a headless job runs, without the lab: in a daemon of the same
//! config that answers on the socket (no `--daemon` needed), else in the
//! command's own process, which a different config or `--no-daemon`
//! forces. The hosts are unreachable (port 1 of this machine), so a
//! command waits for them and its backend shows where it is: an attached
//! command is named in the daemon's log, an in-process one logs its own
//! connection attempts in its own data directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod daemon_util;
mod tmux_util;

use daemon_util::{Daemon, wait_until};

const HOSTS: &str = "[[hosts]]\nname = \"a\"\naddress = \"127.0.0.1\"\nport = 1\n\
                     [[hosts]]\nname = \"b\"\naddress = \"127.0.0.1\"\nport = 1\n";

struct Setup {
    dir: tempfile::TempDir,
    daemon: Daemon,
}

impl Setup {
    /// A daemon on `dir/config.toml`, its data in `dir/daemon`.
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), HOSTS).unwrap();
        let socket = dir.path().join("run/d.sock");
        let mut c = Command::new(env!("CARGO_BIN_EXE_kvm-clone"));
        c.args(["daemon", "--socket"])
            .arg(&socket)
            .env("KVM_CLONE_CONFIG", dir.path().join("config.toml"))
            .env("KVM_CLONE_DATA_DIR", dir.path().join("daemon"))
            .env("XDG_CONFIG_HOME", dir.path());
        let daemon = Daemon::start(c, socket);
        Setup { dir, daemon }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `kvm-clone <flags> clone --from a --vm v --to b` on `config`, its
    /// data in `dir/<data>`, the daemon's socket in KVM_CLONE_SOCKET.
    fn clone(&self, config: &Path, data: &str, flags: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kvm-clone"));
        c.args(flags)
            .args(["clone", "--from", "a", "--vm", "v", "--to", "b"])
            .env("KVM_CLONE_CONFIG", config)
            .env("KVM_CLONE_DATA_DIR", self.path(data))
            .env("XDG_CONFIG_HOME", self.dir.path())
            .env("KVM_CLONE_SOCKET", &self.daemon.socket)
            .env_remove("KVM_CLONE_NO_DAEMON");
        c
    }

    /// Whether the daemon's log names `pid` as attached.
    fn attached(&self, pid: u32) -> bool {
        log(&self.path("daemon")).contains(&format!("(pid {pid}) attached"))
    }
}

fn log(data: &Path) -> String {
    std::fs::read_to_string(data.join("kvm-clone.log")).unwrap_or_default()
}

/// Whether the process with data in `data` runs a backend of its own.
fn in_process(data: &Path) -> bool {
    log(data).contains("connection state host=a")
}

/// Kills a command that is still waiting for its hosts.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const BOUND: Duration = Duration::from_secs(20);

#[test]
fn a_command_attaches_to_a_daemon_of_its_config_by_itself() {
    let s = Setup::new();
    // Another spelling of the daemon's file: the same file.
    let alias = s.path("alias.toml");
    std::os::unix::fs::symlink(s.path("config.toml"), &alias).unwrap();
    let cmd = Running(s.clone(&alias, "cmd", &[]).spawn().unwrap());
    wait_until("the command attaches", BOUND, || s.attached(cmd.0.id()));
    std::thread::sleep(Duration::from_secs(1));
    assert!(!in_process(&s.path("cmd")), "{}", log(&s.path("cmd")));

    // KVM_CLONE_NO_DAEMON yields to --daemon.
    let required = Running(
        s.clone(&alias, "req", &["--daemon"])
            .env("KVM_CLONE_NO_DAEMON", "1")
            .spawn()
            .unwrap(),
    );
    wait_until("--daemon attaches", BOUND, || s.attached(required.0.id()));
}

#[test]
fn no_daemon_runs_the_job_in_the_command() {
    let s = Setup::new();
    let config = s.path("config.toml");
    for (data, flags, env) in [
        ("flag", &["--no-daemon"][..], None),
        ("env", &[][..], Some("1")),
    ] {
        let mut c = s.clone(&config, data, flags);
        if let Some(v) = env {
            c.env("KVM_CLONE_NO_DAEMON", v);
        }
        let cmd = Running(c.spawn().unwrap());
        wait_until("its own backend", BOUND, || in_process(&s.path(data)));
        assert!(!s.attached(cmd.0.id()), "{data}: attached");
    }
}

#[test]
fn a_daemon_of_another_config_is_not_used() {
    let s = Setup::new();
    let other = s.path("other.toml");
    std::fs::write(&other, HOSTS).unwrap();
    let mut cmd = Running(
        s.clone(&other, "cmd", &[])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    let stderr = cmd.0.stderr.take().unwrap();
    BufReader::new(stderr).read_line(&mut line).unwrap();
    let theirs = std::fs::canonicalize(s.path("config.toml")).unwrap();
    assert!(
        line.starts_with("kvm-clone: the daemon on ")
            && line.contains(&format!(
                "serves {}, not {}",
                theirs.display(),
                other.display()
            ))
            && line.contains("running in this process"),
        "{line}"
    );
    wait_until("its own backend", BOUND, || in_process(&s.path("cmd")));
    // The welcome is where it learnt the daemon's config; it left at once.
    let left = format!("(pid {}) left", cmd.0.id());
    wait_until("it leaves the daemon", BOUND, || {
        log(&s.path("daemon")).contains(&left)
    });

    // --daemon refuses, naming both files, in one line.
    let out = s.clone(&other, "req", &["--daemon"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains(&theirs.display().to_string()) && err.contains(&other.display().to_string()),
        "{err}"
    );
}

/// With no daemon on the socket, a command runs in process without a
/// word, and `--daemon` exits 75.
#[test]
fn without_a_daemon_a_command_runs_in_process() {
    let s = Setup::new();
    let config = s.path("config.toml");
    let mut idle = s.clone(&config, "cmd", &[]);
    idle.env("KVM_CLONE_SOCKET", s.path("run/none.sock"))
        .stderr(Stdio::piped());
    let mut cmd = Running(idle.spawn().unwrap());
    wait_until("its own backend", BOUND, || in_process(&s.path("cmd")));
    let _ = cmd.0.kill();
    let out = cmd.0.stderr.take().map(|mut e| {
        let mut t = String::new();
        let _ = std::io::Read::read_to_string(&mut e, &mut t);
        t
    });
    assert_eq!(out.as_deref(), Some(""), "a word on stderr");

    let out = s
        .clone(&config, "req", &["--daemon"])
        .env("KVM_CLONE_SOCKET", s.path("run/none.sock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(75));
}

/// The TUI facing a daemon of another config runs its own backend, starts
/// no second daemon, and its status line says why; a TUI on the daemon's
/// config attaches (its quit dialog would name the daemon; here the
/// daemon's log names it).
#[test]
fn the_tui_uses_only_a_daemon_of_its_config() {
    let s = Setup::new();
    let other = s.path("other.toml");
    std::fs::write(&other, "").unwrap();
    let tui = |config: &Path, data: &str| {
        format!(
            "env -u KVM_CLONE_NO_DAEMON NO_COLOR=1 KVM_CLONE_CONFIG={} KVM_CLONE_DATA_DIR={} \
             XDG_CONFIG_HOME={} KVM_CLONE_SOCKET={} {}",
            config.display(),
            s.path(data).display(),
            s.dir.path().display(),
            s.daemon.socket.display(),
            env!("CARGO_BIN_EXE_kvm-clone"),
        )
    };
    let tmux = tmux_util::Tmux::start(200, 30, &tui(&other, "tui"));
    tmux.wait_for("the status line", |t| {
        t.contains("serves") && t.contains("running in this process")
    });
    tmux.keys(&["q"]);
    wait_until("the TUI quits", BOUND, || !tmux.alive());

    let before = log(&s.path("daemon")).matches(") attached").count();
    let tmux = tmux_util::Tmux::start(100, 30, &tui(&s.path("config.toml"), "tui2"));
    tmux.wait_for("the TUI", |t| t.contains("Hosts"));
    wait_until("the TUI attaches", BOUND, || {
        log(&s.path("daemon")).matches(") attached").count() > before
    });
    assert!(!in_process(&s.path("tui2")), "{}", log(&s.path("tui2")));
}
