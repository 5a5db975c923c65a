//! Retention policies (pure): which snapshots `prune` keeps, and why.
//!
//! Snapshots are grouped per VM (its name and the host it was exported
//! from). Within a group, newest first:
//! - `last N` keeps the N newest;
//! - `daily/weekly/monthly/yearly N` keeps the newest snapshot of each of
//!   the N most recent days / ISO weeks / months / years (UTC) that have
//!   one.
//!
//! A snapshot is kept when any rule keeps it; each kept one lists why.

use super::error::RepoError;
use super::id::SnapshotId;
use chrono::{DateTime, Datelike};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub last: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
    pub yearly: u32,
}

impl Policy {
    pub fn is_empty(&self) -> bool {
        self.last == 0
            && self.daily == 0
            && self.weekly == 0
            && self.monthly == 0
            && self.yearly == 0
    }
}

/// What retention needs to know of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: SnapshotId,
    pub vm: String,
    pub host: String,
    /// Unix seconds, UTC.
    pub time: i64,
    /// The snapshot this one is incremental to: within one second, a child
    /// is newer than its parent.
    pub parent: Option<SnapshotId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub id: SnapshotId,
    pub vm: String,
    pub host: String,
    pub time: i64,
    pub keep: bool,
    /// Why it is kept: "last", "daily 2025-06-15", "weekly 2025-W24",
    /// "monthly 2025-06", "yearly 2025". Empty when removed.
    pub reasons: Vec<String>,
}

#[derive(Clone, Copy)]
enum Period {
    Day,
    Week,
    Month,
    Year,
}

impl Period {
    /// The period's label, which is also its identity.
    fn label(self, time: i64) -> String {
        let t = DateTime::from_timestamp(time, 0).unwrap_or(DateTime::UNIX_EPOCH);
        match self {
            Period::Day => format!("daily {}", t.format("%Y-%m-%d")),
            Period::Week => {
                let w = t.iso_week();
                format!("weekly {}-W{:02}", w.year(), w.week())
            }
            Period::Month => format!("monthly {}", t.format("%Y-%m")),
            Period::Year => format!("yearly {}", t.year()),
        }
    }
}

/// Decides every candidate; the result is grouped per VM, newest first.
pub fn plan(policy: &Policy, candidates: &[Candidate]) -> Result<Vec<Decision>, RepoError> {
    if policy.is_empty() {
        return Err(RepoError::EmptyPolicy);
    }
    let mut groups: BTreeMap<(&str, &str), Vec<&Candidate>> = BTreeMap::new();
    for c in candidates {
        groups.entry((&c.vm, &c.host)).or_default().push(c);
    }
    let mut out = Vec::with_capacity(candidates.len());
    for (_, mut group) in groups {
        let depths = ancestry_depths(group.iter().map(|c| (&c.id, c.parent.as_ref())));
        group.sort_by(|a, b| {
            b.time
                .cmp(&a.time)
                .then_with(|| depths.get(&b.id).cmp(&depths.get(&a.id)))
                .then_with(|| b.id.cmp(&a.id))
        });
        let mut reasons: Vec<Vec<String>> = vec![Vec::new(); group.len()];
        for r in reasons.iter_mut().take(policy.last as usize) {
            r.push("last".into());
        }
        for (period, n) in [
            (Period::Day, policy.daily),
            (Period::Week, policy.weekly),
            (Period::Month, policy.monthly),
            (Period::Year, policy.yearly),
        ] {
            let mut seen = HashSet::new();
            for (i, c) in group.iter().enumerate() {
                if seen.len() >= n as usize {
                    break;
                }
                let label = period.label(c.time);
                // Newest first: the first of a period is its newest.
                if seen.insert(label.clone()) {
                    reasons[i].push(label);
                }
            }
        }
        for (c, why) in group.into_iter().zip(reasons) {
            out.push(Decision {
                id: c.id.clone(),
                vm: c.vm.clone(),
                host: c.host.clone(),
                time: c.time,
                keep: !why.is_empty(),
                reasons: why,
            });
        }
    }
    Ok(out)
}

/// How many ancestors each snapshot has among the given ones. Times are
/// whole seconds, so two exports of a VM within one second tie; the one with
/// more ancestors was made later. Bounded, so a corrupt cycle ends.
pub(crate) fn ancestry_depths<'a>(
    items: impl Iterator<Item = (&'a SnapshotId, Option<&'a SnapshotId>)>,
) -> HashMap<SnapshotId, usize> {
    let items: Vec<_> = items.collect();
    let parents: HashMap<&SnapshotId, &SnapshotId> = items
        .iter()
        .filter_map(|(id, p)| p.map(|p| (*id, p)))
        .collect();
    let depth = |id: &SnapshotId| {
        let mut n = 0usize;
        let mut at = id;
        while let Some(p) = parents.get(at) {
            n += 1;
            if n > parents.len() {
                break;
            }
            at = p;
        }
        n
    };
    items
        .iter()
        .map(|(id, _)| ((*id).clone(), depth(id)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};

    fn at(y: i32, m: u32, d: u32, h: u32) -> i64 {
        Utc.from_utc_datetime(
            &NaiveDate::from_ymd_opt(y, m, d)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap(),
        )
        .timestamp()
    }

    fn cand(n: u64, vm: &str, time: i64) -> Candidate {
        Candidate {
            id: format!("{n:016x}").parse().unwrap(),
            vm: vm.into(),
            host: "alpha".into(),
            time,
            parent: None,
        }
    }

    fn kept(policy: Policy, cands: &[Candidate]) -> Vec<u64> {
        let mut v: Vec<u64> = plan(&policy, cands)
            .unwrap()
            .into_iter()
            .filter(|d| d.keep)
            .map(|d| u64::from_str_radix(d.id.as_str(), 16).unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn empty_policy_is_refused() {
        assert!(matches!(
            plan(&Policy::default(), &[cand(1, "a", 0)]),
            Err(RepoError::EmptyPolicy)
        ));
    }

    #[test]
    fn keep_last_keeps_the_newest_per_vm() {
        let c = [
            cand(1, "a", 100),
            cand(2, "a", 300),
            cand(3, "a", 200),
            cand(4, "b", 50),
        ];
        let p = Policy {
            last: 2,
            ..Policy::default()
        };
        assert_eq!(kept(p, &c), vec![2, 3, 4]);
        let d = plan(&p, &c).unwrap();
        let one = d.iter().find(|d| d.id.as_str().ends_with('1')).unwrap();
        assert!(!one.keep && one.reasons.is_empty());
    }

    /// Two exports of a VM within one second: the child (made second) is
    /// the newest, whatever the random ids; `last 1` keeps it.
    #[test]
    fn a_tie_in_time_keeps_the_child_not_its_parent() {
        let parent = cand(9, "a", 100);
        let mut child = cand(1, "a", 100);
        child.parent = Some(parent.id.clone());
        let p = Policy {
            last: 1,
            ..Policy::default()
        };
        assert_eq!(kept(p, &[parent.clone(), child.clone()]), vec![1]);
        assert_eq!(kept(p, &[child, parent]), vec![1]);
    }

    #[test]
    fn same_vm_name_on_two_hosts_are_two_groups() {
        let mut c = vec![cand(1, "shared01", 100), cand(2, "shared01", 200)];
        c[0].host = "beta".into();
        let p = Policy {
            last: 1,
            ..Policy::default()
        };
        assert_eq!(kept(p, &c), vec![1, 2]);
    }

    #[test]
    fn daily_keeps_the_newest_of_each_day_across_midnight_utc() {
        let c = [
            cand(1, "a", at(2025, 6, 14, 23) + 3599), // 23:59:59 on the 14th
            cand(2, "a", at(2025, 6, 15, 0)),         // 00:00:00 on the 15th
            cand(3, "a", at(2025, 6, 15, 12)),
            cand(4, "a", at(2025, 6, 13, 8)),
        ];
        let p = Policy {
            daily: 2,
            ..Policy::default()
        };
        // Newest of the 15th (3) and of the 14th (1); the 13th is beyond 2 days.
        assert_eq!(kept(p, &c), vec![1, 3]);
        let d = plan(&p, &c).unwrap();
        let three = d.iter().find(|d| d.id.as_str().ends_with('3')).unwrap();
        assert_eq!(three.reasons, vec!["daily 2025-06-15"]);
    }

    #[test]
    fn periods_without_snapshots_do_not_count() {
        // Days with snapshots: the 1st, the 10th, the 20th. daily 2 keeps
        // the 20th and the 10th, however far apart.
        let c = [
            cand(1, "a", at(2025, 6, 1, 9)),
            cand(2, "a", at(2025, 6, 10, 9)),
            cand(3, "a", at(2025, 6, 20, 9)),
        ];
        let p = Policy {
            daily: 2,
            ..Policy::default()
        };
        assert_eq!(kept(p, &c), vec![2, 3]);
    }

    #[test]
    fn weekly_uses_iso_weeks_across_the_year_boundary() {
        // 2024-12-30 (Mon) and 2025-01-02 are both in ISO week 2025-W01;
        // 2024-12-29 (Sun) is in 2024-W52.
        let c = [
            cand(1, "a", at(2024, 12, 29, 10)),
            cand(2, "a", at(2024, 12, 30, 10)),
            cand(3, "a", at(2025, 1, 2, 10)),
        ];
        let p = Policy {
            weekly: 5,
            ..Policy::default()
        };
        assert_eq!(kept(p, &c), vec![1, 3]);
        let d = plan(&p, &c).unwrap();
        let reasons: Vec<_> = d
            .iter()
            .filter(|d| d.keep)
            .map(|d| d.reasons[0].clone())
            .collect();
        assert_eq!(reasons, vec!["weekly 2025-W01", "weekly 2024-W52"]);
    }

    #[test]
    fn monthly_and_yearly() {
        let c = [
            cand(1, "a", at(2023, 12, 31, 23)),
            cand(2, "a", at(2024, 1, 1, 0)),
            cand(3, "a", at(2024, 1, 31, 23)),
            cand(4, "a", at(2024, 2, 1, 0)),
            cand(5, "a", at(2024, 2, 29, 12)),
        ];
        let monthly = Policy {
            monthly: 2,
            ..Policy::default()
        };
        assert_eq!(kept(monthly, &c), vec![3, 5]);
        let yearly = Policy {
            yearly: 3,
            ..Policy::default()
        };
        assert_eq!(kept(yearly, &c), vec![1, 5]);
    }

    #[test]
    fn rules_are_a_union_and_reasons_accumulate() {
        let c = [
            cand(1, "a", at(2025, 6, 1, 9)),
            cand(2, "a", at(2025, 6, 2, 9)),
            cand(3, "a", at(2025, 6, 2, 10)),
            cand(4, "a", at(2025, 5, 20, 9)),
        ];
        let p = Policy {
            last: 1,
            daily: 2,
            monthly: 2,
            ..Policy::default()
        };
        assert_eq!(kept(p, &c), vec![1, 3, 4]);
        let d = plan(&p, &c).unwrap();
        let newest = &d[0];
        assert_eq!(newest.id.as_str(), "0000000000000003");
        assert_eq!(
            newest.reasons,
            vec!["last", "daily 2025-06-02", "monthly 2025-06"]
        );
    }

    #[test]
    fn equal_times_are_ordered_by_id() {
        let c = [cand(1, "a", 100), cand(2, "a", 100)];
        let p = Policy {
            last: 1,
            ..Policy::default()
        };
        assert_eq!(kept(p, &c), vec![2]);
        assert_eq!(kept(p, &[c[1].clone(), c[0].clone()]), vec![2]);
    }

    #[test]
    fn more_rules_than_snapshots_keep_everything() {
        let c = [cand(1, "a", 1), cand(2, "a", 2)];
        let p = Policy {
            last: 10,
            daily: 10,
            ..Policy::default()
        };
        assert_eq!(kept(p, &c), vec![1, 2]);
    }
}
