//! Where a job runs: in the daemon when one of the same config answers on
//! the socket (`--socket`/`KVM_CLONE_SOCKET`/the default place), else in
//! this process; `--daemon` requires the daemon, `--no-daemon` forbids
//! it. The TUI starts a daemon when none answers. Either way the front end
//! gets the same two channels and drives them the same way; sending
//! `Action::Quit` at the end stops an in-process backend, and only
//! detaches from a daemon.

use color_eyre::eyre::{Result, eyre};
use kvm_clone::backend::messages::{Action, Event};
use kvm_clone::backend::{self, Backend};
use kvm_clone::config::LoadedConfig;
use kvm_clone::daemon::{self, DaemonError};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

/// Whether to use a daemon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Attach {
    /// The daemon when one of the same config answers, else this process.
    #[default]
    Auto,
    /// `--daemon`: the daemon, or an error.
    Require,
    /// `--no-daemon` (`KVM_CLONE_NO_DAEMON`): this process.
    Never,
}

/// The global flags that choose where jobs run.
#[derive(Debug, Clone, Default)]
pub struct Via {
    pub attach: Attach,
    /// `--socket`: where the daemon listens.
    pub socket: Option<PathBuf>,
    /// Start a daemon when none answers (the TUI).
    pub start: bool,
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
    /// Why this runs in process though a daemon answers (another config);
    /// a command has said it on stderr already.
    pub note: Option<String>,
}

/// A backend for one front end: the daemon's (see [`Attach`]), else a new
/// one in this process with `options`.
pub async fn open(via: &Via, loaded: LoadedConfig, options: backend::Options) -> Result<Link> {
    let note = match attach(via, &loaded).await? {
        Ok(link) => return attached(link).await,
        Err(note) => note,
    };
    if let Some(n) = note.as_ref().filter(|_| !via.start) {
        eprintln!("kvm-clone: {n}");
    }
    let Backend {
        actions,
        events,
        task,
        ..
    } = backend::spawn(loaded, options);
    Ok(Link {
        actions,
        events,
        task,
        earlier_jobs: BTreeSet::new(),
        daemon: None,
        note,
    })
}

/// The daemon to use, or why not (None: there is none, or none is wanted).
/// Errors only for `--daemon`.
async fn attach(
    via: &Via,
    loaded: &LoadedConfig,
) -> Result<std::result::Result<daemon::client::Link, Option<String>>> {
    let config = loaded.path.as_path();
    let required = via.attach == Attach::Require;
    let socket = match (via.attach, daemon::socket::resolve(via.socket.as_deref())) {
        (Attach::Never, _) => return Ok(Err(None)),
        (_, Ok(s)) => s,
        // No place for a socket, so no daemon to find; the TUI, which
        // would have started one, says why it did not.
        (Attach::Auto, Err(e)) => {
            return Ok(Err(via
                .start
                .then(|| format!("{e}; running in this process"))));
        }
        (_, Err(e)) => return Err(e.into()),
    };
    let client = format!(
        "kvm-clone {} (pid {})",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    let connected = match daemon::client::connect(&socket, &client).await {
        Err(DaemonError::NoDaemon { .. }) if via.start => {
            // A missing file is the default's: the daemon finds it alike.
            let file = loaded.exists.then_some(config);
            match start_daemon(&socket, file).await {
                Ok(()) => daemon::client::connect(&socket, &client)
                    .await
                    .map_err(|e| e.into()),
                Err(e) => Err(e),
            }
        }
        Err(DaemonError::NoDaemon { .. }) if !required => return Ok(Err(None)),
        other => other.map_err(|e| e.into()),
    };
    let link = match connected {
        Ok(link) => link,
        Err(e) if required => return Err(e),
        Err(e) => {
            let here = format!("{e}; running in this process");
            return Ok(Err(Some(here)));
        }
    };
    let theirs = match config_mismatch(link.config.as_deref(), config) {
        None => return Ok(Ok(link)),
        // A daemon too old to say: `--daemon` trusts it, as before.
        Some(None) if required => return Ok(Ok(link)),
        Some(theirs) => theirs,
    };
    // Not ours: leave cleanly, so the daemon logs a client that left.
    let _ = link.actions.send(Action::Quit);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), link.task).await;
    let socket = socket.display();
    match theirs {
        None => Ok(Err(Some(format!(
            "the daemon on {socket} does not say which config it serves; running in this process (--daemon attaches anyway)"
        )))),
        Some(theirs) if required => Err(eyre!(
            "the daemon on {socket} serves {}, not {}: give --config {0} or start a daemon with this config on another --socket",
            theirs.display(),
            config.display()
        )),
        Some(theirs) => Ok(Err(Some(format!(
            "the daemon on {socket} serves {}, not {}; running in this process",
            theirs.display(),
            config.display()
        )))),
    }
}

/// None when the daemon serves `ours`; else Some(the file it serves, if it
/// says). Both sides canonical, so two spellings of one file agree.
fn config_mismatch(theirs: Option<&Path>, ours: &Path) -> Option<Option<PathBuf>> {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    match theirs {
        None => Some(None),
        Some(t) if canonical(t) == canonical(ours) => None,
        Some(t) => Some(Some(t.to_path_buf())),
    }
}

/// A daemon's link as a front end's: its snapshot first, as from a backend.
async fn attached(mut link: daemon::client::Link) -> Result<Link> {
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
        note: None,
    })
}

/// Starts `kvm-clone daemon` on `config` in the background, in a session
/// of its own (it outlives this terminal), and waits until it answers.
async fn start_daemon(socket: &Path, config: Option<&Path>) -> Result<()> {
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
    if let Some(config) = config {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_spellings_of_one_config_are_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "").unwrap();
        let other = dir.path().join("sub/../c.toml");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert_eq!(config_mismatch(Some(&other), &file), None);
        let elsewhere = dir.path().join("d.toml");
        assert_eq!(
            config_mismatch(Some(&elsewhere), &file),
            Some(Some(elsewhere.clone()))
        );
        assert_eq!(config_mismatch(None, &file), Some(None));
    }
}
