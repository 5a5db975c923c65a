//! A host whose sshd stops shows as unreachable, and comes back by itself.
//! Its own test binary: it stops beta's sshd, which other tests must not see.

mod common;

use kvm_clone::backend::messages::{Action, Event};
use kvm_clone::backend::{self, Options};
use kvm_clone::config::{self, HostConfig};
use kvm_clone::model::ConnState;
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(90);

/// Restarts beta's sshd even when the test fails.
struct SshdGuard;

impl Drop for SshdGuard {
    fn drop(&mut self) {
        common::lab().run(&["start-sshd", "beta"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_sshd_shows_unreachable_and_recovers() {
    let lab = common::lab();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut loaded =
        config::load_from(None, None, Some(dir.path().join("config.toml"))).expect("config");
    let mut beta = HostConfig::new("beta", "127.0.0.2");
    beta.port = Some(2222);
    beta.user = Some("root".into());
    beta.identity_files = vec![lab.key()];
    loaded.config.hosts.push(beta);
    let options = Options {
        user_known_hosts: Some(lab.known_hosts()),
        ssh_config: Some(dir.path().join("no-ssh-config")),
        ..Options::default()
    };
    let mut b = backend::spawn(loaded, options);
    let mut wait_for = async |what: &str, pred: &dyn Fn(&ConnState) -> bool| -> ConnState {
        let fut = async {
            loop {
                match b.events.recv().await {
                    Some(Event::Host(h)) if h.name == "beta" && pred(&h.state) => return h.state,
                    Some(_) => {}
                    None => panic!("backend stopped"),
                }
            }
        };
        tokio::time::timeout(BOUND, fut)
            .await
            .unwrap_or_else(|_| panic!("beta never reached {what}"))
    };
    wait_for("up", &|s| *s == ConnState::Up).await;

    let guard = SshdGuard;
    lab.run(&["stop-sshd", "beta"]);
    let down = wait_for("unreachable", &|s| {
        matches!(s, ConnState::Unreachable { .. })
    })
    .await;
    assert!(
        down.reason().is_some_and(|r| r.contains("refused")),
        "{down:?}"
    );

    drop(guard);
    wait_for("up again", &|s| *s == ConnState::Up).await;
    b.actions.send(Action::Quit).expect("send");
    let _ = tokio::time::timeout(BOUND, b.task).await;
}
