//! Cancel confirmation for a running job.

use super::{centered, frame_box};
use crate::tui::state::AppState;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

/// `what`: "job #3 (clone of web01 to beta)".
pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, what: &str, to: &str) {
    let text = vec![
        Line::styled(format!("cancel {what}? y/n"), state.theme.warn()),
        Line::from(format!("The job removes what it created on {to}.")),
        Line::from(""),
        Line::from("y cancel the job · n / esc keep it running"),
    ];
    let inner = frame_box(frame, centered(area, 60, 6), "Cancel job?", &state.theme);
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), inner);
}
