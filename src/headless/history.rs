//! `kvm-clone history`: rows as a table or JSON, statistics, and the date
//! syntax of `history delete --before` (docs/json.md, docs/history.md).

use super::{size, table};
use crate::model::HistoryEntry;
use crate::model::format::{datetime, duration, rate};
use crate::model::history::HistoryStats;
use serde::Serialize;

/// One line per job, newest first. Times are local unless `utc`.
pub fn render_table(entries: &[HistoryEntry], utc: bool) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                datetime(e.started_ms, utc),
                e.result.label().to_string(),
                e.kind.clone(),
                e.vm.clone(),
                e.from.clone(),
                e.to.clone(),
                size(e.bytes_moved),
                e.duration_secs()
                    .map(|s| duration(s as u64))
                    .unwrap_or_else(|| "-".into()),
                rate(e.rate_bytes_per_sec.unwrap_or(0.0)),
                e.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table::render(
        &[
            "ROW", "STARTED", "RESULT", "KIND", "VM", "FROM", "TO", "MOVED", "TOOK", "RATE",
            "ERROR",
        ],
        &rows,
    )
}

/// `{"jobs": [...]}`, each row in full (docs/json.md).
pub fn render_json(entries: &[HistoryEntry]) -> Result<String, serde_json::Error> {
    #[derive(Serialize)]
    struct Doc<'a> {
        jobs: &'a [HistoryEntry],
    }
    serde_json::to_string_pretty(&Doc { jobs: entries })
}

pub fn render_stats(s: &HistoryStats) -> String {
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let rows = vec![
        vec!["jobs".into(), s.jobs.to_string()],
        vec!["finished".into(), s.finished.to_string()],
        vec!["succeeded".into(), s.succeeded.to_string()],
        vec![
            "success rate".into(),
            or_dash(s.success_rate.map(|r| format!("{:.1}%", r * 100.0))),
        ],
        vec!["bytes moved".into(), size(s.bytes_moved)],
        vec![
            "average rate".into(),
            or_dash(s.average_rate_bytes_per_sec.map(rate)),
        ],
        vec![
            "average duration".into(),
            or_dash(s.average_duration_secs.map(|d| duration(d.round() as u64))),
        ],
    ];
    table::render(&["STATISTIC", "VALUE"], &rows)
}

pub fn render_stats_json(s: &HistoryStats) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(s)
}

/// `--before` as Unix milliseconds: `YYYY-MM-DD` (local midnight),
/// `YYYY-MM-DD HH:MM[:SS]` (local), or RFC 3339 with an offset.
pub fn parse_date(s: &str) -> Result<u64, String> {
    use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone};
    let s = s.trim();
    let local = |n: NaiveDateTime| match Local.from_local_datetime(&n) {
        chrono::LocalResult::Single(t) => Ok(t.timestamp_millis()),
        // A DST overlap: the earlier instant, so fewer rows go.
        chrono::LocalResult::Ambiguous(a, _) => Ok(a.timestamp_millis()),
        chrono::LocalResult::None => Err(format!("{s}: no such local time (a DST gap)")),
    };
    let ms = if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        t.timestamp_millis()
    } else if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        local(d.and_time(chrono::NaiveTime::MIN))?
    } else if let Ok(n) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
    {
        local(n)?
    } else {
        return Err(format!(
            "{s:?} is not a date: use YYYY-MM-DD, \"YYYY-MM-DD HH:MM\" or RFC 3339 (2025-06-01T12:00:00Z)"
        ));
    };
    u64::try_from(ms).map_err(|_| format!("{s}: before 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HistoryResult;

    fn entry() -> HistoryEntry {
        HistoryEntry {
            id: 3,
            job: 99,
            kind: "clone".into(),
            vm: "web01".into(),
            from: "alpha".into(),
            to: "beta".into(),
            profile: "default".into(),
            started_ms: 1_750_000_000_000,
            ended_ms: Some(1_750_000_065_000),
            result: HistoryResult::Failed,
            error: Some("copying: connection reset".into()),
            bytes_moved: 64 << 20,
            bytes_stored: 64 << 20,
            bytes_skipped: 960 << 20,
            rate_bytes_per_sec: Some(1_032_444.0),
            copy_secs: None,
            validation: None,
            log: vec!["a line".into()],
        }
    }

    #[test]
    fn table_shows_one_row_per_job() {
        let t = render_table(&[entry()], true);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("ROW  STARTED"), "{t}");
        assert!(
            lines[1].starts_with("3    2025-06-15 15:06:40  failed"),
            "{t}"
        );
        assert!(
            lines[1].contains("64 MiB") && lines[1].contains("1m05s"),
            "{t}"
        );
        assert!(lines[1].ends_with("copying: connection reset"), "{t}");
    }

    #[test]
    fn json_has_every_field() {
        let v: serde_json::Value = serde_json::from_str(&render_json(&[entry()]).unwrap()).unwrap();
        let j = &v["jobs"][0];
        assert_eq!(j["result"], "failed");
        assert_eq!(j["bytes_skipped"], 960u64 << 20);
        assert_eq!(j["ended_ms"], 1_750_000_065_000u64);
        assert_eq!(j["log"][0], "a line");
        assert!(j["validation"].is_null());
    }

    #[test]
    fn dates_in_three_forms() {
        assert_eq!(
            parse_date("2025-06-15T15:06:40Z").unwrap(),
            1_750_000_000_000
        );
        assert_eq!(
            parse_date("2025-06-15T17:06:40+02:00").unwrap(),
            1_750_000_000_000
        );
        let day = parse_date("2025-06-15").unwrap();
        let minute = parse_date("2025-06-15 00:01").unwrap();
        assert_eq!(minute - day, 60_000);
        assert!(parse_date("15/06/2025").unwrap_err().contains("YYYY-MM-DD"));
    }
}
