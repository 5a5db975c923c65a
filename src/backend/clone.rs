//! The backend's side of the clone flow: validation runs and clone jobs on
//! the two hosts' live connections, with progress and history.

use super::messages::{Event, JobResult};
use crate::config::profile::{self, Profile};
use crate::jobs::clone::run::{self, CloneError, CloneSpec, HostLink};
use crate::jobs::clone::validate;
use crate::jobs::history;
use crate::model::{Checklist, CloneRequest, HistoryEntry};
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
    let p = find_profile(&req.profile)?;
    let v = run::validation_request(req, &p, &dest.pool);
    validate::validate(&source.worker, &dest.worker, &dest.session, &v)
        .await
        .map_err(|e| e.to_string())
}

/// The message the detail view shows for how the job ended.
fn job_error(r: &JobResult) -> Option<String> {
    match r {
        JobResult::Cloned(_) => None,
        JobResult::Failed { message, .. } => Some(message.clone()),
        JobResult::Cancelled => Some("cancelled".into()),
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Runs one clone job to its end with the profile resolved when it was
/// queued: progress as [`Event::Job`] and [`Event::JobDetail`], then the
/// history entry, [`Event::History`] and [`Event::JobDone`].
pub(super) async fn run_job(
    id: u64,
    req: CloneRequest,
    mut profile: Profile,
    source: HostLink,
    dest: HostLink,
    cancel: CancellationToken,
    events: mpsc::UnboundedSender<Event>,
) {
    let started = unix_now();
    let clock = std::time::Instant::now();
    let watch = super::job_watch::Watch::start(id, events.clone());
    profile.start |= req.start;
    let webhook = profile.webhook.clone();
    let journal_dir = crate::paths::data_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("journal");
    let spec = CloneSpec {
        job_id: id,
        request: req.clone(),
        profile,
        journal_dir,
    };
    let result = run::run(&spec, &source, &dest, watch.report(), cancel).await;
    let (outcome, bytes, message, job_result) = match result {
        Ok(r) => ("done", r.bytes_moved, None, JobResult::Cloned(r)),
        Err(CloneError::Cancelled) => ("cancelled", 0, None, JobResult::Cancelled),
        Err(CloneError::Invalid(checklist)) => {
            let message = CloneError::Invalid(checklist.clone()).to_string();
            let r = JobResult::Failed {
                message: message.clone(),
                checklist: Some(checklist),
            };
            ("failed", 0, Some(message), r)
        }
        Err(e) => {
            let message = e.to_string();
            let r = JobResult::Failed {
                message: message.clone(),
                checklist: None,
            };
            ("failed", 0, Some(message), r)
        }
    };
    crate::notify::webhook::job_finished(
        webhook,
        crate::notify::webhook::Notice {
            kind: "clone".into(),
            job_id: id,
            vm: req.vm.clone(),
            from: req.from.clone(),
            to: req.to.clone(),
            profile: req.profile.clone(),
            result: outcome.into(),
            duration_secs: clock.elapsed().as_secs_f64(),
            bytes,
            error: message.clone(),
        },
    );
    if let Some(dir) = crate::paths::data_dir() {
        let entry = HistoryEntry {
            id,
            kind: "clone".into(),
            vm: req.vm.clone(),
            from: req.from.clone(),
            to: req.to.clone(),
            started,
            duration_secs: clock.elapsed().as_secs(),
            bytes_moved: bytes,
            outcome: outcome.into(),
            message,
        };
        let file = history::file(&dir);
        if let Err(e) = history::append(&file, &entry) {
            tracing::warn!("{e}");
        }
        if let Ok(all) = history::load(&file, super::task::HISTORY_SHOWN) {
            let _ = events.send(Event::History(all));
        }
    }
    watch.finish(job_error(&job_result)).await;
    let _ = events.send(Event::JobDone {
        id,
        result: job_result,
    });
}
