//! The copy phase of clone and restore.

use super::{CopyTotals, Endpoint, OpenSource};
use crate::config::profile::Profile;
use crate::jobs::error::{JobError, step};
use crate::jobs::preflight::TargetPlan;
use crate::jobs::progress::{Report, Update};
use crate::model::{JobPhase, JobView};
use crate::pipeline::{
    BlockError, CopyJob, CopyOptions, Digest, NbdSink, NbdSource, Progress, RetryPolicy, Throttle,
};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The copy phase of a job (clone or restore): every disk at once under
/// one bandwidth limit, progress 4 times a second, then the read-back.
pub struct Copier<'a> {
    pub profile: &'a Profile,
    pub cancel: &'a CancellationToken,
    pub report: Report,
    /// The job's view; the copy sets its phase, disks and rate.
    pub base: JobView,
    /// The job's tag, for the log.
    pub tag: &'a str,
}

impl Copier<'_> {
    fn phase(&self, phase: JobPhase) {
        tracing::info!(job = %self.tag, ?phase, "{} phase", self.base.kind);
        let mut v = self.base.clone();
        v.phase = phase;
        (self.report)(Update::View(v));
    }

    /// Copies each disk from its source to its sink, reporting progress,
    /// and verifies by reading the copies back when the profile asks.
    pub(crate) async fn copy_all<O: OpenSource>(
        &self,
        plan: &TargetPlan,
        sources: &[O],
        sinks: &[Endpoint],
    ) -> Result<CopyTotals, JobError> {
        let profile = self.profile;
        let throttle = Throttle::from_limit(profile.bandwidth_limit);
        let connections = usize::from(profile.connections);
        let opts = CopyOptions {
            hash: profile.verify,
            // Requests in flight per connection, over every connection.
            workers: profile.copy_workers(),
            retry: RetryPolicy {
                attempts: profile.retry.attempts.saturating_sub(1),
                initial: profile.retry.initial,
                max: profile.retry.max,
                ..RetryPolicy::default()
            },
            ..CopyOptions::default()
        };
        let progress: Vec<Arc<Progress>> = plan
            .disks
            .iter()
            .map(|_| Arc::new(Progress::new()))
            .collect();
        self.phase(JobPhase::Copying);
        let stop_ticker = CancellationToken::new();
        let ticker = self.spawn_ticker(plan, &progress, JobPhase::Copying, stop_ticker.clone());
        // Stops the ticker too if this future is dropped midway.
        let _stop_on_drop = stop_ticker.clone().drop_guard();
        let copies = plan.disks.iter().enumerate().map(|(i, _)| {
            let (from, to) = (sources[i].clone(), sinks[i].clone());
            let job = CopyJob::new(CopyOptions {
                window: from.window(),
                ..opts.clone()
            })
            .with_progress(progress[i].clone())
            .with_throttle(throttle.clone())
            .with_cancel(self.cancel.child_token());
            async move {
                let pair = || {
                    let (from, to) = (from.clone(), to.clone());
                    async move {
                        let s = from.open(connections).await?;
                        let k = NbdSink::new(to.pool(connections, true).await?, true);
                        Ok::<_, BlockError>((s, k))
                    }
                };
                let (s, k) = pair().await.map_err(step("connecting NBD"))?;
                let out = job.run(s, k, pair).await.map_err(|e| match e {
                    crate::pipeline::CopyError::Cancelled => JobError::Cancelled,
                    other => JobError::Step {
                        step: "copying",
                        message: other.to_string(),
                    },
                })?;
                Ok::<_, JobError>((job, out, to))
            }
        });
        let results = futures::future::join_all(copies).await;
        // One last report, so the final bytes and any late retry are seen.
        stop_ticker.cancel();
        let _ = ticker.await;
        let mut done = Vec::new();
        for r in results {
            done.push(r?);
        }
        let mut totals = CopyTotals::default();
        for ((_, out, _), disk) in done.iter().zip(&plan.disks) {
            totals.moved += out.stats.bytes_written;
            totals.stored += out.stats.bytes_stored();
            totals.skipped += disk.capacity_bytes.saturating_sub(out.stats.bytes_stored());
            totals.retries += out.retries;
        }
        if !profile.verify {
            for (_, out, _) in &done {
                let _ = out.sink.pool().close().await;
                O::close(&out.source).await;
            }
            return Ok(totals);
        }
        // The read-back gets progress of its own, so the jobs pane shows
        // its bytes, rate and ETA instead of a finished copy's; its ticker's
        // first view (at once, from 0) enters the phase.
        tracing::info!(job = %self.tag, phase = ?JobPhase::Verifying, "{} phase", self.base.kind);
        let readback: Vec<Arc<Progress>> = plan
            .disks
            .iter()
            .map(|_| Arc::new(Progress::new()))
            .collect();
        let stop_ticker = CancellationToken::new();
        let ticker = self.spawn_ticker(plan, &readback, JobPhase::Verifying, stop_ticker.clone());
        let _stop_on_drop = stop_ticker.clone().drop_guard();
        for (i, (job, out, to)) in done.iter().enumerate() {
            let expected: Option<Digest> = out.digest;
            let to = to.clone();
            let reread = || {
                let to = to.clone();
                async move { Ok::<_, BlockError>(NbdSource::new(to.pool(connections, true).await?)) }
            };
            let got = job
                .clone()
                .with_progress(readback[i].clone())
                .digest(out.sink.as_source(), reread)
                .await
                .map_err(step("verifying"))?;
            if Some(got) != expected {
                return Err(JobError::Step {
                    step: "verifying",
                    message: format!(
                        "disk {}: the copy's BLAKE3 digest {got} differs from the source's {}",
                        plan.disks[i].target,
                        expected.map(|d| d.to_string()).unwrap_or_default()
                    ),
                });
            }
            let _ = out.sink.pool().close().await;
            O::close(&out.source).await;
        }
        stop_ticker.cancel();
        let _ = ticker.await;
        totals.verified = true;
        Ok(totals)
    }

    fn spawn_ticker(
        &self,
        plan: &TargetPlan,
        progress: &[Arc<Progress>],
        phase: JobPhase,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let mut base = self.base.clone();
        base.phase = phase;
        let targets = plan.disks.iter().map(|d| d.target.clone()).collect();
        super::ticker::spawn(base, targets, progress.to_vec(), self.report.clone(), stop)
    }
}
