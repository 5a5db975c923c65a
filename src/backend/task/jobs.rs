//! The backend's job table: every job of this run in one map, whatever its
//! kind, queued under the limits, started, cancelled and retried the same
//! way. What differs by kind is in [`crate::backend::kinds`].

use super::Backend;
use crate::backend::host::{self, LiveSlot};
use crate::backend::kinds::{self, RunContext};
use crate::backend::messages::{Event, JobResult};
use crate::backend::{clone, export, job_watch, restore};
use crate::config::profile::Profile;
use crate::jobs::hosts::HostLink;
use crate::model::detail::DetailUpdate;
use crate::model::{CloneRequest, ExportRequest, JobPhase, JobRequest, JobView, RestoreRequest};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Job requests kept for retries.
const REQUESTS_KEPT: usize = 200;

/// How long a job waits for its hosts' libvirt to be reachable (SSH may
/// be up a moment before libvirt is).
const LINK_WAIT: Duration = Duration::from_secs(30);

/// A job of this run: its number, what it was asked and the profile
/// settings it runs with, for its start and a retry.
#[derive(Clone)]
pub(super) struct Known {
    pub number: u32,
    pub req: JobRequest,
    pub profile: Profile,
}

/// The view of a job that has not run (yet), at `place` in the queue.
fn queued_view(id: u64, job: &Known, place: usize) -> JobView {
    let (vm, from, to) = job.req.vm_from_to();
    let kind = job.req.kind();
    job_watch::queued_view_of((id, job.number), kind, &vm, &from, &to, place)
}

impl Backend {
    /// The named hosts' slots; the links are awaited in the job's own task.
    fn slots(&self, hosts: &[&str]) -> Result<Vec<(String, LiveSlot)>, String> {
        hosts
            .iter()
            .map(|name| match self.find(name) {
                None => Err(format!("no host named {name:?}")),
                Some(h) => Ok((name.to_string(), h.live_slot())),
            })
            .collect()
    }

    /// Validation runs in its own task: it takes seconds and must not hold up
    /// other actions. The answer comes back as [`Event::Validation`].
    pub(super) fn validate_clone(&self, req: CloneRequest) {
        let slots = match self.slots(&[&req.from, &req.to]) {
            Ok(s) => s,
            Err(e) => return self.error(Some(&req.from), e),
        };
        let events = self.events.clone();
        tokio::spawn(async move {
            let checked = match live_links(&slots).await.map(Vec::into_iter) {
                Ok(mut l) => match (l.next(), l.next()) {
                    (Some(source), Some(dest)) => clone::validate(&req, &source, &dest).await,
                    _ => Err("no link to the hosts".into()),
                },
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
            events.send(ev);
        });
    }

    /// A restore's checks in their own task; answered by
    /// [`Event::RestoreValidation`], or an error tied to the destination.
    pub(super) fn validate_restore(&self, req: RestoreRequest) {
        let slot = match self.slots(&[&req.to]) {
            Ok(s) => s,
            Err(e) => return self.error(Some(&req.to), e),
        };
        let profile = match clone::find_profile(&req.profile) {
            Ok(p) => p,
            Err(e) => return self.error(Some(&req.to), e),
        };
        let (events, repos) = (self.events.clone(), self.repos.clone());
        tokio::spawn(async move {
            let checked = match live_links(&slot).await {
                Ok(mut l) => match l.pop() {
                    Some(dest) => restore::validate(0, req.clone(), profile, &dest, &repos).await,
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
            events.send(ev);
        });
    }

    /// An export's checks in their own task; answered by
    /// [`Event::ExportValidation`], or an error tied to the source host.
    pub(super) fn validate_export(&self, req: ExportRequest) {
        let slot = match self.slots(&[&req.from]) {
            Ok(s) => s,
            Err(e) => return self.error(Some(&req.from), e),
        };
        let request = JobRequest::Export(req);
        let prepared = kinds::find_profile(&request)
            .and_then(|p| kinds::prepare(request, &p, &self.repos).map(|r| (r, p)));
        let (req, profile) = match prepared {
            Ok((JobRequest::Export(r), p)) => (r, p),
            Ok(_) => return,
            Err(e) => return self.error(Some(&slot[0].0), e),
        };
        let (events, repos) = (self.events.clone(), self.repos.clone());
        tokio::spawn(async move {
            let checked = match live_links(&slot).await {
                Ok(mut l) => match l.pop() {
                    Some(source) => export::validate(req.clone(), profile, &source, &repos).await,
                    None => Err("no link to the host".into()),
                },
                Err(e) => Err(e),
            };
            let ev = match checked {
                Ok(checklist) => Event::ExportValidation {
                    vm: req.vm.clone(),
                    from: req.from.clone(),
                    checklist,
                },
                Err(message) => Event::Error {
                    host: Some(req.from.clone()),
                    message: format!("validating the export of {}: {message}", req.vm),
                },
            };
            events.send(ev);
        });
    }

    /// Queues a job with its profile as it is now; it starts when the
    /// limits allow (a clone or restore validates again then).
    pub(super) fn start(&mut self, req: JobRequest) {
        let hosts = req.hosts();
        let tied = hosts.first().map(|h| h.to_string());
        if let Err(e) = self.slots(&hosts) {
            return self.error(tied.as_deref(), e);
        }
        let prepared = kinds::find_profile(&req)
            .and_then(|p| kinds::prepare(req, &p, &self.repos).map(|r| (r, p)));
        match prepared {
            Ok((req, profile)) => self.enqueue(req, profile),
            Err(e) => self.error(tied.as_deref(), e),
        }
    }

    /// Puts a new job in the line for its hosts and lists it as queued
    /// first; if it starts at once, its progress follows. The job gets the
    /// next number here, in the backend, so every attached front end
    /// shows the same one; a retry is a new job with a new number.
    fn enqueue(&mut self, req: JobRequest, profile: Profile) {
        let id = crate::backend::job_id::next();
        self.last_number = self.last_number.saturating_add(1);
        let job = Known {
            number: self.last_number,
            req,
            profile,
        };
        self.queue.push(id, job.req.hosts());
        let place = self.queue.positions().len();
        self.positions.insert(id, place);
        self.events.send(Event::Job(queued_view(id, &job, place)));
        job_watch::stamp(&self.events, id, JobPhase::Queued);
        if let JobRequest::Clone(r) = &job.req {
            job_watch::send(&self.events, id, DetailUpdate::Request(r.clone()));
        }
        self.known.insert(id, job);
        while self.known.len() > REQUESTS_KEPT {
            self.known.pop_first();
        }
        self.schedule();
    }

    /// Starts what the limits allow, and tells the waiting jobs their place.
    pub(super) fn schedule(&mut self) {
        for id in self.queue.startable() {
            self.positions.remove(&id);
            self.spawn(id);
        }
        let positions = self.queue.positions();
        self.positions
            .retain(|id, _| positions.iter().any(|(w, _)| w == id));
        for (id, place) in positions {
            if self.positions.insert(id, place) == Some(place) {
                continue;
            }
            if let Some(job) = self.known.get(&id) {
                self.events.send(Event::Job(queued_view(id, job, place)));
            }
        }
    }

    /// Starts a queued job in its own task, once its hosts' links are up.
    fn spawn(&mut self, id: u64) {
        let Some(job) = self.known.get(&id).cloned() else {
            return;
        };
        let slots = match self.slots(&job.req.hosts()) {
            Ok(s) => s,
            Err(message) => {
                self.queue.finish(id);
                let failed = JobResult::Failed {
                    message: message.clone(),
                    checklist: None,
                };
                let view = queued_view(id, &job, 0);
                return job_watch::unstarted_view(&self.events, view, message, failed);
            }
        };
        let cancel = CancellationToken::new();
        let ctx = RunContext {
            number: job.number,
            cancel: cancel.clone(),
            events: self.events.clone(),
            history: self.history.clone(),
            repos: self.repos.clone(),
        };
        let ended = self.job_ended.clone();
        let task = async move {
            match live_links(&slots).await {
                Ok(links) => kinds::run(id, job.req, job.profile, links, ctx).await,
                Err(why) => {
                    let message = kinds::cannot_start(&job.req, &why);
                    let failed = JobResult::Failed {
                        message: message.clone(),
                        checklist: None,
                    };
                    let view = queued_view(id, &job, 0);
                    job_watch::unstarted_view(&ctx.events, view, message, failed);
                }
            }
            let _ = ended.send(id);
        };
        // Everything logged inside the job lands in its own log too.
        let task = tokio::spawn(task.instrument(tracing::info_span!("job", id)));
        self.jobs.insert(id, (cancel, task));
    }

    /// A queued job leaves the line and never starts; a running one is
    /// cancelled and cleans up.
    pub(super) fn cancel_job(&mut self, id: u64) {
        if self.queue.remove(id) {
            self.positions.remove(&id);
            let message = "cancelled before it started".to_string();
            if let Some(job) = self.known.get(&id) {
                let view = queued_view(id, job, 0);
                job_watch::unstarted_view(&self.events, view, message, JobResult::Cancelled);
            }
            return self.schedule();
        }
        match self.jobs.get(&id) {
            Some((token, _)) => token.cancel(),
            None => self.error(None, format!("no running job {}", self.label(id))),
        }
    }

    /// "#3" for a job of this run; the id for one it does not know.
    fn label(&self, id: u64) -> String {
        match self.known.get(&id) {
            Some(job) => crate::model::job_label(id, job.number),
            None => id.to_string(),
        }
    }

    /// Queues an ended job again, as a new job with the same request and
    /// the profile settings it ran with.
    pub(super) fn retry_job(&mut self, id: u64) {
        if self.queue.is_waiting(id) || self.jobs.contains_key(&id) {
            let job = self.label(id);
            return self.error(None, format!("job {job} has not ended; nothing to retry"));
        }
        match self.known.get(&id).cloned() {
            Some(job) => {
                tracing::info!(job = id, number = job.number, "retrying as a new job");
                self.enqueue(job.req, job.profile);
            }
            None => self.error(
                None,
                format!("job {id} is not known to this run; start it again"),
            ),
        }
    }
}

/// The hosts' live links, in order, waiting up to [`LINK_WAIT`] for them.
pub(super) async fn live_links(slots: &[(String, LiveSlot)]) -> Result<Vec<HostLink>, String> {
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

#[cfg(test)]
#[path = "jobs_tests.rs"]
mod tests;
