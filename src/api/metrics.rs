//! `GET /metrics`: Prometheus counters and gauges, folded from the
//! backend's event stream by one task ([`follow`]), so they cost nothing
//! per scrape but an encode. Counters start at zero with each daemon (as
//! Prometheus expects); the last successful export of each VM is read
//! from history at start, so the alert "no good backup for a day"
//! survives a daemon restart.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::mpsc::UnboundedReceiver;

use super::{Api, reply};
use crate::backend::messages::{Event, JobResult};
use crate::model::{ConnState, HostView, JobKind, JobView};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindResult {
    kind: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Host {
    host: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VmHost {
    vm: String,
    host: String,
}

type Durations = Family<Kind, Histogram, fn() -> Histogram>;

/// Every metric, and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    jobs: Family<KindResult, Counter>,
    moved: Family<Kind, Counter>,
    durations: Durations,
    running: Family<Kind, Gauge>,
    host_up: Family<Host, Gauge>,
    last_export: Family<VmHost, Gauge<f64, AtomicU64>>,
    schedule_ok: Family<Schedule, Gauge>,
    schedule_last_run: Family<Schedule, Gauge<f64, AtomicU64>>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Schedule {
    schedule: String,
}

fn duration_histogram() -> Histogram {
    // 1 s to about 9 h.
    Histogram::new(exponential_buckets(1.0, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("kvm_clone");
        let jobs = Family::<KindResult, Counter>::default();
        registry.register("jobs", "Jobs ended, by kind and result", jobs.clone());
        let moved = Family::<Kind, Counter>::default();
        registry.register_with_unit(
            "moved",
            "Data bytes jobs moved (holes and zeros excluded)",
            Unit::Bytes,
            moved.clone(),
        );
        let durations: Durations = Family::new_with_constructor(duration_histogram);
        registry.register_with_unit(
            "job_duration",
            "How long ended jobs took, queue time excluded",
            Unit::Seconds,
            durations.clone(),
        );
        let running = Family::<Kind, Gauge>::default();
        registry.register(
            "jobs_running",
            "Jobs running or queued now",
            running.clone(),
        );
        let host_up = Family::<Host, Gauge>::default();
        registry.register(
            "host_up",
            "1 while the connection to the host is up",
            host_up.clone(),
        );
        let last_export = Family::<VmHost, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "last_export_success_timestamp_seconds",
            "When the VM's newest successful export ended (Unix time)",
            last_export.clone(),
        );
        let schedule_ok = Family::<Schedule, Gauge>::default();
        registry.register(
            "schedule_last_run_ok",
            "1 when the schedule's last run succeeded, 0 when it failed or was skipped",
            schedule_ok.clone(),
        );
        let schedule_last_run = Family::<Schedule, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "schedule_last_run_timestamp_seconds",
            "When the schedule's last run ended (Unix time)",
            schedule_last_run.clone(),
        );
        for kind in JobKind::ALL {
            running.get_or_create(&kind_label(kind)).set(0);
        }
        Metrics {
            registry,
            jobs,
            moved,
            durations,
            running,
            host_up,
            last_export,
            schedule_ok,
            schedule_last_run,
        }
    }

    /// The text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    fn host(&self, h: &HostView) {
        let up = matches!(h.state, ConnState::Up);
        self.host_up
            .get_or_create(&Host {
                host: h.name.clone(),
            })
            .set(i64::from(up));
    }

    /// The schedules' last ended runs.
    fn schedules(&self, list: &[crate::model::schedule::ScheduleView]) {
        use crate::model::schedule::RunResult;
        for s in list {
            let Some(run) = s.last.as_ref().filter(|r| r.result.is_some()) else {
                continue;
            };
            let label = Schedule {
                schedule: s.name.clone(),
            };
            let ok = run.result == Some(RunResult::Done);
            self.schedule_ok.get_or_create(&label).set(i64::from(ok));
            let ended = run.ended_ms.unwrap_or(run.started_ms) as f64 / 1000.0;
            self.schedule_last_run.get_or_create(&label).set(ended);
        }
    }

    fn exported(&self, vm: &str, host: &str, unix_secs: f64) {
        self.last_export
            .get_or_create(&VmHost {
                vm: vm.into(),
                host: host.into(),
            })
            .set(unix_secs);
    }
}

fn kind_label(kind: JobKind) -> Kind {
    Kind {
        kind: kind.label().into(),
    }
}

/// A job being watched: what its end is counted under.
struct Seen {
    kind: JobKind,
    started: Option<Instant>,
    bytes_done: u64,
    ended: bool,
}

/// The data bytes a job moved: its report's figure when it finished,
/// else what its progress had reached.
fn bytes_moved(result: &JobResult, seen: &Seen) -> u64 {
    match result {
        JobResult::Cloned(r) => r.bytes_moved,
        JobResult::Restored(r) => r.bytes_moved,
        JobResult::Exported(r) => r.totals.read_bytes,
        JobResult::Failed { .. } | JobResult::Cancelled => seen.bytes_done,
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Folds the event stream into `metrics` until the backend stops.
pub async fn follow(
    metrics: std::sync::Arc<Metrics>,
    mut events: UnboundedReceiver<Event>,
    data_dir: Option<PathBuf>,
) {
    if let Some(dir) = data_dir {
        seed_exports(&metrics, dir).await;
    }
    let mut jobs: HashMap<u64, Seen> = HashMap::new();
    while let Some(ev) = events.recv().await {
        match ev {
            Event::Snapshot(s) => {
                s.hosts.iter().for_each(|h| metrics.host(h));
                metrics.schedules(&s.schedules);
                for j in s.jobs.values() {
                    let mut seen = seen_of(&j.view, None);
                    seen.ended = j.result.is_some();
                    jobs.insert(j.view.id, seen);
                }
            }
            Event::Hosts(hosts) => hosts.iter().for_each(|h| metrics.host(h)),
            Event::Host(h) => metrics.host(&h),
            Event::Schedules(list) => metrics.schedules(&list),
            Event::Job(v) => {
                let started = jobs.get(&v.id).and_then(|s| s.started);
                let mut seen = seen_of(&v, started);
                if seen.started.is_none() && v.phase != crate::model::JobPhase::Queued {
                    seen.started = Some(Instant::now());
                }
                seen.ended = jobs.get(&v.id).is_some_and(|s| s.ended);
                jobs.insert(v.id, seen);
            }
            Event::JobDone { id, result } => {
                if let Some(seen) = jobs.get_mut(&id).filter(|s| !s.ended) {
                    seen.ended = true;
                    count_end(&metrics, seen, &result);
                }
            }
            Event::Stopped => break,
            _ => continue,
        }
        // Ended jobs are only kept to know they were counted.
        jobs.retain(|_, s| !s.ended || s.started.is_some_and(|t| t.elapsed().as_secs() < 3600));
        for kind in JobKind::ALL {
            let n = jobs.values().filter(|s| s.kind == kind && !s.ended).count();
            metrics
                .running
                .get_or_create(&kind_label(kind))
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

fn seen_of(v: &JobView, started: Option<Instant>) -> Seen {
    Seen {
        kind: v.kind,
        started,
        bytes_done: v.bytes_done(),
        ended: false,
    }
}

fn count_end(metrics: &Metrics, seen: &Seen, result: &JobResult) {
    let kind = kind_label(seen.kind);
    metrics
        .jobs
        .get_or_create(&KindResult {
            kind: kind.kind.clone(),
            result: super::result_label(result).into(),
        })
        .inc();
    metrics
        .moved
        .get_or_create(&kind)
        .inc_by(bytes_moved(result, seen));
    if let Some(t) = seen.started {
        metrics
            .durations
            .get_or_create(&kind)
            .observe(t.elapsed().as_secs_f64());
    }
    if let JobResult::Exported(r) = result {
        metrics.exported(&r.vm, &r.host, unix_now());
    }
}

/// Each VM's newest successful export from history.
async fn seed_exports(metrics: &Metrics, dir: PathBuf) {
    let read = tokio::task::spawn_blocking(move || {
        let db = crate::jobs::history::HistoryDb::open_file(&crate::jobs::history::db_file(&dir))?;
        db.last_successes(JobKind::Export)
    })
    .await;
    match read {
        Ok(Ok(rows)) => {
            for r in rows {
                metrics.exported(&r.vm, &r.host, r.ended_ms as f64 / 1000.0);
            }
        }
        Ok(Err(e)) => tracing::warn!("metrics: reading history: {e}"),
        Err(e) => tracing::warn!("metrics: reading history: {e}"),
    }
}

/// The scrape endpoint.
pub(super) async fn scrape(State(api): State<Api>) -> Response {
    match api.metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "encoding the metrics failed",
        ),
    }
}
