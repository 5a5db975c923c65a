//! One history row in full: every field, the validation report and the
//! job's log, in one scrollable view. The log and the report arrive from
//! the backend after the view opens; until then the list's row is shown.

use super::frame_box;
use crate::model::format::{datetime, duration, rate, size};
use crate::model::{Checklist, HistoryEntry};
use crate::tui::panes::history::result_style;
use crate::tui::state::AppState;
use ratatui::Frame;
use ratatui::layout::{Margin, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

/// The full row when it has come, else the list's.
fn find(state: &AppState, id: u64) -> (Option<&HistoryEntry>, bool) {
    match &state.history_detail {
        Some(d) if d.id == id => (Some(d), true),
        _ => (state.history.iter().find(|e| e.id == id), false),
    }
}

fn lines(state: &AppState, id: u64) -> Vec<Line<'static>> {
    let theme = &state.theme;
    let (Some(e), full) = find(state, id) else {
        return vec![Line::styled(
            format!("History row {id} is no longer listed."),
            theme.warn(),
        )];
    };
    let field = |name: &str, value: String| Line::from(format!("{name:<10} {value}"));
    let mut out = vec![
        Line::from(vec![
            ratatui::text::Span::raw(format!("{:<10} ", "result")),
            ratatui::text::Span::styled(e.result.label(), result_style(e.result, theme)),
        ]),
        field("kind", e.kind.clone()),
        field("vm", e.vm.clone()),
        field("from", e.from.clone()),
        field("to", e.to.clone()),
        field(
            "profile",
            if e.profile.is_empty() {
                "-".into()
            } else {
                e.profile.clone()
            },
        ),
        field("started", datetime(e.started_ms, state.utc)),
        field(
            "ended",
            e.ended_ms
                .map(|t| datetime(t, state.utc))
                .unwrap_or_else(|| "-".into()),
        ),
        field(
            "took",
            e.duration_secs()
                .map(|s| duration(s as u64))
                .unwrap_or_else(|| "-".into()),
        ),
        field("moved", size(e.bytes_moved)),
        field("stored", size(e.bytes_stored)),
        field(
            "skipped",
            format!("{} (sparse or zero)", size(e.bytes_skipped)),
        ),
        field("avg rate", rate(e.rate_bytes_per_sec.unwrap_or(0.0))),
        // The row id is what `history delete --id` takes; the number only
        // exists for jobs of this session.
        match state.job_number(e.job) {
            Some(n) => field("job", format!("#{n} (id {}, history row {})", e.job, e.id)),
            None => field("job id", format!("{} (history row {})", e.job, e.id)),
        },
    ];
    if let Some(err) = &e.error {
        out.push(Line::styled(
            format!("{:<10} {err}", "error"),
            theme.error(),
        ));
    }
    out.push(Line::from(""));
    if !full {
        out.push(Line::styled(
            "loading the log and validation report…",
            theme.dim(),
        ));
        return out;
    }
    out.push(Line::styled("Validation report", theme.header()));
    match &e.validation {
        None => out.push(Line::styled(
            "  (none: the job stopped before its checks)",
            theme.dim(),
        )),
        Some(v) => match serde_json::from_value::<Checklist>(v.clone()) {
            Ok(c) => out.extend(
                c.render_text()
                    .lines()
                    .map(|l| Line::from(format!("  {l}"))),
            ),
            Err(_) => out.push(Line::from(format!("  {v}"))),
        },
    }
    out.push(Line::from(""));
    out.push(Line::styled(
        format!("Log ({} lines)", e.log.len()),
        theme.header(),
    ));
    out.extend(e.log.iter().map(|l| Line::from(format!("  {l}"))));
    out
}

fn rect(area: Rect) -> Rect {
    area.inner(Margin::new(2, 1))
}

/// How far the view can scroll in `area`, counting long log lines as the
/// rows they wrap to (an estimate by width; wrapping at words may add one).
pub fn max_scroll(state: &AppState, id: u64, area: Rect) -> u16 {
    let inner_w = rect(area).width.saturating_sub(2).max(1) as usize;
    let n: usize = lines(state, id)
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_w))
        .sum();
    (n as u16).saturating_sub(rect(area).height.saturating_sub(2))
}

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, id: u64, scroll: u16) {
    let title = match find(state, id).0 {
        Some(e) => format!(
            "{} {} {}→{} (esc closes, ↑↓ scroll)",
            e.kind, e.vm, e.from, e.to
        ),
        None => "history (esc closes)".into(),
    };
    let inner = frame_box(frame, rect(area), &title, &state.theme);
    let scroll = scroll.min(max_scroll(state, id, area));
    frame.render_widget(
        Paragraph::new(lines(state, id))
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        inner,
    );
}
