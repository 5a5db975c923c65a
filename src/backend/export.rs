//! The backend's side of an export: one job on the source host's live
//! connection, with progress, history and the webhook, as for a clone.

use super::job_record::JobRecord;
use super::kinds::RunContext;
use super::messages::{Event, JobResult};
use crate::config::profile::{self, Profile};
use crate::jobs::export::ExportError;
use crate::jobs::export::ExportRequest;
use crate::jobs::export::run::{self as export_run, ExportSpec};
use crate::jobs::history::{Finish, NewJob, now_ms};
use crate::jobs::hosts::HostLink;
use crate::jobs::log::JobLogs;
use crate::jobs::progress::Update;
use crate::model::HistoryResult;
use crate::notify::webhook::Notice;
use std::sync::{Arc, Mutex};

/// The request's way to open the repository, or, when the front end gave
/// none, the profile's passphrase source (a file's first line, or an
/// environment variable). A prompt source was the front end's to ask.
pub(super) fn profile_unlock(
    mut req: ExportRequest,
    profile: &Profile,
) -> Result<ExportRequest, String> {
    use crate::repo::Unlock;
    if !matches!(req.unlock, Unlock::None) {
        return Ok(req);
    }
    if let Some(pass) = profile_passphrase(profile)? {
        req.unlock = Unlock::Passphrase(pass);
    }
    Ok(req)
}

/// The passphrase the profile's source gives without asking anyone: None
/// for a profile without encryption by passphrase, or one that prompts.
pub(super) fn profile_passphrase(
    profile: &Profile,
) -> Result<Option<zeroize::Zeroizing<String>>, String> {
    use crate::config::profile::{Encryption, PassphraseSource};
    let Encryption::Passphrase { source } = &profile.encryption else {
        return Ok(None);
    };
    let pass = match source {
        PassphraseSource::Prompt => return Ok(None),
        PassphraseSource::Env(var) => std::env::var(var).map_err(|_| {
            format!(
                "profile {}: the passphrase variable ${var} is not set",
                profile.name
            )
        })?,
        PassphraseSource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| {
                format!(
                    "profile {}: passphrase file {}: {e}",
                    profile.name,
                    path.display()
                )
            })?
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    };
    if pass.is_empty() {
        return Err(format!("profile {}: the passphrase is empty", profile.name));
    }
    Ok(Some(zeroize::Zeroizing::new(pass)))
}

/// The named export profile, from the built-in set and the user's directory.
pub(super) fn find_profile(name: &str) -> Result<Profile, String> {
    profile::find_profile(name, profile::ProfileKind::Export)
}

/// The session's open repository for `req` when it has one: the job then
/// skips the key derivation. None: the job opens it and reports why that
/// fails, as it always did.
async fn session_repo(
    req: &ExportRequest,
    repos: &super::repo::OpenRepos,
) -> Option<Arc<crate::repo::Repo>> {
    let (path, unlock, repos) = (req.repo.clone(), req.unlock.clone(), repos.clone());
    tokio::task::spawn_blocking(move || repos.open_for(&path, &unlock))
        .await
        .ok()
        .and_then(Result::ok)
}

fn spec(
    id: u64,
    req: ExportRequest,
    profile: Profile,
    opened: Option<Arc<crate::repo::Repo>>,
) -> ExportSpec {
    let data_dir = crate::paths::data_dir().unwrap_or_else(std::env::temp_dir);
    ExportSpec {
        job_id: id,
        opened,
        request: req,
        profile,
        journal_dir: data_dir.join("journal"),
        data_dir,
    }
}

/// The pre-flight checklist of an export (`--dry-run`). Read-only but for
/// a probe file in the repository.
pub(super) async fn validate(
    req: ExportRequest,
    profile: Profile,
    source: &HostLink,
    repos: &super::repo::OpenRepos,
) -> Result<crate::model::Checklist, String> {
    let opened = session_repo(&req, repos).await;
    let spec = spec(0, req, profile, opened);
    export_run::check(&spec, source)
        .await
        .map_err(|e| e.to_string())
}

/// Runs one export job to its end: history row, progress, completion,
/// webhook, then [`Event::JobDone`]. History failures are logged, never fatal.
pub(super) async fn run_job(
    id: u64,
    req: ExportRequest,
    profile: Profile,
    source: HostLink,
    ctx: RunContext,
) {
    let RunContext {
        number,
        cancel,
        events,
        history,
        repos,
    } = ctx;
    let clock = std::time::Instant::now();
    let watch = super::job_watch::Watch::start(id, number, events.clone());
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
            kind: crate::model::JobKind::Export,
            vm: req.vm.clone(),
            from: req.from.clone(),
            to: repo.clone(),
            profile: req.profile.clone(),
            started_ms: now_ms(),
        })
        .await;
    let webhook_url = profile.webhook.clone();
    let opened = session_repo(&req, &repos).await;
    let spec = spec(id, req.clone(), profile, opened);
    let report: crate::jobs::progress::Report = {
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
            let checklist = match e {
                ExportError::Invalid(c) => Some(c),
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
            let failed = JobResult::Failed { message, checklist };
            (fin, failed)
        }
    };
    crate::notify::job_finished(
        webhook_url,
        Notice {
            kind: crate::model::JobKind::Export,
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
    let fin = Finish {
        copy: watch.finish(&job_result).await,
        ..fin
    };
    let mut log = record.lock().unwrap_or_else(|p| p.into_inner()).lines();
    log.extend(JobLogs::global().take(id));
    history.finish(row, fin, log).await;
    events.send(Event::JobDone {
        id,
        result: job_result,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profile::{Encryption, PassphraseSource, load_profiles};
    use crate::repo::Unlock;

    fn request(unlock: Unlock) -> ExportRequest {
        ExportRequest {
            vm: "web01".into(),
            from: "alpha".into(),
            repo: "/srv/repo".into(),
            profile: "quick-backup".into(),
            unlock,
        }
    }

    fn profile(encryption: Encryption) -> Profile {
        let mut p = load_profiles(None)
            .unwrap()
            .into_iter()
            .find(|p| p.profile.name == "quick-backup")
            .unwrap()
            .profile;
        p.encryption = encryption;
        p
    }

    #[test]
    fn a_profile_passphrase_file_unlocks_when_the_front_end_gave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pass");
        std::fs::write(&file, "from the file\nsecond line ignored\n").unwrap();
        let p = profile(Encryption::Passphrase {
            source: PassphraseSource::File(file.clone()),
        });
        let r = profile_unlock(request(Unlock::None), &p).unwrap();
        match &r.unlock {
            Unlock::Passphrase(s) => assert_eq!(s.as_str(), "from the file"),
            other => panic!("{other:?}"),
        }
        // What the operator typed wins over the profile's file.
        let typed = Unlock::Passphrase(zeroize::Zeroizing::new("typed".into()));
        let r = profile_unlock(request(typed), &p).unwrap();
        assert!(matches!(&r.unlock, Unlock::Passphrase(s) if s.as_str() == "typed"));
        // A missing file names itself.
        std::fs::remove_file(&file).unwrap();
        let e = profile_unlock(request(Unlock::None), &p).unwrap_err();
        assert!(e.contains(&file.display().to_string()), "{e}");
    }

    #[test]
    fn prompt_and_unencrypted_profiles_leave_the_request_alone() {
        for enc in [
            Encryption::None,
            Encryption::Passphrase {
                source: PassphraseSource::Prompt,
            },
        ] {
            let r = profile_unlock(request(Unlock::None), &profile(enc)).unwrap();
            assert!(matches!(&r.unlock, Unlock::None));
        }
    }
}
