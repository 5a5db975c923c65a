//! Helpers shared by the tests/remote_*.rs lab tests: SSH sessions and a
//! libvirt worker tunnelled through them, commands on the hosts, and
//! synchronous guards that clean up even when a test panics.
#![allow(dead_code)]

#[path = "../common/mod.rs"]
mod common;

use kvm_clone::libvirt::tunnel::{Connector, TunnelStream};
use kvm_clone::libvirt::{HostWorker, Tunnel, remote};
use kvm_clone::transport::{AgentSource, Session, SessionConfig};
use std::process::Command;
use std::sync::Arc;
use tokio::sync::mpsc;

pub use common::{Lab, lab};

pub const IMAGES: &str = "/var/lib/libvirt/images";

pub async fn session(host: &str) -> Arc<Session> {
    let lab = lab();
    let mut cfg = SessionConfig::new(Lab::address(host), 2222, "root");
    cfg.identity_files = vec![lab.key()];
    cfg.known_hosts = vec![lab.known_hosts()];
    cfg.agent = AgentSource::Disabled;
    Arc::new(Session::connect(&cfg, None).await.unwrap())
}

/// A libvirt worker reached through the host's SSH session, as the app does
/// (virt-ssh-helper over an exec channel). Keep the tunnel alive with it.
pub async fn worker(session: &Arc<Session>, host: &str) -> (Tunnel, Arc<HostWorker>) {
    let cmd = remote::helper_command("qemu:///system").unwrap();
    let s = session.clone();
    let connector: Connector = Box::new(move || {
        let (s, cmd) = (s.clone(), cmd.clone());
        Box::pin(async move {
            s.exec_stream(&cmd)
                .await
                .map(|st| Box::new(st) as TunnelStream)
                .map_err(std::io::Error::other)
        })
    });
    let tunnel = Tunnel::start(connector).unwrap();
    let uri = tunnel.uri("qemu:///system").unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    let worker = HostWorker::spawn(host, &uri, tx).await.unwrap();
    (tunnel, Arc::new(worker))
}

/// Runs a command on the host through the session; panics unless it succeeds.
pub async fn sh(session: &Session, cmd: &str) -> Vec<u8> {
    let out = session.exec(cmd).await.unwrap();
    assert!(
        out.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub async fn sh_str(session: &Session, cmd: &str) -> String {
    String::from_utf8(sh(session, cmd).await).unwrap()
}

/// Bytes of a host file at `offset..offset+len` (dd, byte offsets).
pub async fn dd(session: &Session, path: &str, offset: u64, len: u64) -> Vec<u8> {
    let cmd = format!(
        "dd if={path} bs=64K iflag=skip_bytes,count_bytes skip={offset} count={len} status=none"
    );
    let b = sh(session, &cmd).await;
    assert_eq!(b.len() as u64, len, "short dd read of {path}");
    b
}

/// Guest-visible bytes of an image via `qemu-io -r` (hex dump parsed);
/// `len` must be a multiple of 16. `force_share` adds -U (image in use).
pub async fn qemu_io_read(
    session: &Session,
    fmt: &str,
    path: &str,
    offset: u64,
    len: u64,
    force_share: bool,
) -> Vec<u8> {
    assert_eq!(len % 16, 0);
    let u = if force_share { "-U " } else { "" };
    let cmd = format!("qemu-io -r {u}-f {fmt} -c 'read -v {offset} {len}' {path}");
    let text = sh_str(session, &cmd).await;
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((addr, rest)) = line.split_once(':') else {
            continue;
        };
        if addr.len() != 8 || u64::from_str_radix(addr, 16).is_err() {
            continue;
        }
        out.extend(
            rest.split_whitespace()
                .take(16)
                .map(|t| u8::from_str_radix(t, 16).unwrap()),
        );
    }
    assert_eq!(out.len() as u64, len, "qemu-io output:\n{text}");
    out
}

/// One entry of `qemu-img map --output=json`.
#[derive(Debug, Clone)]
pub struct MapEntry {
    pub start: u64,
    pub length: u64,
    pub data: bool,
    pub zero: bool,
    /// Host offset of the data in the image file, when it has one.
    pub offset: Option<u64>,
}

pub async fn qemu_img_map(session: &Session, fmt: &str, path: &str) -> Vec<MapEntry> {
    let text = sh_str(
        session,
        &format!("qemu-img map -U --output=json -f {fmt} {path}"),
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| MapEntry {
            start: e["start"].as_u64().unwrap(),
            length: e["length"].as_u64().unwrap(),
            data: e["data"].as_bool().unwrap(),
            zero: e["zero"].as_bool().unwrap(),
            offset: e["offset"].as_u64(),
        })
        .collect()
}

/// Runs a command on a lab host with the OpenSSH client, synchronously:
/// for Drop guards, which must work while a test unwinds.
pub fn ssh_sync(host: &str, cmd: &str) -> std::process::Output {
    let lab = lab();
    Command::new("ssh")
        .arg("-F")
        .arg(lab.dir.join("ssh_config"))
        .arg(host)
        .arg(cmd)
        .output()
        .unwrap()
}

/// Removes host files matching a shell glob when dropped (test cleanup).
pub struct RemoveOnDrop {
    pub host: &'static str,
    pub glob: String,
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let out = ssh_sync(self.host, &format!("rm -rf -- {}", self.glob));
        if !out.status.success() {
            eprintln!(
                "cleanup of {} failed: {}",
                self.glob,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// A random lowercase tag for test object names.
pub fn tag() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..8)
        .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
        .collect()
}

/// Stops processes whose pid files are in run directories matching
/// `/run/kvm-clone.<tag>.*` (and the /tmp twin) and removes them, when
/// dropped: the synchronous twin of `rundir::cleanup`, for panicking tests.
pub struct RunDirGuard {
    pub host: &'static str,
    pub tag: String,
}

impl Drop for RunDirGuard {
    fn drop(&mut self) {
        let script = format!(
            r#"for d in /run/kvm-clone.{t}.* /tmp/kvm-clone.{t}.*; do
  [ -d "$d" ] || continue
  for p in "$d"/*.pid; do
    [ -f "$p" ] || continue
    pid=$(cat "$p")
    grep -qaF "$d/" /proc/$pid/cmdline 2>/dev/null && kill "$pid"
  done
  sleep 0.5
  rm -rf -- "$d"
done
exit 0"#,
            t = self.tag
        );
        let out = ssh_sync(self.host, &script);
        if !out.status.success() {
            eprintln!(
                "run dir cleanup failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
