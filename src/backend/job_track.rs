//! What every job run by the backend does around its work, whatever its
//! kind: a history row when it starts, progress and detail as events, a
//! record of its phases for the row, and at the end the row's completion
//! (with the job's log), the webhook and [`Event::JobDone`].

use super::bus::EventBus;
use super::history_feed::HistoryFeed;
use super::job_record::JobRecord;
use super::job_watch::Watch;
use super::messages::{Event, JobResult};
use crate::jobs::history::{Finish, NewJob};
use crate::jobs::log::JobLogs;
use crate::jobs::progress::{Report, Update};
use crate::notify::webhook::Notice;
use std::sync::{Arc, Mutex};

pub(super) struct Tracking {
    id: u64,
    job: NewJob,
    clock: std::time::Instant,
    watch: Watch,
    record: Arc<Mutex<JobRecord>>,
    row: Option<u64>,
    history: HistoryFeed,
    events: EventBus,
}

impl Tracking {
    /// Starts watching job `job.job` (numbered `number`) and writes its
    /// history row, with `first` as the row's first log line.
    pub(super) async fn start(
        job: NewJob,
        number: u32,
        first: String,
        events: EventBus,
        history: HistoryFeed,
    ) -> Tracking {
        let id = job.job;
        let watch = Watch::start(id, number, events.clone());
        let record = Arc::new(Mutex::new(JobRecord::default()));
        let t = Tracking {
            id,
            clock: std::time::Instant::now(),
            watch,
            record,
            row: None,
            history,
            events,
            job,
        };
        t.note(first);
        let row = t.history.start(t.job.clone()).await;
        Tracking { row, ..t }
    }

    /// Adds a line to the history row's log.
    pub(super) fn note(&self, text: String) {
        self.record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .note(text);
    }

    /// Data bytes done at the last progress report.
    pub(super) fn bytes_done(&self) -> u64 {
        self.record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .bytes_done
    }

    /// The callback the job reports through; the record sees every view
    /// too, for the history row's summary lines.
    pub(super) fn report(&self) -> Report {
        let (forward, seen) = (self.watch.report(), self.record.clone());
        Arc::new(move |u: Update| {
            if let Update::View(v) = &u {
                seen.lock().unwrap_or_else(|p| p.into_inner()).observe(v);
            }
            forward(u);
        })
    }

    /// Ends the job: webhook, last detail, the history row with the log,
    /// then [`Event::JobDone`]. History failures are logged, never fatal.
    pub(super) async fn end(self, fin: Finish, result: JobResult, webhook_url: Option<String>) {
        let job = &self.job;
        crate::notify::job_finished(
            webhook_url,
            Notice {
                kind: job.kind,
                job_id: self.id,
                vm: job.vm.clone(),
                from: job.from.clone(),
                to: job.to.clone(),
                profile: job.profile.clone(),
                result: fin.result.label().into(),
                duration_secs: self.clock.elapsed().as_secs_f64(),
                bytes: fin.bytes_moved,
                error: fin.error.clone(),
            },
        );
        let fin = Finish {
            copy: self.watch.finish(&result).await,
            ..fin
        };
        // The row keeps the summary lines, then everything the job logged.
        let mut log = self
            .record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .lines();
        log.extend(JobLogs::global().take(self.id));
        self.history.finish(self.row, fin, log).await;
        self.events.send(Event::JobDone {
            id: self.id,
            result,
        });
    }
}
