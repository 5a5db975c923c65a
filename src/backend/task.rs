//! The backend's main loop: routes actions to hosts and mirrors connection
//! state changes into host views.

use super::Options;
use super::clone;
use super::export;
use super::history_feed::HistoryFeed;
use super::host::{self, HostHandle};
use super::job_watch;
use super::messages::{Action, Event, JobResult};
use super::restore;
use crate::config::profile::Profile;
use crate::config::{self, HostConfig, LoadedConfig};
use crate::jobs::clone::run::HostLink;
use crate::jobs::detail::DetailUpdate;
use crate::jobs::export::ExportRequest;
use crate::jobs::journal::Journal;
use crate::jobs::queue::Queue;
use crate::jobs::recover;
use crate::jobs::restore::RestoreRequest;
use crate::model::{CloneRequest, HostView, JobPhase};
use crate::transport::supervisor::StateChange;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How long quitting waits for cancelled jobs to clean up.
const JOB_CLEANUP: Duration = Duration::from_secs(60);

struct Backend {
    config: LoadedConfig,
    options: Options,
    hosts: Vec<HostHandle>,
    events: mpsc::UnboundedSender<Event>,
    states: mpsc::UnboundedSender<StateChange>,
    /// Running jobs' cancel tokens; a job removes itself when it ends.
    jobs: HashMap<u64, (CancellationToken, tokio::task::JoinHandle<()>)>,
    job_ended: mpsc::UnboundedSender<u64>,
    /// Clone jobs waiting for the limits, and those running under them.
    queue: Queue,
    /// What each clone job of this run was asked to do, for its start and
    /// a retry; the newest [`REQUESTS_KEPT`].
    requests: std::collections::BTreeMap<u64, (CloneRequest, Profile)>,
    /// The same for restore jobs.
    restores: std::collections::BTreeMap<u64, (RestoreRequest, Profile)>,
    /// The same for export jobs.
    exports: std::collections::BTreeMap<u64, (ExportRequest, Profile)>,
    /// Queue places last sent, so only changes are sent again.
    positions: HashMap<u64, usize>,
    history: HistoryFeed,
    /// Repositories the repository view opened this session.
    repos: super::repo::OpenRepos,
}

/// Job requests kept for retries.
const REQUESTS_KEPT: usize = 200;

/// Records a job's request, forgetting the oldest beyond [`REQUESTS_KEPT`].
fn keep_newest<T>(map: &mut std::collections::BTreeMap<u64, T>, id: u64, value: T) {
    map.insert(id, value);
    while map.len() > REQUESTS_KEPT {
        map.pop_first();
    }
}

pub(super) async fn run(
    config: LoadedConfig,
    options: Options,
    mut actions: mpsc::UnboundedReceiver<Action>,
    events: mpsc::UnboundedSender<Event>,
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
        requests: Default::default(),
        restores: Default::default(),
        exports: Default::default(),
        positions: HashMap::new(),
        history,
        repos: Default::default(),
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
        let _ = self.events.send(Event::Hosts(views));
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
            let _ = events.send(event);
        });
    }

    fn find(&self, name: &str) -> Option<&HostHandle> {
        self.hosts.iter().find(|h| h.name() == name)
    }

    fn error(&self, host: Option<&str>, message: String) {
        tracing::warn!(host = ?host, "{message}");
        let _ = self.events.send(Event::Error {
            host: host.map(String::from),
            message,
        });
    }

    fn state_changed(&mut self, change: StateChange) {
        if let Some(h) = self.find(&change.host) {
            let view = h.set_state(change.state);
            let _ = self.events.send(Event::Host(view));
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
            Action::ValidateClone(req) => self.validate_clone(req),
            Action::StartClone(req) => self.start_clone(req),
            Action::ValidateRestore(req) => self.validate_restore(req),
            Action::StartRestore(req) => self.start_restore(req),
            Action::StartExport(req) => self.start_export(req),
            Action::SaveProfile {
                name,
                from,
                replace,
            } => super::profiles::save(name, from, replace, self.events.clone()),
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

    /// Validation runs in its own task: it takes seconds and must not hold up
    /// other actions. The answer comes back as [`Event::Validation`].
    fn validate_clone(&self, req: CloneRequest) {
        let slots = match self.slots(&req) {
            Ok(s) => s,
            Err(e) => return self.error(Some(&req.from), e),
        };
        let events = self.events.clone();
        tokio::spawn(async move {
            let checked = match links(&slots).await {
                Ok((source, dest)) => clone::validate(&req, &source, &dest).await,
                Err(e) => Err(e),
            };
            let ev = match checked {
                Ok(checklist) => Event::Validation {
                    request: req,
                    checklist,
                },
                Err(message) => Event::Error {
                    host: Some(req.from.clone()),
                    message: format!("validating the clone of {}: {message}", req.vm),
                },
            };
            let _ = events.send(ev);
        });
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
                let _ = events.send(Event::Error {
                    host: None,
                    message,
                });
                let _ = ended.send(id);
            });
            self.jobs.insert(id, (cancel, task));
        }
    }

    /// The two hosts' slots; the links are awaited in the job's own task.
    fn slots(&self, req: &CloneRequest) -> Result<[(String, host::LiveSlot); 2], String> {
        let slot = |name: &str| match self.find(name) {
            None => Err(format!("no host named {name:?}")),
            Some(h) => Ok((name.to_string(), h.live_slot())),
        };
        Ok([slot(&req.from)?, slot(&req.to)?])
    }

    /// Queues a clone job with the profile as it is now; it starts when
    /// the limits allow, and validates again then.
    fn start_clone(&mut self, req: CloneRequest) {
        if let Err(e) = self.slots(&req) {
            return self.error(Some(&req.from), e);
        }
        let profile = match clone::find_profile(&req.profile) {
            Ok(p) => p,
            Err(e) => return self.error(Some(&req.from), format!("cannot clone {}: {e}", req.vm)),
        };
        self.enqueue(req, profile);
    }

    /// Puts job `id` in the line for `hosts` and lists it as queued first;
    /// if it starts at once, its progress follows.
    fn line_up(
        &mut self,
        id: u64,
        hosts: &[&str],
        view: impl FnOnce(usize) -> crate::model::JobView,
    ) {
        self.queue.push(id, hosts.iter().copied());
        let place = self.queue.positions().len();
        self.positions.insert(id, place);
        let _ = self.events.send(Event::Job(view(place)));
        job_watch::stamp(&self.events, id, JobPhase::Queued);
    }

    fn enqueue(&mut self, req: CloneRequest, profile: Profile) {
        let id = super::job_id::next();
        self.line_up(id, &[&req.from, &req.to], |place| {
            job_watch::queued_view(id, &req, place)
        });
        job_watch::send(&self.events, id, DetailUpdate::Request(req.clone()));
        keep_newest(&mut self.requests, id, (req, profile));
        self.schedule();
    }

    /// Queues an export job with the profile as it is now (the built-in
    /// `quick-backup` unless the request names another).
    fn start_export(&mut self, mut req: ExportRequest) {
        // No passphrase given, but the repository view unlocked this
        // repository earlier in the session: the job uses that key.
        if req.opened.is_none() && matches!(*req.unlock, crate::repo::Unlock::None) {
            req.opened = self.repos.cached(&req.repo);
        }
        if self.find(&req.from).is_none() {
            return self.error(None, format!("no host named {:?}", req.from));
        }
        let profile = match export::find_profile(&req.profile) {
            Ok(p) => p,
            Err(e) => return self.error(Some(&req.from), format!("cannot export {}: {e}", req.vm)),
        };
        let from = req.from.clone();
        let req = match export::profile_unlock(req, &profile) {
            Ok(r) => r,
            Err(e) => return self.error(Some(&from), e),
        };
        self.enqueue_export(req, profile);
    }

    fn enqueue_export(&mut self, req: ExportRequest, profile: Profile) {
        let id = super::job_id::next();
        self.line_up(id, &[&req.from], |place| export_view(id, &req, place));
        keep_newest(&mut self.exports, id, (req, profile));
        self.schedule();
    }

    /// Starts a queued export job in its own task.
    fn spawn_export(&mut self, id: u64) {
        let Some((req, profile)) = self.exports.get(&id).cloned() else {
            return;
        };
        let Some(slot) = self.find(&req.from).map(|h| h.live_slot()) else {
            self.queue.finish(id);
            let message = format!("no host named {:?}", req.from);
            let failed = JobResult::Failed {
                message: message.clone(),
                checklist: None,
            };
            return job_watch::unstarted_view(
                &self.events,
                export_view(id, &req, 0),
                message,
                failed,
            );
        };
        let cancel = CancellationToken::new();
        let (events, ended, token) = (self.events.clone(), self.job_ended.clone(), cancel.clone());
        let history = self.history.clone();
        let task = async move {
            let slots = [(req.from.clone(), slot.clone()), (req.from.clone(), slot)];
            match links(&slots).await {
                Ok((source, _)) => {
                    export::run_job(id, req, profile, source, token, events, history).await
                }
                Err(message) => {
                    let message = format!("cannot export {}: {message}", req.vm);
                    let failed = JobResult::Failed {
                        message: message.clone(),
                        checklist: None,
                    };
                    job_watch::unstarted_view(&events, export_view(id, &req, 0), message, failed);
                }
            }
            let _ = ended.send(id);
        };
        let task = tokio::spawn(task.instrument(tracing::info_span!("job", id)));
        self.jobs.insert(id, (cancel, task));
    }

    /// Starts what the limits allow, and tells the waiting jobs their place.
    fn schedule(&mut self) {
        for id in self.queue.startable() {
            self.positions.remove(&id);
            if self.restores.contains_key(&id) {
                self.spawn_restore(id);
            } else if self.exports.contains_key(&id) {
                self.spawn_export(id);
            } else {
                self.spawn_clone(id);
            }
        }
        let positions = self.queue.positions();
        self.positions
            .retain(|id, _| positions.iter().any(|(w, _)| w == id));
        for (id, place) in positions {
            if self.positions.insert(id, place) == Some(place) {
                continue;
            }
            if let Some((req, _)) = self.requests.get(&id) {
                let view = job_watch::queued_view(id, req, place);
                let _ = self.events.send(Event::Job(view));
            } else if let Some((req, _)) = self.restores.get(&id) {
                let view = restore::queued_view(id, req, place);
                let _ = self.events.send(Event::Job(view));
            } else if let Some((req, _)) = self.exports.get(&id) {
                let _ = self.events.send(Event::Job(export_view(id, req, place)));
            }
        }
    }

    /// A queued job leaves the line and never starts; a running one is
    /// cancelled and cleans up.
    fn cancel_job(&mut self, id: u64) {
        if self.queue.remove(id) {
            self.positions.remove(&id);
            let message = "cancelled before it started".to_string();
            if let Some((req, _)) = self.requests.get(&id) {
                job_watch::unstarted(&self.events, id, req, message, JobResult::Cancelled);
            } else if let Some((req, _)) = self.restores.get(&id) {
                let view = restore::queued_view(id, req, 0);
                job_watch::unstarted_view(&self.events, view, message, JobResult::Cancelled);
            } else if let Some((req, _)) = self.exports.get(&id) {
                let view = export_view(id, req, 0);
                job_watch::unstarted_view(&self.events, view, message, JobResult::Cancelled);
            }
            return self.schedule();
        }
        match self.jobs.get(&id) {
            Some((token, _)) => token.cancel(),
            None => self.error(None, format!("no running job {id}")),
        }
    }

    /// Queues an ended job again, as a new job with the same request and
    /// the profile settings it ran with.
    fn retry_job(&mut self, id: u64) {
        if self.queue.is_waiting(id) || self.jobs.contains_key(&id) {
            return self.error(None, format!("job {id} has not ended; nothing to retry"));
        }
        if let Some((req, profile)) = self.restores.get(&id).cloned() {
            tracing::info!(job = id, "retrying as a new job");
            return self.enqueue_restore(req, profile);
        }
        match self.requests.get(&id).cloned() {
            Some((req, profile)) => {
                tracing::info!(job = id, "retrying as a new job");
                self.enqueue(req, profile);
            }
            None => match self.exports.get(&id).cloned() {
                Some((req, profile)) => self.enqueue_export(req, profile),
                None => self.error(
                    None,
                    format!("job {id} is not known to this run; start it again"),
                ),
            },
        }
    }

    /// Starts a queued clone job in its own task; it validates again first.
    fn spawn_clone(&mut self, id: u64) {
        let Some((req, profile)) = self.requests.get(&id).cloned() else {
            return;
        };
        let slots = match self.slots(&req) {
            Ok(s) => s,
            Err(message) => {
                self.queue.finish(id);
                let failed = JobResult::Failed {
                    message: message.clone(),
                    checklist: None,
                };
                return job_watch::unstarted(&self.events, id, &req, message, failed);
            }
        };
        let cancel = CancellationToken::new();
        let events = self.events.clone();
        let ended = self.job_ended.clone();
        let token = cancel.clone();
        let history = self.history.clone();
        let task = async move {
            match links(&slots).await {
                Ok((source, dest)) => {
                    clone::run_job(id, req, profile, source, dest, token, events, history).await
                }
                Err(message) => {
                    let message = format!("cannot clone {}: {message}", req.vm);
                    let failed = JobResult::Failed {
                        message: message.clone(),
                        checklist: None,
                    };
                    job_watch::unstarted(&events, id, &req, message, failed);
                }
            }
            let _ = ended.send(id);
        };
        // Everything logged inside the job lands in its own log too.
        let task = tokio::spawn(task.instrument(tracing::info_span!("job", id)));
        self.jobs.insert(id, (cancel, task));
    }

    /// The destination's slot of a restore.
    fn restore_slot(&self, req: &RestoreRequest) -> Result<[(String, host::LiveSlot); 1], String> {
        match self.find(&req.to) {
            None => Err(format!("no host named {:?}", req.to)),
            Some(h) => Ok([(req.to.clone(), h.live_slot())]),
        }
    }

    /// A restore's checks in their own task; answered by
    /// [`Event::RestoreValidation`], or an error tied to the destination.
    fn validate_restore(&self, req: RestoreRequest) {
        let slot = match self.restore_slot(&req) {
            Ok(s) => s,
            Err(e) => return self.error(Some(&req.to), e),
        };
        let profile = match clone::find_profile(&req.profile) {
            Ok(p) => p,
            Err(e) => return self.error(Some(&req.to), e),
        };
        let events = self.events.clone();
        tokio::spawn(async move {
            let checked = match live_links(&slot).await {
                Ok(mut l) => match l.pop() {
                    Some(dest) => restore::validate(0, req.clone(), profile, &dest).await,
                    None => Err("no link to the host".into()),
                },
                Err(e) => Err(e),
            };
            let ev = match checked {
                Ok(checklist) => Event::RestoreValidation {
                    snapshot: req.snapshot.clone(),
                    to: req.to.clone(),
                    checklist,
                },
                Err(message) => Event::Error {
                    host: Some(req.to.clone()),
                    message: format!(
                        "validating the restore of snapshot {}: {message}",
                        req.snapshot
                    ),
                },
            };
            let _ = events.send(ev);
        });
    }

    /// Queues a restore job with the profile as it is now.
    fn start_restore(&mut self, req: RestoreRequest) {
        if let Err(e) = self.restore_slot(&req) {
            return self.error(Some(&req.to), e);
        }
        match clone::find_profile(&req.profile) {
            Ok(p) => self.enqueue_restore(req, p),
            Err(e) => self.error(
                Some(&req.to),
                format!("cannot restore snapshot {}: {e}", req.snapshot),
            ),
        }
    }

    fn enqueue_restore(&mut self, req: RestoreRequest, profile: Profile) {
        let id = super::job_id::next();
        self.line_up(id, &[&req.to], |place| {
            restore::queued_view(id, &req, place)
        });
        keep_newest(&mut self.restores, id, (req, profile));
        self.schedule();
    }

    /// Starts a queued restore job in its own task.
    fn spawn_restore(&mut self, id: u64) {
        let Some((req, profile)) = self.restores.get(&id).cloned() else {
            return;
        };
        let slot = match self.restore_slot(&req) {
            Ok(s) => s,
            Err(message) => {
                self.queue.finish(id);
                let failed = JobResult::Failed {
                    message: message.clone(),
                    checklist: None,
                };
                let view = restore::queued_view(id, &req, 0);
                return job_watch::unstarted_view(&self.events, view, message, failed);
            }
        };
        let cancel = CancellationToken::new();
        let (events, ended, token) = (self.events.clone(), self.job_ended.clone(), cancel.clone());
        let history = self.history.clone();
        let task = async move {
            match live_links(&slot).await.map(|mut l| l.pop()) {
                Ok(Some(dest)) => {
                    restore::run_job(id, req, profile, dest, token, events, history).await
                }
                Ok(None) | Err(_) => {
                    let message = format!("cannot restore: {} is not connected", req.to);
                    let failed = JobResult::Failed {
                        message: message.clone(),
                        checklist: None,
                    };
                    let view = restore::queued_view(id, &req, 0);
                    job_watch::unstarted_view(&events, view, message, failed);
                }
            }
            let _ = ended.send(id);
        };
        let task = tokio::spawn(task.instrument(tracing::info_span!("job", id)));
        self.jobs.insert(id, (cancel, task));
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
        crate::notify::webhook::drain(Duration::from_secs(10)).await;
        for h in &self.hosts {
            h.quit();
        }
        for h in self.hosts {
            let _ = tokio::time::timeout(Duration::from_secs(3), h.join()).await;
        }
        let _ = self.events.send(Event::Stopped);
    }
}

/// The queued view of an export job.
fn export_view(id: u64, req: &ExportRequest, place: usize) -> crate::model::JobView {
    let repo = req.repo.display().to_string();
    job_watch::queued_view_of(id, "export", &req.vm, &req.from, &repo, place)
}

/// How long a clone waits for its hosts' libvirt to be reachable (SSH may
/// be up a moment before libvirt is).
const LINK_WAIT: Duration = Duration::from_secs(30);

/// Both hosts' live links, waiting up to [`LINK_WAIT`] for them.
async fn links(slots: &[(String, host::LiveSlot); 2]) -> Result<(HostLink, HostLink), String> {
    let mut all = live_links(slots).await?.into_iter();
    match (all.next(), all.next()) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err("no link to the hosts".into()),
    }
}

/// The hosts' live links, in order, waiting up to [`LINK_WAIT`] for them.
async fn live_links(slots: &[(String, host::LiveSlot)]) -> Result<Vec<HostLink>, String> {
    let start = std::time::Instant::now();
    loop {
        let up: Vec<HostLink> = slots.iter().filter_map(|(_, s)| host::link_of(s)).collect();
        if up.len() == slots.len() {
            return Ok(up);
        }
        if start.elapsed() > LINK_WAIT {
            let down: Vec<&str> = slots
                .iter()
                .filter(|(_, s)| host::link_of(s).is_none())
                .map(|(n, _)| n.as_str())
                .collect();
            return Err(format!("{} not connected", down.join(" and ")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
