//! The backend's side of the clone flow: validation runs and clone jobs on
//! the two hosts' live connections, with progress and history.

use super::messages::{Event, JobResult};
use crate::config::profile::{self, Profile};
use crate::jobs::clone::run::{self, CloneError, CloneSpec, HostLink};
use crate::jobs::clone::validate;
use crate::jobs::history;
use crate::model::{Checklist, CloneRequest, HistoryEntry};
use std::sync::Arc;
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

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Runs one clone job to its end: progress as [`Event::Job`], then the
/// history entry, [`Event::History`] and [`Event::JobDone`].
pub(super) async fn run_job(
    id: u64,
    req: CloneRequest,
    source: HostLink,
    dest: HostLink,
    cancel: CancellationToken,
    events: mpsc::UnboundedSender<Event>,
) {
    let started = unix_now();
    let clock = std::time::Instant::now();
    let mut webhook = None;
    let result = match find_profile(&req.profile) {
        Err(message) => Err(CloneError::Step {
            step: "profile",
            message,
        }),
        Ok(mut profile) => {
            profile.start |= req.start;
            webhook = profile.webhook.clone();
            let journal_dir = crate::paths::data_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("journal");
            let spec = CloneSpec {
                job_id: id,
                request: req.clone(),
                profile,
                journal_dir,
            };
            let tx = events.clone();
            let report: run::Report = Arc::new(move |v| {
                let _ = tx.send(Event::Job(v));
            });
            run::run(&spec, &source, &dest, report, cancel).await
        }
    };
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
    let _ = events.send(Event::JobDone {
        id,
        result: job_result,
    });
}
