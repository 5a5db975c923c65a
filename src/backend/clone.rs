//! The backend's side of the clone flow: validation runs and clone jobs on
//! the two hosts' live connections, with progress and history.

use super::history_feed::HistoryFeed;
use super::job_record::JobRecord;
use super::messages::{Event, JobResult};
use crate::config::profile::{self, Profile};
use crate::jobs::clone::run::{self, CloneError, CloneSpec, HostLink, Update};
use crate::jobs::clone::validate;
use crate::jobs::history::{Finish, NewJob, now_ms};
use crate::jobs::log::JobLogs;
use crate::model::{Checklist, CloneRequest, HistoryResult};
use crate::notify::webhook::{self, Notice};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The named clone profile, from the built-in set and the user's directory.
pub(super) fn find_profile(name: &str) -> Result<Profile, String> {
    profile::find_profile(name, profile::JobKind::Clone)
}

/// Runs every pre-flight check of `req`. Read-only on both hosts.
pub(super) async fn validate(
    req: &CloneRequest,
    source: &HostLink,
    dest: &HostLink,
) -> Result<Checklist, String> {
    // The profile files are read on the blocking pool, like every file.
    let name = req.profile.clone();
    let p = tokio::task::spawn_blocking(move || find_profile(&name))
        .await
        .map_err(|e| e.to_string())??;
    let v = run::validation_request(req, &p, &dest.pool);
    validate::validate(&source.worker, &dest.worker, &dest.session, &v)
        .await
        .map_err(|e| e.to_string())
}

/// The message the detail view shows for how the job ended.
pub(super) fn job_error(r: &JobResult) -> Option<String> {
    match r {
        JobResult::Cloned(_) | JobResult::Exported(_) => None,
        JobResult::Failed { message, .. } => Some(message.clone()),
        JobResult::Cancelled => Some("cancelled".into()),
    }
}

/// Runs one clone job to its end with the profile resolved when it was
/// queued: its history row when it starts, progress as [`Event::Job`] and
/// [`Event::JobDetail`], then the row's completion (with the job's log),
/// the webhook, and [`Event::JobDone`]. History failures are logged, never
/// fatal.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_job(
    id: u64,
    req: CloneRequest,
    mut profile: Profile,
    source: HostLink,
    dest: HostLink,
    cancel: CancellationToken,
    events: mpsc::UnboundedSender<Event>,
    history: HistoryFeed,
) {
    let clock = std::time::Instant::now();
    let watch = super::job_watch::Watch::start(id, events.clone());
    let record = Arc::new(Mutex::new(JobRecord::default()));
    let note = |text: String| record.lock().unwrap_or_else(|p| p.into_inner()).note(text);
    note(format!(
        "clone of {} from {} to {} as {}, profile {}",
        req.vm, req.from, req.to, req.new_name, req.profile
    ));
    let row = history
        .start(NewJob {
            job: id,
            kind: "clone".into(),
            vm: req.vm.clone(),
            from: req.from.clone(),
            to: req.to.clone(),
            profile: req.profile.clone(),
            started_ms: now_ms(),
        })
        .await;
    profile.start |= req.start;
    let webhook_url = profile.webhook.clone();
    let journal_dir = crate::paths::data_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("journal");
    let spec = CloneSpec {
        job_id: id,
        request: req.clone(),
        profile,
        journal_dir,
    };
    // The record sees every view too, for the history row's summary lines.
    let report: run::Report = {
        let (forward, seen) = (watch.report(), record.clone());
        Arc::new(move |u: Update| {
            if let Update::View(v) = &u {
                seen.lock().unwrap_or_else(|p| p.into_inner()).observe(v);
            }
            forward(u);
        })
    };
    let result = run::run(&spec, &source, &dest, report, cancel).await;
    let partial = record.lock().unwrap_or_else(|p| p.into_inner()).bytes_done;
    let validation = |c: &Checklist| serde_json::to_value(c).ok();
    let (fin, job_result) = match result {
        Ok(r) => {
            note(format!(
                "done: {} moved, {} stored, {} skipped (sparse or zero), {} retries{}",
                r.bytes_moved,
                r.bytes_stored,
                r.bytes_skipped,
                r.retries,
                if r.verified { ", verified" } else { "" }
            ));
            let fin = Finish {
                result: HistoryResult::Done,
                bytes_moved: r.bytes_moved,
                bytes_stored: r.bytes_stored,
                bytes_skipped: r.bytes_skipped,
                validation: validation(&r.checklist),
                ..Finish::default()
            };
            (fin, JobResult::Cloned(r))
        }
        Err(CloneError::Cancelled) => {
            note("cancelled by the operator; what the job made was removed".into());
            let fin = Finish {
                result: HistoryResult::Cancelled,
                bytes_moved: partial,
                ..Finish::default()
            };
            (fin, JobResult::Cancelled)
        }
        Err(e) => {
            let message = e.to_string();
            note(format!("failed: {message}"));
            let checklist = match e {
                CloneError::Invalid(c) => Some(c),
                _ => None,
            };
            let fin = Finish {
                result: HistoryResult::Failed,
                error: Some(message.clone()),
                bytes_moved: partial,
                validation: checklist.as_ref().and_then(validation),
                ..Finish::default()
            };
            (fin, JobResult::Failed { message, checklist })
        }
    };
    webhook::job_finished(
        webhook_url,
        Notice {
            kind: "clone".into(),
            job_id: id,
            vm: req.vm.clone(),
            from: req.from.clone(),
            to: req.to.clone(),
            profile: req.profile.clone(),
            result: fin.result.label().into(),
            duration_secs: clock.elapsed().as_secs_f64(),
            bytes: fin.bytes_moved,
            error: fin.error.clone(),
        },
    );
    watch.finish(job_error(&job_result)).await;
    // The row keeps the summary lines, then everything the job logged.
    let mut log = record.lock().unwrap_or_else(|p| p.into_inner()).lines();
    log.extend(JobLogs::global().take(id));
    history.finish(row, fin, log).await;
    let _ = events.send(Event::JobDone {
        id,
        result: job_result,
    });
}
