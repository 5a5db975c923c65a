//! Job detail: progress and rates with a sparkline of the last minute on
//! top; below, scrollable, the request, phases with their times, per-disk
//! progress, the validation report, retries with their reasons and the
//! job's log. Times are UTC, as in the log file.

use super::clone::{item_lines, summary};
use super::frame_box;
use crate::model::detail::JobDetail;
use crate::model::format::clock;
use crate::model::format::{duration, phase_label, rate, ratio, size};
use crate::model::{JobPhase, JobView};
use crate::tui::panes::jobs::{disk_line, phase_text};
use crate::tui::state::AppState;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Margin, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Sparkline};

/// Lines above the sparkline: phase and bytes, rates.
const SUMMARY: u16 = 2;
/// "rate, 60 s" before the sparkline.
const SPARK_LABEL: &str = "last 60 s ";

fn rect(area: Rect) -> Rect {
    area.inner(Margin::new(2, 1))
}

/// The sparkline's height: 3 rows when there is room, else 1.
fn spark_height(inner: Rect) -> u16 {
    if inner.height >= 24 { 3 } else { 1 }
}

/// Inside the box (border, and a column of padding each side): the
/// summary, the sparkline, a blank line and the scrollable body.
fn sections(area: Rect) -> [Rect; 4] {
    let inner = rect(area).inner(Margin::new(2, 1));
    inner.layout(&Layout::vertical([
        Constraint::Length(SUMMARY),
        Constraint::Length(spark_height(inner)),
        Constraint::Length(1),
        Constraint::Fill(1),
    ]))
}

fn summary_lines(job: &JobView, detail: Option<&JobDetail>) -> Vec<Line<'static>> {
    let (done, total) = (job.bytes_done(), job.bytes_total());
    let eta = job
        .eta_secs
        .filter(|_| job.phase == JobPhase::Copying)
        .map(|s| format!(" · ETA {}", duration(s)))
        .unwrap_or_default();
    let average = detail.and_then(|d| d.average_rate).unwrap_or(0.0);
    let retries = detail.map_or(0, |d| d.retry_count);
    vec![
        Line::from(format!(
            "{} · {} of {} ({:.0}%){eta}",
            phase_text(job),
            size(done),
            size(total),
            ratio(done, total) * 100.0
        )),
        Line::from(format!(
            "rate {} now · {} average · {retries} {}",
            rate(job.rate_bytes_per_sec),
            rate(average),
            if retries == 1 { "retry" } else { "retries" }
        )),
    ]
}

fn body_lines(
    state: &AppState,
    job: &JobView,
    d: Option<&JobDetail>,
    width: u16,
) -> Vec<Line<'static>> {
    let theme = &state.theme;
    let empty = JobDetail::default();
    let d = d.unwrap_or(&empty);
    // The id names the job's log lines, journal and history row.
    let mut out = vec![Line::styled(format!("job id {}", job.id), theme.dim())];
    if let Some(r) = &d.request {
        out.push(Line::from(format!(
            "{} {} → {} as {} · profile {}{}",
            job.kind,
            r.vm,
            r.to,
            r.new_name,
            r.profile,
            if r.start { " · start after" } else { "" }
        )));
    }
    if let Some(e) = &d.error {
        let style = if job.phase == JobPhase::Cancelled {
            theme.warn()
        } else {
            theme.error()
        };
        out.push(Line::styled(format!("ended: {e}"), style));
    }
    out.push(Line::styled("Phases (UTC)", theme.header()));
    if d.phases.is_empty() {
        out.push(Line::styled("  none reported yet", theme.dim()));
    }
    for (i, p) in d.phases.iter().enumerate() {
        let took = d
            .phases
            .get(i + 1)
            .map(|next| format!("  {}", duration(next.at_ms.saturating_sub(p.at_ms) / 1000)))
            .unwrap_or_default();
        out.push(Line::from(format!(
            "  {} {:<10}{took}",
            clock(p.at_ms),
            phase_label(p.phase)
        )));
    }
    out.push(Line::styled(
        format!("Disks ({})", job.disks.len()),
        theme.header(),
    ));
    if job.disks.is_empty() {
        out.push(Line::styled("  not planned yet", theme.dim()));
    }
    out.extend(job.disks.iter().map(|disk| disk_line(disk, width)));
    match &d.checklist {
        Some(c) => {
            out.push(Line::styled(
                format!("Validation: {}", summary(c)),
                theme.header(),
            ));
            for item in &c.items {
                out.extend(item_lines(item, usize::from(width), theme));
            }
        }
        None => {
            out.push(Line::styled("Validation", theme.header()));
            out.push(Line::styled("  not run yet", theme.dim()));
        }
    }
    out.push(Line::styled(
        format!("Retries ({})", d.retry_count),
        theme.header(),
    ));
    if d.retries.is_empty() {
        out.push(Line::styled("  none", theme.dim()));
    }
    for r in &d.retries {
        out.push(Line::from(format!(
            "  {} {} retry {}: {}",
            clock(r.at_ms),
            r.disk,
            r.attempt,
            r.reason
        )));
    }
    out.push(Line::styled(
        format!("Log ({} lines)", d.log.len()),
        theme.header(),
    ));
    if d.log.is_empty() {
        out.push(Line::styled("  nothing logged yet", theme.dim()));
    }
    out.extend(d.log.iter().map(|l| Line::from(format!("  {l}"))));
    out
}

fn job(state: &AppState, id: u64) -> Option<&JobView> {
    state.jobs.iter().find(|j| j.id == id)
}

/// How far the detail of job `id` can scroll in `area`.
pub fn max_scroll(state: &AppState, id: u64, area: Rect) -> u16 {
    let Some(j) = job(state, id) else {
        return 0;
    };
    let [.., body] = sections(area);
    let n = body_lines(state, j, state.job_details.get(&id), body.width).len();
    (n as u16).saturating_sub(body.height)
}

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, id: u64, scroll: u16) {
    let Some(j) = job(state, id) else {
        let title = format!("Job {}", state.job_label(id));
        let inner = frame_box(frame, rect(area), &title, &state.theme);
        let text = Line::styled("This job is no longer listed.", state.theme.warn());
        frame.render_widget(Paragraph::new(text), inner);
        return;
    };
    let title = format!(
        "Job {}: {} {} {}→{} (esc closes, ↑↓ scroll)",
        j.label(),
        j.kind,
        j.vm,
        j.from,
        j.to
    );
    frame_box(frame, rect(area), &title, &state.theme);
    let detail = state.job_details.get(&id);
    let [top, spark, _, body] = sections(area);
    frame.render_widget(Paragraph::new(summary_lines(j, detail)), top);
    let [label, line] = spark.layout(&Layout::horizontal([
        Constraint::Length(SPARK_LABEL.len() as u16),
        Constraint::Fill(1),
    ]));
    frame.render_widget(Paragraph::new(SPARK_LABEL).style(state.theme.dim()), label);
    let samples: Vec<u64> = detail
        .map(|d| d.rates.iter().map(|r| *r as u64).collect())
        .unwrap_or_default();
    frame.render_widget(
        Sparkline::default().data(&samples).style(state.theme.ok()),
        line,
    );
    let lines = body_lines(state, j, detail, body.width);
    let scroll = scroll.min((lines.len() as u16).saturating_sub(body.height));
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), body);
}
