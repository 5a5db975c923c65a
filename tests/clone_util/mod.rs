//! Helpers for clone tests: run the real binary against the lab, look at
//! the hosts' files through the lab directory, and clean up.
#![allow(dead_code)]

#[path = "../common/mod.rs"]
pub mod common;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use common::lab;

/// A private data directory (journal, history, log) and config home
/// (profiles) for one test's kvm-clone runs.
pub struct Env {
    pub data: tempfile::TempDir,
    pub home: tempfile::TempDir,
    pub config: PathBuf,
    /// Run jobs in the command's own process (KVM_CLONE_NO_DAEMON=1), so
    /// no daemon that happens to run is used; `--daemon` wins over it.
    /// Off for a test of attaching on its own.
    pub in_process: bool,
}

impl Env {
    pub fn new() -> Env {
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(home.path().join("kvm-clone/profiles")).expect("profiles dir");
        Env {
            data: tempfile::tempdir().expect("tempdir"),
            home,
            config: lab().config(),
            in_process: true,
        }
    }

    /// Adds a profile the runs can name.
    pub fn profile(&self, name: &str, body: &str) {
        std::fs::write(
            self.home
                .path()
                .join(format!("kvm-clone/profiles/{name}.toml")),
            format!("name = \"{name}\"\n{body}"),
        )
        .expect("write profile");
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kvm-clone"));
        c.args(args)
            .env("KVM_CLONE_CONFIG", &self.config)
            .env("KVM_CLONE_DATA_DIR", self.data.path())
            .env("XDG_CONFIG_HOME", self.home.path())
            .env_remove("KVM_CLONE_NO_DAEMON")
            .env_remove("SSH_AUTH_SOCK");
        if self.in_process {
            c.env("KVM_CLONE_NO_DAEMON", "1");
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run kvm-clone")
    }

    /// `kvm-clone clone … --json`: exit code and the JSON document.
    pub fn clone_json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["clone"];
        all.extend_from_slice(args);
        self.json(&all)
    }

    /// `kvm-clone <args> --json`: exit code and the JSON document.
    pub fn json(&self, args: &[&str]) -> (i32, Value) {
        self.json_with(args, &[])
    }

    /// `json` with extra environment variables (e.g. KVM_CLONE_PASSPHRASE).
    pub fn json_with(&self, args: &[&str], vars: &[(&str, &str)]) -> (i32, Value) {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self
            .command(&all)
            .envs(vars.iter().copied())
            .output()
            .expect("run kvm-clone");
        let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "no JSON ({e}); stdout: {} stderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), doc)
    }

    /// Starts a clone and returns once it reports copied bytes (stderr
    /// progress lines), so a test can interrupt it mid-copy.
    pub fn clone_until_copying(&self, args: &[&str]) -> Child {
        let mut all = vec!["clone"];
        all.extend_from_slice(args);
        self.until_copying(&all)
    }

    /// Starts `kvm-clone <args>` (a clone or a restore) and returns once
    /// it reports copied bytes.
    pub fn until_copying(&self, all: &[&str]) -> Child {
        let mut child = self
            .command(all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kvm-clone");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let start = Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_secs(120)) {
                // "job #1: Copying: 5 MiB of …"
                Ok(line) if copied(&line) => {
                    // Keep draining stderr so the child never blocks on it.
                    std::thread::spawn(move || while rx.recv().is_ok() {});
                    return child;
                }
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    panic!("no copy progress after {:?}", start.elapsed());
                }
            }
        }
    }
}

/// A progress line that reports copied bytes.
fn copied(line: &str) -> bool {
    let progress = line
        .split_once(": ")
        .filter(|(job, _)| job.starts_with("job "))
        .map_or(line, |(_, rest)| rest);
    progress.starts_with("Copying: ") && !progress.starts_with("Copying: 0 B")
}

/// Waits for a kvm-clone child to exit, killing it after `bound`.
pub fn wait_exit(child: &mut std::process::Child, bound: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if start.elapsed() > bound {
            let _ = child.kill();
            panic!("kvm-clone did not exit within {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A host's image directory as seen from this machine.
pub fn images(host: &str) -> PathBuf {
    lab().dir.join("hosts").join(host).join("lib/images")
}

/// A path on a lab host's pool, as seen from this machine.
pub fn local(host: &str, remote: &str) -> PathBuf {
    let name = Path::new(remote).file_name().expect("file name");
    images(host).join(name)
}

/// What a test must not change on a host: its domains and image files.
pub fn snapshot(host: &str) -> (Vec<String>, Vec<String>) {
    let mut files: Vec<String> = std::fs::read_dir(images(host))
        .expect("images dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    files.sort();
    (lab().domains(host), files)
}

/// Run directories of kvm-clone jobs with this tag prefix (/run is shared
/// by the lab hosts and this machine).
pub fn run_dirs() -> Vec<String> {
    std::fs::read_dir("/run")
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .filter(|n| n.starts_with("kvm-clone."))
                .collect()
        })
        .unwrap_or_default()
}

/// The MAC addresses of a domain's NICs.
pub fn macs(host: &str, vm: &str) -> Vec<String> {
    lab()
        .virsh(host, &["dumpxml", vm])
        .lines()
        .filter_map(|l| l.trim().strip_prefix("<mac address='"))
        .filter_map(|l| l.split('\'').next())
        .map(String::from)
        .collect()
}

/// The image paths a clone's or restore's `--json` result lists.
pub fn disks(doc: &Value) -> Vec<String> {
    doc["result"]["disks"]
        .as_array()
        .expect("disks")
        .iter()
        .filter_map(|d| d.as_str().map(String::from))
        .collect()
}

/// `qemu-img compare` of two images (-U: the source may be in use).
pub fn identical(a: &Path, b: &Path) -> bool {
    let out = Command::new("qemu-img")
        .args(["compare", "-U"])
        .arg(a)
        .arg(b)
        .output()
        .expect("qemu-img compare");
    out.status.success()
}

/// Bytes a file allocates on disk (a thin image allocates about its data).
pub fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).expect("metadata").blocks() * 512
}

/// Removes a clone from a host: domain and images, even if half-made.
pub struct Cleanup {
    pub host: &'static str,
    pub name: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let uri = lab().socket_uri(self.host);
        // --nvram: a UEFI domain's variable store goes too (and libvirt
        // refuses to undefine such a domain without it).
        for args in [
            &["destroy", &self.name][..],
            &["undefine", "--nvram", &self.name][..],
        ] {
            let _ = Command::new("virsh")
                .args(["-q", "-c", &uri])
                .args(args)
                .output();
        }
        if let Ok(rd) = std::fs::read_dir(images(self.host)) {
            for e in rd.flatten() {
                let file = e.file_name().to_string_lossy().into_owned();
                if file.starts_with(&format!("{}-", self.name))
                    || file == format!("{}_VARS.fd", self.name)
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

/// Tests that look at a whole host run one at a time.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// `clone` arguments for a copy of `vm` from alpha to beta as `name`, with
/// `profile`.
pub fn to_beta<'a>(vm: &'a str, name: &'a str, profile: &'a str) -> [&'a str; 10] {
    [
        "--from",
        "alpha",
        "--vm",
        vm,
        "--to",
        "beta",
        "--name",
        name,
        "--profile",
        profile,
    ]
}
