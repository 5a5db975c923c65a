//! The whole screen: four panes, the status line, and any overlay on top.

use super::layout::layout;
use super::overlays;
use super::panes::{history, hosts, jobs, vms};
use super::state::AppState;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Draw everything from the state; nothing else is read.
pub fn draw(frame: &mut Frame, state: &AppState) {
    let area = frame.area();
    let r = layout(area);
    hosts::draw(frame, r.hosts, state);
    vms::draw(frame, r.vms, state);
    jobs::draw(frame, r.jobs, state);
    history::draw(frame, r.history, state);
    status_line(frame, r.status, state);
    overlays::draw(frame, area, state);
}

/// Hints shown when there is nothing else to say: action name → short label.
const HINTS: &[(&str, &str)] = &[
    ("help", "help"),
    ("quit", "quit"),
    ("filter", "filter"),
    ("details", "open"),
    ("clone", "clone"),
    ("refresh", "refresh"),
    ("add_host", "add host"),
    ("next_pane", "pane"),
];

fn status_line(frame: &mut Frame, area: Rect, state: &AppState) {
    let theme = &state.theme;
    let line = if state.filter.editing {
        Line::from(vec![
            Span::styled("/", theme.header()),
            Span::raw(format!("{}_", state.filter.text)),
            Span::styled("  enter keep · esc clear", theme.dim()),
        ])
    } else if state.history_filter.editing {
        let hint = match state.history_filter_problem() {
            Some(p) => Span::styled(format!("  {p}"), theme.error()),
            None => Span::styled(
                "  vm:/host:/kind:/result: · enter keep · esc clear",
                theme.dim(),
            ),
        };
        Line::from(vec![
            Span::styled("history /", theme.header()),
            Span::raw(format!("{}_", state.history_filter.text)),
            hint,
        ])
    } else if let Some(s) = &state.status {
        let style = if s.error { theme.error() } else { theme.ok() };
        Line::styled(s.text.clone(), style)
    } else {
        let mut spans = Vec::new();
        for (action, label) in HINTS {
            if let Some(key) = state.key_for(action) {
                spans.push(Span::styled(key.to_string(), theme.header()));
                spans.push(Span::raw(format!(" {label}  ")));
            }
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}
