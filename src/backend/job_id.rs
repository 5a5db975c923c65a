//! Job ids. They name a job's journal file (locked while it runs), its
//! run directories on the hosts and its history row, so they must not
//! repeat across the backends of one process (tests run several) nor, in
//! practice, across processes started in the same second (cron starting
//! several headless clones at once).
//!
//! An id is the Unix time in milliseconds, made strictly increasing within
//! the process, shifted left 10 bits, with the low 10 bits of the pid
//! below. It sorts by start time and stays under 2^53, so JSON readers
//! that use doubles keep it exact.

use std::sync::atomic::{AtomicU64, Ordering};

/// The millisecond stamp of the last id handed out in this process.
static LAST_MS: AtomicU64 = AtomicU64::new(0);

const PID_BITS: u32 = 10;

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A fresh job id.
pub(super) fn next() -> u64 {
    let now = unix_ms();
    let mut last = LAST_MS.load(Ordering::Relaxed);
    loop {
        let ms = now.max(last + 1);
        match LAST_MS.compare_exchange_weak(last, ms, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => {
                let pid = u64::from(std::process::id()) & ((1 << PID_BITS) - 1);
                return (ms << PID_BITS) | pid;
            }
            Err(seen) => last = seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_many_threads_never_repeat_and_carry_the_pid() {
        let ids: Vec<u64> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..500).map(|_| next()).collect::<Vec<_>>()))
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let unique: std::collections::BTreeSet<u64> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len());
        let pid = u64::from(std::process::id()) & 0x3ff;
        assert!(ids.iter().all(|id| id & 0x3ff == pid));
        // Milliseconds since the epoch, in the top bits; exact as a double.
        assert!(ids.iter().all(|id| (id >> PID_BITS) >= unix_ms() - 60_000));
        assert!(ids.iter().all(|id| *id < (1u64 << 53)));
    }
}
