//! Jobs pane: running and just-finished jobs, one total line each, and the
//! selected job's disks below them. A finished job stays until the history
//! lists it. Jobs are named by the backend's number ("#3"), and at 80
//! columns the number, VM and route always show; the kind, the byte
//! counts, the ETA and the rate give way first.

use super::{Col, MARK_W, below_header, block, inner, offset, render_table, width_of};
use crate::model::format::{RATE_WIDTH, bar, duration, of, phase_label, rate, ratio, size};
use crate::model::{DiskProgress, JobPhase, JobView};
use crate::tui::state::{AppState, Pane, at_work};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph};

const BAR: usize = 6;

fn route(j: &JobView) -> String {
    format!("{}→{}", j.from, j.to)
}

const PHASE_W: u16 = 10;
/// Bar, space, "100%".
const PROGRESS_W: u16 = BAR as u16 + 5;
/// Neither VM nor route is squeezed below this.
const NAME_MIN: u16 = 8;

/// Widths of the VM and route columns that fit in `room`, the longer
/// one shortened first.
fn squeeze(mut vm: u16, mut route: u16, room: u16) -> (u16, u16) {
    while vm + route > room && vm.max(route) > NAME_MIN {
        if vm > route {
            vm -= 1;
        } else {
            route -= 1;
        }
    }
    (vm, route)
}

/// The columns for a table `width` wide. Number, VM, route, phase and
/// progress always show (the VM and route shortened if they must).
fn cols(jobs: &[JobView], width: u16) -> [Col; 10] {
    let labels: Vec<String> = jobs.iter().map(JobView::label).collect();
    let number = width_of("#", labels.iter().map(String::as_str), 6);
    let vm = width_of("VM", jobs.iter().map(|j| j.vm.as_str()), 24);
    let routes: Vec<String> = jobs.iter().map(route).collect();
    let route_w = width_of("From→To", routes.iter().map(String::as_str), 30);
    // Four gaps between the five columns that always show.
    let fixed = number + PHASE_W + PROGRESS_W + 4;
    let room = width.saturating_sub(MARK_W + fixed);
    let (vm, route_w) = squeeze(vm, route_w, room);
    [
        Col::new("#", number, 0),
        Col::new("Kind", 7, 4),
        Col::fill("VM", vm, 0),
        Col::new("From→To", route_w, 0),
        Col::new("Phase", PHASE_W, 0),
        // The progress column's percentage and the disk lines say as much.
        Col::new("Done/Total", 15, 3),
        Col::new("Rate", RATE_WIDTH, 1),
        Col::new("ETA", 6, 2),
        Col::new("Progress", PROGRESS_W, 0),
        Col::fill("Message", 20, 6),
    ]
}

/// Whether the selection is away from the jobs at work while one runs:
/// then the table keeps a line for the first of them (see [`shown`]).
fn keeps_a_running_job(state: &AppState) -> bool {
    let working = state.jobs.first().is_some_and(|j| at_work(j.phase));
    working && state.selected_job().is_some_and(|j| !at_work(j.phase))
}

/// The job table (header plus one line per job) and, below it, the selected
/// job's disk lines. The table keeps its header and one row however small the
/// pane, so the selected job's total line always shows, and one more for a
/// running job when another is selected.
fn split(area: Rect, state: &AppState) -> (Rect, Rect) {
    let inner = inner(area);
    let disks = state.selected_job().map_or(0, |j| j.disks.len()) as u16;
    let table_min = if keeps_a_running_job(state) { 3 } else { 2 };
    let disk_h = disks.min(inner.height.saturating_sub(table_min));
    let table_h = (state.jobs.len() as u16 + 1).clamp(2, inner.height.saturating_sub(disk_h));
    let [table, disks, _] = inner.layout(&Layout::vertical([
        Constraint::Length(table_h),
        Constraint::Length(disk_h),
        Constraint::Fill(1),
    ]));
    (table, disks)
}

pub fn rows_area(area: Rect, state: &AppState) -> Rect {
    below_header(split(area, state).0)
}

/// The jobs the table shows on its `lines` data lines, by index: the
/// window that keeps the selection in view, except that when that window
/// holds no job at work, the first one (the newest, as the list is
/// sorted) keeps the top line, so a running job is never scrolled away.
/// Drawing and mouse hit-testing both use it.
pub fn shown(state: &AppState, lines: u16) -> Vec<usize> {
    let n = state.jobs.len();
    let sel = state.selection.jobs.min(n.saturating_sub(1));
    let first = offset(sel, lines);
    let end = (first + lines as usize).min(n);
    let working = |i: usize| state.jobs.get(i).is_some_and(|j| at_work(j.phase));
    if first == 0 || lines < 2 || !working(0) || (first..end).any(working) {
        return (first..end).collect();
    }
    std::iter::once(0)
        .chain(sel + 2 - lines as usize..=sel)
        .collect()
}

fn phase_style(p: JobPhase, theme: &Theme) -> Style {
    match p {
        JobPhase::Done => theme.ok(),
        JobPhase::Failed => theme.error(),
        JobPhase::Cancelled => theme.warn(),
        _ => Style::new(),
    }
}

/// "copying", or "queued #2" with the job's place in the queue.
pub(crate) fn phase_text(j: &JobView) -> String {
    match (j.phase, j.queue_position) {
        (JobPhase::Queued, Some(n)) => format!("queued #{n}"),
        (p, _) => phase_label(p).to_string(),
    }
}

fn row(j: &JobView, theme: &Theme) -> Vec<Cell<'static>> {
    let (done, total) = (j.bytes_done(), j.bytes_total());
    let r = ratio(done, total);
    vec![
        Cell::from(j.label()),
        Cell::from(j.kind.label()),
        Cell::from(j.vm.clone()),
        Cell::from(route(j)),
        Cell::from(phase_text(j)).style(phase_style(j.phase, theme)),
        Cell::from(of(done, total)),
        Cell::from(rate(j.rate_bytes_per_sec)),
        Cell::from(j.eta_secs.map(duration).unwrap_or_else(|| "-".into())),
        Cell::from(format!("{} {:>3.0}%", bar(r, BAR), r * 100.0)),
        Cell::from(j.message.clone().unwrap_or_default()),
    ]
}

/// "  ↳ vda    ████······  45%  135 MiB of 300 MiB": bytes of one disk.
pub(crate) fn disk_line(d: &DiskProgress, width: u16) -> Line<'static> {
    let r = ratio(d.bytes_done, d.bytes_total);
    let amount = format!("{} of {}", size(d.bytes_done), size(d.bytes_total));
    // Marker, target, percentage and amount take about 40 columns.
    let bar_w = (width as usize).saturating_sub(44).clamp(10, 40);
    Line::from(format!(
        "  ↳ {:<6} {} {:>3.0}%  {amount}",
        d.target,
        bar(r, bar_w),
        r * 100.0
    ))
}

fn disk_lines(job: &JobView, area: Rect) -> Vec<Line<'static>> {
    let room = area.height as usize;
    if job.disks.len() <= room {
        return job.disks.iter().map(|d| disk_line(d, area.width)).collect();
    }
    // Not all fit: as many as do, and how many are left out.
    let shown = room.saturating_sub(1);
    let mut out: Vec<Line> = job.disks[..shown]
        .iter()
        .map(|d| disk_line(d, area.width))
        .collect();
    out.push(Line::from(format!(
        "  ↳ … {} more disks",
        job.disks.len() - shown
    )));
    out
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
    let (table, disks) = split(area, state);
    let lines = shown(state, below_header(table).height);
    let rows = lines
        .iter()
        .filter_map(|i| state.jobs.get(*i))
        .map(|j| row(j, &state.theme))
        .collect();
    let selected = lines
        .iter()
        .position(|i| *i == state.selection.jobs)
        .unwrap_or(0);
    render_table(
        frame,
        table,
        &cols(&state.jobs, table.width),
        rows,
        selected,
        focused,
        &state.theme,
    );
    if let Some(job) = state.selected_job() {
        frame.render_widget(Paragraph::new(disk_lines(job, disks)), disks);
    }
}
