//! A token-bucket bandwidth limit shared by every worker and connection of
//! a job (clone it; all clones draw from one bucket).
//!
//! A taker removes its bytes from the bucket at once, possibly driving it
//! into debt, and then sleeps until the debt would be paid back at the
//! configured rate. Concurrent takers therefore queue behind each other's
//! debt, and N bytes through a bucket of rate R and burst B take
//! `(N - B) / R` seconds however many workers share it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Smallest burst: one typical request passes without waiting.
pub const MIN_BURST: u64 = 256 * 1024;

#[derive(Debug)]
struct Bucket {
    /// Bytes per second; `None` = unlimited.
    rate: Option<u64>,
    burst: u64,
    /// May be negative: debt taken by callers that are now sleeping.
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        if let Some(rate) = self.rate {
            let dt = now.saturating_duration_since(self.last).as_secs_f64();
            self.tokens = (self.tokens + dt * rate as f64).min(self.burst as f64);
        }
        self.last = now;
    }
}

/// A shared bandwidth limit. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Throttle {
    bucket: Arc<Mutex<Bucket>>,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::unlimited()
    }
}

impl Throttle {
    /// No limit: [`acquire`](Self::acquire) returns at once.
    pub fn unlimited() -> Self {
        Self::build(None, MIN_BURST)
    }

    /// `bytes_per_sec` with a burst of a quarter second (at least
    /// [`MIN_BURST`]).
    pub fn new(bytes_per_sec: u64) -> Self {
        Self::with_burst(bytes_per_sec, (bytes_per_sec / 4).max(MIN_BURST))
    }

    /// `bytes_per_sec` with an explicit burst (bytes that may pass at once
    /// after an idle period). A rate of 0 is treated as 1 byte/s.
    pub fn with_burst(bytes_per_sec: u64, burst: u64) -> Self {
        Self::build(Some(bytes_per_sec.max(1)), burst.max(1))
    }

    /// From an optional limit (as in `CloneSettings::bandwidth_limit`).
    pub fn from_limit(limit: Option<u64>) -> Self {
        limit.map_or_else(Self::unlimited, Self::new)
    }

    fn build(rate: Option<u64>, burst: u64) -> Self {
        Self {
            bucket: Arc::new(Mutex::new(Bucket {
                rate,
                burst,
                tokens: burst as f64,
                last: Instant::now(),
            })),
        }
    }

    /// Changes the rate for everyone sharing this throttle (e.g. a limit by
    /// time of day). Existing debt is kept and repaid at the new rate.
    pub fn set_rate(&self, bytes_per_sec: Option<u64>) {
        let mut b = self.lock();
        b.refill(Instant::now());
        b.rate = bytes_per_sec.map(|r| r.max(1));
        if b.rate.is_none() {
            b.tokens = b.burst as f64;
        }
    }

    /// The current limit in bytes per second.
    pub fn rate(&self) -> Option<u64> {
        self.lock().rate
    }

    /// Waits until `bytes` may pass.
    pub async fn acquire(&self, bytes: u64) {
        let wait = {
            let mut b = self.lock();
            let Some(rate) = b.rate else { return };
            b.refill(Instant::now());
            b.tokens -= bytes as f64;
            if b.tokens >= 0.0 {
                return;
            }
            Duration::from_secs_f64(-b.tokens / rate as f64)
        };
        tokio::time::sleep(wait).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bucket> {
        // The bucket holds plain numbers; a panic elsewhere cannot leave
        // them in a state worse than slightly off.
        self.bucket.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn unlimited_never_waits() {
        let t = Throttle::unlimited();
        let start = Instant::now();
        for _ in 0..1000 {
            t.acquire(1 << 30).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn one_taker_gets_the_rate() {
        let rate = 1_000_000;
        let burst = 100_000;
        let t = Throttle::with_burst(rate, burst);
        let start = Instant::now();
        for _ in 0..50 {
            t.acquire(100_000).await;
        }
        // 5 MB, of which the burst passes at once: 4.9 s.
        let secs = start.elapsed().as_secs_f64();
        assert!((secs - 4.9).abs() < 0.01, "{secs}");
    }

    #[tokio::test(start_paused = true)]
    async fn shared_by_many_takers() {
        let t = Throttle::with_burst(2_000_000, 1);
        let start = Instant::now();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let t = t.clone();
                tokio::spawn(async move {
                    for _ in 0..10 {
                        t.acquire(50_000).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        // 8 × 10 × 50 kB = 4 MB at 2 MB/s, whatever the interleaving.
        let secs = start.elapsed().as_secs_f64();
        assert!((secs - 2.0).abs() < 0.01, "{secs}");
    }

    #[tokio::test(start_paused = true)]
    async fn rate_can_change() {
        let t = Throttle::with_burst(1_000_000, 1);
        let start = Instant::now();
        t.acquire(1_000_000).await;
        t.set_rate(Some(4_000_000));
        t.acquire(4_000_000).await;
        let secs = start.elapsed().as_secs_f64();
        assert!((secs - 2.0).abs() < 0.01, "{secs}");
        t.set_rate(None);
        let before = Instant::now();
        t.acquire(1 << 40).await;
        assert_eq!(before.elapsed(), Duration::ZERO);
        assert_eq!(t.rate(), None);
    }
}
