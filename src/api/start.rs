//! `POST /api/jobs` and `DELETE /api/jobs/{id}`. A start runs the same
//! pre-flight checks the TUI shows first, and answers with their
//! checklist: 422 when one fails (nothing starts), else 202 with the
//! queued job. The API takes no passphrase: a repository opens with the
//! key the daemon already holds for it, else the profile's passphrase
//! file or age identities.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedReceiver;

use super::{Api, reply};
use crate::backend::messages::{Action, Event};
use crate::model::{
    Checklist, CloneRequest, ExportRequest, ImageFormat, JobRequest, JobView, RestoreRequest,
    Unlock,
};

/// How long the pre-flight checks may take (they wait for the hosts).
const VALIDATE_WAIT: Duration = Duration::from_secs(120);
/// How long the backend may take to list a started job.
const QUEUE_WAIT: Duration = Duration::from_secs(30);

/// The body of `POST /api/jobs` (docs/api.md).
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum JobBody {
    Clone {
        from: String,
        vm: String,
        to: String,
        new_name: String,
        #[serde(default = "default_profile")]
        profile: String,
        #[serde(default)]
        start: bool,
    },
    Export {
        from: String,
        vm: String,
        repo: PathBuf,
        #[serde(default = "default_profile")]
        profile: String,
    },
    Restore {
        repo: PathBuf,
        snapshot: String,
        to: String,
        #[serde(default)]
        new_name: Option<String>,
        #[serde(default)]
        keep_identity: bool,
        #[serde(default = "default_profile")]
        profile: String,
        #[serde(default)]
        format: Option<ImageFormat>,
        #[serde(default)]
        start: bool,
    },
}

fn default_profile() -> String {
    "default".into()
}

impl JobBody {
    fn into_request(self) -> JobRequest {
        match self {
            JobBody::Clone {
                from,
                vm,
                to,
                new_name,
                profile,
                start,
            } => JobRequest::Clone(CloneRequest {
                from,
                vm,
                to,
                new_name,
                profile,
                start,
            }),
            JobBody::Export {
                from,
                vm,
                repo,
                profile,
            } => JobRequest::Export(ExportRequest {
                vm,
                from,
                repo,
                profile,
                unlock: Unlock::None,
            }),
            JobBody::Restore {
                repo,
                snapshot,
                to,
                new_name,
                keep_identity,
                profile,
                format,
                start,
            } => JobRequest::Restore(RestoreRequest {
                repo,
                snapshot,
                to,
                new_name,
                keep_identity,
                profile,
                format,
                start,
                unlock: Unlock::None,
            }),
        }
    }
}

fn validate_action(req: &JobRequest) -> Action {
    match req.clone() {
        JobRequest::Clone(r) => Action::ValidateClone(r),
        JobRequest::Export(r) => Action::ValidateExport(r),
        JobRequest::Restore(r) => Action::ValidateRestore(r),
    }
}

fn start_action(req: JobRequest) -> Action {
    match req {
        JobRequest::Clone(r) => Action::StartClone(r),
        JobRequest::Export(r) => Action::StartExport(r),
        JobRequest::Restore(r) => Action::StartRestore(r),
    }
}

/// The checklist of `req`, if `ev` is its validation's answer.
fn checklist_of(req: &JobRequest, ev: Event) -> Option<Checklist> {
    match (req, ev) {
        (JobRequest::Clone(r), Event::Validation { request, checklist }) if request == *r => {
            Some(checklist)
        }
        (
            JobRequest::Export(r),
            Event::ExportValidation {
                vm,
                from,
                checklist,
            },
        ) if vm == r.vm && from == r.from => Some(checklist),
        (
            JobRequest::Restore(r),
            Event::RestoreValidation {
                snapshot,
                to,
                checklist,
            },
        ) if snapshot == r.snapshot && to == r.to => Some(checklist),
        _ => None,
    }
}

/// Whether `v` is the job `req` just queued: new, of its kind, and named
/// as the backend names a queued job of that request.
fn is_queued_job(req: &JobRequest, earlier: &BTreeSet<u64>, v: &JobView) -> bool {
    let (vm, from, to) = req.vm_from_to();
    !earlier.contains(&v.id) && v.kind == req.kind() && v.vm == vm && v.from == from && v.to == to
}

/// What came of waiting for the backend.
enum Heard<T> {
    It(T),
    /// An error about one of the request's hosts.
    Error(String),
    Timeout,
    Gone,
}

async fn wait_for<T>(
    events: &mut UnboundedReceiver<Event>,
    hosts: &[String],
    limit: Duration,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> Heard<T> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let ev = match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => return Heard::Timeout,
            Ok(None | Some(Event::Stopped)) => return Heard::Gone,
            Ok(Some(ev)) => ev,
        };
        if let Event::Error {
            host: Some(h),
            message,
        } = &ev
            && hosts.contains(h)
        {
            return Heard::Error(format!("{h}: {message}"));
        }
        if let Some(t) = pick(ev) {
            return Heard::It(t);
        }
    }
}

fn unheard<T>(heard: Heard<T>, what: &str) -> Response {
    match heard {
        Heard::It(_) => reply::error(StatusCode::INTERNAL_SERVER_ERROR, what),
        Heard::Error(m) => reply::error(StatusCode::CONFLICT, &m),
        Heard::Timeout => reply::error(
            StatusCode::GATEWAY_TIMEOUT,
            &format!("no answer to {what} in time; see GET /api/hosts"),
        ),
        Heard::Gone => reply::gone(),
    }
}

#[derive(Serialize)]
struct Started<'a> {
    job: &'a JobView,
    checklist: &'a Checklist,
}

#[derive(Serialize)]
struct Refused<'a> {
    error: &'a str,
    checklist: &'a Checklist,
}

pub(super) async fn post(State(api): State<Api>, body: Bytes) -> Response {
    let body: JobBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return reply::error(StatusCode::BAD_REQUEST, &format!("request body: {e}")),
    };
    let req = body.into_request();
    // Subscribe before asking, so the answer cannot be missed.
    let mut events = api.attach.attach();
    let Some(Event::Snapshot(now)) = events.recv().await else {
        return reply::gone();
    };
    let hosts: Vec<String> = req.hosts().iter().map(|h| h.to_string()).collect();
    if let Some(h) = hosts
        .iter()
        .find(|h| !now.hosts.iter().any(|v| v.name == **h))
    {
        return reply::error(
            StatusCode::BAD_REQUEST,
            &format!("no host named {h:?} in the daemon's config; see GET /api/hosts"),
        );
    }
    let earlier: BTreeSet<u64> = now.jobs.keys().copied().collect();
    if api.actions.send(validate_action(&req)).is_err() {
        return reply::gone();
    }
    let checklist = match wait_for(&mut events, &hosts, VALIDATE_WAIT, |ev| {
        checklist_of(&req, ev)
    })
    .await
    {
        Heard::It(c) => c,
        other => return unheard(other, "the pre-flight checks"),
    };
    if !checklist.ok() {
        let error = "a pre-flight check failed; nothing was started";
        return reply::json(
            StatusCode::UNPROCESSABLE_ENTITY,
            &Refused {
                error,
                checklist: &checklist,
            },
        );
    }
    let wanted = req.clone();
    if api.actions.send(start_action(req)).is_err() {
        return reply::gone();
    }
    let job = wait_for(&mut events, &hosts, QUEUE_WAIT, |ev| match ev {
        Event::Job(v) if is_queued_job(&wanted, &earlier, &v) => Some(v),
        _ => None,
    })
    .await;
    match job {
        Heard::It(job) => reply::json(
            StatusCode::ACCEPTED,
            &Started {
                job: &job,
                checklist: &checklist,
            },
        ),
        other => unheard(other, "the start"),
    }
}

/// Cancels a job: 202 when asked, 409 when it has already ended.
pub(super) async fn cancel(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let id = match reply::job_id(&id) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let Some(s) = api.snapshot() else {
        return reply::gone();
    };
    match s.jobs.get(&id) {
        None => reply::error(
            StatusCode::NOT_FOUND,
            &format!("no job {id} in this daemon"),
        ),
        Some(j) if j.result.is_some() => reply::error(
            StatusCode::CONFLICT,
            &format!("job {id} has already ended ({:?})", j.view.phase),
        ),
        Some(j) => {
            if api.actions.send(Action::CancelJob(id)).is_err() {
                return reply::gone();
            }
            reply::json(StatusCode::ACCEPTED, &j.view)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_parse_with_defaults_and_refuse_unknown_fields() {
        let b: JobBody = serde_json::from_str(
            r#"{"kind":"clone","from":"alpha","vm":"web","to":"beta","new_name":"web2"}"#,
        )
        .unwrap();
        let JobRequest::Clone(r) = b.into_request() else {
            panic!("not a clone");
        };
        assert_eq!((r.profile.as_str(), r.start), ("default", false));
        let e = serde_json::from_str::<JobBody>(
            r#"{"kind":"clone","from":"a","vm":"w","to":"b","new_name":"n","passphrase":"x"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown field `passphrase`"), "{e}");
        let e = serde_json::from_str::<JobBody>(r#"{"kind":"sync"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variant `sync`"), "{e}");
    }
}
