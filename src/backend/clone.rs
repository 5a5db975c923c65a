//! The backend's side of the clone flow: validation runs and clone jobs on
//! the two hosts' live connections, with progress and history.

use super::job_track::Tracking;
use super::kinds::RunContext;
use super::messages::JobResult;
use crate::config::profile::{self, Profile};
use crate::jobs::clone::run::{self, CloneSpec};
use crate::jobs::error::JobError;
use crate::jobs::history::{Finish, NewJob, now_ms};
use crate::jobs::hosts::HostLink;
use crate::jobs::preflight;
use crate::model::{Checklist, CloneRequest, HistoryResult};

/// The named clone profile, from the built-in set and the user's directory.
pub(super) fn find_profile(name: &str) -> Result<Profile, String> {
    profile::find_profile(name, profile::ProfileKind::Clone)
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
    preflight::validate(&source.worker, &dest.worker, &dest.session, &v)
        .await
        .map_err(|e| e.to_string())
}

/// Runs one clone job to its end with the profile resolved when it was
/// queued: its history row when it starts, progress as [`Event::Job`] and
/// [`Event::JobDetail`], then the row's completion (with the job's log),
/// the webhook, and [`Event::JobDone`]. History failures are logged, never
/// fatal.
pub(super) async fn run_job(
    id: u64,
    req: CloneRequest,
    mut profile: Profile,
    source: HostLink,
    dest: HostLink,
    ctx: RunContext,
) {
    let RunContext {
        number,
        cancel,
        events,
        history,
        ..
    } = ctx;
    let job = NewJob {
        job: id,
        kind: crate::model::JobKind::Clone,
        vm: req.vm.clone(),
        from: req.from.clone(),
        to: req.to.clone(),
        profile: req.profile.clone(),
        started_ms: now_ms(),
    };
    let first = format!(
        "clone of {} from {} to {} as {}, profile {}",
        req.vm, req.from, req.to, req.new_name, req.profile
    );
    let track = Tracking::start(job, number, first, events, history).await;
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
    let result = run::run(&spec, &source, &dest, track.report(), cancel).await;
    let partial = track.bytes_done();
    let (fin, job_result) = match result {
        Ok(r) => {
            track.note(format!(
                "done: {} moved, {} stored, {} skipped (sparse or zero), {} retries{}",
                r.bytes_moved,
                r.bytes_stored,
                r.bytes_skipped,
                r.retries,
                if r.verified { ", verified" } else { "" }
            ));
            let bytes = (r.bytes_moved, r.bytes_stored, r.bytes_skipped);
            let fin = made(&track, bytes, &r.warnings, &r.checklist);
            (fin, JobResult::Cloned(r))
        }
        Err(e) => failed(&track, e, partial),
    };
    track.end(fin, job_result, webhook_url).await;
}

/// How a clone or restore that made its VM is recorded: its warnings in
/// the log, its bytes `(moved, stored, skipped)` and checklist in the row.
pub(super) fn made(
    track: &Tracking,
    (moved, stored, skipped): (u64, u64, u64),
    warnings: &[String],
    checklist: &Checklist,
) -> Finish {
    for w in warnings {
        track.note(format!("warning: {w}"));
    }
    Finish {
        result: HistoryResult::Done,
        bytes_moved: moved,
        bytes_stored: stored,
        bytes_skipped: skipped,
        validation: serde_json::to_value(checklist).ok(),
        ..Finish::default()
    }
}

/// How a failed or cancelled job (clone or restore) is recorded.
pub(super) fn failed(track: &Tracking, e: JobError, partial: u64) -> (Finish, JobResult) {
    if let JobError::Cancelled = e {
        track.note("cancelled by the operator; what the job made was removed".into());
        let fin = Finish {
            result: HistoryResult::Cancelled,
            bytes_moved: partial,
            ..Finish::default()
        };
        return (fin, JobResult::Cancelled);
    }
    let message = e.to_string();
    track.note(format!("failed: {message}"));
    let checklist = match e {
        JobError::Invalid(c) => Some(c),
        _ => None,
    };
    let fin = Finish {
        result: HistoryResult::Failed,
        error: Some(message.clone()),
        bytes_moved: partial,
        validation: checklist
            .as_ref()
            .and_then(|c| serde_json::to_value(c).ok()),
        ..Finish::default()
    };
    (fin, JobResult::Failed { message, checklist })
}
