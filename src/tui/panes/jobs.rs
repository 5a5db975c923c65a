//! Jobs pane: running and just-finished jobs with their progress.

use super::{Col, below_header, block, inner, render_table, width_of};
use crate::model::{JobPhase, JobView};
use crate::tui::format::{bar, duration, of, rate, ratio};
use crate::tui::state::{AppState, Pane};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{Cell, Paragraph};

const BAR: usize = 6;

fn route(j: &JobView) -> String {
    format!("{}→{}", j.from, j.to)
}

fn cols(jobs: &[JobView]) -> [Col; 10] {
    let vm = width_of("VM", jobs.iter().map(|j| j.vm.as_str()), 24);
    let routes: Vec<String> = jobs.iter().map(route).collect();
    let route_w = width_of("From→To", routes.iter().map(String::as_str), 30);
    [
        Col::new("#", 3, 5),
        Col::new("Kind", 7, 4),
        Col::fill("VM", vm, 0),
        Col::new("From→To", route_w, 2),
        Col::new("Phase", 10, 0),
        Col::new("Done/Total", 15, 1),
        Col::new("Rate", 10, 1),
        Col::new("ETA", 6, 1),
        // Bar, space, "100%".
        Col::new("Progress", BAR as u16 + 5, 0),
        Col::fill("Message", 20, 6),
    ]
}

pub fn rows_area(area: Rect) -> Rect {
    below_header(inner(area))
}

fn phase_style(p: JobPhase, theme: &Theme) -> Style {
    match p {
        JobPhase::Done => theme.ok(),
        JobPhase::Failed => theme.error(),
        JobPhase::Cancelled => theme.warn(),
        _ => Style::new(),
    }
}

fn phase_label(p: JobPhase) -> &'static str {
    match p {
        JobPhase::Validating => "validating",
        JobPhase::Preparing => "preparing",
        JobPhase::Copying => "copying",
        JobPhase::Verifying => "verifying",
        JobPhase::Defining => "defining",
        JobPhase::Done => "done",
        JobPhase::Failed => "failed",
        JobPhase::Cancelled => "cancelled",
    }
}

fn row(j: &JobView, theme: &Theme) -> Vec<Cell<'static>> {
    let (done, total) = (j.bytes_done(), j.bytes_total());
    let r = ratio(done, total);
    vec![
        Cell::from(j.id.to_string()),
        Cell::from(j.kind.clone()),
        Cell::from(j.vm.clone()),
        Cell::from(route(j)),
        Cell::from(phase_label(j.phase)).style(phase_style(j.phase, theme)),
        Cell::from(of(done, total)),
        Cell::from(rate(j.rate_bytes_per_sec)),
        Cell::from(j.eta_secs.map(duration).unwrap_or_else(|| "-".into())),
        Cell::from(format!("{} {:>3.0}%", bar(r, BAR), r * 100.0)),
        Cell::from(j.message.clone().unwrap_or_default()),
    ]
}

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    let focused = state.focus == Pane::Jobs;
    let title = format!(" Jobs ({}) ", state.jobs.len());
    frame.render_widget(block(title, focused, &state.theme), area);
    if state.jobs.is_empty() {
        frame.render_widget(
            Paragraph::new("No jobs running.").style(state.theme.dim()),
            inner(area),
        );
        return;
    }
    let rows = state.jobs.iter().map(|j| row(j, &state.theme)).collect();
    render_table(
        frame,
        inner(area),
        &cols(&state.jobs),
        rows,
        state.selection.jobs,
        focused,
        &state.theme,
    );
}
