//! Shared helpers for tests that run against the lab (tests/lab/lab).
//!
//! The first test that asks for the lab runs `lab up` (idempotent, guarded
//! by the lab's own lock), so `cargo test` works on its own and a whole run
//! shares one lab.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub struct Lab {
    pub dir: PathBuf,
    pub script: PathBuf,
}

/// The lab, started if needed. Panics with the script's output if it cannot start.
pub fn lab() -> &'static Lab {
    static LAB: OnceLock<Lab> = OnceLock::new();
    LAB.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let script = std::env::var_os("KVM_CLONE_LAB_SCRIPT")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("tests/lab/lab"));
        let dir = std::env::var_os("KVM_CLONE_LAB_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/lab"));
        let out = Command::new(&script)
            .arg("up")
            .env("KVM_CLONE_LAB_DIR", &dir)
            .output()
            .expect("run tests/lab/lab up");
        assert!(
            out.status.success(),
            "lab up failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Lab { dir, script }
    })
}

impl Lab {
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    pub fn key(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }
    pub fn address(host: &str) -> &'static str {
        match host {
            "alpha" => "127.0.0.1",
            "beta" => "127.0.0.2",
            other => panic!("no lab host {other}"),
        }
    }
    /// URI of a host's libvirtd through its socket, bypassing SSH.
    pub fn socket_uri(&self, host: &str) -> String {
        format!(
            "qemu+unix:///system?socket={}",
            self.dir
                .join("hosts")
                .join(host)
                .join("run/libvirt-sock")
                .display()
        )
    }
    /// Runs virsh against a host's libvirtd and returns stdout; panics on failure.
    pub fn virsh(&self, host: &str, args: &[&str]) -> String {
        let out = Command::new("virsh")
            .arg("-q")
            .arg("-c")
            .arg(self.socket_uri(host))
            .args(args)
            .output()
            .expect("run virsh");
        assert!(
            out.status.success(),
            "virsh {args:?} on {host} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    /// Names of all domains on a host, sorted.
    pub fn domains(&self, host: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .virsh(host, &["list", "--all", "--name"])
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        v.sort();
        v
    }
    /// Runs the lab script with arguments (e.g. `stop-sshd beta`).
    pub fn run(&self, args: &[&str]) {
        let st = Command::new(&self.script)
            .args(args)
            .env("KVM_CLONE_LAB_DIR", &self.dir)
            .status()
            .expect("run lab script");
        assert!(st.success(), "lab {args:?} failed");
    }
}
