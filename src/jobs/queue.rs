//! Which waiting jobs may start: at most `max` jobs at once, and at most
//! `per_host` of them touching any one host (as source or destination).
//!
//! Jobs start in the order they were queued. A later job may overtake a
//! waiting one only when it shares no host with it, so a job that needs a
//! busy host is never starved by newer jobs on that host.

use std::collections::{BTreeSet, VecDeque};

pub use crate::config::Limits;

#[derive(Debug, Clone)]
struct Entry {
    id: u64,
    /// Host names, lower-cased and without repeats.
    hosts: BTreeSet<String>,
}

/// Waiting and running jobs. Pure bookkeeping: the caller starts what
/// [`Queue::startable`] returns and reports ends with [`Queue::finish`].
#[derive(Debug, Clone, Default)]
pub struct Queue {
    limits: Limits,
    waiting: VecDeque<Entry>,
    running: Vec<Entry>,
}

impl Queue {
    pub fn new(limits: Limits) -> Queue {
        Queue {
            limits: Limits {
                per_host: limits.per_host.max(1),
                max: limits.max.max(1),
            },
            ..Queue::default()
        }
    }

    /// Adds a job at the end of the line.
    pub fn push<'a>(&mut self, id: u64, hosts: impl IntoIterator<Item = &'a str>) {
        let hosts = hosts.into_iter().map(str::to_lowercase).collect();
        self.waiting.push_back(Entry { id, hosts });
    }

    fn load(&self, host: &str) -> usize {
        self.running
            .iter()
            .filter(|e| e.hosts.contains(host))
            .count()
    }

    /// The waiting jobs that may start now, in queue order; they count as
    /// running from here on.
    pub fn startable(&mut self) -> Vec<u64> {
        let mut started = Vec::new();
        // Hosts an earlier waiting job is held back on: later jobs keep off them.
        let mut held: BTreeSet<String> = BTreeSet::new();
        let mut i = 0;
        while i < self.waiting.len() && self.running.len() < self.limits.max {
            let e = &self.waiting[i];
            let fits = e
                .hosts
                .iter()
                .all(|h| !held.contains(h) && self.load(h) < self.limits.per_host);
            if fits {
                if let Some(e) = self.waiting.remove(i) {
                    started.push(e.id);
                    self.running.push(e);
                }
            } else {
                held.extend(e.hosts.iter().cloned());
                i += 1;
            }
        }
        started
    }

    /// A running job ended (unknown ids are ignored).
    pub fn finish(&mut self, id: u64) {
        self.running.retain(|e| e.id != id);
    }

    /// Takes a job out of the line before it started; false when it is not waiting.
    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.waiting.len();
        self.waiting.retain(|e| e.id != id);
        self.waiting.len() != before
    }

    pub fn is_waiting(&self, id: u64) -> bool {
        self.waiting.iter().any(|e| e.id == id)
    }

    pub fn is_running(&self, id: u64) -> bool {
        self.running.iter().any(|e| e.id == id)
    }

    /// Waiting jobs with their 1-based place in the line.
    pub fn positions(&self) -> Vec<(u64, usize)> {
        self.waiting
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id, i + 1))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(per_host: usize, max: usize) -> Queue {
        Queue::new(Limits { per_host, max })
    }

    #[test]
    fn per_host_limit_counts_source_and_destination() {
        let mut q = queue(1, 4);
        q.push(1, ["alpha", "beta"]);
        q.push(2, ["beta", "gamma"]);
        q.push(3, ["gamma", "delta"]);
        // 2 waits for beta; 3 shares gamma with the waiting 2, so it waits too.
        assert_eq!(q.startable(), [1]);
        assert_eq!(q.positions(), [(2, 1), (3, 2)]);
        q.finish(1);
        assert_eq!(q.startable(), [2]);
        assert!(q.is_running(2) && q.is_waiting(3));
        q.finish(2);
        assert_eq!(q.startable(), [3]);
        assert!(q.positions().is_empty());
    }

    #[test]
    fn a_job_on_other_hosts_overtakes_one_that_waits() {
        let mut q = queue(1, 4);
        q.push(1, ["alpha", "beta"]);
        q.push(2, ["alpha", "beta"]);
        q.push(3, ["gamma", "delta"]);
        assert_eq!(q.startable(), [1, 3]);
        assert_eq!(q.positions(), [(2, 1)]);
    }

    #[test]
    fn default_allows_two_per_host_and_four_overall() {
        let mut q = Queue::new(Limits::default());
        for id in 1..=3 {
            q.push(id, ["alpha", "beta"]);
        }
        assert_eq!(q.startable(), [1, 2]);
        for (id, h) in [(4, "c"), (5, "d"), (6, "e")] {
            q.push(id, [h, "f"]);
        }
        // 3 waits for alpha/beta; 4 and 5 fill the overall limit of 4; 6
        // shares f with 4 and 5, which run, and the limit is reached anyway.
        assert_eq!(q.startable(), [4, 5]);
        assert_eq!(q.positions(), [(3, 1), (6, 2)]);
        q.finish(4);
        assert_eq!(q.startable(), [6]);
    }

    #[test]
    fn host_names_compare_without_case_and_count_once() {
        let mut q = queue(1, 4);
        // Same host twice: one use of it, not two.
        q.push(1, ["alpha", "ALPHA"]);
        q.push(2, ["Alpha", "beta"]);
        assert_eq!(q.startable(), [1]);
        q.finish(1);
        assert_eq!(q.startable(), [2]);
    }

    #[test]
    fn removed_jobs_never_start_and_the_line_moves_up() {
        let mut q = queue(1, 1);
        for id in 1..=3 {
            q.push(id, ["alpha", "beta"]);
        }
        assert_eq!(q.startable(), [1]);
        assert!(q.remove(2));
        assert!(!q.remove(2), "already gone");
        assert!(!q.remove(1), "running jobs are not removed");
        assert_eq!(q.positions(), [(3, 1)]);
        q.finish(1);
        assert_eq!(q.startable(), [3]);
        assert!(q.startable().is_empty());
    }

    #[test]
    fn zero_limits_are_raised_to_one() {
        let mut q = queue(0, 0);
        q.push(1, ["a", "b"]);
        q.push(2, ["c", "d"]);
        assert_eq!(q.startable(), [1]);
        q.finish(99);
        assert!(q.startable().is_empty());
    }
}
