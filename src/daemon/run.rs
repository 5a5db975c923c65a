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
    let started = backend::spawn(loaded, options);
    // Clients attach through the bus; the first subscriber is not needed.
    let attach = started.attacher();
    let Backend { actions, task, .. } = started;
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
    let stop = CancellationToken::new();
    let attached = Arc::new(AtomicUsize::new(0));
    let serving = tokio::spawn(server::serve(
        listener,
        attach.clone(),
        actions.clone(),
        stop.clone(),
        attached.clone(),
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
