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

/// A job's copy phase, the one source of its average rate (docs/history.md):
/// bytes copied (the progress of the last view while copying) over the
/// time from entering the copy phase to leaving it. The job detail, the
/// history row and the history statistics all read it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopySpan {
    /// Unix milliseconds the job first entered [`JobPhase::Copying`].
    pub start_ms: Option<u64>,
    /// When it last left it; None while copying.
    pub end_ms: Option<u64>,
    pub bytes: u64,
}

impl CopySpan {
    /// Takes in a progress view of `phase` with `bytes_done` (None: the view
    /// carries no disks), seen at `now_ms` after `before`.
    pub fn observe(
        &mut self,
        before: Option<JobPhase>,
        phase: JobPhase,
        bytes_done: Option<u64>,
        now_ms: u64,
    ) {
        if phase == JobPhase::Copying {
            self.start_ms.get_or_insert(now_ms);
            self.end_ms = None;
            if let Some(b) = bytes_done {
                self.bytes = b;
            }
        } else if before == Some(JobPhase::Copying) {
            self.end_ms = Some(now_ms);
        }
    }

    /// How long the copy took, or has taken by `now_ms`; None if it never began.
    pub fn duration_ms(&self, now_ms: u64) -> Option<u64> {
        let start = self.start_ms?;
        Some(self.end_ms.unwrap_or(now_ms).saturating_sub(start))
    }

    /// Bytes copied over [`Self::duration_ms`], per second. While copying,
    /// None before a second (an early figure is noise); once the copy
    /// ended, its exact figure however short it was.
    pub fn average(&self, now_ms: u64) -> Option<f64> {
        match self.end_ms {
            None => average_rate(self.bytes, self.start_ms, now_ms),
            Some(end) => {
                let ms = end.checked_sub(self.start_ms?)?;
                (ms > 0).then(|| self.bytes as f64 * 1000.0 / ms as f64)
            }
        }
    }
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

    /// Issue 14: the average must cover the copy phase only, with the bytes
    /// the copy reached, whatever later phases report.
    #[test]
    fn copy_span_covers_the_copy_phase_only() {
        let mut c = CopySpan::default();
        c.observe(None, JobPhase::Validating, Some(0), 1_000);
        assert_eq!((c.duration_ms(5_000), c.average(5_000)), (None, None));
        c.observe(
            Some(JobPhase::Validating),
            JobPhase::Copying,
            Some(0),
            2_000,
        );
        c.observe(
            Some(JobPhase::Copying),
            JobPhase::Copying,
            Some(3_000),
            4_000,
        );
        assert_eq!(c.average(5_000), Some(1_000.0), "running: until now");
        c.observe(
            Some(JobPhase::Copying),
            JobPhase::Copying,
            Some(8_000),
            6_000,
        );
        // A phase change without disks keeps the bytes; verifying re-reads.
        c.observe(Some(JobPhase::Copying), JobPhase::Verifying, None, 6_000);
        c.observe(
            Some(JobPhase::Verifying),
            JobPhase::Verifying,
            Some(99),
            60_000,
        );
        assert_eq!(c.duration_ms(90_000), Some(4_000));
        assert_eq!(c.average(90_000), Some(2_000.0));
        assert_eq!(c.bytes, 8_000);
        // A copy that ended within a second still has its figure.
        let quick = CopySpan {
            start_ms: Some(1_000),
            end_ms: Some(1_250),
            bytes: 1_000,
        };
        assert_eq!(quick.average(9_000), Some(4_000.0));
        let instant = CopySpan {
            end_ms: Some(1_000),
            ..quick
        };
        assert_eq!(instant.average(9_000), None);
    }

    #[test]
    fn average_needs_a_start_and_a_second() {
        assert_eq!(average_rate(100, None, 5000), None);
        assert_eq!(average_rate(100, Some(5000), 5500), None);
        assert_eq!(average_rate(100, Some(6000), 5000), None);
        assert_eq!(average_rate(3000, Some(1000), 4000), Some(1000.0));
    }
}
