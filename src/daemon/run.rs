//! `kvm-clone daemon`: binds the socket, starts the backend and serves
//! clients until SIGTERM or SIGINT; then the backend quits as the TUI's
//! does (running jobs are cancelled and clean up) and the socket goes.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::{DaemonError, server, socket};
use crate::backend::bus::Attach;
use crate::backend::messages::{Action, Event};
use crate::backend::{self, Backend};
use crate::config::LoadedConfig;

/// How long the backend gets to end its jobs' cleanup after a stop.
const QUIT_WAIT: Duration = Duration::from_secs(120);

/// Runs until SIGTERM or SIGINT, or, with `idle_exit`, once no client has
/// been attached and no job has run for that long.
pub async fn run(
    loaded: LoadedConfig,
    socket_path: &Path,
    options: backend::Options,
    idle_exit: Option<Duration>,
) -> Result<(), DaemonError> {
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Io)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Io)?;
    let listener = socket::bind(socket_path).await?;
    let api_settings = loaded.config.api.clone();
    // Canonical, so clients compare it with their own file as resolved.
    let greeting = server::Greeting {
        config: std::fs::canonicalize(&loaded.path).unwrap_or_else(|_| loaded.path.clone()),
    };
    // A daemon with schedules has work coming: it never exits for idleness.
    let idle_exit = idle_exit.filter(|_| loaded.config.schedules.is_empty());
    let started = backend::spawn(loaded, options);
    // Clients attach through the bus; the first subscriber is not needed.
    let attach = started.attacher();
    let Backend { actions, task, .. } = started;
    let stop = CancellationToken::new();
    // A bad [api] table stops the daemon before it serves anyone.
    let api = match &api_settings {
        Some(s) => match crate::api::bind(s, attach.clone(), actions.clone()).await {
            Ok(bound) => Some(bound),
            Err(e) => {
                let _ = actions.send(Action::Quit);
                let _ = task.await;
                let _ = std::fs::remove_file(socket_path);
                return Err(e.into());
            }
        },
        None => None,
    };
    let api = api.map(|bound| {
        if let Ok(addr) = bound.local_addr() {
            tracing::info!("daemon: API on http://{addr}");
            eprintln!("kvm-clone daemon: API on http://{addr}");
        }
        tokio::spawn(bound.serve(stop.clone()))
    });
    tracing::info!("daemon: listening on {}", socket_path.display());
    eprintln!("kvm-clone daemon: listening on {}", socket_path.display());
    // Under systemd (Type=notify): ready once clients can connect. Without
    // NOTIFY_SOCKET this does nothing.
    let status = format!("listening on {}", socket_path.display());
    if let Err(e) = sd_notify::notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&status),
    ]) {
        tracing::warn!("daemon: cannot tell systemd it is ready: {e}");
    }
    let attached = Arc::new(AtomicUsize::new(0));
    let serving = tokio::spawn(server::serve(
        listener,
        attach.clone(),
        actions.clone(),
        stop.clone(),
        attached.clone(),
        greeting,
    ));
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        idle = idle_for(idle_exit, &attach, &attached) => {
            eprintln!("kvm-clone daemon: no client and no job for {}; exiting", crate::config::format_duration(idle));
        }
    }
    eprintln!("kvm-clone daemon: stopping; running jobs are cancelled and cleaned up");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    stop.cancel();
    let _ = serving.await;
    let _ = actions.send(Action::Quit);
    if tokio::time::timeout(QUIT_WAIT, task).await.is_err() {
        tracing::warn!("daemon: the backend did not stop within {QUIT_WAIT:?}");
    }
    // Requests still waiting on the backend have had their answer now.
    if let Some(api) = api {
        let _ = tokio::time::timeout(Duration::from_secs(5), api).await;
    }
    let _ = std::fs::remove_file(socket_path);
    Ok(())
}

/// Returns once no client has been attached and no job has been running
/// for `limit`; never without one.
async fn idle_for(limit: Option<Duration>, attach: &Attach, attached: &AtomicUsize) -> Duration {
    let Some(limit) = limit else {
        return std::future::pending().await;
    };
    let every = (limit / 4).clamp(Duration::from_millis(200), Duration::from_secs(5));
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(every).await;
        if attached.load(Ordering::SeqCst) > 0 || jobs_running(attach) > 0 {
            since = Instant::now();
        } else if since.elapsed() >= limit {
            return limit;
        }
    }
}

/// Jobs not ended yet, from a snapshot of the state now.
fn jobs_running(attach: &Attach) -> usize {
    match attach.attach().try_recv() {
        Ok(Event::Snapshot(s)) => s.jobs.values().filter(|j| j.result.is_none()).count(),
        _ => 0,
    }
}
