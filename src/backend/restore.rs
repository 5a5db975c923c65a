//! The backend's side of restores: validation runs and restore jobs on the
//! destination's live connection, with progress and history like a clone.

use super::clone::{failed, made};
use super::job_track::Tracking;
use super::kinds::RunContext;
use super::messages::JobResult;
use super::repo::OpenRepos;
use crate::config::profile::Profile;
use crate::jobs::history::{NewJob, now_ms};
use crate::jobs::hosts::HostLink;
use crate::jobs::restore::RestoreRequest;
use crate::jobs::restore::run::{self as restore, RestoreSpec};
use crate::repo::{Repo, RepoError, Unlock};
use std::sync::Arc;

fn spec(id: u64, req: RestoreRequest, mut profile: Profile) -> RestoreSpec {
    profile.start |= req.start;
    RestoreSpec {
        job_id: id,
        request: req,
        profile,
        journal_dir: crate::paths::data_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("journal"),
    }
}

/// "repo /backups/r" as the history's and the jobs pane's source.
fn origin(req: &RestoreRequest) -> String {
    format!("repo {}", req.repo.display())
}

/// Opens the repository through the session: a restore from the
/// repository view, which holds the key it was unlocked with, names no key
/// of its own.
fn session(
    repos: &OpenRepos,
) -> impl FnOnce(&std::path::Path, &Unlock) -> Result<Arc<Repo>, RepoError> + Send + 'static {
    let repos = repos.clone();
    move |path, unlock| repos.open_for(path, unlock)
}

/// The pre-flight checklist of a restore. Read-only.
pub(super) async fn validate(
    id: u64,
    req: RestoreRequest,
    profile: Profile,
    dest: &HostLink,
    repos: &OpenRepos,
) -> Result<crate::model::Checklist, String> {
    let spec = spec(id, req, profile);
    let (repo, snap) = restore::open_snapshot(&spec.request, session(repos))
        .await
        .map_err(|e| e.to_string())?;
    let (checklist, _, _) = restore::check(&spec, dest, &repo, &snap)
        .await
        .map_err(|e| e.to_string())?;
    Ok(checklist)
}

/// Runs one restore job to its end (see [`super::clone::run_job`]).
pub(super) async fn run_job(
    id: u64,
    req: RestoreRequest,
    profile: Profile,
    dest: HostLink,
    ctx: RunContext,
) {
    let RunContext {
        number,
        cancel,
        events,
        history,
        repos,
    } = ctx;
    // Opened first (key derivation included), so the history row names the VM.
    let opened = restore::open_snapshot(&req, session(&repos)).await;
    let vm = match &opened {
        Ok((_, snap)) => snap.manifest.vm.clone(),
        Err(_) => format!("snapshot {}", req.snapshot),
    };
    let job = NewJob {
        job: id,
        kind: crate::model::JobKind::Restore,
        vm,
        from: origin(&req),
        to: req.to.clone(),
        profile: req.profile.clone(),
        started_ms: now_ms(),
    };
    let first = format!(
        "restore of snapshot {} from {} to {}{}, profile {}",
        req.snapshot,
        req.repo.display(),
        req.to,
        if req.keep_identity {
            " keeping its identity".to_string()
        } else {
            req.new_name
                .as_deref()
                .map(|n| format!(" as {n}"))
                .unwrap_or_default()
        },
        req.profile
    );
    let track = Tracking::start(job, number, first, events, history).await;
    let webhook_url = profile.webhook.clone();
    let spec = spec(id, req, profile);
    let result = restore::run(&spec, opened, &dest, track.report(), cancel).await;
    let partial = track.bytes_done();
    let (fin, job_result) = match result {
        Ok(r) => {
            track.note(format!(
                "done: snapshot {} of {} restored as {} ({}): {} written, {} left as holes{}",
                r.snapshot,
                r.vm,
                r.name,
                r.uuid,
                r.bytes_moved,
                r.bytes_skipped,
                if r.verified { ", verified" } else { "" }
            ));
            let bytes = (r.bytes_moved, r.bytes_stored, r.bytes_skipped);
            let fin = made(&track, bytes, &r.warnings, &r.checklist);
            (fin, JobResult::Restored(r))
        }
        Err(e) => failed(&track, e, partial),
    };
    track.end(fin, job_result, webhook_url).await;
}
