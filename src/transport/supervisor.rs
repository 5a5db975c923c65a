//! One shared SSH session per host, kept up by a background task.
//!
//! Network trouble is retried with exponential backoff and jitter; host-key,
//! passphrase and authentication failures are not, since only the operator
//! can fix them: the task waits until [`HostConnection::accept_host_key`],
//! [`HostConnection::set_passphrase`] or [`HostConnection::reconnect_now`].

use super::auth::KeyPassphrase;
use super::error::SshError;
use super::known_hosts::{self, KnownHostsError};
use super::session::{Session, SessionConfig};
use crate::model::ConnState;
use crate::model::Secret;
use backon::BackoffBuilder;
use russh::keys::PublicKey;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// First reconnect delay; doubled per failure up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Each delay is shortened by a random fraction up to this, so hosts that
/// dropped together do not retry in lockstep.
pub const BACKOFF_JITTER: f64 = 0.25;

/// Reconnect delays: 1 s, 2 s, 4 s … 30 s, each minus up to 25 % jitter.
pub struct Backoff {
    base: backon::ExponentialBackoff,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    pub fn new() -> Self {
        Backoff {
            base: backon::ExponentialBuilder::new()
                .with_min_delay(BACKOFF_MIN)
                .with_factor(2.0)
                .with_max_delay(BACKOFF_MAX)
                .without_max_times()
                .build(),
        }
    }

    /// The next delay, jittered with `r` in [0, 1).
    pub fn next_with(&mut self, r: f64) -> Duration {
        let base = self.base.next().unwrap_or(BACKOFF_MAX);
        base.mul_f64(1.0 - BACKOFF_JITTER * r.clamp(0.0, 1.0))
    }

    pub fn next_delay(&mut self) -> Duration {
        self.next_with(rand::random::<f64>())
    }
}

/// A host's state changed; sent on the supervisor's event channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    pub host: String,
    pub state: ConnState,
}

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// The host waits for the operator (host key, passphrase, auth) and will
    /// not connect on its own.
    #[error("{host}: {}", state.reason().unwrap_or(state.label()))]
    NeedsOperator { host: String, state: ConnState },
    #[error("{host}: connection supervisor stopped")]
    Stopped { host: String },
    #[error("{host}: no unknown host key is waiting to be accepted")]
    NoPendingHostKey { host: String },
    #[error("{host}: the host now presents {current}, not {offered}; not accepted")]
    FingerprintMismatch {
        host: String,
        offered: String,
        current: String,
    },
    #[error(transparent)]
    KnownHosts(#[from] KnownHostsError),
}

struct Inner {
    name: String,
    cfg: Mutex<SessionConfig>,
    /// known_hosts file that accepted keys go to.
    accept_into: PathBuf,
    state: watch::Sender<ConnState>,
    session: watch::Sender<Option<Arc<Session>>>,
    /// Used for one connect, then dropped.
    passphrase: Mutex<Option<KeyPassphrase>>,
    pending_key: Mutex<Option<(String, PublicKey)>>,
    last_error: Mutex<Option<String>>,
    wake: Notify,
    stop: CancellationToken,
    events: Option<mpsc::UnboundedSender<StateChange>>,
}

impl Inner {
    fn set_state(&self, state: ConnState) {
        let changed = self.state.send_if_modified(|s| {
            if *s == state {
                false
            } else {
                *s = state.clone();
                true
            }
        });
        if changed {
            tracing::info!(host = %self.name, state = state.label(), reason = ?state.reason(), "connection state");
            if let Some(tx) = &self.events {
                let _ = tx.send(StateChange {
                    host: self.name.clone(),
                    state,
                });
            }
        }
    }

    fn set_error(&self, e: Option<String>) {
        if let Ok(mut l) = self.last_error.lock() {
            *l = e;
        }
    }
}

/// The connection to one host. Clones share it.
#[derive(Clone)]
pub struct HostConnection {
    inner: Arc<Inner>,
}

impl HostConnection {
    /// Start connecting in the background. `accept_into` is the known_hosts
    /// file an accepted key is appended to (it is also checked from then on).
    /// State changes go to `events` as well as to [`Self::subscribe`].
    pub fn spawn(
        name: impl Into<String>,
        cfg: SessionConfig,
        accept_into: PathBuf,
        events: Option<mpsc::UnboundedSender<StateChange>>,
    ) -> Self {
        let (state, _) = watch::channel(ConnState::Idle);
        let (session, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            name: name.into(),
            cfg: Mutex::new(cfg),
            accept_into,
            state,
            session,
            passphrase: Mutex::new(None),
            pending_key: Mutex::new(None),
            last_error: Mutex::new(None),
            wake: Notify::new(),
            stop: CancellationToken::new(),
            events,
        });
        tokio::spawn(run(inner.clone()));
        HostConnection { inner }
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn state(&self) -> ConnState {
        self.inner.state.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<ConnState> {
        self.inner.state.subscribe()
    }

    /// The full text of the last connect error, for a detail view.
    pub fn last_error(&self) -> Option<String> {
        self.inner.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// The session if it is up now.
    pub fn current(&self) -> Option<Arc<Session>> {
        self.inner
            .session
            .borrow()
            .clone()
            .filter(|s| !s.is_closed())
    }

    /// The session, waiting while the host connects or retries. Fails at
    /// once when the host waits for the operator. Callers that cannot wait
    /// through retries wrap this in a timeout.
    pub async fn session(&self) -> Result<Arc<Session>, SupervisorError> {
        let mut sessions = self.inner.session.subscribe();
        let mut states = self.inner.state.subscribe();
        loop {
            if let Some(s) = self.current() {
                return Ok(s);
            }
            let state = states.borrow_and_update().clone();
            match state {
                ConnState::Idle
                | ConnState::Connecting
                | ConnState::Up
                | ConnState::Unreachable { .. } => {}
                other => {
                    return Err(SupervisorError::NeedsOperator {
                        host: self.inner.name.clone(),
                        state: other,
                    });
                }
            }
            if self.inner.stop.is_cancelled() {
                return Err(SupervisorError::Stopped {
                    host: self.inner.name.clone(),
                });
            }
            tokio::select! {
                r = sessions.changed() => if r.is_err() { break },
                r = states.changed() => if r.is_err() { break },
                _ = self.inner.stop.cancelled() => {}
            }
        }
        Err(SupervisorError::Stopped {
            host: self.inner.name.clone(),
        })
    }

    /// The operator accepted the unknown key with this fingerprint: append
    /// it to the designated known_hosts file and reconnect. Refused when the
    /// host's key is no longer the one shown.
    pub fn accept_host_key(&self, fingerprint: &str) -> Result<(), SupervisorError> {
        let host = self.inner.name.clone();
        let mut pending = self
            .inner
            .pending_key
            .lock()
            .map_err(|_| SupervisorError::NoPendingHostKey { host: host.clone() })?;
        let Some((current, key)) = pending.as_ref() else {
            return Err(SupervisorError::NoPendingHostKey { host });
        };
        if current != fingerprint {
            return Err(SupervisorError::FingerprintMismatch {
                host,
                offered: fingerprint.to_string(),
                current: current.clone(),
            });
        }
        let (address, port) = match self.inner.cfg.lock() {
            Ok(c) => (c.address.clone(), c.port),
            Err(_) => return Err(SupervisorError::Stopped { host }),
        };
        known_hosts::append(&self.inner.accept_into, &address, port, key)?;
        *pending = None;
        drop(pending);
        if let Ok(mut c) = self.inner.cfg.lock()
            && !c.known_hosts.contains(&self.inner.accept_into)
        {
            c.known_hosts.push(self.inner.accept_into.clone());
        }
        self.inner.wake.notify_one();
        Ok(())
    }

    /// The operator typed the passphrase for `key_path`; retry with it. It
    /// is used for one connection attempt and then dropped; a key it
    /// unlocks stays in memory for reconnects.
    pub fn set_passphrase(&self, key_path: PathBuf, passphrase: Secret) {
        if let Ok(mut p) = self.inner.passphrase.lock() {
            *p = Some(KeyPassphrase {
                key_path,
                passphrase,
            });
        }
        self.inner.wake.notify_one();
    }

    /// Retry now: after the operator fixed something, or to skip a backoff wait.
    pub fn reconnect_now(&self) {
        self.inner.wake.notify_one();
    }

    /// Stop the background task and close the session.
    pub fn shutdown(&self) {
        self.inner.stop.cancel();
    }
}

/// The background task of one host.
async fn run(inner: Arc<Inner>) {
    let mut backoff = Backoff::new();
    loop {
        if inner.stop.is_cancelled() {
            break;
        }
        inner.set_state(ConnState::Connecting);
        let passphrase = inner.passphrase.lock().ok().and_then(|mut p| p.take());
        let Ok(cfg) = inner.cfg.lock().map(|c| c.clone()) else {
            break;
        };
        let result = tokio::select! {
            r = Session::connect(&cfg, passphrase.as_ref()) => r,
            _ = inner.stop.cancelled() => break,
        };
        // A passphrase is spent by an attempt that got as far as auth;
        // network trouble before that keeps it for the next try.
        if let (Err(e), Some(p)) = (&result, passphrase)
            && e.is_transient()
            && let Ok(mut slot) = inner.passphrase.lock()
            && slot.is_none()
        {
            *slot = Some(p);
        }
        match result {
            Ok(session) => {
                let session = Arc::new(session);
                inner.set_error(None);
                backoff = Backoff::new();
                inner.session.send_replace(Some(session.clone()));
                inner.set_state(ConnState::Up);
                tokio::select! {
                    _ = session.closed() => {}
                    _ = inner.stop.cancelled() => {
                        inner.session.send_replace(None);
                        session.disconnect().await;
                        break;
                    }
                }
                inner.session.send_replace(None);
                let why = session
                    .disconnect_reason()
                    .unwrap_or_else(|| "connection closed".into());
                tracing::warn!(host = %inner.name, "ssh connection lost: {why}");
                inner.set_error(Some(format!("connection lost: {why}")));
                // Reconnect at once; failures from here on back off.
            }
            Err(e) if e.is_transient() => {
                let delay = backoff.next_delay();
                inner.set_error(Some(e.to_string()));
                inner.set_state(ConnState::Unreachable {
                    reason: format!("{e}; retrying in {}s", delay.as_secs_f64().round()),
                });
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = inner.wake.notified() => {}
                    _ = inner.stop.cancelled() => break,
                }
            }
            Err(e) => {
                inner.set_error(Some(e.to_string()));
                let state = operator_state(&inner, e);
                inner.set_state(state);
                tokio::select! {
                    _ = inner.wake.notified() => {}
                    _ = inner.stop.cancelled() => break,
                }
                backoff = Backoff::new();
            }
        }
    }
    inner.session.send_replace(None);
}

/// The state for an error only the operator can resolve.
fn operator_state(inner: &Inner, e: SshError) -> ConnState {
    match e {
        SshError::HostKeyUnknown {
            fingerprint, key, ..
        } => {
            if let Ok(mut p) = inner.pending_key.lock() {
                *p = Some((fingerprint.clone(), *key));
            }
            ConnState::HostKeyUnknown { fingerprint }
        }
        SshError::HostKeyChanged {
            fingerprint,
            file,
            line,
            warning,
            ..
        } => ConnState::HostKeyChanged {
            // One line that tables and status lines show, then OpenSSH's
            // warning for whoever reads on.
            reason: format!(
                "it now sends {fingerprint}, not the key in {}:{line}; refused\n{warning}",
                file.display()
            ),
        },
        e @ (SshError::HostKeyRevoked { .. } | SshError::KnownHosts(_)) => {
            ConnState::HostKeyChanged {
                reason: e.to_string(),
            }
        }
        SshError::NeedsPassphrase { key_path } | SshError::BadPassphrase { key_path } => {
            ConnState::NeedsPassphrase {
                key_path: key_path.display().to_string(),
            }
        }
        other => ConnState::AuthFailed {
            reason: other.to_string(),
        },
    }
}

/// All hosts' connections, with one event channel for their state changes.
pub struct Supervisor {
    hosts: HashMap<String, HostConnection>,
    events: mpsc::UnboundedSender<StateChange>,
}

impl Supervisor {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<StateChange>) {
        let (events, rx) = mpsc::unbounded_channel();
        (
            Supervisor {
                hosts: HashMap::new(),
                events,
            },
            rx,
        )
    }

    /// Start (or restart, replacing the old one) the connection to a host.
    pub fn add(&mut self, name: &str, cfg: SessionConfig, accept_into: PathBuf) -> HostConnection {
        let conn = HostConnection::spawn(name, cfg, accept_into, Some(self.events.clone()));
        if let Some(old) = self.hosts.insert(name.to_string(), conn.clone()) {
            old.shutdown();
        }
        conn
    }

    pub fn get(&self, name: &str) -> Option<&HostConnection> {
        self.hosts.get(name)
    }

    pub fn remove(&mut self, name: &str) {
        if let Some(c) = self.hosts.remove(name) {
            c.shutdown();
        }
    }

    pub fn shutdown_all(&self) {
        for c in self.hosts.values() {
            c.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap() {
        let mut b = Backoff::new();
        let got: Vec<u64> = (0..8).map(|_| b.next_with(0.0).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn jitter_shortens_by_at_most_a_quarter() {
        let mut b = Backoff::new();
        assert_eq!(b.next_with(1.0), Duration::from_millis(750));
        let mut b = Backoff::new();
        for _ in 0..20 {
            let d = b.next_delay();
            assert!(d <= BACKOFF_MAX && d >= BACKOFF_MIN.mul_f64(0.75));
        }
    }

    #[test]
    fn operator_states_map_errors() {
        let (state, _) = watch::channel(ConnState::Idle);
        let (session, _) = watch::channel(None);
        let inner = Inner {
            name: "h".into(),
            cfg: Mutex::new(SessionConfig::new("h", 22, "root")),
            accept_into: PathBuf::from("/tmp/kh"),
            state,
            session,
            passphrase: Mutex::new(None),
            pending_key: Mutex::new(None),
            last_error: Mutex::new(None),
            wake: Notify::new(),
            stop: CancellationToken::new(),
            events: None,
        };
        let s = operator_state(
            &inner,
            SshError::BadPassphrase {
                key_path: "/k".into(),
            },
        );
        assert_eq!(
            s,
            ConnState::NeedsPassphrase {
                key_path: "/k".into()
            }
        );
        let s = operator_state(
            &inner,
            SshError::AuthFailed {
                user: "root".into(),
                target: "h:22".into(),
                tried: vec!["/k: rejected by server".into()],
                server_methods: vec!["publickey".into()],
            },
        );
        assert!(matches!(s, ConnState::AuthFailed { reason } if reason.contains("/k: rejected")));
    }
}
