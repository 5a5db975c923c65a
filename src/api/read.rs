//! The read endpoints: hosts, VMs and jobs from the bus's state snapshot,
//! history from the database (read on the blocking pool).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{Api, reply};
use crate::backend::messages::{Event, JobResult};
use crate::jobs::history::{HistoryDb, HistoryFilter};
use crate::model::detail::JobDetail;
use crate::model::snapshot::StateSnapshot;
use crate::model::{HistoryResult, HostView, JobView, VmInfo};

/// Most history rows one call returns.
const HISTORY_MAX: usize = 1000;

impl Api {
    /// The state now, as a newly attached front end gets it.
    pub(super) fn snapshot(&self) -> Option<StateSnapshot> {
        match self.attach.attach().try_recv() {
            Ok(Event::Snapshot(s)) => Some(*s),
            _ => None,
        }
    }
}

/// Query parameters, with unknown ones refused (a typo would otherwise
/// widen a filter silently).
fn query<T: for<'de> Deserialize<'de>>(raw: Option<String>) -> Result<T, Box<Response>> {
    serde_urlencoded::from_str(raw.as_deref().unwrap_or_default()).map_err(|e| {
        Box::new(reply::error(
            StatusCode::BAD_REQUEST,
            &format!("query: {e}"),
        ))
    })
}

pub(super) async fn hosts(State(api): State<Api>) -> Response {
    #[derive(Serialize)]
    struct Doc {
        hosts: Vec<HostView>,
    }
    match api.snapshot() {
        Some(s) => reply::ok(&Doc { hosts: s.hosts }),
        None => reply::gone(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VmsQuery {
    host: Option<String>,
}

pub(super) async fn vms(State(api): State<Api>, RawQuery(raw): RawQuery) -> Response {
    #[derive(Serialize)]
    struct HostVms {
        host: String,
        vms: Vec<VmInfo>,
    }
    #[derive(Serialize)]
    struct Doc {
        hosts: Vec<HostVms>,
    }
    let q: VmsQuery = match query(raw) {
        Ok(q) => q,
        Err(r) => return *r,
    };
    let Some(mut s) = api.snapshot() else {
        return reply::gone();
    };
    if let Some(h) = &q.host
        && !s.hosts.iter().any(|v| v.name == *h)
    {
        return reply::error(
            StatusCode::NOT_FOUND,
            &format!("no host named {h:?} in the config"),
        );
    }
    let hosts = s
        .hosts
        .iter()
        .filter(|h| q.host.as_ref().is_none_or(|only| *only == h.name))
        .map(|h| HostVms {
            host: h.name.clone(),
            // The domain XML is for the detail view, not for scripts.
            vms: s
                .vms
                .remove(&h.name)
                .unwrap_or_default()
                .into_iter()
                .map(|vm| VmInfo {
                    xml: String::new(),
                    ..vm
                })
                .collect(),
        })
        .collect();
    reply::ok(&Doc { hosts })
}

/// One job as the API shows it: its view, and once it has ended how
/// (`done`, `failed`, `cancelled`), the report of a finished job and the
/// error of a failed one.
#[derive(Serialize)]
struct JobDoc {
    #[serde(flatten)]
    view: JobView,
    result: Option<&'static str>,
    report: Option<serde_json::Value>,
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<JobDetail>,
}

impl JobDoc {
    fn new(view: JobView, result: Option<JobResult>, detail: Option<JobDetail>) -> JobDoc {
        let report = result.as_ref().and_then(|r| match r {
            JobResult::Cloned(r) => serde_json::to_value(r).ok(),
            JobResult::Exported(r) => serde_json::to_value(r).ok(),
            JobResult::Restored(r) => serde_json::to_value(r).ok(),
            JobResult::Failed { .. } | JobResult::Cancelled => None,
        });
        JobDoc {
            view,
            result: result.as_ref().map(super::result_label),
            report,
            error: result.and_then(|r| match r {
                JobResult::Failed { message, .. } => Some(message),
                _ => None,
            }),
            detail,
        }
    }
}

pub(super) async fn jobs(State(api): State<Api>) -> Response {
    #[derive(Serialize)]
    struct Doc {
        jobs: Vec<JobDoc>,
    }
    let Some(s) = api.snapshot() else {
        return reply::gone();
    };
    let jobs = s
        .jobs
        .into_values()
        .rev()
        .map(|j| JobDoc::new(j.view, j.result, None))
        .collect();
    reply::ok(&Doc { jobs })
}

pub(super) async fn job(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let id = match reply::job_id(&id) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let Some(mut s) = api.snapshot() else {
        return reply::gone();
    };
    match s.jobs.remove(&id) {
        Some(j) => reply::ok(&JobDoc::new(j.view, j.result, Some(j.detail))),
        None => reply::error(
            StatusCode::NOT_FOUND,
            &format!("no job {id} in this daemon; ended jobs are in GET /api/history"),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    vm: Option<String>,
    host: Option<String>,
    kind: Option<String>,
    result: Option<String>,
    limit: Option<String>,
}

pub(super) async fn history(State(api): State<Api>, RawQuery(raw): RawQuery) -> Response {
    let q: HistoryQuery = match query(raw) {
        Ok(q) => q,
        Err(r) => return *r,
    };
    let bad = |m: String| reply::error(StatusCode::BAD_REQUEST, &m);
    let result = match q.result.as_deref().map(|r| (r, HistoryResult::parse(r))) {
        None => None,
        Some((_, Some(r))) => Some(r),
        Some((r, None)) => {
            let all: Vec<&str> = HistoryResult::ALL.iter().map(|r| r.label()).collect();
            return bad(format!("result={r}: use one of {}", all.join(", ")));
        }
    };
    let limit = match q.limit.as_deref().map(str::parse::<usize>) {
        None => 50,
        Some(Ok(n)) if (1..=HISTORY_MAX).contains(&n) => n,
        Some(_) => return bad(format!("limit: a number from 1 to {HISTORY_MAX}")),
    };
    let filter = HistoryFilter {
        vm: q.vm,
        host: q.host,
        kind: q.kind,
        result,
        contains: false,
    };
    let Some(dir) = api.data_dir.clone() else {
        return reply::error(StatusCode::NOT_FOUND, "no data directory, so no history");
    };
    let page = tokio::task::spawn_blocking(move || {
        let db = HistoryDb::open_file(&crate::jobs::history::db_file(&dir))?;
        db.page(&filter, limit)
    })
    .await;
    match page {
        Ok(Ok(page)) => reply::ok(&page),
        Ok(Err(e)) => reply::error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => reply::error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

pub(super) async fn schedules(State(api): State<Api>) -> Response {
    #[derive(Serialize)]
    struct Doc {
        schedules: Vec<crate::model::schedule::ScheduleView>,
    }
    match api.snapshot() {
        Some(s) => reply::ok(&Doc {
            schedules: s.schedules,
        }),
        None => reply::gone(),
    }
}
