//! The SSH transport against the lab's real sshd hosts (alpha, beta).
//!
//! Run with KVM_CLONE_LAB_DIR=/work/main/target/lab and
//! KVM_CLONE_LAB_SCRIPT=/work/main/tests/lab/lab from a worktree.

use kvm_clone::backend::messages::Secret;
use kvm_clone::transport::known_hosts;
use kvm_clone::transport::{AgentSource, KeyPassphrase, Session, SessionConfig, SshError};
use std::path::PathBuf;
use std::process::Command;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;
use common::{encrypted_lab_key, host_pubkey, keygen_fingerprint};

fn lab_dir() -> PathBuf {
    common::lab().dir.clone()
}

fn lab_config(host: &str) -> SessionConfig {
    common::session_config(common::Lab::address(host))
}

async fn connect(host: &str) -> Session {
    Session::connect(&lab_config(host), None).await.unwrap()
}

#[tokio::test]
async fn exec_hostname_and_virsh_on_both_hosts() {
    for (host, mine, other) in [("alpha", "web01", "web02"), ("beta", "web02", "web01")] {
        let s = connect(host).await;
        let h = s.exec("hostname").await.unwrap().check("hostname").unwrap();
        assert!(!h.stdout_str().trim().is_empty());
        let cmd = "virsh list --all --name";
        let out = s.exec(cmd).await.unwrap().check(cmd).unwrap();
        let names: Vec<String> = out
            .stdout_str()
            .lines()
            .map(|l| l.trim().to_string())
            .collect();
        assert!(names.iter().any(|n| n == mine), "{host}: {names:?}");
        assert!(!names.iter().any(|n| n == other), "{host}: {names:?}");
    }
}

#[tokio::test]
async fn exec_reports_failure_stderr_and_caps_output() {
    let mut cfg = lab_config("alpha");
    cfg.exec_output_cap = 1000;
    let s = Session::connect(&cfg, None).await.unwrap();
    let cmd = "echo to-stderr >&2; exit 3";
    let out = s.exec(cmd).await.unwrap();
    assert_eq!(out.status, Some(3));
    assert_eq!(out.stderr, b"to-stderr\n");
    match out.check(cmd) {
        Err(SshError::Exec { status, stderr, .. }) => {
            assert_eq!(status, "exit 3");
            assert_eq!(stderr, "to-stderr");
        }
        other => panic!("{other:?}"),
    }
    let out = s.exec("head -c 5000 /dev/zero").await.unwrap();
    assert!(out.success());
    assert_eq!(out.stdout.len(), 1000);
    assert!(out.truncated);
    // Many commands over one session, concurrently.
    let outs = futures::future::join_all((0..8).map(|i| {
        let s = &s;
        async move { s.exec(&format!("echo {i}")).await.unwrap().stdout_str() }
    }))
    .await;
    for (i, o) in outs.iter().enumerate() {
        assert_eq!(o.trim(), i.to_string());
    }
}

#[tokio::test]
async fn exec_stream_cat_round_trip_with_eof_both_ways() {
    let s = connect("alpha").await;
    let mut stream = s.exec_stream("cat").await.unwrap();
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let (mut rd, mut wr) = tokio::io::split(stream);
    let payload = data.clone();
    let writer = tokio::spawn(async move {
        wr.write_all(&payload).await.unwrap();
        // EOF to the remote side: cat then ends, which ends our read.
        wr.shutdown().await.unwrap();
        wr
    });
    let mut back = Vec::new();
    rd.read_to_end(&mut back).await.unwrap();
    let wr = writer.await.unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data);
    stream = rd.unsplit(wr);
    let exit = stream.finish().await.unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn exec_stream_keeps_stderr_and_exit_status() {
    let s = connect("beta").await;
    let stream = s
        .exec_stream("echo out; echo err >&2; exit 7")
        .await
        .unwrap();
    let exit = stream.finish().await.unwrap();
    assert_eq!(exit.status, Some(7));
    assert_eq!(exit.stderr, b"err\n");
}

/// A libvirt RPC `auth list` call (the first call virsh makes); the reply
/// proves a full round trip with the host's own libvirtd.
async fn libvirt_hello<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut s: S) {
    const PROG: u32 = 0x2000_8086;
    const AUTH_LIST: u32 = 66;
    let mut msg = Vec::new();
    for w in [28u32, PROG, 1, AUTH_LIST, 0, 1, 0] {
        // len, program, version, procedure, type=CALL, serial, status
        msg.extend_from_slice(&w.to_be_bytes());
    }
    s.write_all(&msg).await.unwrap();
    let mut hdr = [0u8; 28];
    s.read_exact(&mut hdr).await.unwrap();
    let words: Vec<u32> = hdr
        .chunks(4)
        .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(words[1], PROG);
    assert_eq!(words[3], AUTH_LIST, "procedure");
    assert_eq!(words[4], 1, "type REPLY");
    assert_eq!(words[5], 1, "serial");
    assert_eq!(words[6], 0, "status OK");
}

#[tokio::test]
async fn streamlocal_reaches_the_hosts_libvirt_socket() {
    let s = connect("alpha").await;
    let stream = s
        .open_streamlocal("/var/run/libvirt/libvirt-sock")
        .await
        .unwrap();
    libvirt_hello(stream).await;
}

#[tokio::test]
async fn exec_stream_nc_reaches_the_hosts_libvirt_socket() {
    let s = connect("beta").await;
    let stream = s
        .exec_stream("nc -U /var/run/libvirt/libvirt-sock")
        .await
        .unwrap();
    libvirt_hello(stream).await;
}

#[tokio::test]
async fn streamlocal_to_missing_socket_is_a_channel_error() {
    let s = connect("alpha").await;
    match s.open_streamlocal("/nonexistent/kvm-clone-ssh.sock").await {
        Err(SshError::Channel(_)) => {}
        Err(e) => panic!("unexpected {e}"),
        Ok(_) => panic!("opened a missing socket"),
    }
    // The session survives a refused channel.
    assert!(s.exec("true").await.unwrap().success());
}

#[tokio::test]
async fn unknown_host_key_is_refused_until_appended() {
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    let mut cfg = lab_config("alpha");
    cfg.known_hosts = vec![kh.clone()];
    let err = Session::connect(&cfg, None).await.err().unwrap();
    let SshError::HostKeyUnknown {
        host,
        fingerprint,
        key,
    } = err
    else {
        panic!("expected HostKeyUnknown, got {err}");
    };
    assert_eq!(host, "[127.0.0.1]:2222");
    assert_eq!(fingerprint, keygen_fingerprint("alpha"));
    known_hosts::append(&kh, "127.0.0.1", 2222, &key).unwrap();
    let text = std::fs::read_to_string(&kh).unwrap();
    assert!(text.starts_with("[127.0.0.1]:2222 ssh-ed25519 "), "{text}");
    let s = Session::connect(&cfg, None).await.unwrap();
    assert!(s.exec("true").await.unwrap().success());
}

#[tokio::test]
async fn hashed_known_hosts_work() {
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    std::fs::copy(lab_dir().join("known_hosts"), &kh).unwrap();
    let st = Command::new("ssh-keygen")
        .arg("-q")
        .arg("-H")
        .arg("-f")
        .arg(&kh)
        .status()
        .unwrap();
    assert!(st.success());
    let text = std::fs::read_to_string(&kh).unwrap();
    assert!(
        text.starts_with("|1|") && !text.contains("127.0.0"),
        "{text}"
    );
    for host in ["alpha", "beta"] {
        let mut cfg = lab_config(host);
        cfg.known_hosts = vec![kh.clone()];
        let s = Session::connect(&cfg, None).await.unwrap();
        assert!(s.exec("true").await.unwrap().success());
    }
}

#[tokio::test]
async fn changed_host_key_is_refused_with_openssh_warning() {
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    // beta's address with alpha's key.
    std::fs::write(
        &kh,
        format!("# lab\n[127.0.0.2]:2222 {}", host_pubkey("alpha")),
    )
    .unwrap();
    let mut cfg = lab_config("beta");
    cfg.known_hosts = vec![kh.clone()];
    let err = Session::connect(&cfg, None).await.err().unwrap();
    let SshError::HostKeyChanged {
        fingerprint,
        file,
        line,
        warning,
        ..
    } = err
    else {
        panic!("expected HostKeyChanged, got {err}");
    };
    assert_eq!(fingerprint, keygen_fingerprint("beta"));
    assert_eq!((file.as_path(), line), (kh.as_path(), 2));
    assert!(warning.contains("@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @"));
    assert!(warning.contains(&fingerprint));
    assert!(warning.contains(&format!("{}:2", kh.display())));
}

#[tokio::test]
async fn revoked_host_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    let key = host_pubkey("alpha");
    std::fs::write(&kh, format!("[127.0.0.1]:2222 {key}@revoked * {key}")).unwrap();
    let mut cfg = lab_config("alpha");
    cfg.known_hosts = vec![kh];
    match Session::connect(&cfg, None).await {
        Err(SshError::HostKeyRevoked { line, .. }) => assert_eq!(line, 2),
        Err(e) => panic!("unexpected {e}"),
        Ok(_) => panic!("connected with a revoked key"),
    }
}

#[tokio::test]
async fn key_not_in_authorized_keys_is_a_clear_auth_error() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("stranger");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let mut cfg = lab_config("alpha");
    cfg.identity_files = vec![dir.path().join("missing"), key.clone()];
    match Session::connect(&cfg, None).await {
        Err(SshError::AuthFailed {
            user,
            tried,
            server_methods,
            ..
        }) => {
            assert_eq!(user, "root");
            assert_eq!(tried.len(), 2, "{tried:?}");
            assert!(tried[0].contains("not found"));
            assert!(tried[1].contains(&key.display().to_string()));
            assert!(tried[1].contains("rejected"));
            assert!(server_methods.contains(&"publickey".to_string()));
        }
        Err(e) => panic!("unexpected {e}"),
        Ok(_) => panic!("a stranger's key was accepted"),
    }
}

#[tokio::test]
async fn encrypted_key_needs_its_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let locked = encrypted_lab_key(dir.path(), "correct horse");
    let mut cfg = lab_config("alpha");
    cfg.identity_files = vec![locked.clone()];

    match Session::connect(&cfg, None).await {
        Err(SshError::NeedsPassphrase { key_path }) => assert_eq!(key_path, locked),
        Err(e) => panic!("unexpected {e}"),
        Ok(_) => panic!("connected without a passphrase"),
    }
    let wrong = KeyPassphrase {
        key_path: locked.clone(),
        passphrase: Secret::new("battery staple".into()),
    };
    assert!(matches!(
        Session::connect(&cfg, Some(&wrong)).await,
        Err(SshError::BadPassphrase { .. })
    ));
    let right = KeyPassphrase {
        key_path: locked.clone(),
        passphrase: Secret::new("correct horse".into()),
    };
    let s = Session::connect(&cfg, Some(&right)).await.unwrap();
    assert!(s.exec("true").await.unwrap().success());
    // The unlocked key is cached for reconnects; the passphrase is not needed again.
    let s2 = Session::connect(&cfg, None).await.unwrap();
    assert!(s2.exec("true").await.unwrap().success());
    // A fresh cache asks again.
    cfg.key_cache = Default::default();
    assert!(matches!(
        Session::connect(&cfg, None).await,
        Err(SshError::NeedsPassphrase { .. })
    ));
}

#[tokio::test]
async fn unencrypted_key_is_used_before_asking_for_a_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let locked = encrypted_lab_key(dir.path(), "pw");
    let mut cfg = lab_config("alpha");
    cfg.identity_files = vec![locked, lab_dir().join("id_ed25519")];
    let s = Session::connect(&cfg, None).await.unwrap();
    assert!(s.exec("true").await.unwrap().success());
}

/// Kills the ssh-agent this test started, by its pid.
struct AgentGuard(u32);
impl Drop for AgentGuard {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.to_string()).status();
    }
}

#[tokio::test]
async fn agent_is_tried_first() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("agent.sock");
    let out = Command::new("ssh-agent")
        .arg("-a")
        .arg(&sock)
        .arg("-s")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let pid: u32 = text
        .split("SSH_AGENT_PID=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let _guard = AgentGuard(pid);
    let st = Command::new("ssh-add")
        .arg("-q")
        .arg(lab_dir().join("id_ed25519"))
        .env("SSH_AUTH_SOCK", &sock)
        .status()
        .unwrap();
    assert!(st.success());
    let mut cfg = lab_config("beta");
    cfg.identity_files = vec![];
    cfg.agent = AgentSource::Socket(sock.clone());
    let s = Session::connect(&cfg, None).await.unwrap();
    assert!(s.exec("true").await.unwrap().success());
    // Without the agent and without files, nothing is left to try.
    cfg.agent = AgentSource::Disabled;
    assert!(matches!(
        Session::connect(&cfg, None).await,
        Err(SshError::AuthFailed { .. })
    ));
}
