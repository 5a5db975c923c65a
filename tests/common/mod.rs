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

/// An SSH session config that uses only the lab's key and known_hosts,
/// never the developer's agent or ~/.ssh.
pub fn session_config(address: &str) -> kvm_clone::transport::SessionConfig {
    let lab = lab();
    let mut c = kvm_clone::transport::SessionConfig::new(address, 2222, "root");
    c.identity_files = vec![lab.key()];
    c.known_hosts = vec![lab.known_hosts()];
    c.agent = kvm_clone::transport::AgentSource::Disabled;
    c
}

/// A lab host's public key line, as in its `.pub` file.
pub fn host_pubkey(host: &str) -> String {
    std::fs::read_to_string(
        lab()
            .dir
            .join(format!("hosts/{host}/ssh/ssh_host_ed25519_key.pub")),
    )
    .expect("host key")
}

/// The fingerprint `ssh-keygen -lf` prints for a lab host's key.
pub fn keygen_fingerprint(host: &str) -> String {
    let pubkey = lab()
        .dir
        .join(format!("hosts/{host}/ssh/ssh_host_ed25519_key.pub"));
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pubkey)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("fingerprint field")
        .to_string()
}

/// An encrypted copy of the lab key, written with ssh-key so the test
/// passphrase never appears on a command line.
pub fn encrypted_lab_key(dir: &Path, pass: &str) -> PathBuf {
    use russh::keys::ssh_key::{self, LineEnding};
    let key = russh::keys::load_secret_key(lab().key(), None).expect("lab key");
    let salt: [u8; 16] = rand::random();
    let enc = key
        .encrypt_with(
            ssh_key::Cipher::Aes256Ctr,
            ssh_key::Kdf::Bcrypt {
                salt: salt.to_vec(),
                rounds: 4,
            },
            rand::random(),
            pass,
        )
        .expect("encrypt");
    let path = dir.join("id_locked");
    enc.write_openssh_file(&path, LineEnding::LF)
        .expect("write key");
    path
}
