//! Where a headless command's job runs: in this process (the default), or
//! in the daemon (`--daemon`), whose socket `--socket`/`KVM_CLONE_SOCKET`
//! or the default place names. Either way the command gets the same two
//! channels and drives them the same way; sending `Action::Quit` at the
//! end stops an in-process backend, and only detaches from a daemon.

use color_eyre::eyre::{Result, eyre};
use kvm_clone::backend::messages::{Action, Event};
use kvm_clone::backend::{self, Backend};
use kvm_clone::config::LoadedConfig;
use kvm_clone::daemon;
use std::collections::BTreeSet;
use std::path::PathBuf;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

/// The global flags that choose where jobs run.
#[derive(Debug, Clone, Default)]
pub struct Via {
    /// `--daemon`: hand the job to the daemon; fail if none answers.
    pub daemon: bool,
    /// `--socket`: where the daemon listens.
    pub socket: Option<PathBuf>,
    /// Start a daemon when none answers (the TUI), with this config file.
    pub start: Option<Start>,
}

/// How the TUI starts a daemon of its own.
#[derive(Debug, Clone, Default)]
pub struct Start {
    pub config: Option<PathBuf>,
}

/// How long a daemon the TUI started waits, with no client and no job,
/// before it exits; `KVM_CLONE_IDLE_EXIT` overrides it.
pub const STARTED_IDLE_EXIT: &str = "10m";

pub struct Link {
    pub actions: UnboundedSender<Action>,
    pub events: UnboundedReceiver<Event>,
    pub task: JoinHandle<()>,
    /// Jobs that ran before this command attached (a daemon's): never
    /// taken for the command's own.
    pub earlier_jobs: BTreeSet<u64>,
    /// The daemon's name and version; None in process.
    pub daemon: Option<String>,
}

/// A backend for one command: the daemon's when `via.daemon`, else a new
/// one in this process with `options`.
pub async fn open(via: &Via, loaded: LoadedConfig, options: backend::Options) -> Result<Link> {
    if !via.daemon {
        let Backend {
            actions,
            events,
            task,
            ..
        } = backend::spawn(loaded, options);
        return Ok(Link {
            actions,
            events,
            task,
            earlier_jobs: BTreeSet::new(),
            daemon: None,
        });
    }
    let socket = daemon::socket::resolve(via.socket.as_deref())?;
    let client = format!(
        "kvm-clone {} (pid {})",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    let mut link = match daemon::client::connect(&socket, &client).await {
        Err(daemon::DaemonError::NoDaemon { .. }) if via.start.is_some() => {
            start_daemon(&socket, via.start.as_ref()).await?;
            daemon::client::connect(&socket, &client).await?
        }
        other => other?,
    };
    // The snapshot names the jobs already there; it is handed on as the
    // first event, as the command expects.
    let first = link
        .events
        .recv()
        .await
        .ok_or_else(|| eyre!("the daemon closed the connection"))?;
    let earlier_jobs = match &first {
        Event::Snapshot(s) => s.jobs.keys().copied().collect(),
        _ => BTreeSet::new(),
    };
    let (tx, events) = unbounded_channel();
    let _ = tx.send(first);
    let mut rest = link.events;
    tokio::spawn(async move {
        while let Some(ev) = rest.recv().await {
            if tx.send(ev).is_err() {
                break;
            }
        }
    });
    Ok(Link {
        actions: link.actions,
        events,
        task: link.task,
        earlier_jobs,
        daemon: Some(link.server),
    })
}

/// Starts `kvm-clone daemon` in the background, in a session of its own
/// (it outlives this terminal), and waits until it answers.
async fn start_daemon(socket: &std::path::Path, start: Option<&Start>) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let idle = std::env::var("KVM_CLONE_IDLE_EXIT").unwrap_or_else(|_| STARTED_IDLE_EXIT.into());
    let exe = std::env::current_exe()
        .map_err(|e| eyre!("cannot find this program to start a daemon: {e}"))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("daemon")
        .arg("--idle-exit")
        .arg(&idle)
        .arg("--socket")
        .arg(socket);
    if let Some(config) = start.and_then(|s| s.config.as_ref()) {
        cmd.arg("--config").arg(config);
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: setsid is async-signal-safe and only detaches the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| eyre!("cannot start a daemon: {e}"))?;
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(15) {
        if let Ok(Some(st)) = child.try_wait() {
            return Err(eyre!(
                "the daemon started for {} exited at once ({st}); run `kvm-clone daemon --socket {}` to see why",
                socket.display(),
                socket.display()
            ));
        }
        if tokio::net::UnixStream::connect(socket).await.is_ok() {
            // Reaped by init once this process exits; never waited for here.
            drop(child);
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(eyre!(
        "the daemon started for {} did not answer within 15 s",
        socket.display()
    ))
}
