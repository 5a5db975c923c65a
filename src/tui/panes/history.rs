//! History pane: finished jobs, newest first.

use super::{Col, below_header, block, inner, render_table, width_of};
use crate::model::HistoryEntry;
use crate::tui::format::{duration, size};
use crate::tui::state::{AppState, Pane};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{Cell, Paragraph};

fn route(e: &HistoryEntry) -> String {
    format!("{}→{}", e.from, e.to)
}

fn cols(entries: &[HistoryEntry]) -> [Col; 7] {
    let vm = width_of("VM", entries.iter().map(|e| e.vm.as_str()), 24);
    let routes: Vec<String> = entries.iter().map(route).collect();
    let route_w = width_of("From→To", routes.iter().map(String::as_str), 30);
    [
        Col::new("Outcome", 9, 0),
        Col::new("Kind", 7, 3),
        Col::new("VM", vm, 0),
        Col::new("From→To", route_w, 1),
        Col::new("Size", 10, 1),
        Col::new("Took", 6, 1),
        Col::fill("Message", 10, 2),
    ]
}

pub fn rows_area(area: Rect) -> Rect {
    below_header(inner(area))
}

fn outcome_style(outcome: &str, theme: &Theme) -> Style {
    match outcome {
        "done" => theme.ok(),
        "failed" => theme.error(),
        "cancelled" => theme.warn(),
        _ => Style::new(),
    }
}

fn row(e: &HistoryEntry, theme: &Theme) -> Vec<Cell<'static>> {
    vec![
        Cell::from(e.outcome.clone()).style(outcome_style(&e.outcome, theme)),
        Cell::from(e.kind.clone()),
        Cell::from(e.vm.clone()),
        Cell::from(route(e)),
        Cell::from(size(e.bytes_moved)),
        Cell::from(duration(e.duration_secs)),
        Cell::from(e.message.clone().unwrap_or_default()),
    ]
}

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    let focused = state.focus == Pane::History;
    let title = format!(" History ({}) ", state.history.len());
    frame.render_widget(block(title, focused, &state.theme), area);
    if state.history.is_empty() {
        frame.render_widget(
            Paragraph::new("No finished jobs yet.").style(state.theme.dim()),
            inner(area),
        );
        return;
    }
    let rows = state.history.iter().map(|e| row(e, &state.theme)).collect();
    render_table(
        frame,
        inner(area),
        &cols(&state.history),
        rows,
        state.selection.history,
        focused,
        &state.theme,
    );
}
