//! `kvm-clone schedules`: each schedule's next run and how its last went.

use crate::model::format::datetime;
use crate::model::schedule::ScheduleView;
use serde::Serialize;

pub fn render_table(list: &[ScheduleView]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            let next = s.next_ms.map_or("-".into(), |t| datetime(t, false));
            let (last, result) = match (&s.last, s.running) {
                (_, true) => ("now".to_string(), "running".to_string()),
                (Some(r), false) => (
                    datetime(r.started_ms, false),
                    match (&r.result, &r.message) {
                        (Some(res), Some(m)) => format!("{}: {m}", res.label()),
                        (Some(res), None) => res.label().to_string(),
                        (None, _) => "-".into(),
                    },
                ),
                (None, false) => ("never".into(), "-".into()),
            };
            vec![
                s.name.clone(),
                s.job.clone(),
                s.cron.clone(),
                next,
                last,
                result,
                s.target.clone(),
            ]
        })
        .collect();
    super::table::render(
        &["NAME", "JOB", "CRON", "NEXT", "LAST", "RESULT", "TARGET"],
        &rows,
    )
}

/// `{"schedules": [...]}` (docs/json.md).
pub fn render_json(list: &[ScheduleView]) -> Result<String, serde_json::Error> {
    #[derive(Serialize)]
    struct Doc<'a> {
        schedules: &'a [ScheduleView],
    }
    serde_json::to_string_pretty(&Doc { schedules: list })
}
