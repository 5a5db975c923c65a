//! Passphrase prompt: the typed text is shown only as `*`.

use super::{centered, frame_box};
use crate::tui::state::{AppState, PassphrasePrompt};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, p: &PassphrasePrompt) {
    let text = vec![
        Line::from(format!("{} needs the passphrase of", p.host)),
        Line::styled(format!("  {}", p.key_path), state.theme.header()),
        Line::from(""),
        Line::from(format!("Passphrase: {}_", "*".repeat(p.typed()))),
        Line::from(""),
        Line::styled(
            "enter unlock · esc cancel · ctrl-u clear (used once, never stored)",
            state.theme.dim(),
        ),
    ];
    let inner = frame_box(frame, centered(area, 72, 8), "Key passphrase", &state.theme);
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), inner);
}
