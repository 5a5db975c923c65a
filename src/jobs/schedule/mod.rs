//! The daemon's schedules, the parts without a runtime: when a schedule
//! is next due, whether a run missed while the daemon was down is caught
//! up ([`plan_start`]), and what is kept between daemon runs ([`state`]).

pub mod state;

use std::time::Duration;

use crate::config::CronExpr;

/// Due times looked at when searching for a missed run; a seconds-level
/// expression over a long window stops here (the newest found counts).
const SEARCH_LIMIT: usize = 100_000;

/// At daemon start: the due time of a missed run to catch up now, if any,
/// and the next due time after `now`.
///
/// A run is missed when its due time falls after `last_due` (the newest
/// due time the daemon handled) and at or before `now`. It is caught up,
/// once however many were missed, when it was due less than `catch_up`
/// ago. Without a `last_due` (the schedule is new) nothing is missed.
pub fn plan_start(
    cron: &CronExpr,
    last_due: Option<u64>,
    now: u64,
    catch_up: Duration,
) -> (Option<u64>, Option<u64>) {
    let next = cron.next_after(now);
    let Some(last) = last_due else {
        return (None, next);
    };
    let window = u64::try_from(catch_up.as_millis()).unwrap_or(u64::MAX);
    // Due times at or before the window's start are too old anyway.
    let mut from = last.max(now.saturating_sub(window));
    let mut missed = None;
    for _ in 0..SEARCH_LIMIT {
        match cron.next_after(from) {
            Some(t) if t <= now => {
                missed = Some(t);
                from = t;
            }
            _ => break,
        }
    }
    let missed = missed.filter(|t| now - t < window);
    (missed, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;
    /// 2023-11-14 22:13:20 UTC; on every minute grid below (its seconds are 20).
    const NOW: u64 = 1_700_000_000_000;

    fn every_5_min() -> CronExpr {
        CronExpr::parse("*/5 * * * *").unwrap()
    }

    #[test]
    fn a_new_schedule_misses_nothing() {
        let (missed, next) = plan_start(&every_5_min(), None, NOW, Duration::from_secs(3600));
        assert_eq!(missed, None);
        assert!(next.is_some_and(|n| n > NOW && n - NOW <= 5 * MIN));
    }

    #[test]
    fn the_newest_missed_run_is_caught_up_once() {
        // Down for 22 minutes: four due times passed; one run, the newest.
        let (missed, _) = plan_start(
            &every_5_min(),
            Some(NOW - 22 * MIN),
            NOW,
            Duration::from_secs(3600),
        );
        let m = missed.expect("a missed run");
        assert!(m <= NOW && NOW - m < 5 * MIN, "{m}");
    }

    #[test]
    fn a_run_older_than_the_catch_up_window_is_not_caught_up() {
        let hourly = CronExpr::parse("0 * * * *").unwrap();
        // The last due time was handled; the next one (at most an hour
        // later) is over 30 minutes ago only if we are far enough in.
        let last = hourly.next_after(NOW - 3 * 3_600_000).unwrap();
        let next_due = hourly.next_after(last).unwrap();
        let now = next_due + 40 * MIN;
        let (missed, _) = plan_start(&hourly, Some(last), now, Duration::from_secs(30 * 60));
        assert_eq!(missed, None);
        let (missed, _) = plan_start(&hourly, Some(last), now, Duration::from_secs(3600));
        assert_eq!(missed, Some(next_due));
        let (missed, _) = plan_start(&hourly, Some(last), now, Duration::ZERO);
        assert_eq!(missed, None, "catch_up = 0s never catches up");
    }

    #[test]
    fn nothing_is_missed_when_the_last_due_time_was_handled() {
        let c = every_5_min();
        let last = c.next_after(NOW - 5 * MIN).unwrap();
        assert!(last <= NOW);
        let (missed, _) = plan_start(&c, Some(last), NOW, Duration::from_secs(3600));
        assert_eq!(missed, None);
    }
}
