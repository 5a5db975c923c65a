//! Retry policy for transient failures: exponential backoff (from
//! `backon`) with a bounded random jitter.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use rand::Rng;

/// How often and how patiently a copy reconnects after a transient
/// failure. The delay before retry `n` (from 0) is
/// `min(initial × factor^n, max)`, stretched by a random `0..jitter`
/// fraction so that many jobs do not reconnect in lockstep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Reconnect attempts after a failure before giving up (0 = none).
    /// The count starts again once a resumed copy makes progress.
    pub attempts: u32,
    pub initial: Duration,
    pub max: Duration,
    pub factor: f32,
    /// Extra random delay as a fraction of the delay (0.25 = up to 25 %).
    pub jitter: f32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 6,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            factor: 2.0,
            jitter: 0.25,
        }
    }
}

impl RetryPolicy {
    /// Fail at the first error.
    pub fn none() -> Self {
        Self {
            attempts: 0,
            ..Self::default()
        }
    }

    /// A fresh sequence of delays.
    pub fn backoff(&self) -> Backoff {
        let factor = if self.factor.is_finite() && self.factor >= 1.0 {
            self.factor
        } else {
            1.0
        };
        Backoff {
            inner: ExponentialBuilder::default()
                .with_min_delay(self.initial)
                .with_max_delay(self.max.max(self.initial))
                .with_factor(factor)
                .with_max_times(self.attempts as usize)
                .build(),
            jitter: if self.jitter.is_finite() {
                self.jitter.clamp(0.0, 1.0)
            } else {
                0.0
            },
        }
    }
}

/// Delays before each retry; ends when the attempts are used up.
#[derive(Debug)]
pub struct Backoff {
    inner: ExponentialBackoff,
    jitter: f32,
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let d = self.inner.next()?;
        if self.jitter == 0.0 {
            return Some(d);
        }
        let stretch = rand::rng().random_range(0.0..self.jitter);
        Some(d.mul_f32(1.0 + stretch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_capped_with_bounded_jitter() {
        let p = RetryPolicy {
            attempts: 6,
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            factor: 3.0,
            jitter: 0.5,
        };
        let base = [100u64, 300, 900, 1000, 1000, 1000];
        for _ in 0..50 {
            let delays: Vec<Duration> = p.backoff().collect();
            assert_eq!(delays.len(), 6);
            for (d, b) in delays.iter().zip(base) {
                let lo = Duration::from_millis(b);
                assert!(*d >= lo && *d <= lo.mul_f32(1.5), "{d:?} vs {b} ms");
            }
        }
        let exact = RetryPolicy { jitter: 0.0, ..p };
        let delays: Vec<u64> = exact.backoff().map(|d| d.as_millis() as u64).collect();
        assert_eq!(delays, base);
        assert_eq!(RetryPolicy::none().backoff().count(), 0);
    }
}
