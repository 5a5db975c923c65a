//! Turns a running job's updates into events: its progress as
//! [`Event::Job`], and for the detail view the phase changes with their
//! times, the checklist, the retries, and once a second (only while the job
//! runs) a rate sample and the new lines of its log.

use super::bus::EventBus;
use super::messages::{Event, JobResult};
use crate::jobs::log::{JobLogs, unix_ms};
use crate::jobs::progress::{Report, Update};
use crate::model::detail::{CopySpan, DetailUpdate, PhaseStamp};
use crate::model::{JobKind, JobPhase, JobView};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the rate is sampled and the log forwarded.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

pub(super) fn send(events: &EventBus, id: u64, update: DetailUpdate) {
    events.send(Event::JobDetail { id, update });
}

/// The view of any kind of job waiting in the queue.
pub(super) fn queued_view_of(
    (id, number): (u64, u32),
    kind: JobKind,
    vm: &str,
    from: &str,
    to: &str,
    position: usize,
) -> JobView {
    JobView {
        id,
        number,
        kind,
        vm: vm.into(),
        from: from.into(),
        to: to.into(),
        phase: JobPhase::Queued,
        disks: Vec::new(),
        rate_bytes_per_sec: 0.0,
        eta_secs: None,
        message: None,
        queue_position: Some(position),
    }
}

/// Ends a job that never ran, from its queued view: its last view,
/// detail and [`Event::JobDone`].
pub(super) fn unstarted_view(
    events: &EventBus,
    mut view: JobView,
    message: String,
    result: JobResult,
) {
    let id = view.id;
    view.phase = match result {
        JobResult::Cancelled => JobPhase::Cancelled,
        _ => JobPhase::Failed,
    };
    view.queue_position = None;
    if view.phase == JobPhase::Failed {
        view.message = Some(message.clone());
    }
    stamp(events, id, view.phase);
    events.send(Event::Job(view));
    send(
        events,
        id,
        DetailUpdate::Ended {
            message: Some(message),
        },
    );
    events.send(Event::JobDone { id, result });
}

/// Sends a phase change with the time it happened.
pub(super) fn stamp(events: &EventBus, id: u64, phase: JobPhase) {
    let at_ms = unix_ms();
    send(events, id, DetailUpdate::Phase(PhaseStamp { phase, at_ms }));
}

#[derive(Default)]
struct State {
    last: Option<JobView>,
    copy: CopySpan,
    log_cursor: u64,
}

pub(super) struct Watch {
    id: u64,
    number: u32,
    events: EventBus,
    state: Arc<Mutex<State>>,
    stop: CancellationToken,
    sampler: tokio::task::JoinHandle<()>,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Watch {
    /// Starts the once-a-second sampler; it ends with [`Watch::finish`].
    pub(super) fn start(id: u64, number: u32, events: EventBus) -> Watch {
        let state = Arc::new(Mutex::new(State::default()));
        let stop = CancellationToken::new();
        let sampler = {
            let (state, events, stop) = (state.clone(), events.clone(), stop.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(SAMPLE_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tick.tick() => sample(id, &state, &events),
                    }
                }
            })
        };
        Watch {
            id,
            number,
            events,
            state,
            stop,
            sampler,
        }
    }

    /// The callback the clone reports through. Every view leaves with the
    /// job's number: the job's own code (crate::jobs) knows only its id.
    pub(super) fn report(&self) -> Report {
        let (id, number) = (self.id, self.number);
        let (events, state) = (self.events.clone(), self.state.clone());
        Arc::new(move |u| match u {
            Update::View(mut v) => {
                v.number = number;
                let mut st = lock(&state);
                // Phase changes carry no disks: keep showing how far they got.
                if v.disks.is_empty()
                    && let Some(last) = &st.last
                {
                    v.disks = last.disks.clone();
                }
                let before = st.last.as_ref().map(|l| l.phase);
                let now = unix_ms();
                let done = (!v.disks.is_empty()).then(|| v.bytes_done());
                st.copy.observe(before, v.phase, done, now);
                if before != Some(v.phase) {
                    send(
                        &events,
                        id,
                        DetailUpdate::Phase(PhaseStamp {
                            phase: v.phase,
                            at_ms: now,
                        }),
                    );
                }
                st.last = Some(v.clone());
                drop(st);
                events.send(Event::Job(v));
            }
            Update::Checklist(c) => send(&events, id, DetailUpdate::Checklist(c)),
            Update::Retry(r) => send(&events, id, DetailUpdate::Retry(r)),
        })
    }

    /// Stops sampling, sends the last sample, log lines and the end. The
    /// job's last view always shows how it ended, whatever phase it stopped
    /// in (an export that failed its checks never reported a phase after
    /// "validating"), so no front end shows an ended job as running.
    /// Returns the copy phase, for the history row: the detail's last
    /// average comes from the same span, so the two agree.
    pub(super) async fn finish(self, result: &JobResult) -> CopySpan {
        let report = self.report();
        self.stop.cancel();
        let _ = self.sampler.await;
        let ended = match result {
            JobResult::Failed { .. } => JobPhase::Failed,
            JobResult::Cancelled => JobPhase::Cancelled,
            JobResult::Cloned(_) | JobResult::Exported(_) | JobResult::Restored(_) => {
                JobPhase::Done
            }
        };
        let last = lock(&self.state).last.clone();
        if let Some(mut v) = last.filter(|v| v.phase != ended) {
            v.phase = ended;
            v.message = result.error_message();
            v.rate_bytes_per_sec = 0.0;
            v.eta_secs = None;
            report(Update::View(v));
        }
        sample(self.id, &self.state, &self.events);
        let message = result.error_message();
        send(&self.events, self.id, DetailUpdate::Ended { message });
        lock(&self.state).copy
    }
}

fn sample(id: u64, state: &Mutex<State>, events: &EventBus) {
    let update = {
        let st = lock(state);
        st.last.as_ref().map(|v| {
            let rate = if v.phase == JobPhase::Copying {
                v.rate_bytes_per_sec
            } else {
                0.0
            };
            let average = st.copy.average(unix_ms());
            DetailUpdate::Sample { rate, average }
        })
    };
    if let Some(u) = update {
        send(events, id, u);
    }
    forward_log(id, state, events);
}

fn forward_log(id: u64, state: &Mutex<State>, events: &EventBus) {
    let mut st = lock(state);
    let (lines, next) = JobLogs::global().since(id, st.log_cursor);
    st.log_cursor = next;
    drop(st);
    if !lines.is_empty() {
        send(events, id, DetailUpdate::Log(lines));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::JobKind;

    /// Job 11 (#4) watched, the events it sends, and a view of it copying.
    fn copying() -> (Watch, tokio::sync::mpsc::UnboundedReceiver<Event>, JobView) {
        let bus = EventBus::new();
        let rx = bus.attach();
        let watch = Watch::start(11, 4, bus);
        let mut view = queued_view_of((11, 0), JobKind::Clone, "web01", "alpha", "beta", 1);
        view.phase = JobPhase::Copying;
        (watch, rx, view)
    }

    /// The job's code knows only its id: its views leave with the number.
    #[tokio::test]
    async fn every_view_of_a_running_job_carries_its_number() {
        let (watch, mut rx, view) = copying();
        (watch.report())(Update::View(view));
        watch.finish(&JobResult::Cancelled).await;
        let views: Vec<(u32, JobPhase)> = std::iter::from_fn(|| rx.try_recv().ok())
            .filter_map(|ev| match ev {
                Event::Job(v) => Some((v.number, v.phase)),
                _ => None,
            })
            .collect();
        assert_eq!(views, [(4, JobPhase::Copying), (4, JobPhase::Cancelled)]);
    }

    /// Issue 14: the detail's last average and the history row's come from
    /// the one copy span `finish` returns, whatever phases follow the copy.
    #[tokio::test]
    async fn the_last_average_is_the_copy_span_s() {
        let (watch, mut rx, mut view) = copying();
        view.disks = vec![crate::model::DiskProgress {
            target: "vda".into(),
            bytes_done: 0,
            bytes_total: 4096,
        }];
        (watch.report())(Update::View(view.clone()));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        view.disks[0].bytes_done = 4096;
        (watch.report())(Update::View(view.clone()));
        // Verifying re-reads: its bytes are no copy.
        view.phase = JobPhase::Verifying;
        view.disks[0].bytes_done = 10;
        (watch.report())(Update::View(view));
        let span = watch.finish(&JobResult::Cancelled).await;
        assert_eq!(span.bytes, 4096);
        let end = span.end_ms.expect("the copy ended");
        let last = std::iter::from_fn(|| rx.try_recv().ok())
            .filter_map(|ev| match ev {
                Event::JobDetail {
                    update: DetailUpdate::Sample { average, .. },
                    ..
                } => Some(average),
                _ => None,
            })
            .last()
            .flatten();
        assert!(last.is_some());
        assert_eq!(last, span.average(end));
    }
}
