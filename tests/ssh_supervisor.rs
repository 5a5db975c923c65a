//! The connection supervisor against the lab: host-key acceptance,
//! passphrases, and recovery after sshd goes away.
//!
//! Run with KVM_CLONE_LAB_DIR=/work/main/target/lab and
//! KVM_CLONE_LAB_SCRIPT=/work/main/tests/lab/lab from a worktree.

use kvm_clone::backend::messages::Secret;
use kvm_clone::model::ConnState;
use kvm_clone::transport::{HostConnection, SessionConfig, Supervisor, SupervisorError};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use tokio::sync::watch;

mod common;
use common::{encrypted_lab_key, keygen_fingerprint};

fn lab_script() -> PathBuf {
    common::lab().script.clone()
}

fn lab_config(addr: &str) -> SessionConfig {
    let mut c = common::session_config(addr);
    c.keepalive_interval = Duration::from_secs(2);
    c
}

/// Wait until the state satisfies `want`; a generous deadline only guards
/// against hanging forever, it is not what the test checks.
async fn wait_for(
    rx: &mut watch::Receiver<ConnState>,
    what: &str,
    want: impl Fn(&ConnState) -> bool,
) -> ConnState {
    let r = tokio::time::timeout(Duration::from_secs(120), rx.wait_for(|s| want(s)))
        .await
        .map(|r| r.map(|s| s.clone()));
    match r {
        Ok(Ok(s)) => s,
        _ => panic!("never reached {what}; last state {:?}", *rx.borrow()),
    }
}

#[tokio::test]
async fn unknown_key_waits_for_the_operator_then_connects() {
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    let mut cfg = lab_config("127.0.0.1");
    cfg.known_hosts = vec![];
    let (mut sup, mut events) = Supervisor::new();
    let conn = sup.add("alpha", cfg, kh.clone());
    let mut rx = conn.subscribe();
    let state = wait_for(&mut rx, "HostKeyUnknown", |s| {
        matches!(s, ConnState::HostKeyUnknown { .. })
    })
    .await;
    let expected = keygen_fingerprint("alpha");
    assert_eq!(
        state,
        ConnState::HostKeyUnknown {
            fingerprint: expected.clone()
        }
    );
    // No silent retry and no session while the operator decides.
    assert!(matches!(
        conn.session().await,
        Err(SupervisorError::NeedsOperator { .. })
    ));
    assert!(!kh.exists());
    // A fingerprint other than the one shown is refused.
    assert!(matches!(
        conn.accept_host_key("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        Err(SupervisorError::FingerprintMismatch { .. })
    ));
    conn.accept_host_key(&expected).unwrap();
    wait_for(&mut rx, "Up", |s| *s == ConnState::Up).await;
    let text = std::fs::read_to_string(&kh).unwrap();
    assert!(text.starts_with("[127.0.0.1]:2222 ssh-ed25519 "));
    let s = conn.session().await.unwrap();
    assert!(s.exec("true").await.unwrap().success());
    // The event channel saw the same story.
    let mut seen = Vec::new();
    while let Ok(ev) = events.try_recv() {
        assert_eq!(ev.host, "alpha");
        seen.push(ev.state.label());
    }
    assert_eq!(seen.first(), Some(&"connecting"));
    assert!(seen.contains(&"host key unknown"));
    assert_eq!(seen.last(), Some(&"up"));
    sup.shutdown_all();
}

#[tokio::test]
async fn passphrase_is_asked_for_and_used() {
    let dir = tempfile::tempdir().unwrap();
    let locked = encrypted_lab_key(dir.path(), "s3cret pass");
    // alpha: the sshd test in this file stops beta's sshd.
    let mut cfg = lab_config("127.0.0.1");
    cfg.identity_files = vec![locked.clone()];
    let conn = HostConnection::spawn("alpha", cfg, dir.path().join("kh"), None);
    let mut rx = conn.subscribe();
    let want = ConnState::NeedsPassphrase {
        key_path: locked.display().to_string(),
    };
    wait_for(&mut rx, "NeedsPassphrase", |s| *s == want).await;
    conn.set_passphrase(locked.clone(), Secret::new("wrong".into()));
    // A wrong passphrase leads back to the same question.
    wait_for(&mut rx, "Connecting", |s| *s == ConnState::Connecting).await;
    wait_for(&mut rx, "NeedsPassphrase again", |s| *s == want).await;
    let err = conn.last_error().unwrap();
    assert!(err.contains("wrong passphrase"), "{err}");
    conn.set_passphrase(locked, Secret::new("s3cret pass".into()));
    wait_for(&mut rx, "Up", |s| *s == ConnState::Up).await;
    let s = conn.session().await.unwrap();
    assert!(s.exec("true").await.unwrap().success());
    conn.shutdown();
}

/// Restarts beta's sshd when dropped, so a failing test never leaves the
/// lab without it.
struct SshdGuard;
impl Drop for SshdGuard {
    fn drop(&mut self) {
        let _ = Command::new(lab_script())
            .args(["start-sshd", "beta"])
            .status();
    }
}

fn lab(args: &[&str]) {
    let st = Command::new(lab_script()).args(args).status().unwrap();
    assert!(st.success(), "lab {args:?} failed");
}

#[tokio::test]
async fn stopped_sshd_shows_unreachable_and_recovers() {
    let conn = HostConnection::spawn(
        "beta",
        lab_config("127.0.0.2"),
        common::lab().known_hosts(),
        None,
    );
    let mut rx = conn.subscribe();
    wait_for(&mut rx, "Up", |s| *s == ConnState::Up).await;
    let first = conn.session().await.unwrap();

    let _guard = SshdGuard;
    lab(&["stop-sshd", "beta"]);
    let state = wait_for(&mut rx, "Unreachable", |s| {
        matches!(s, ConnState::Unreachable { .. })
    })
    .await;
    let ConnState::Unreachable { reason } = state else {
        unreachable!()
    };
    assert!(reason.contains("connection refused"), "{reason}");
    assert!(reason.contains("retrying in"), "{reason}");
    assert!(first.is_closed());
    assert!(conn.current().is_none());

    lab(&["start-sshd", "beta"]);
    wait_for(&mut rx, "Up again", |s| *s == ConnState::Up).await;
    let second = conn.session().await.unwrap();
    assert!(!std::sync::Arc::ptr_eq(&first, &second));
    let out = second.exec("virsh list --all --name").await.unwrap();
    assert!(out.stdout_str().contains("web02"));
    conn.shutdown();
}
