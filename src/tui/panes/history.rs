//! History pane: jobs newest first (running ones too), filtered by the
//! pane's `/` filter, with the totals of everything the filter matches on
//! the bottom border. Rows of jobs this front end saw start show their
//! number ("#3", as the jobs pane does); older rows have none, and the
//! column is left out while no row has one.

use super::{Col, below_header, block, inner, render_table, width_of};
use crate::model::format::{datetime, duration, percent, rate, size};
use crate::model::history::HistoryStats;
use crate::model::{HistoryEntry, HistoryResult};
use crate::tui::state::{AppState, Pane};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph};

fn route(e: &HistoryEntry) -> String {
    format!("{}→{}", e.from, e.to)
}

/// Each row's job number ("#3", or "" for a job this front end never
/// saw); None when no row has one, and the column is left out.
fn numbers(state: &AppState) -> Option<Vec<String>> {
    let numbers: Vec<String> = state
        .history
        .iter()
        .map(|e| {
            state
                .job_number(e.job)
                .map(|n| format!("#{n}"))
                .unwrap_or_default()
        })
        .collect();
    numbers.iter().any(|n| !n.is_empty()).then_some(numbers)
}

fn cols(entries: &[HistoryEntry], numbers: Option<&[String]>) -> Vec<Col> {
    let vm = width_of("VM", entries.iter().map(|e| e.vm.as_str()), 24);
    let routes: Vec<String> = entries.iter().map(route).collect();
    let route_w = width_of("From→To", routes.iter().map(String::as_str), 30);
    let number = numbers.map(|n| Col::new("#", width_of("#", n.iter().map(String::as_str), 6), 2));
    number
        .into_iter()
        .chain([
            Col::new("Result", 11, 0),
            Col::new("Kind", 7, 4),
            Col::new("VM", vm, 0),
            Col::new("From→To", route_w, 1),
            Col::new("Started", 16, 3),
            Col::new("Moved", 10, 1),
            Col::new("Took", 6, 2),
            Col::new("Rate", 12, 3),
            Col::fill("Error", 10, 2),
        ])
        .collect()
}

pub fn rows_area(area: Rect, _state: &AppState) -> Rect {
    below_header(inner(area))
}

pub(crate) fn result_style(r: HistoryResult, theme: &Theme) -> Style {
    match r {
        HistoryResult::Done => theme.ok(),
        HistoryResult::Failed | HistoryResult::Interrupted => theme.error(),
        HistoryResult::Cancelled => theme.warn(),
        HistoryResult::Running => Style::new(),
    }
}

fn row(e: &HistoryEntry, state: &AppState) -> Vec<Cell<'static>> {
    let started = datetime(e.started_ms, state.utc);
    vec![
        Cell::from(e.result.label()).style(result_style(e.result, &state.theme)),
        Cell::from(e.kind.clone()),
        Cell::from(e.vm.clone()),
        Cell::from(route(e)),
        // Minutes are enough in a table; the detail view has seconds.
        Cell::from(started.get(..16).unwrap_or(&started).to_string()),
        Cell::from(size(e.bytes_moved)),
        Cell::from(
            e.duration_secs()
                .map(|s| duration(s as u64))
                .unwrap_or_else(|| "-".into()),
        ),
        Cell::from(rate(e.rate_bytes_per_sec.unwrap_or(0.0))),
        Cell::from(e.error.clone().unwrap_or_default()),
    ]
}

/// "12 jobs · 83% ok · 1.2 GiB moved · 45 MiB/s avg · 1m05s avg".
pub fn totals(s: &HistoryStats) -> String {
    let mut parts = vec![format!(
        "{} job{}",
        s.jobs,
        if s.jobs == 1 { "" } else { "s" }
    )];
    if let Some(r) = s.success_rate {
        parts.push(format!("{} ok", percent(r)));
    }
    parts.push(format!("{} moved", size(s.bytes_moved)));
    if let Some(r) = s.average_rate_bytes_per_sec {
        parts.push(format!("{} avg", rate(r)));
    }
    if let Some(d) = s.average_duration_secs {
        parts.push(format!("{} per job", duration(d.round() as u64)));
    }
    parts.join(" · ")
}

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    let focused = state.focus == Pane::History;
    let f = &state.history_filter;
    let mut title = match &state.history_stats {
        Some(s) if s.jobs as usize > state.history.len() => {
            format!(" History ({} of {}) ", state.history.len(), s.jobs)
        }
        _ => format!(" History ({}) ", state.history.len()),
    };
    if !f.text.is_empty() || f.editing {
        title.push_str(&format!("/{} ", f.text));
    }
    let mut b = block(title, focused, &state.theme);
    if let Some(s) = &state.history_stats {
        b = b.title_bottom(Line::from(format!(" {} ", totals(s))));
    }
    frame.render_widget(b, area);
    if state.history.is_empty() {
        let text = if f.text.is_empty() {
            "No jobs yet.".to_string()
        } else {
            format!("No job matches /{}", f.text)
        };
        frame.render_widget(Paragraph::new(text).style(state.theme.dim()), inner(area));
        return;
    }
    let numbers = numbers(state);
    let cols = cols(&state.history, numbers.as_deref());
    let rows = state
        .history
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let number = numbers.as_ref().and_then(|n| n.get(i));
            let number = number.map(|n| Cell::from(n.clone()));
            number.into_iter().chain(row(e, state)).collect()
        })
        .collect();
    render_table(
        frame,
        inner(area),
        &cols,
        rows,
        state.selection.history,
        focused,
        &state.theme,
    );
}
