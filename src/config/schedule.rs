//! `[[schedules]]`: jobs the daemon runs by the clock (docs/schedules.md).
//! An entry names a cron expression, a job (export, prune or verify), the
//! repository, and for an export the host and which of its VMs.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// One `[[schedules]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub name: String,
    /// Five fields (minute to weekday), six with seconds first, or a
    /// nickname such as `@daily`; in the daemon's local time.
    pub cron: String,
    pub job: ScheduleJob,
    /// An export's source host.
    #[serde(default)]
    pub host: Option<String>,
    /// An export's VMs: names or globs (`*`, `?`); none means every VM of
    /// the host.
    #[serde(default)]
    pub vms: Vec<String>,
    pub repo: PathBuf,
    #[serde(default = "default_profile")]
    pub profile: String,
    /// A run missed while the daemon was down runs once at start if it
    /// was due less than this long ago ("0s": never).
    #[serde(default = "default_catch_up")]
    pub catch_up: String,
}

fn default_profile() -> String {
    "default".into()
}

fn default_catch_up() -> String {
    "12h".into()
}

/// What a schedule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleJob {
    /// Export the selected VMs (each export applies its profile's retention).
    Export,
    /// Prune the repository by the profile's retention.
    Prune,
    /// `verify --read-data` of the whole repository.
    Verify,
}

impl ScheduleJob {
    pub fn label(self) -> &'static str {
        match self {
            ScheduleJob::Export => "export",
            ScheduleJob::Prune => "prune",
            ScheduleJob::Verify => "verify",
        }
    }
}

impl ScheduleConfig {
    /// The catch-up window (checked when the config was read).
    pub fn catch_up(&self) -> Duration {
        super::parse_duration(&self.catch_up).unwrap_or(Duration::ZERO)
    }

    /// Whether the entry selects the VM of this name.
    pub fn selects(&self, vm: &str) -> bool {
        self.vms.is_empty() || self.vms.iter().any(|p| glob(p, vm))
    }

    /// What it runs on, in words: "web* on alpha to /srv/repo".
    pub fn target(&self) -> String {
        match (self.job, &self.host) {
            (ScheduleJob::Export, Some(h)) => {
                let vms = if self.vms.is_empty() {
                    "every VM".to_string()
                } else {
                    self.vms.join(", ")
                };
                format!("{vms} on {h} to {}", self.repo.display())
            }
            _ => self.repo.display().to_string(),
        }
    }
}

/// `*` any run of characters, `?` one; everything else literal.
pub fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Classic two-pointer match with backtracking to the last star.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// A parsed cron expression.
#[derive(Debug, Clone)]
pub struct CronExpr(croner::Cron);

impl CronExpr {
    pub fn parse(text: &str) -> Result<CronExpr, String> {
        croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(text)
            .map(CronExpr)
            .map_err(|e| {
                format!(
                    "{text:?} is not a cron expression ({e}); write 5 fields \
                     (minute hour day month weekday, e.g. \"0 2 * * *\") or @daily"
                )
            })
    }

    /// The first time strictly after `ms` (Unix milliseconds) it is due,
    /// in local time.
    pub fn next_after(&self, ms: u64) -> Option<u64> {
        use chrono::TimeZone;
        let secs = i64::try_from(ms / 1000).ok()?;
        let now = chrono::Local.timestamp_opt(secs, 0).single()?;
        let next = self.0.find_next_occurrence(&now, false).ok()?;
        u64::try_from(next.timestamp()).ok().map(|s| s * 1000)
    }
}

/// What is wrong with an entry, and which field.
pub(super) struct Problem {
    pub field: &'static str,
    pub reason: String,
}

/// The checks of one entry that serde cannot make; `hosts` are the
/// config's host names.
pub(super) fn check(s: &ScheduleConfig, hosts: &[&str]) -> Result<(), Problem> {
    let at = |field, reason: String| Err(Problem { field, reason });
    if s.name.is_empty()
        || !s
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return at("name", "use letters, digits, '-', '_' or '.'".into());
    }
    if let Err(e) = CronExpr::parse(&s.cron) {
        return at("cron", e);
    }
    if let Err(e) = super::parse_duration(&s.catch_up) {
        return at("catch_up", e);
    }
    if !s.repo.is_absolute() {
        return at("repo", "the repository must be an absolute path".into());
    }
    match (s.job, &s.host) {
        (ScheduleJob::Export, None) => return at("host", "an export needs its host".into()),
        (ScheduleJob::Export, Some(h)) if !hosts.iter().any(|n| n.eq_ignore_ascii_case(h)) => {
            return at(
                "host",
                format!(
                    "no host named {h:?} in [[hosts]]; names are: {}",
                    hosts.join(", ")
                ),
            );
        }
        (ScheduleJob::Prune | ScheduleJob::Verify, Some(_)) => {
            return at("host", format!("a {} schedule has no host", s.job.label()));
        }
        (ScheduleJob::Prune | ScheduleJob::Verify, None) if !s.vms.is_empty() => {
            return at("vms", format!("a {} schedule has no VMs", s.job.label()));
        }
        _ => {}
    }
    if let Some(v) = s
        .vms
        .iter()
        .find(|v| v.is_empty() || v.contains(['/', ' ']))
    {
        return at("vms", format!("{v:?} is not a VM name or glob"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_a_shell() {
        assert!(glob("web*", "web01"));
        assert!(glob("web*", "web"));
        assert!(glob("*01", "db01"));
        assert!(glob("w?b*1", "web01"));
        assert!(glob("*", "anything"));
        assert!(!glob("web*", "db01"));
        assert!(!glob("web?", "web"));
        assert!(!glob("db01", "db011"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
    }

    #[test]
    fn five_fields_nicknames_and_seconds_parse() {
        for ok in [
            "0 2 * * *",
            "@daily",
            "@hourly",
            "*/20 * * * * *",
            "0 3 * * MON-FRI",
        ] {
            assert!(CronExpr::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "every day", "61 * * * *", "* * *"] {
            assert!(CronExpr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn next_after_is_strictly_later_and_on_the_grid() {
        let c = CronExpr::parse("*/20 * * * * *").unwrap();
        let t = 1_700_000_000_000; // 22:13:20 UTC: on the grid
        assert_eq!(c.next_after(t), Some(t + 20_000));
        assert_eq!(c.next_after(t + 1), Some(t + 20_000));
    }
}
