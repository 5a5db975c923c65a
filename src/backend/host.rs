//! One host in the backend: its shared SSH connection, the libvirt tunnel
//! and worker thread on top of it, and the inventory loop that keeps the
//! front ends' view of the host current.

use super::Options;
use super::bus::EventBus;
use super::messages::{Event, Secret};
use crate::config::{self, HostConfig, ResolvedHost};
use crate::jobs::hosts::HostLink;
use crate::jobs::preflight::probe;
use crate::libvirt::tunnel::{Connector, TunnelStream};
use crate::libvirt::vm_cache::Fresh;
use crate::libvirt::{HostEvent, HostEventKind, HostWorker, Tunnel, remote};
use crate::model::{ConnState, HostView};
use crate::transport::session::{Session, SessionConfig};
use crate::transport::supervisor::{HostConnection, StateChange, SupervisorError};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long opening libvirt through a fresh tunnel may take.
const LIBVIRT_OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Lifecycle events often come in bursts (define + start); one re-read covers them.
const EVENT_SETTLE: Duration = Duration::from_millis(150);
/// Every this many safety polls, every VM is read again.
const FULL_READ_EVERY: u32 = 10;

enum Cmd {
    Refresh,
    Quit,
}

/// What a job needs of a host while it is up: its libvirt thread and SSH
/// session. Cleared as soon as the connection is lost.
#[derive(Clone)]
pub(super) struct Live {
    pub name: String,
    pub conn: HostConnection,
    pub worker: Arc<HostWorker>,
    pub session: Arc<Session>,
    /// The host's default storage pool (config).
    pub pool: String,
}

/// The job layer's view of a host, from its slot: None while it is down.
pub(super) fn link_of(slot: &LiveSlot) -> Option<HostLink> {
    let live = lock(slot).clone()?;
    let again = slot.clone();
    Some(HostLink {
        name: live.name,
        worker: live.worker,
        conn: live.conn,
        session: live.session,
        pool: live.pool,
        current: Arc::new(move || link_of(&again)),
    })
}

pub(super) type LiveSlot = Arc<Mutex<Option<Live>>>;

/// Empties the slot when the libvirt side of a host stops, however it stops.
struct LiveGuard(LiveSlot);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        *lock(&self.0) = None;
    }
}

/// The backend task's handle on one host.
pub(super) struct HostHandle {
    name: String,
    view: Arc<Mutex<HostView>>,
    live: LiveSlot,
    conn: Option<HostConnection>,
    cmds: mpsc::UnboundedSender<Cmd>,
    task: Option<JoinHandle<()>>,
}

impl HostHandle {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn view(&self) -> HostView {
        lock(&self.view).clone()
    }

    /// Where [`Self::live`] comes from, for tasks that wait for the host.
    pub fn live_slot(&self) -> LiveSlot {
        self.live.clone()
    }

    /// Records a new connection state; returns the view to publish.
    pub fn set_state(&self, state: ConnState) -> HostView {
        let mut v = lock(&self.view);
        if state != ConnState::Up {
            v.info = None;
        }
        v.state = state;
        v.clone()
    }

    pub fn refresh(&self) {
        if let Some(c) = &self.conn {
            c.reconnect_now();
        }
        let _ = self.cmds.send(Cmd::Refresh);
    }

    pub fn accept_host_key(&self, fingerprint: &str) -> Result<(), SupervisorError> {
        match &self.conn {
            Some(c) => c.accept_host_key(fingerprint),
            None => Err(SupervisorError::Stopped {
                host: self.name.clone(),
            }),
        }
    }

    pub fn set_passphrase(&self, key_path: PathBuf, passphrase: Secret) {
        if let Some(c) = &self.conn {
            c.set_passphrase(key_path, passphrase);
        }
    }

    pub fn quit(&self) {
        let _ = self.cmds.send(Cmd::Quit);
        if let Some(c) = &self.conn {
            c.shutdown();
        }
    }

    pub async fn join(mut self) {
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned view is still a valid view: take it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Resolves the host's address and starts its connection and inventory task.
pub(super) fn start(
    cfg: &HostConfig,
    options: &Options,
    events: EventBus,
    states: mpsc::UnboundedSender<StateChange>,
    known_hosts: &[PathBuf],
) -> HostHandle {
    let (cmds, cmd_rx) = mpsc::unbounded_channel();
    let resolved = match config::resolve(cfg, options.ssh_config.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            // The host stays listed, with the reason, so the operator sees it.
            let view = HostView {
                name: cfg.name.clone(),
                endpoint: cfg.address.clone().unwrap_or_default(),
                state: ConnState::Unreachable {
                    reason: e.to_string(),
                },
                info: None,
            };
            return HostHandle {
                name: cfg.name.clone(),
                view: Arc::new(Mutex::new(view)),
                live: Arc::default(),
                conn: None,
                cmds,
                task: None,
            };
        }
    };
    let view = Arc::new(Mutex::new(HostView {
        name: resolved.name.clone(),
        endpoint: resolved.endpoint(),
        state: ConnState::Connecting,
        info: None,
    }));
    let mut session = SessionConfig::new(&resolved.address, resolved.port, &resolved.user);
    session.identity_files = resolved.identity_files.clone();
    session.known_hosts = known_hosts.to_vec();
    let accept_into = options
        .user_known_hosts
        .clone()
        .or_else(|| known_hosts.first().cloned())
        .unwrap_or_else(|| PathBuf::from("known_hosts"));
    let conn = HostConnection::spawn(resolved.name.clone(), session, accept_into, Some(states));
    let live = LiveSlot::default();
    let task = tokio::spawn(run(
        resolved,
        conn.clone(),
        view.clone(),
        live.clone(),
        cmd_rx,
        events,
        options.poll_interval,
        options.poll_slow,
    ));
    HostHandle {
        name: cfg.name.clone(),
        view,
        live,
        conn: Some(conn),
        cmds,
        task: Some(task),
    }
}

/// Why the libvirt side of a host stopped.
enum Stop {
    Quit,
    /// The connection went away; wait for the supervisor to reconnect.
    Lost(String),
}

#[allow(clippy::too_many_arguments)]
async fn run(
    host: ResolvedHost,
    conn: HostConnection,
    view: Arc<Mutex<HostView>>,
    live: LiveSlot,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    events: EventBus,
    poll: Duration,
    poll_slow: Duration,
) {
    let mut states = conn.subscribe();
    loop {
        let session = tokio::select! {
            s = conn.session() => s,
            cmd = cmds.recv() => match cmd {
                None | Some(Cmd::Quit) => return,
                Some(Cmd::Refresh) => continue,
            },
        };
        let session = match session {
            Ok(s) => s,
            Err(SupervisorError::NeedsOperator { .. }) => {
                // Host key, passphrase or auth: wait for the operator to act.
                tokio::select! {
                    r = states.changed() => if r.is_err() { return },
                    cmd = cmds.recv() => if matches!(cmd, None | Some(Cmd::Quit)) { return },
                }
                continue;
            }
            Err(_) => return,
        };
        let served = serve(
            &host, &conn, &session, &view, &live, &mut cmds, &events, poll, poll_slow,
        );
        match served.await {
            Stop::Quit => return,
            Stop::Lost(reason) => {
                tracing::info!(host = %host.name, "libvirt connection lost: {reason}");
                events.send(Event::Error {
                    host: Some(host.name.clone()),
                    message: format!("libvirt: {reason}"),
                });
                // Do not spin if SSH is still up but libvirt keeps failing.
                tokio::select! {
                    _ = session.closed() => {}
                    _ = tokio::time::sleep(poll) => {}
                    cmd = cmds.recv() => if matches!(cmd, None | Some(Cmd::Quit)) { return },
                }
            }
        }
    }
}

/// How the host's libvirt daemon is reached through SSH: libvirt's own
/// helper where installed, else `nc -U`, else streamlocal forwarding.
async fn connector(session: &Arc<Session>, libvirt_uri: &str) -> Result<Connector, String> {
    let probe = session
        .exec("command -v virt-ssh-helper nc")
        .await
        .map_err(|e| e.to_string())?;
    let found = probe.stdout_str();
    let command = if found.lines().any(|l| l.ends_with("/virt-ssh-helper")) {
        Some(remote::helper_command(libvirt_uri).map_err(|e| e.to_string())?)
    } else if found.lines().any(|l| l.ends_with("/nc")) {
        Some(remote::nc_command(libvirt_uri).map_err(|e| e.to_string())?)
    } else {
        None
    };
    let session = session.clone();
    Ok(Box::new(move || {
        let session = session.clone();
        let command = command.clone();
        Box::pin(async move {
            let stream = match &command {
                Some(cmd) => session.exec_stream(cmd).await,
                None => {
                    session
                        .open_streamlocal("/var/run/libvirt/libvirt-sock")
                        .await
                }
            };
            stream
                .map(|s| Box::new(s) as TunnelStream)
                .map_err(std::io::Error::other)
        })
    }))
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    host: &ResolvedHost,
    conn: &HostConnection,
    session: &Arc<Session>,
    view: &Arc<Mutex<HostView>>,
    live: &LiveSlot,
    cmds: &mut mpsc::UnboundedReceiver<Cmd>,
    events: &EventBus,
    poll: Duration,
    poll_slow: Duration,
) -> Stop {
    let connector = match connector(session, &host.libvirt_uri).await {
        Ok(c) => c,
        Err(e) => return Stop::Lost(e),
    };
    let tunnel = match Tunnel::start(connector) {
        Ok(t) => t,
        Err(e) => return Stop::Lost(e.to_string()),
    };
    let uri = match tunnel.uri(&host.libvirt_uri) {
        Ok(u) => u,
        Err(e) => return Stop::Lost(e.to_string()),
    };
    let (lv_tx, mut lv_events) = mpsc::unbounded_channel::<HostEvent>();
    let worker = match tokio::time::timeout(
        LIBVIRT_OPEN_TIMEOUT,
        HostWorker::spawn(&host.name, &uri, lv_tx),
    )
    .await
    {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => {
            let why = tunnel.last_connect_error().unwrap_or_else(|| e.to_string());
            return Stop::Lost(why);
        }
        Err(_) => return Stop::Lost("opening libvirt timed out".to_string()),
    };
    let worker = Arc::new(worker);
    *lock(live) = Some(Live {
        name: host.name.clone(),
        conn: conn.clone(),
        worker: worker.clone(),
        session: session.clone(),
        pool: host.pool.clone(),
    });
    let _live = LiveGuard(live.clone());
    // libvirt notices a dead tunnel through its own keepalive.
    if let Err(e) = worker.set_keepalive(5, 3).await {
        tracing::warn!(host = %host.name, "libvirt keepalive: {e}");
    }
    let mut ticker = tokio::time::interval(if worker.has_events() { poll_slow } else { poll });
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // What the next read must read again: everything at first; then what
    // events name (and running VMs, always), with a full read every
    // FULL_READ_EVERY safety polls in case an event was missed.
    let mut fresh = Fresh::All;
    let mut polls = 0u32;
    let mut sent_vms: Option<Vec<crate::model::VmInfo>> = None;
    // A refresh the operator asked for is answered even when nothing changed.
    let mut answer = false;
    loop {
        // The first tick fires at once: the initial read.
        tokio::select! {
            _ = ticker.tick() => {
                polls = polls.wrapping_add(1);
                if !worker.has_events() || polls % FULL_READ_EVERY == 0 {
                    fresh = Fresh::All;
                }
            }
            ev = lv_events.recv() => match ev {
                Some(HostEvent { kind: HostEventKind::Closed { reason }, .. }) => {
                    return Stop::Lost(reason.describe().to_string());
                }
                Some(HostEvent { kind: HostEventKind::Lifecycle { domain, .. }, .. }) => {
                    fresh.add(domain);
                    tokio::time::sleep(EVENT_SETTLE).await;
                    while let Ok(more) = lv_events.try_recv() {
                        match more.kind {
                            HostEventKind::Closed { reason } => {
                                return Stop::Lost(reason.describe().to_string());
                            }
                            HostEventKind::Lifecycle { domain, .. } => fresh.add(domain),
                        }
                    }
                }
                None => return Stop::Lost("libvirt event channel closed".to_string()),
            },
            cmd = cmds.recv() => match cmd {
                None | Some(Cmd::Quit) => return Stop::Quit,
                Some(Cmd::Refresh) => {
                    fresh = Fresh::All;
                    answer = true;
                }
            },
            _ = session.closed() => return Stop::Lost("SSH connection closed".to_string()),
        }
        let asked = std::mem::replace(&mut fresh, Fresh::none());
        match worker.inventory(asked).await {
            Ok((mut info, vms)) => {
                // Over SSH, not libvirt: what the pre-flight space check counts.
                if let Err(e) = probe::measure_pools(session, &mut info.pools).await {
                    tracing::debug!(host = %host.name, error = %e, "pool free space");
                }
                let asked_for = std::mem::take(&mut answer);
                let changed = lock(view).info.as_ref() != Some(&info);
                if changed || asked_for {
                    lock(view).info = Some(info.clone());
                    events.send(Event::HostInfo {
                        host: host.name.clone(),
                        info,
                    });
                }
                // An unchanged list is not sent: with many VMs it is the
                // biggest event there is, and every front end re-draws it.
                if asked_for || sent_vms.as_ref() != Some(&vms) {
                    sent_vms = Some(vms.clone());
                    events.send(Event::Vms {
                        host: host.name.clone(),
                        vms,
                    });
                }
            }
            Err(e) if e.is_disconnect() => return Stop::Lost(e.to_string()),
            Err(e) => {
                events.send(Event::Error {
                    host: Some(host.name.clone()),
                    message: e.to_string(),
                });
            }
        }
    }
}
