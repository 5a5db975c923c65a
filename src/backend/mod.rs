//! The backend: one async task that owns every host connection (SSH and
//! libvirt) and every job. Front ends send [`messages::Action`]s and
//! receive [`messages::Event`]s; nothing else crosses. Events go out
//! through [`bus::EventBus`] to every attached front end.

pub mod bus;
mod clone;
mod export;
mod history_feed;
mod host;
mod job_id;
mod job_record;
mod job_track;
mod job_watch;
mod kinds;
pub mod messages;
mod profiles;
pub mod repo;
mod restore;
mod schedules;
mod task;

use crate::config::LoadedConfig;
use messages::{Action, Event};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Tuning and scope of one backend.
#[derive(Debug, Clone)]
pub struct Options {
    /// Connect only to this host (headless commands about one host).
    pub only_host: Option<String>,
    /// How often inventory is re-read when libvirt lifecycle events are not
    /// available. With events, a slow safety poll runs every `poll_slow`.
    pub poll_interval: Duration,
    pub poll_slow: Duration,
    /// `~/.ssh/config`, for hosts that name an alias (None: the default place).
    pub ssh_config: Option<PathBuf>,
    /// The operator's known_hosts: checked first, and where accepted keys go.
    pub user_known_hosts: Option<PathBuf>,
    /// Run the config's `[[schedules]]` (the daemon does; an in-process
    /// backend never, so a TUI beside a daemon does not run them twice).
    pub run_schedules: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            only_host: None,
            poll_interval: Duration::from_secs(5),
            poll_slow: Duration::from_secs(30),
            ssh_config: None,
            user_known_hosts: directories::BaseDirs::new()
                .map(|d| d.home_dir().join(".ssh").join("known_hosts")),
            run_schedules: false,
        }
    }
}

/// The front end's side of a running backend.
pub struct Backend {
    pub actions: mpsc::UnboundedSender<Action>,
    /// The first subscriber, attached like any other ([`Backend::attach`])
    /// but before the task starts: its snapshot is empty and it misses
    /// nothing.
    pub events: mpsc::UnboundedReceiver<Event>,
    /// Ends after [`Action::Quit`] (or when every sender is dropped).
    pub task: JoinHandle<()>,
    attach: bus::Attach,
}

impl Backend {
    /// Another subscriber: [`Event::Snapshot`] of the state now, then every
    /// later event. Its stream ends, like `events`, when the backend is gone.
    pub fn attach(&self) -> mpsc::UnboundedReceiver<Event> {
        self.attach.attach()
    }

    /// For attaching from elsewhere (a socket's listener) without the backend.
    pub fn attacher(&self) -> bus::Attach {
        self.attach.clone()
    }
}

/// Starts the backend on the current Tokio runtime and connects to every host.
pub fn spawn(config: LoadedConfig, options: Options) -> Backend {
    crate::notify::email::configure(config.config.notify.as_ref().and_then(|n| n.email.clone()));
    let (action_tx, action_rx) = mpsc::unbounded_channel();
    let bus = bus::EventBus::new();
    let attach = bus.attacher();
    let events = attach.attach();
    let inbox = action_tx.downgrade();
    let task = tokio::spawn(task::run(config, options, action_rx, inbox, bus));
    Backend {
        actions: action_tx,
        events,
        task,
        attach,
    }
}
