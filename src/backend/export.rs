//! The backend's side of an export: one job on the source host's live
//! connection, with progress, history and the webhook, as for a clone.

use super::history_feed::HistoryFeed;
use super::job_record::JobRecord;
use super::messages::{Event, JobResult};
use crate::config::profile::{self, Profile};
use crate::jobs::clone::run::{HostLink, Update};
use crate::jobs::export::ExportError;
use crate::jobs::export::ExportRequest;
use crate::jobs::export::run::{self as export_run, ExportSpec};
use crate::jobs::history::{Finish, NewJob, now_ms};
use crate::jobs::log::JobLogs;
use crate::model::HistoryResult;
use crate::notify::webhook::{self, Notice};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The named export profile, from the built-in set and the user's directory.
pub(super) fn find_profile(name: &str) -> Result<Profile, String> {
    profile::find_profile(name, profile::JobKind::Export)
}

/// Runs one export job to its end: history row, progress, completion,
/// webhook, then [`Event::JobDone`]. History failures are logged, never fatal.
pub(super) async fn run_job(
    id: u64,
    req: ExportRequest,
    profile: Profile,
    source: HostLink,
    cancel: CancellationToken,
    events: mpsc::UnboundedSender<Event>,
    history: HistoryFeed,
) {
    let clock = std::time::Instant::now();
    let watch = super::job_watch::Watch::start(id, events.clone());
    let record = Arc::new(Mutex::new(JobRecord::default()));
    let note = |text: String| record.lock().unwrap_or_else(|p| p.into_inner()).note(text);
    let repo = req.repo.display().to_string();
    note(format!(
        "export of {} from {} to {repo}, profile {}",
        req.vm, req.from, req.profile
    ));
    let row = history
        .start(NewJob {
            job: id,
            kind: "export".into(),
            vm: req.vm.clone(),
            from: req.from.clone(),
            to: repo.clone(),
            profile: req.profile.clone(),
            started_ms: now_ms(),
        })
        .await;
    let webhook_url = profile.webhook.clone();
    let data_dir = crate::paths::data_dir().unwrap_or_else(std::env::temp_dir);
    let spec = ExportSpec {
        job_id: id,
        request: req.clone(),
        profile,
        journal_dir: data_dir.join("journal"),
        data_dir,
    };
    let report: crate::jobs::clone::run::Report = {
        let (forward, seen) = (watch.report(), record.clone());
        Arc::new(move |u: Update| {
            if let Update::View(v) = &u {
                seen.lock().unwrap_or_else(|p| p.into_inner()).observe(v);
                if let Some(m) = &v.message {
                    tracing::info!("{m}");
                }
            }
            forward(u);
        })
    };
    let result = export_run::run(&spec, &source, report, cancel).await;
    let partial = record.lock().unwrap_or_else(|p| p.into_inner()).bytes_done;
    let (fin, job_result) = match result {
        Ok(r) => {
            let t = &r.totals;
            note(format!(
                "done: snapshot {}, {} read, {} stored ({} new chunks), {} skipped{}",
                r.snapshot,
                t.read_bytes,
                t.new_bytes,
                t.new_chunks,
                r.skipped_bytes,
                r.incremental_from
                    .as_ref()
                    .map(|c| format!(", incremental from {c}"))
                    .unwrap_or_default()
            ));
            if let Some(why) = &r.full_read_reason {
                note(why.clone());
            }
            for w in &r.warnings {
                note(format!("warning: {w}"));
            }
            let fin = Finish {
                result: HistoryResult::Done,
                bytes_moved: t.read_bytes,
                bytes_stored: t.new_bytes,
                bytes_skipped: r.skipped_bytes,
                ..Finish::default()
            };
            (fin, JobResult::Exported(Box::new(r)))
        }
        Err(ExportError::Cancelled) => {
            note("cancelled by the operator; no snapshot was written".into());
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
            let fin = Finish {
                result: HistoryResult::Failed,
                error: Some(message.clone()),
                bytes_moved: partial,
                ..Finish::default()
            };
            let failed = JobResult::Failed {
                message,
                checklist: None,
            };
            (fin, failed)
        }
    };
    webhook::job_finished(
        webhook_url,
        Notice {
            kind: "export".into(),
            job_id: id,
            vm: req.vm.clone(),
            from: req.from.clone(),
            to: repo,
            profile: req.profile.clone(),
            result: fin.result.label().into(),
            duration_secs: clock.elapsed().as_secs_f64(),
            bytes: fin.bytes_moved,
            error: fin.error.clone(),
        },
    );
    watch.finish(job_result.error_message()).await;
    let mut log = record.lock().unwrap_or_else(|p| p.into_inner()).lines();
    log.extend(JobLogs::global().take(id));
    history.finish(row, fin, log).await;
    let _ = events.send(Event::JobDone {
        id,
        result: job_result,
    });
}
