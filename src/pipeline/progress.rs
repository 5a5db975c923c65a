//! Progress accounting: lock-free counters a UI samples as often as it
//! likes, and a rate/ETA estimator for the consumer side.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Live counters of one copy (one disk). Share it in an `Arc`; reading is
/// a handful of relaxed atomic loads.
#[derive(Debug, Default)]
pub struct Progress {
    bytes_total: AtomicU64,
    bytes_done: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    bytes_zeroed: AtomicU64,
    bytes_found_zero: AtomicU64,
    retries: AtomicU32,
    buffered: AtomicU64,
    buffered_max: AtomicU64,
    /// The newest reconnects with their reasons, for a job's detail view.
    retry_log: Mutex<VecDeque<RetryEvent>>,
}

/// Retry events kept per copy; the `retries` counter goes on.
const RETRY_EVENTS_KEPT: usize = 32;

/// One reconnect of a copy, and the failure that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryEvent {
    /// 1-based count of retries on this [`Progress`], across runs.
    pub seq: u32,
    /// Unix time in milliseconds.
    pub at_ms: u64,
    /// The attempt number within its run (1 for its first retry).
    pub attempt: u32,
    pub reason: String,
}

/// One consistent-enough reading of [`Progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProgressSnapshot {
    /// Bytes to move: the sum of the source's data extents (0 until the
    /// map has been scanned).
    pub bytes_total: u64,
    /// Data bytes written and still counted as done. It can step back
    /// after a failure, by what was written since the last flush.
    pub bytes_done: u64,
    /// Data bytes read from the source, re-reads included.
    pub bytes_read: u64,
    /// Data bytes written to the sink, re-writes after a resume included.
    pub bytes_written: u64,
    /// Bytes zeroed with WRITE_ZEROES (never sent as data).
    pub bytes_zeroed: u64,
    /// Bytes of the map's data extents that read as all zeros: counted in
    /// `bytes_done` (they are settled) but never written as data.
    pub bytes_found_zero: u64,
    /// Reconnect attempts so far.
    pub retries: u32,
    /// Data buffers held by the engine right now, and at most so far.
    pub buffered: u64,
    pub buffered_max: u64,
}

impl ProgressSnapshot {
    /// Bytes written more than once (re-copied after a resume).
    pub fn recopied(&self) -> u64 {
        self.bytes_written.saturating_sub(self.bytes_stored())
    }

    /// Data bytes the sink holds: settled data that was not zeros.
    pub fn bytes_stored(&self) -> u64 {
        self.bytes_done.saturating_sub(self.bytes_found_zero)
    }

    /// `bytes_done / bytes_total` in `0.0..=1.0` (1.0 for an empty disk).
    pub fn fraction(&self) -> f64 {
        if self.bytes_total == 0 {
            1.0
        } else {
            (self.bytes_done as f64 / self.bytes_total as f64).min(1.0)
        }
    }
}

impl Progress {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            bytes_total: self.bytes_total.load(Relaxed),
            bytes_done: self.bytes_done.load(Relaxed),
            bytes_read: self.bytes_read.load(Relaxed),
            bytes_written: self.bytes_written.load(Relaxed),
            bytes_zeroed: self.bytes_zeroed.load(Relaxed),
            bytes_found_zero: self.bytes_found_zero.load(Relaxed),
            retries: self.retries.load(Relaxed),
            buffered: self.buffered.load(Relaxed),
            buffered_max: self.buffered_max.load(Relaxed),
        }
    }

    pub(crate) fn set_total(&self, n: u64) {
        self.bytes_total.store(n, Relaxed);
    }
    pub(crate) fn set_done(&self, n: u64, found_zero: u64) {
        self.bytes_done.store(n, Relaxed);
        self.bytes_found_zero.store(found_zero, Relaxed);
    }
    pub(crate) fn add_read(&self, n: u64) {
        self.bytes_read.fetch_add(n, Relaxed);
    }
    pub(crate) fn add_written(&self, n: u64) {
        self.bytes_written.fetch_add(n, Relaxed);
        self.bytes_done.fetch_add(n, Relaxed);
    }
    pub(crate) fn add_zeroed(&self, n: u64) {
        self.bytes_zeroed.fetch_add(n, Relaxed);
    }
    pub(crate) fn add_found_zero(&self, n: u64) {
        self.bytes_found_zero.fetch_add(n, Relaxed);
        self.bytes_done.fetch_add(n, Relaxed);
    }
    pub(crate) fn add_retry(&self, attempt: u32, reason: String) {
        let seq = self.retries.fetch_add(1, Relaxed) + 1;
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut log = self.retry_log.lock().unwrap_or_else(|p| p.into_inner());
        if log.len() == RETRY_EVENTS_KEPT {
            log.pop_front();
        }
        log.push_back(RetryEvent {
            seq,
            at_ms,
            attempt,
            reason,
        });
    }

    /// Kept retry events with `seq` greater than `after`, oldest first.
    pub fn retries_after(&self, after: u32) -> Vec<RetryEvent> {
        let log = self.retry_log.lock().unwrap_or_else(|p| p.into_inner());
        log.iter().filter(|e| e.seq > after).cloned().collect()
    }

    /// Counts `n` bytes of buffer until the lease is dropped.
    pub(crate) fn lease(&self, n: u64) -> BufferLease<'_> {
        let now = self.buffered.fetch_add(n, Relaxed) + n;
        self.buffered_max.fetch_max(now, Relaxed);
        BufferLease { progress: self, n }
    }
}

/// A data buffer the engine holds, counted in [`Progress`].
#[derive(Debug)]
pub(crate) struct BufferLease<'a> {
    progress: &'a Progress,
    n: u64,
}

impl Drop for BufferLease<'_> {
    fn drop(&mut self) {
        self.progress.buffered.fetch_sub(self.n, Relaxed);
    }
}

/// Smoothed transfer rate and ETA from periodic `bytes_done` samples.
///
/// Only the bytes moved *between* samples count, so a job resumed with
/// half its data already done does not claim a huge rate, and a step back
/// in `bytes_done` (a rollback after a reconnect) re-bases instead of
/// producing a negative rate. The rate is an exponential moving average
/// with time constant `tau`; stalls pull it down as they should.
#[derive(Debug, Clone)]
pub struct RateEstimator {
    tau: Duration,
    last: Option<(Instant, u64)>,
    rate: Option<f64>,
    /// Time the rate has been measured over: no ETA before it settles.
    observed: Duration,
}

/// An ETA is shown only once the rate was measured over this long (or
/// `tau`, when shorter): the first samples of a copy are its start-up, and
/// an ETA from them was minutes off for a 37 s job.
const ETA_SETTLE: Duration = Duration::from_secs(3);

impl Default for RateEstimator {
    fn default() -> Self {
        Self::new(Duration::from_secs(5))
    }
}

impl RateEstimator {
    pub fn new(tau: Duration) -> Self {
        Self {
            tau: tau.max(Duration::from_millis(1)),
            last: None,
            rate: None,
            observed: Duration::ZERO,
        }
    }

    /// Feeds a sample; returns the smoothed rate in bytes per second once
    /// two samples are known.
    pub fn update(&mut self, now: Instant, bytes_done: u64) -> Option<f64> {
        match self.last {
            None => self.last = Some((now, bytes_done)),
            Some((t, b)) => {
                let dt = now.saturating_duration_since(t).as_secs_f64();
                if bytes_done < b {
                    self.last = Some((now, bytes_done));
                } else if dt > 0.0 {
                    self.observed += now.saturating_duration_since(t);
                    let inst = (bytes_done - b) as f64 / dt;
                    let alpha = 1.0 - (-dt / self.tau.as_secs_f64()).exp();
                    self.rate = Some(match self.rate {
                        None => inst,
                        Some(r) => r + alpha * (inst - r),
                    });
                    self.last = Some((now, bytes_done));
                }
            }
        }
        self.rate
    }

    /// Bytes per second, once known.
    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// Time left for `bytes_total - bytes_done` at the current rate; None
    /// until the rate has settled ([`ETA_SETTLE`]).
    pub fn eta(&self, bytes_done: u64, bytes_total: u64) -> Option<Duration> {
        let left = bytes_total.saturating_sub(bytes_done);
        if left == 0 {
            return Some(Duration::ZERO);
        }
        if self.observed < ETA_SETTLE.min(self.tau) {
            return None;
        }
        let rate = self.rate.filter(|r| *r > 0.0)?;
        Duration::try_from_secs_f64(left as f64 / rate).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    #[test]
    fn steady_rate_gives_right_eta() {
        let t0 = Instant::now();
        let mut r = RateEstimator::default();
        assert_eq!(r.update(t0, 0), None);
        for i in 1..=40u64 {
            r.update(t0 + Duration::from_millis(250 * i), 25 * MB * i);
        }
        let rate = r.rate().unwrap();
        assert!((rate - 100.0 * MB as f64).abs() < 1.0, "{rate}");
        // 1000 MB done of 2000 MB at 100 MB/s.
        let eta = r.eta(1000 * MB, 2000 * MB).unwrap();
        assert!((eta.as_secs_f64() - 10.0).abs() < 0.01, "{eta:?}");
    }

    /// Issue: the first ETA said 4m11s for a 37 s job. None is shown until
    /// the rate was measured over a few seconds.
    #[test]
    fn no_eta_before_the_rate_settles() {
        let t0 = Instant::now();
        let mut r = RateEstimator::default();
        r.update(t0, 0);
        // A slow start-up second, then full speed.
        r.update(t0 + Duration::from_secs(1), MB);
        assert!(r.rate().is_some());
        assert_eq!(r.eta(MB, 1000 * MB), None, "one second is not settled");
        for i in 2..=3u64 {
            r.update(t0 + Duration::from_secs(i), MB + 50 * MB * (i - 1));
        }
        assert!(r.eta(101 * MB, 1000 * MB).is_some(), "three seconds are");
        assert_eq!(r.eta(5, 5), Some(Duration::ZERO), "done is done at once");
    }

    #[test]
    fn resume_with_work_already_done_does_not_inflate_the_rate() {
        let t0 = Instant::now();
        let mut r = RateEstimator::default();
        // A restarted job starts at 60% done; it moves 50 MB/s from here.
        r.update(t0, 600 * MB);
        for i in 1..=8u64 {
            r.update(t0 + Duration::from_millis(500 * i), 600 * MB + 25 * MB * i);
        }
        let rate = r.rate().unwrap();
        assert!((rate - 50.0 * MB as f64).abs() < 1.0, "{rate}");
        let eta = r.eta(800 * MB, 1000 * MB).unwrap();
        assert!((eta.as_secs_f64() - 4.0).abs() < 0.01, "{eta:?}");
    }

    #[test]
    fn rollback_rebases_and_stall_lowers_the_rate() {
        let t0 = Instant::now();
        let mut r = RateEstimator::new(Duration::from_secs(2));
        r.update(t0, 0);
        r.update(t0 + Duration::from_secs(1), 100 * MB);
        // The copy lost 30 MB after a reconnect: no negative rate.
        let rate = r.update(t0 + Duration::from_secs(2), 70 * MB).unwrap();
        assert!((rate - 100.0 * MB as f64).abs() < 1.0);
        // Then back at 100 MB/s from the new base.
        let rate = r.update(t0 + Duration::from_secs(3), 170 * MB).unwrap();
        assert!((rate - 100.0 * MB as f64).abs() < 1.0);
        // A stall (reconnecting) pulls the rate down, not to a stale value.
        let stalled = r.update(t0 + Duration::from_secs(5), 170 * MB).unwrap();
        assert!(stalled < 50.0 * MB as f64, "{stalled}");
        assert_eq!(r.eta(5, 5), Some(Duration::ZERO));
    }

    #[test]
    fn lease_tracks_the_maximum() {
        let p = Progress::new();
        {
            let _a = p.lease(10);
            let _b = p.lease(5);
            assert_eq!(p.snapshot().buffered, 15);
        }
        let _c = p.lease(3);
        let s = p.snapshot();
        assert_eq!((s.buffered, s.buffered_max), (3, 15));
    }
}
