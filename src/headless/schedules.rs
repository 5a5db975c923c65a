//! `kvm-clone schedules`: each schedule's next run and how its last went.

use crate::model::format::datetime;
use crate::model::schedule::ScheduleView;
use serde::Serialize;

pub fn render_table(list: &[ScheduleView]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            let next = s.next_ms.map_or("-".into(), |t| datetime(t, false));
            let (last, result) = s.last_words(false);
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
