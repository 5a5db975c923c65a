//! The schedules view: each schedule's job, cron, next run and last run
//! in a list; the selected one's target and last run in full below.

use super::{centered, frame_box};
use crate::model::format::{datetime, duration};
use crate::model::schedule::ScheduleView;
use crate::tui::state::{AppState, ScheduleList};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

const MAX_WIDTH: u16 = 110;
/// Lines the selected schedule's part keeps: a rule and four fields.
const DETAIL_H: u16 = 5;
const HINTS: &str = "↑↓ select · enter run now · ? help · esc close";
const EMPTY_HINTS: &str = "? help · esc close";

/// A column cut to `w` characters and padded to it.
fn col(text: &str, w: usize) -> String {
    let cut: String = text.chars().take(w).collect();
    format!("{cut:<w$}")
}

/// Results read as words first (NO_COLOR); colour only adds to them.
fn result_style(s: &ScheduleView, theme: &Theme) -> Style {
    match s.result_label() {
        "done" => theme.ok(),
        "failed" => theme.error(),
        "running" | "skipped" => theme.warn(),
        _ => theme.dim(),
    }
}

fn header(theme: &Theme) -> Line<'static> {
    Line::styled(
        format!(
            "  {} {} {} {} LAST RUN",
            col("NAME", 14),
            col("JOB", 6),
            col("CRON", 13),
            col("NEXT", 19)
        ),
        theme.header(),
    )
}

fn row(s: &ScheduleView, selected: bool, utc: bool, theme: &Theme) -> Line<'static> {
    let next = s.next_ms.map_or("-".into(), |t| datetime(t, utc));
    let (_, last) = s.last_words(utc);
    let line = Line::from(vec![
        Span::raw(format!(
            "{} {} {} {} {} ",
            if selected { ">" } else { " " },
            col(&s.name, 14),
            col(&s.job, 6),
            col(&s.cron, 13),
            col(&next, 19),
        )),
        Span::styled(last, result_style(s, theme)),
    ]);
    if selected {
        line.style(theme.selected(true))
    } else {
        line
    }
}

fn list_lines(state: &AppState, l: &ScheduleList, height: usize) -> Vec<Line<'static>> {
    let theme = &state.theme;
    let body = height.saturating_sub(1).max(1);
    let first = l.selected.saturating_sub(body - 1);
    let mut out = vec![header(theme)];
    out.extend(
        state
            .schedules
            .iter()
            .enumerate()
            .skip(first)
            .take(body)
            .map(|(i, s)| row(s, i == l.selected, state.utc, theme)),
    );
    out
}

fn field(label: &str, value: String, style: Style, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{label:<8}"), theme.dim()),
        Span::styled(value, style),
    ])
}

/// The selected schedule in full: what it runs on and its last run.
fn detail_lines(s: &ScheduleView, utc: bool, theme: &Theme) -> Vec<Line<'static>> {
    let plain = Style::default();
    let last = match &s.last {
        None if s.running => "running".to_string(),
        None => "never run".to_string(),
        Some(r) => {
            let took = r
                .ended_ms
                .map(|e| format!(", took {}", duration(e.saturating_sub(r.started_ms) / 1000)))
                .unwrap_or_default();
            let jobs = match r.jobs.len() {
                0 => String::new(),
                n => format!(", {n} job(s)"),
            };
            format!(
                "started {} (due {}){took}{jobs}",
                datetime(r.started_ms, utc),
                datetime(r.due_ms, utc)
            )
        }
    };
    let (_, result) = s.last_words(utc);
    vec![
        Line::styled(format!("── {} ──", s.name), theme.header()),
        field("target", s.target.clone(), plain, theme),
        field("cron", s.cron.clone(), plain, theme),
        field("last", last, plain, theme),
        field("result", result, result_style(s, theme), theme),
    ]
}

/// No schedules: how to add one, and who runs them.
fn empty_lines(state: &AppState) -> Vec<Line<'static>> {
    let theme = &state.theme;
    let config = state
        .config_path
        .as_ref()
        .map_or("the config file".into(), |p| p.display().to_string());
    let who = match &state.daemon {
        Some(d) => format!("The daemon this TUI is attached to ({d}) has none."),
        None => "This TUI has its own backend (--no-daemon, or the daemon serves another config): start it without --no-daemon on the daemon's config to see them.".into(),
    };
    vec![
        Line::styled("No schedules.", theme.header()),
        Line::from(""),
        Line::from(format!(
            "Add [[schedules]] entries (name, cron, job export/prune/verify, repo, profile) to {config}: see docs/schedules.md."
        )),
        Line::from(""),
        Line::from(
            "Schedules run in the daemon (`kvm-clone daemon`, or the one the TUI starts), never in a TUI with its own backend.",
        ),
        Line::from(""),
        Line::styled(who, theme.dim()),
    ]
}

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, l: &ScheduleList) {
    let theme = &state.theme;
    let width = area.width.saturating_sub(2).min(MAX_WIDTH);
    let rect = centered(area, width, area.height.saturating_sub(2));
    let title = format!("Schedules · {}", state.schedules.len());
    let inner = frame_box(frame, rect, &title, theme);
    let [main, foot] = inner.layout(&Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(1),
    ]));
    let Some(s) = state.schedules.get(l.selected) else {
        let para = Paragraph::new(empty_lines(state)).wrap(Wrap { trim: false });
        frame.render_widget(para, main);
        frame.render_widget(Paragraph::new(Line::styled(EMPTY_HINTS, theme.dim())), foot);
        return;
    };
    // The list as long as it is (a header and a line per schedule), then
    // the selected one in full right under it, while the screen allows.
    let rows = u16::try_from(state.schedules.len())
        .unwrap_or(u16::MAX)
        .saturating_add(1);
    let list_h = rows.min(main.height.saturating_sub(DETAIL_H + 1)).max(2);
    let [list, _, detail] = main.layout(&Layout::vertical([
        Constraint::Length(list_h),
        Constraint::Length(1),
        Constraint::Fill(1),
    ]));
    // Cut, not wrapped: one line per schedule.
    let lines = list_lines(state, l, list.height as usize);
    frame.render_widget(Paragraph::new(lines), list);
    let para = Paragraph::new(detail_lines(s, state.utc, theme)).wrap(Wrap { trim: false });
    frame.render_widget(para, detail);
    frame.render_widget(Paragraph::new(Line::styled(HINTS, theme.dim())), foot);
}
