//! Unknown host key: show the fingerprint, accept or reject.

use super::{centered, frame_box};
use crate::tui::state::AppState;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, host: &str, fingerprint: &str) {
    let theme = &state.theme;
    let endpoint = state
        .hosts
        .iter()
        .find(|h| h.name == host)
        .map(|h| h.endpoint.as_str())
        .unwrap_or("");
    let text = vec![
        Line::from(format!("{host} ({endpoint}) is not in known_hosts.")),
        Line::from("Its host key fingerprint is:"),
        Line::styled(format!("  {fingerprint}"), theme.header()),
        Line::from(""),
        Line::from("Accept only if it matches what the host itself shows:"),
        Line::styled(
            "  ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub",
            theme.dim(),
        ),
        Line::from(""),
        Line::from(vec![
            Span::styled("y", theme.header()),
            Span::raw("/"),
            Span::styled("a", theme.header()),
            Span::raw(" accept and save to known_hosts · "),
            Span::styled("n", theme.header()),
            Span::raw("/"),
            Span::styled("esc", theme.header()),
            Span::raw(" reject"),
        ]),
    ];
    let inner = frame_box(frame, centered(area, 72, 10), "Unknown host key", theme);
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), inner);
}
