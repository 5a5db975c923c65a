//! What the job detail view shows beyond a [`JobView`](crate::model::JobView):
//! the request, phases with their times, the validation report, retries,
//! the rate over the last minute and the job's log. The backend sends it
//! as [`DetailUpdate`]s; front ends fold them with [`JobDetail::apply`].

use crate::model::{Checklist, CloneRequest, JobPhase};
use std::collections::VecDeque;

/// Rate samples kept: one a second over the last minute.
/// Lines kept per job; older lines are dropped (and counted).
pub const LINES_PER_JOB: usize = 2000;
pub const RATE_SAMPLES: usize = 60;
/// Retries kept per job (the count goes on).
pub const RETRIES_KEPT: usize = 50;

/// When a job entered a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PhaseStamp {
    pub phase: JobPhase,
    /// Unix time in milliseconds.
    pub at_ms: u64,
}

/// One reconnect of a disk's copy, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RetryNote {
    pub at_ms: u64,
    pub disk: String,
    /// 1 for the first retry of this disk's copy.
    pub attempt: u32,
    pub reason: String,
}

/// One update of a job's detail.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum DetailUpdate {
    /// What was asked, sent when the job is queued.
    Request(CloneRequest),
    Phase(PhaseStamp),
    /// The pre-flight checklist, once the job has checked.
    Checklist(Checklist),
    Retry(RetryNote),
    /// Sampled once a second while the job runs: the current rate and the
    /// average since copying began (bytes per second).
    Sample {
        rate: f64,
        average: Option<f64>,
    },
    /// New lines of the job's log.
    Log(Vec<String>),
    /// The job ended; the error message when it failed.
    Ended {
        message: Option<String>,
    },
}

/// Everything known about one job beyond its progress line.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JobDetail {
    pub request: Option<CloneRequest>,
    pub phases: Vec<PhaseStamp>,
    pub checklist: Option<Checklist>,
    /// The newest [`RETRIES_KEPT`], oldest first.
    pub retries: VecDeque<RetryNote>,
    pub retry_count: usize,
    /// The last [`RATE_SAMPLES`] rate samples, oldest first.
    pub rates: VecDeque<f64>,
    pub average_rate: Option<f64>,
    /// The newest [`LINES_PER_JOB`] log lines.
    pub log: VecDeque<String>,
    pub ended: bool,
    pub error: Option<String>,
}

impl JobDetail {
    pub fn apply(&mut self, update: DetailUpdate) {
        match update {
            DetailUpdate::Request(r) => self.request = Some(r),
            DetailUpdate::Phase(p) => {
                if self.phases.last().map(|l| l.phase) != Some(p.phase) {
                    self.phases.push(p);
                }
            }
            DetailUpdate::Checklist(c) => self.checklist = Some(c),
            DetailUpdate::Retry(r) => {
                self.retry_count += 1;
                push_bounded(&mut self.retries, r, RETRIES_KEPT);
            }
            DetailUpdate::Sample { rate, average } => {
                push_bounded(&mut self.rates, rate.max(0.0), RATE_SAMPLES);
                if average.is_some() {
                    self.average_rate = average;
                }
            }
            DetailUpdate::Log(lines) => {
                for l in lines {
                    push_bounded(&mut self.log, l, LINES_PER_JOB);
                }
            }
            DetailUpdate::Ended { message } => {
                self.ended = true;
                self.error = message;
            }
        }
    }

    /// When the job entered `phase`, if it did.
    pub fn entered(&self, phase: JobPhase) -> Option<u64> {
        self.phases
            .iter()
            .find(|p| p.phase == phase)
            .map(|p| p.at_ms)
    }
}

fn push_bounded<T>(q: &mut VecDeque<T>, item: T, cap: usize) {
    if q.len() == cap {
        q.pop_front();
    }
    q.push_back(item);
}

/// The average rate of a copy that began at `copy_start_ms` and has moved
/// `bytes` by `now_ms`; None before a second has passed.
pub fn average_rate(bytes: u64, copy_start_ms: Option<u64>, now_ms: u64) -> Option<f64> {
    let start = copy_start_ms?;
    let secs = now_ms.checked_sub(start)? as f64 / 1000.0;
    (secs >= 1.0).then(|| bytes as f64 / secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_keep_the_last_minute_and_the_latest_average() {
        let mut d = JobDetail::default();
        for i in 0..70 {
            let average = (i % 2 == 0).then_some(i as f64);
            d.apply(DetailUpdate::Sample {
                rate: i as f64,
                average,
            });
        }
        assert_eq!(d.rates.len(), RATE_SAMPLES);
        assert_eq!(d.rates.front(), Some(&10.0));
        assert_eq!(d.rates.back(), Some(&69.0));
        // The odd last sample had no average: the one before stays.
        assert_eq!(d.average_rate, Some(68.0));
    }

    #[test]
    fn phases_are_stamped_once_and_retries_counted_beyond_what_is_kept() {
        let mut d = JobDetail::default();
        for (phase, at_ms) in [
            (JobPhase::Queued, 1),
            (JobPhase::Validating, 2),
            (JobPhase::Validating, 3),
            (JobPhase::Copying, 4),
        ] {
            d.apply(DetailUpdate::Phase(PhaseStamp { phase, at_ms }));
        }
        assert_eq!(d.phases.len(), 3);
        assert_eq!(d.entered(JobPhase::Validating), Some(2));
        assert_eq!(d.entered(JobPhase::Done), None);
        for attempt in 1..=60 {
            d.apply(DetailUpdate::Retry(RetryNote {
                at_ms: 5,
                disk: "vda".into(),
                attempt,
                reason: "connection reset".into(),
            }));
        }
        assert_eq!(d.retry_count, 60);
        assert_eq!(d.retries.len(), RETRIES_KEPT);
        assert_eq!(d.retries.front().map(|r| r.attempt), Some(11));
        d.apply(DetailUpdate::Ended {
            message: Some("copying: gone".into()),
        });
        assert!(d.ended);
        assert_eq!(d.error.as_deref(), Some("copying: gone"));
    }

    #[test]
    fn average_needs_a_start_and_a_second() {
        assert_eq!(average_rate(100, None, 5000), None);
        assert_eq!(average_rate(100, Some(5000), 5500), None);
        assert_eq!(average_rate(100, Some(6000), 5000), None);
        assert_eq!(average_rate(3000, Some(1000), 4000), Some(1000.0));
    }
}
