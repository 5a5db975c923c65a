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
}

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
    let mut link = daemon::client::connect(&socket, &client).await?;
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
