//! Quit confirmation, shown only while a job runs: the jobs stop with an
//! in-process backend, and keep running in a daemon.

use super::{centered, frame_box};
use crate::tui::state::{AppState, is_running};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

/// Listed by number in the dialog; more are counted, not named.
const NAMED: usize = 6;

/// "#5, #3, #6", the running jobs in the pane's order.
fn numbers(state: &AppState) -> String {
    let running: Vec<String> = state
        .jobs
        .iter()
        .filter(|j| is_running(j.phase))
        .map(|j| j.label())
        .collect();
    let mut out = running[..running.len().min(NAMED)].join(", ");
    if running.len() > NAMED {
        out.push_str(&format!(" and {} more", running.len() - NAMED));
    }
    out
}

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    let running = state.jobs.iter().filter(|j| is_running(j.phase)).count();
    let jobs = if running == 1 { "job is" } else { "jobs are" };
    let text = match &state.daemon {
        None => vec![
            Line::styled(
                format!("{running} {jobs} still running: {}.", numbers(state)),
                state.theme.warn(),
            ),
            Line::from("Quitting stops them; a stopped clone must be run again."),
            Line::from(""),
            Line::from("y quit · n / esc keep running"),
        ],
        Some(daemon) => vec![
            Line::from(format!(
                "{running} {} running in the daemon ({daemon}):",
                if running == 1 {
                    "job keeps"
                } else {
                    "jobs keep"
                }
            )),
            Line::from(format!("{}.", numbers(state))),
            Line::from("Quitting closes only this window; x cancels a job."),
            Line::from(""),
            Line::from("y quit · n / esc stay"),
        ],
    };
    let inner = frame_box(frame, centered(area, 60, 7), "Quit?", &state.theme);
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), inner);
}
