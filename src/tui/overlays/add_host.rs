//! Add-host form.

use super::{centered, frame_box};
use crate::tui::state::{AddHostField, AddHostForm, AppState};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, form: &AddHostForm) {
    let theme = &state.theme;
    let mut text: Vec<Line> = AddHostField::ALL
        .iter()
        .map(|f| {
            let on = *f == form.field;
            let mark = if on { "> " } else { "  " };
            let cursor = if on { "_" } else { "" };
            let hint = match f {
                AddHostField::Identity => "  (optional)",
                AddHostField::SshAlias => "  (optional: a Host of ~/.ssh/config)",
                _ => "",
            };
            let label_style = if on {
                theme.selected(false)
            } else {
                ratatui::style::Style::new()
            };
            Line::from(vec![
                Span::styled(
                    format!("{mark}{:<14}", format!("{}:", f.label())),
                    label_style,
                ),
                Span::raw(format!("{}{cursor}", form.value(*f))),
                Span::styled(hint, theme.dim()),
            ])
        })
        .collect();
    text.push(Line::from(""));
    match &form.error {
        Some(e) => text.push(Line::styled(e.clone(), theme.error())),
        None => text.push(Line::from("")),
    }
    text.push(Line::styled(
        "tab/↑↓ move · enter add and connect · esc cancel",
        theme.dim(),
    ));
    // Six fields, a blank line, the error line and the hints, in a border.
    let inner = frame_box(frame, centered(area, 64, 11), "Add host", theme);
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), inner);
}
