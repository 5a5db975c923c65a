//! The progress ticker every copying job runs: each disk's pipeline
//! [`Progress`] sampled 4 times a second into the job's view (bytes, rate,
//! ETA), and each retry reported as it happens.

use crate::jobs::progress::{Report, Update};
use crate::model::detail::RetryNote;
use crate::model::{DiskProgress, JobView};
use crate::pipeline::{Progress, RateEstimator};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Sends `base` with the disks' progress until `stop`, then once more so
/// the final bytes and any late retry are seen. `targets` and `progress`
/// pair up, a disk each.
pub fn spawn(
    base: JobView,
    targets: Vec<String>,
    progress: Vec<Arc<Progress>>,
    report: Report,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    use tracing::Instrument;
    let task = async move {
        let mut rate = RateEstimator::new(Duration::from_secs(3));
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut seen = vec![0u32; targets.len()];
        loop {
            let last = tokio::select! {
                _ = tick.tick() => false,
                _ = stop.cancelled() => true,
            };
            for ((t, p), seen) in targets.iter().zip(&progress).zip(&mut seen) {
                for e in p.retries_after(*seen) {
                    *seen = e.seq;
                    report(Update::Retry(RetryNote {
                        at_ms: e.at_ms,
                        disk: t.clone(),
                        attempt: e.attempt,
                        reason: e.reason,
                    }));
                }
            }
            let disks: Vec<DiskProgress> = targets
                .iter()
                .zip(&progress)
                .map(|(t, p)| {
                    let s = p.snapshot();
                    DiskProgress {
                        target: t.clone(),
                        bytes_done: s.bytes_done,
                        bytes_total: s.bytes_total,
                    }
                })
                .collect();
            let done: u64 = disks.iter().map(|d| d.bytes_done).sum();
            let total: u64 = disks.iter().map(|d| d.bytes_total).sum();
            rate.update(Instant::now(), done);
            let mut v = base.clone();
            v.disks = disks;
            v.rate_bytes_per_sec = rate.rate().unwrap_or(0.0);
            v.eta_secs = rate.eta(done, total).map(|d| d.as_secs());
            report(Update::View(v));
            if last {
                break;
            }
        }
    };
    // In the job's span, so its lines land in the job's log.
    tokio::spawn(task.in_current_span())
}
