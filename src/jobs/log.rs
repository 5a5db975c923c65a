//! Per-job logs: a tracing layer that copies every event emitted inside a
//! `job` span (`tracing::info_span!("job", id = 42)`) into that job's
//! bounded buffer. Code deep in the pipeline or the remote helpers logs as
//! usual and its lines land in the right job, with no handle passed down.
//!
//! Events in tasks spawned by a job belong to it only when the task is
//! instrumented with the job's span (`.in_current_span()`).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Name of the span that marks a job; its `id` field is the job id.
pub const JOB_SPAN: &str = "job";
pub use crate::model::detail::LINES_PER_JOB;
/// Jobs whose logs are kept; the oldest (lowest id) is dropped first.
pub const JOBS_KEPT: usize = 64;

#[derive(Debug, Default)]
struct Buffer {
    lines: VecDeque<String>,
    /// Lines ever pushed; the index of the next line.
    total: u64,
}

#[derive(Debug)]
struct Inner {
    jobs: BTreeMap<u64, Buffer>,
    per_job: usize,
    max_jobs: usize,
}

/// The job logs the layer writes into. Cloning shares the store.
#[derive(Debug, Clone)]
pub struct JobLogs {
    inner: Arc<Mutex<Inner>>,
}

impl JobLogs {
    pub fn new(per_job: usize, max_jobs: usize) -> JobLogs {
        JobLogs {
            inner: Arc::new(Mutex::new(Inner {
                jobs: BTreeMap::new(),
                per_job: per_job.max(1),
                max_jobs: max_jobs.max(1),
            })),
        }
    }

    /// The process-wide store: what the binary's layer writes and the backend reads.
    pub fn global() -> &'static JobLogs {
        static GLOBAL: OnceLock<JobLogs> = OnceLock::new();
        GLOBAL.get_or_init(|| JobLogs::new(LINES_PER_JOB, JOBS_KEPT))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves whole lines only; keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn push(&self, id: u64, line: String) {
        let mut inner = self.lock();
        let per_job = inner.per_job;
        let buf = inner.jobs.entry(id).or_default();
        if buf.lines.len() == per_job {
            buf.lines.pop_front();
        }
        buf.lines.push_back(line);
        buf.total += 1;
        while inner.jobs.len() > inner.max_jobs {
            inner.jobs.pop_first();
        }
    }

    /// Lines from index `cursor` on that are still kept, and the next cursor.
    /// Lines dropped before they were read are skipped.
    pub fn since(&self, id: u64, cursor: u64) -> (Vec<String>, u64) {
        let inner = self.lock();
        let Some(buf) = inner.jobs.get(&id) else {
            return (Vec::new(), cursor);
        };
        let first = buf.total - buf.lines.len() as u64;
        let skip = cursor.saturating_sub(first) as usize;
        (buf.lines.iter().skip(skip).cloned().collect(), buf.total)
    }

    /// The job's whole kept log, removed from the store (for its history row).
    pub fn take(&self, id: u64) -> Vec<String> {
        self.lock()
            .jobs
            .remove(&id)
            .map(|b| b.lines.into())
            .unwrap_or_default()
    }
}

/// The tracing layer; add it to the subscriber next to the file logger.
#[derive(Debug, Clone)]
pub struct JobLogLayer {
    logs: JobLogs,
}

impl JobLogLayer {
    pub fn new(logs: JobLogs) -> JobLogLayer {
        JobLogLayer { logs }
    }

    /// A layer writing into [`JobLogs::global`].
    pub fn global() -> JobLogLayer {
        JobLogLayer::new(JobLogs::global().clone())
    }
}

/// The job id a `job` span carries, kept in the span's extensions.
struct JobId(u64);

struct IdVisitor(Option<u64>);

impl Visit for IdVisitor {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "id" {
            self.0 = Some(value);
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "id" {
            self.0 = u64::try_from(value).ok();
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

/// `message` first, then `key=value` for the other fields.
#[derive(Default)]
struct LineVisitor {
    message: String,
    fields: String,
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

pub use crate::model::format::clock;

pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl<S> Layer<S> for JobLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != JOB_SPAN {
            return;
        }
        let mut v = IdVisitor(None);
        attrs.record(&mut v);
        if let (Some(job), Some(span)) = (v.0, ctx.span(id)) {
            span.extensions_mut().insert(JobId(job));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        // The innermost job span: a job started from inside another job's
        // span logs to itself.
        let Some(job) = scope
            .into_iter()
            .find_map(|span| span.extensions().get::<JobId>().map(|j| j.0))
        else {
            return;
        };
        let mut v = LineVisitor::default();
        event.record(&mut v);
        let line = format!(
            "{} {:<5} {}{}",
            clock(unix_ms()),
            event.metadata().level(),
            v.message,
            v.fields
        );
        self.logs.push(job, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    fn with_layer(logs: &JobLogs, f: impl FnOnce()) {
        let sub = tracing_subscriber::registry().with(JobLogLayer::new(logs.clone()));
        tracing::subscriber::with_default(sub, f);
    }

    /// The text after the clock.
    fn text(line: &str) -> &str {
        line.get(9..).unwrap_or(line)
    }

    #[test]
    fn nested_spans_log_to_their_job_and_nothing_else_does() {
        let logs = JobLogs::new(100, 10);
        with_layer(&logs, || {
            tracing::info!("outside any job");
            let a = tracing::info_span!("job", id = 1u64);
            let b = tracing::info_span!("job", id = 2u64);
            a.in_scope(|| {
                tracing::info!(disk = "vda", "copy started");
                let step = tracing::debug_span!("pipeline", offset = 4096);
                step.in_scope(|| tracing::warn!("retry {} in 1s", 1));
            });
            b.in_scope(|| tracing::error!("other job"));
            // A job started from inside job 1's span logs to itself.
            a.in_scope(|| {
                tracing::info_span!("job", id = 3u64).in_scope(|| tracing::info!("inner job"))
            });
        });
        let one = logs.take(1);
        let texts: Vec<&str> = one.iter().map(|l| text(l)).collect();
        assert_eq!(
            texts,
            ["INFO  copy started disk=vda", "WARN  retry 1 in 1s"]
        );
        assert_eq!(logs.take(2).len(), 1);
        assert_eq!(
            logs.take(3).iter().map(|l| text(l)).collect::<Vec<_>>(),
            ["INFO  inner job"]
        );
        assert!(logs.take(1).is_empty(), "take removes the log");
        assert!(logs.take(99).is_empty());
    }

    #[test]
    fn lines_are_bounded_and_a_cursor_skips_what_was_dropped() {
        let logs = JobLogs::new(3, 2);
        with_layer(&logs, || {
            let span = tracing::info_span!("job", id = 7u64);
            let _g = span.enter();
            for i in 0..5 {
                tracing::info!("line {i}");
            }
        });
        let (lines, next) = logs.since(7, 0);
        assert_eq!(next, 5);
        let texts: Vec<&str> = lines.iter().map(|l| text(l)).collect();
        assert_eq!(texts, ["INFO  line 2", "INFO  line 3", "INFO  line 4"]);
        let (lines, next) = logs.since(7, 4);
        assert_eq!((lines.len(), next), (1, 5));
        assert_eq!(logs.since(7, 5).0.len(), 0);
        // Only the newest jobs are kept.
        logs.push(8, "a".into());
        logs.push(9, "b".into());
        assert!(logs.since(7, 0).0.is_empty());
        assert_eq!(logs.take(9), ["b"]);
    }

    #[test]
    fn clock_is_utc_time_of_day() {
        assert_eq!(clock(0), "00:00:00");
        assert_eq!(
            clock((86_400 + 3_600 * 14 + 3 * 60 + 7) * 1000 + 999),
            "14:03:07"
        );
    }
}
