//! The daemon's schedules at work: one task that sleeps until the next
//! due time, then starts the run as any front end would, by sending
//! actions into the backend (exports become ordinary jobs; prune and
//! verify are the repository actions). It follows the event bus to learn
//! which jobs are its own and how they end, publishes
//! [`Event::Schedules`], and keeps its state in the data directory.
//! A schedule never overlaps itself: a time that comes while its last run
//! still goes is skipped and recorded so.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, WeakUnboundedSender};

use super::bus::EventBus;
use super::messages::{Action, Event, JobResult};
use crate::config::profile::ProfileKind;
use crate::config::{CronExpr, ScheduleConfig, ScheduleJob};
use crate::jobs::history::now_ms;
use crate::jobs::schedule::state::{self, Kept, ScheduleState};
use crate::model::schedule::{RunResult, ScheduleRun, ScheduleView};
use crate::model::{ExportRequest, JobKind, KeepPolicy, Secret, Unlock};

/// The backend's side: "run this schedule now".
#[derive(Clone)]
pub(super) struct Schedules {
    run_now: UnboundedSender<String>,
}

impl Schedules {
    pub(super) fn run_now(&self, name: String) {
        let _ = self.run_now.send(name);
    }
}

/// Starts the task; `actions` is the backend's own inbox (held weakly, so
/// the backend still ends when its front ends are gone).
pub(super) fn spawn(
    list: Vec<ScheduleConfig>,
    bus: EventBus,
    actions: WeakUnboundedSender<Action>,
    data_dir: Option<PathBuf>,
) -> Schedules {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(run(list, bus, actions, data_dir, rx));
    Schedules { run_now: tx }
}

struct Entry {
    cfg: ScheduleConfig,
    cron: CronExpr,
    next: Option<u64>,
    kept: Kept,
    run: Option<Run>,
}

/// A run under way.
#[derive(Default)]
struct Run {
    due_ms: u64,
    started_ms: u64,
    /// Exports asked for and not listed yet: (VM, source host, repository).
    pending: Vec<(String, String, String)>,
    /// Its jobs; Some(ok) once ended.
    jobs: BTreeMap<u64, Option<bool>>,
    /// A repository action whose answer is awaited (its path).
    repo_wait: Option<String>,
    problems: Vec<String>,
    done_note: Option<String>,
}

impl Run {
    fn finished(&self) -> bool {
        self.pending.is_empty()
            && self.repo_wait.is_none()
            && self.jobs.values().all(Option::is_some)
    }
}

struct Scheduler {
    entries: Vec<Entry>,
    bus: EventBus,
    actions: WeakUnboundedSender<Action>,
    state_file: Option<PathBuf>,
    /// VM names by host, from the inventory events.
    vms: HashMap<String, Vec<String>>,
    /// Jobs that existed before a run asked for its own.
    seen_jobs: BTreeSet<u64>,
}

async fn run(
    list: Vec<ScheduleConfig>,
    bus: EventBus,
    actions: WeakUnboundedSender<Action>,
    data_dir: Option<PathBuf>,
    mut run_now: UnboundedReceiver<String>,
) {
    let state_file = data_dir.map(|d| state::file(&d));
    let mut kept = state_file.as_deref().map(state::load).unwrap_or_default();
    let now = now_ms();
    let mut entries = Vec::new();
    let mut catch_up = Vec::new();
    for cfg in list {
        // The config was checked when read; an expression that no longer
        // parses cannot happen, but is skipped rather than trusted.
        let Ok(cron) = CronExpr::parse(&cfg.cron) else {
            continue;
        };
        let k = kept.schedules.remove(&cfg.name).unwrap_or_default();
        let (missed, next) =
            crate::jobs::schedule::plan_start(&cron, k.last_due_ms, now, cfg.catch_up());
        if let Some(due) = missed {
            tracing::info!("schedule {}: catching up the run due at {due}", cfg.name);
            catch_up.push((entries.len(), due));
        }
        let mut kept = k;
        kept.last_due_ms.get_or_insert(now);
        entries.push(Entry {
            cfg,
            cron,
            next,
            kept,
            run: None,
        });
    }
    let mut events = bus.attach();
    let mut s = Scheduler {
        entries,
        bus,
        actions,
        state_file,
        vms: HashMap::new(),
        seen_jobs: BTreeSet::new(),
    };
    // The snapshot first: the inventory a caught-up run needs.
    if let Some(ev) = events.recv().await {
        s.observe(ev);
    }
    for (i, due) in catch_up {
        s.trigger(i, due).await;
    }
    s.save_and_publish();
    loop {
        let wake = s.entries.iter().filter_map(|e| e.next).min();
        let sleep = wake.map_or(Duration::from_secs(3600), |t| {
            Duration::from_millis(t.saturating_sub(now_ms()))
        });
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {
                let now = now_ms();
                for i in 0..s.entries.len() {
                    if let Some(due) = s.entries[i].next.filter(|t| *t <= now) {
                        s.entries[i].next = s.entries[i].cron.next_after(now);
                        s.trigger(i, due).await;
                    }
                }
                s.save_and_publish();
            }
            ev = events.recv() => match ev {
                None | Some(Event::Stopped) => return,
                Some(ev) => {
                    if s.observe(ev) {
                        s.save_and_publish();
                    }
                }
            },
            Some(name) = run_now.recv() => {
                match s.entries.iter().position(|e| e.cfg.name == name) {
                    Some(i) => s.trigger(i, now_ms()).await,
                    None => s.bus.send(Event::Error {
                        host: None,
                        message: format!("no schedule named {name:?} in the daemon's config"),
                    }),
                }
                s.save_and_publish();
            }
        }
    }
}

impl Scheduler {
    fn send(&self, action: Action) -> bool {
        self.actions
            .upgrade()
            .is_some_and(|tx| tx.send(action).is_ok())
    }

    /// Starts a run of entry `i` due at `due`, or records it skipped.
    async fn trigger(&mut self, i: usize, due: u64) {
        let now = now_ms();
        let e = &mut self.entries[i];
        e.kept.last_due_ms = Some(due.max(e.kept.last_due_ms.unwrap_or(0)));
        if e.run.is_some() {
            tracing::warn!(
                "schedule {}: skipped; the previous run is still going",
                e.cfg.name
            );
            e.kept.last = Some(ScheduleRun {
                due_ms: due,
                started_ms: now,
                ended_ms: Some(now),
                result: Some(RunResult::Skipped),
                message: Some("the previous run was still going".into()),
                jobs: Vec::new(),
            });
            return;
        }
        tracing::info!("schedule {}: running ({})", e.cfg.name, e.cfg.target());
        let mut run = Run {
            due_ms: due,
            started_ms: now,
            ..Run::default()
        };
        let cfg = e.cfg.clone();
        match cfg.job {
            ScheduleJob::Export => self.start_exports(&cfg, &mut run),
            ScheduleJob::Prune | ScheduleJob::Verify => {
                self.start_repo_action(&cfg, &mut run).await
            }
        }
        self.entries[i].run = Some(run);
        self.settle(i);
    }

    fn start_exports(&mut self, cfg: &ScheduleConfig, run: &mut Run) {
        let Some(host) = cfg.host.clone() else {
            return run
                .problems
                .push("an export schedule without a host".into());
        };
        let Some(names) = self.vms.get(&host) else {
            return run.problems.push(format!(
                "{host} is not connected (no VM list); nothing was exported"
            ));
        };
        let chosen: Vec<String> = names.iter().filter(|n| cfg.selects(n)).cloned().collect();
        for v in cfg.vms.iter().filter(|v| !v.contains(['*', '?'])) {
            if !names.contains(v) {
                run.problems.push(format!("no VM named {v:?} on {host}"));
            }
        }
        if chosen.is_empty() {
            run.problems.push(format!("no VM on {host} matches"));
        }
        let repo = cfg.repo.display().to_string();
        for vm in chosen {
            let req = ExportRequest {
                vm: vm.clone(),
                from: host.clone(),
                repo: cfg.repo.clone(),
                profile: cfg.profile.clone(),
                unlock: Unlock::None,
            };
            if self.send(Action::StartExport(req)) {
                run.pending.push((vm, host.clone(), repo.clone()));
            }
        }
    }

    /// Prune by the profile's retention, or verify with `--read-data`.
    async fn start_repo_action(&mut self, cfg: &ScheduleConfig, run: &mut Run) {
        let name = cfg.profile.clone();
        let read = tokio::task::spawn_blocking(move || {
            let p = crate::config::profile::find_profile(&name, ProfileKind::Export)?;
            let pass = super::export::profile_passphrase(&p)?;
            Ok::<_, String>((p, pass))
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        let (profile, pass) = match read {
            Ok(r) => r,
            Err(e) => return run.problems.push(e),
        };
        let passphrase = pass.map(|p| Secret::new(p.to_string()));
        let path = cfg.repo.clone();
        let action = if cfg.job == ScheduleJob::Prune {
            let Some(keep) = profile.retention else {
                return run.problems.push(format!(
                    "profile {} has no retention to prune by",
                    profile.name
                ));
            };
            Action::RepoPrune {
                path,
                passphrase,
                policy: KeepPolicy {
                    last: keep.keep_last.unwrap_or(0),
                    daily: keep.keep_daily.unwrap_or(0),
                    weekly: keep.keep_weekly.unwrap_or(0),
                    monthly: keep.keep_monthly.unwrap_or(0),
                    yearly: keep.keep_yearly.unwrap_or(0),
                },
                dry_run: false,
                confirmed: None,
            }
        } else {
            Action::RepoVerify {
                path,
                passphrase,
                snapshot: None,
                read_data: true,
                repair: false,
            }
        };
        if self.send(action) {
            run.repo_wait = Some(cfg.repo.display().to_string());
        }
    }

    /// Takes in one event; true when a schedule's state changed.
    fn observe(&mut self, ev: Event) -> bool {
        let mut changed = Vec::new();
        match ev {
            Event::Snapshot(s) => {
                for (host, vms) in s.vms {
                    self.vms
                        .insert(host, vms.into_iter().map(|v| v.name).collect());
                }
                self.seen_jobs.extend(s.jobs.keys().copied());
            }
            Event::Vms { host, vms } => {
                self.vms
                    .insert(host, vms.into_iter().map(|v| v.name).collect());
            }
            // A new export job: a run's own when it is the one it asked for.
            Event::Job(v) if self.seen_jobs.insert(v.id) && v.kind == JobKind::Export => {
                let key = (v.vm.clone(), v.from.clone(), v.to.clone());
                for (i, e) in self.entries.iter_mut().enumerate() {
                    let Some(run) = e.run.as_mut() else { continue };
                    if let Some(p) = run.pending.iter().position(|k| *k == key) {
                        run.pending.remove(p);
                        run.jobs.insert(v.id, None);
                        changed.push(i);
                        break;
                    }
                }
            }
            Event::JobDone { id, result } => {
                for (i, e) in self.entries.iter_mut().enumerate() {
                    if let Some(slot) = e.run.as_mut().and_then(|r| r.jobs.get_mut(&id)) {
                        *slot = Some(matches!(result, JobResult::Exported(_)));
                        if let (JobResult::Failed { message, .. }, Some(r)) =
                            (&result, e.run.as_mut())
                        {
                            r.problems.push(message.clone());
                        }
                        changed.push(i);
                    }
                }
            }
            // A start refused before it was queued (a profile without a
            // passphrase source, say) is an error about the host.
            Event::Error {
                host: Some(h),
                message,
            } => {
                for (i, e) in self.entries.iter_mut().enumerate() {
                    let Some(run) = e.run.as_mut() else { continue };
                    if let Some(p) = run.pending.iter().position(|k| k.1 == h) {
                        run.pending.remove(p);
                        run.problems.push(message.clone());
                        changed.push(i);
                    }
                }
            }
            Event::RepoPruned { path, report, .. } => {
                let removed = report.snapshots.iter().filter(|l| !l.keep).count();
                let note = format!("{removed} snapshots removed");
                changed.extend(self.repo_answer(&path, None, Some(note)));
            }
            Event::RepoVerified { path, report } => {
                let bad = (!report.problems.is_empty())
                    .then(|| format!("verify found damage: {}", report.problems.join("; ")));
                changed.extend(self.repo_answer(&path, bad, None));
            }
            Event::RepoFailed { path, message } | Event::RepoLocked { path, message } => {
                changed.extend(self.repo_answer(&path, Some(message), None));
            }
            _ => {}
        }
        let any = !changed.is_empty();
        for i in changed {
            self.settle(i);
        }
        any
    }

    fn repo_answer(
        &mut self,
        path: &str,
        problem: Option<String>,
        note: Option<String>,
    ) -> Vec<usize> {
        let mut hit = Vec::new();
        for (i, e) in self.entries.iter_mut().enumerate() {
            let Some(run) = e.run.as_mut() else { continue };
            if run.repo_wait.as_deref() == Some(path) {
                run.repo_wait = None;
                run.problems.extend(problem.clone());
                run.done_note = note.clone();
                hit.push(i);
            }
        }
        hit
    }

    /// Ends entry `i`'s run once everything it started has ended.
    fn settle(&mut self, i: usize) {
        let e = &mut self.entries[i];
        let Some(run) = e.run.as_ref().filter(|r| r.finished()) else {
            return;
        };
        let failed_jobs = run.jobs.values().filter(|ok| **ok == Some(false)).count();
        let ok = run.problems.is_empty() && failed_jobs == 0;
        let message = if ok {
            run.done_note
                .clone()
                .or_else(|| (!run.jobs.is_empty()).then(|| format!("{} exports", run.jobs.len())))
        } else {
            Some(run.problems.join("; "))
        };
        tracing::info!(
            "schedule {}: {}",
            e.cfg.name,
            if ok { "done" } else { "failed" }
        );
        e.kept.last = Some(ScheduleRun {
            due_ms: run.due_ms,
            started_ms: run.started_ms,
            ended_ms: Some(now_ms()),
            result: Some(if ok {
                RunResult::Done
            } else {
                RunResult::Failed
            }),
            message,
            jobs: run.jobs.keys().copied().collect(),
        });
        e.run = None;
    }

    fn views(&self) -> Vec<ScheduleView> {
        self.entries
            .iter()
            .map(|e| ScheduleView {
                name: e.cfg.name.clone(),
                cron: e.cfg.cron.clone(),
                job: e.cfg.job.label().into(),
                target: e.cfg.target(),
                next_ms: e.next,
                running: e.run.is_some(),
                last: match &e.run {
                    Some(r) => Some(ScheduleRun {
                        due_ms: r.due_ms,
                        started_ms: r.started_ms,
                        ended_ms: None,
                        result: None,
                        message: None,
                        jobs: r.jobs.keys().copied().collect(),
                    }),
                    None => e.kept.last.clone(),
                },
            })
            .collect()
    }

    fn save_and_publish(&self) {
        if let Some(path) = &self.state_file {
            let state = ScheduleState {
                schedules: self
                    .entries
                    .iter()
                    .map(|e| (e.cfg.name.clone(), e.kept.clone()))
                    .collect(),
            };
            if let Err(e) = state::save(path, &state) {
                tracing::warn!("schedules: cannot save {}: {e}", path.display());
            }
        }
        self.bus.send(Event::Schedules(self.views()));
    }
}
