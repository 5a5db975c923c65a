//! The backend's main loop: routes actions to hosts and jobs, and mirrors
//! connection state changes into host views. The job table is [`jobs`].

mod jobs;

use super::Options;
use super::bus::EventBus;
use super::history_feed::HistoryFeed;
use super::host::{self, HostHandle};
use super::messages::{Action, Event};
use crate::config::{self, HostConfig, LoadedConfig};
use crate::jobs::journal::Journal;
use crate::jobs::queue::Queue;
use crate::jobs::recover;
use crate::model::{HostView, JobRequest};
use crate::transport::supervisor::StateChange;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long quitting waits for cancelled jobs to clean up.
const JOB_CLEANUP: Duration = Duration::from_secs(60);

struct Backend {
    config: LoadedConfig,
    options: Options,
    hosts: Vec<HostHandle>,
    events: EventBus,
    states: mpsc::UnboundedSender<StateChange>,
    /// Running jobs' cancel tokens; a job removes itself when it ends.
    jobs: HashMap<u64, (CancellationToken, tokio::task::JoinHandle<()>)>,
    job_ended: mpsc::UnboundedSender<u64>,
    /// Jobs waiting for the limits, and those running under them.
    queue: Queue,
    /// Each job of this run, whatever its kind, for its start and a
    /// retry; the newest [`REQUESTS_KEPT`].
    known: std::collections::BTreeMap<u64, jobs::Known>,
    /// The number the newest job got; the next gets one more.
    last_number: u32,
    /// Queue places last sent, so only changes are sent again.
    positions: HashMap<u64, usize>,
    history: HistoryFeed,
    /// Repositories the repository view opened this session.
    repos: super::repo::OpenRepos,
    /// The daemon's schedules, when this backend runs them.
    schedules: Option<super::schedules::Schedules>,
}

pub(super) async fn run(
    config: LoadedConfig,
    options: Options,
    mut actions: mpsc::UnboundedReceiver<Action>,
    inbox: mpsc::WeakUnboundedSender<Action>,
    events: EventBus,
) {
    let (state_tx, mut state_rx) = mpsc::unbounded_channel();
    let (ended_tx, mut ended_rx) = mpsc::unbounded_channel();
    let history = HistoryFeed::open(events.clone()).await;
    let mut backend = Backend {
        config,
        options,
        hosts: Vec::new(),
        events,
        states: state_tx,
        jobs: HashMap::new(),
        job_ended: ended_tx,
        queue: Queue::default(),
        known: Default::default(),
        last_number: 0,
        positions: HashMap::new(),
        history,
        repos: Default::default(),
        schedules: None,
    };
    backend.queue = Queue::new(backend.config.config.job_settings().limits());
    let wanted: Vec<HostConfig> = backend
        .config
        .config
        .hosts
        .iter()
        .filter(|h| {
            backend
                .options
                .only_host
                .as_ref()
                .is_none_or(|o| *o == h.name)
        })
        .cloned()
        .collect();
    for h in &wanted {
        backend.add(h);
    }
    backend.send_hosts();
    backend.send_history();
    backend.send_profiles();
    backend.recover_leftovers();
    if backend.options.run_schedules && !backend.config.config.schedules.is_empty() {
        backend.schedules = Some(super::schedules::spawn(
            backend.config.config.schedules.clone(),
            backend.events.clone(),
            inbox,
            crate::paths::data_dir(),
        ));
    }
    loop {
        tokio::select! {
            action = actions.recv() => match action {
                None | Some(Action::Quit) => break,
                Some(a) => backend.handle(a),
            },
            Some(change) = state_rx.recv() => backend.state_changed(change),
            Some(id) = ended_rx.recv() => {
                backend.jobs.remove(&id);
                backend.queue.finish(id);
                backend.schedule();
            }
        }
    }
    backend.shutdown().await;
}

impl Backend {
    fn add(&mut self, cfg: &HostConfig) {
        let handle = host::start(
            cfg,
            &self.options,
            self.events.clone(),
            self.states.clone(),
            &self.known_hosts(),
        );
        self.hosts.push(handle);
    }

    /// The operator's known_hosts first, then the files the config names.
    fn known_hosts(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.options.user_known_hosts.iter().cloned().collect();
        files.extend(self.config.config.known_hosts.iter().cloned());
        files
    }

    fn send_hosts(&self) {
        let views: Vec<HostView> = self.hosts.iter().map(HostHandle::view).collect();
        self.events.send(Event::Hosts(views));
    }

    /// The history pane's content: the newest jobs (off the loop: a query
    /// runs on the blocking pool).
    fn send_history(&self) {
        let feed = self.history.clone();
        tokio::spawn(async move { feed.publish().await });
    }

    /// Every profile, for the profile menu and the clone dialog.
    fn send_profiles(&self) {
        let events = self.events.clone();
        tokio::task::spawn_blocking(move || {
            let event = match super::profiles::summaries() {
                Ok(p) => Event::Profiles(p),
                Err(message) => {
                    tracing::warn!("{message}");
                    Event::Error {
                        host: None,
                        message,
                    }
                }
            };
            events.send(event);
        });
    }

    fn find(&self, name: &str) -> Option<&HostHandle> {
        self.hosts.iter().find(|h| h.name() == name)
    }

    fn error(&self, host: Option<&str>, message: String) {
        tracing::warn!(host = ?host, "{message}");
        self.events.send(Event::Error {
            host: host.map(String::from),
            message,
        });
    }

    fn state_changed(&mut self, change: StateChange) {
        if let Some(h) = self.find(&change.host) {
            let view = h.set_state(change.state);
            self.events.send(Event::Host(view));
        }
    }

    fn handle(&mut self, action: Action) {
        match action {
            Action::Refresh(None) => self.hosts.iter().for_each(HostHandle::refresh),
            Action::Refresh(Some(name)) | Action::Connect(name) => match self.find(&name) {
                Some(h) => h.refresh(),
                None => self.error(None, format!("no host named {name:?}")),
            },
            Action::AcceptHostKey { host, fingerprint } => match self.find(&host) {
                Some(h) => {
                    if let Err(e) = h.accept_host_key(&fingerprint) {
                        self.error(Some(&host), e.to_string());
                    }
                }
                None => self.error(None, format!("no host named {host:?}")),
            },
            Action::RejectHostKey { host } => {
                // Nothing to undo: the host stays refused until accepted.
                tracing::info!(%host, "host key rejected by the operator");
            }
            Action::Passphrase {
                host,
                key_path,
                passphrase,
            } => match self.find(&host) {
                Some(h) => h.set_passphrase(key_path.into(), passphrase),
                None => self.error(None, format!("no host named {host:?}")),
            },
            Action::AddHost(cfg) => self.add_host(cfg),
            Action::RunSchedule(name) => match &self.schedules {
                Some(s) => s.run_now(name),
                None => self.error(
                    None,
                    format!("no schedule named {name:?}: schedules run in the daemon (`kvm-clone daemon`)"),
                ),
            },
            Action::ValidateClone(req) => self.validate_clone(req),
            Action::StartClone(req) => self.start(JobRequest::Clone(req)),
            Action::ValidateRestore(req) => self.validate_restore(req),
            Action::StartRestore(req) => self.start(JobRequest::Restore(req)),
            Action::ValidateExport(req) => self.validate_export(req),
            Action::StartExport(req) => self.start(JobRequest::Export(req)),
            Action::SaveProfile {
                name,
                from,
                replace,
                edit,
            } => super::profiles::save(name, from, replace, edit, self.events.clone()),
            Action::ListProfiles => super::profiles::list(self.events.clone()),
            Action::CancelJob(id) => self.cancel_job(id),
            Action::RetryJob(id) => self.retry_job(id),
            Action::QueryHistory(filter) => {
                let feed = self.history.clone();
                tokio::spawn(async move { feed.query(filter).await });
            }
            Action::HistoryDetail(id) => {
                let feed = self.history.clone();
                tokio::spawn(async move { feed.detail(id).await });
            }
            Action::RepoOpen { path, passphrase } => {
                super::repo::open(&self.repos, path, passphrase, self.events.clone())
            }
            Action::RepoProbe { path } => super::repo::probe(path, self.events.clone()),
            Action::RepoCreate { path, key } => {
                super::repo::create(&self.repos, path, key, self.events.clone())
            }
            Action::RepoUnlock { path, unlock } => {
                super::repo::unlock(&self.repos, path, unlock, self.events.clone())
            }
            Action::RepoVerify {
                path,
                passphrase,
                snapshot,
                read_data,
                repair,
            } => super::repo::verify(
                &self.repos,
                path,
                passphrase,
                super::repo::VerifyAsk {
                    snapshot,
                    read_data,
                    repair,
                },
                self.events.clone(),
            ),
            Action::RepoPrune {
                path,
                passphrase,
                policy,
                dry_run,
                confirmed,
            } => super::repo::prune(
                &self.repos,
                path,
                passphrase,
                super::repo::PruneAsk {
                    policy,
                    dry_run,
                    confirmed,
                },
                self.events.clone(),
            ),
            Action::Quit => {}
        }
    }

    /// Jobs an earlier, killed run left unfinished: once their hosts are
    /// connected, undo what they made (docs/journal.md).
    fn recover_leftovers(&mut self) {
        let Some(dir) = crate::paths::data_dir() else {
            return;
        };
        let journals = match Journal::leftovers(&dir.join("journal")) {
            Ok(j) => j,
            Err(e) => return self.error(None, e.to_string()),
        };
        for journal in journals {
            let slots: Vec<(String, host::LiveSlot)> = self
                .hosts
                .iter()
                .map(|h| (h.name().to_string(), h.live_slot()))
                .collect();
            let needed: Vec<String> = journal
                .entry()
                .resources
                .iter()
                .map(|r| r.host().to_string())
                .collect();
            let (events, ended) = (self.events.clone(), self.job_ended.clone());
            let cancel = CancellationToken::new();
            let token = cancel.clone();
            let id = super::job_id::next();
            let task = tokio::spawn(async move {
                let link = |name: &str| {
                    slots
                        .iter()
                        .find(|(n, _)| n == name)
                        .and_then(|(_, s)| host::link_of(s))
                };
                // Wait for the hosts; quitting before they come stops waiting,
                // but a cleanup that has begun runs to its end.
                let ready = || needed.iter().all(|n| link(n).is_some());
                while !ready() {
                    tokio::select! {
                        // Quitting: clean up anyway if the hosts are there now.
                        _ = token.cancelled() => {
                            if !ready() {
                                let _ = ended.send(id);
                                return;
                            }
                        }
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
                let summary = journal.entry().summary.clone();
                let message = match recover::undo_journal(journal, link).await {
                    Ok(()) => format!("cleaned up after an interrupted job: {summary}"),
                    Err(e) => {
                        format!("cleanup after an interrupted job ({summary}) is incomplete: {e}")
                    }
                };
                tracing::info!("{message}");
                events.send(Event::Error {
                    host: None,
                    message,
                });
                let _ = ended.send(id);
            });
            self.jobs.insert(id, (cancel, task));
        }
    }

    fn add_host(&mut self, cfg: HostConfig) {
        if self.find(&cfg.name).is_some() {
            return self.error(None, format!("a host named {:?} already exists", cfg.name));
        }
        if let Err(e) = config::append_host(&self.config.path, &cfg) {
            return self.error(None, e.to_string());
        }
        self.config.config.hosts.push(cfg.clone());
        self.config.exists = true;
        self.add(&cfg);
        self.send_hosts();
    }

    async fn shutdown(mut self) {
        // Cancelled jobs undo what they made, which needs the hosts: wait
        // for them before closing connections.
        for (token, _) in self.jobs.values() {
            token.cancel();
        }
        for (_, (_, task)) in self.jobs.drain() {
            let _ = tokio::time::timeout(JOB_CLEANUP, task).await;
        }
        crate::notify::drain(Duration::from_secs(10)).await;
        for h in &self.hosts {
            h.quit();
        }
        for h in self.hosts {
            let _ = tokio::time::timeout(Duration::from_secs(3), h.join()).await;
        }
        self.events.send(Event::Stopped);
    }
}
