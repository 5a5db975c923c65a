//! Help: the keys of the context in focus first, then of every other pane,
//! view and dialog (see [`crate::tui::state::help_document`]). Sized to the
//! screen, wrapped to its width so nothing is cut, and scrolled.

use super::{centered, frame_box_footed, wrap};
use crate::tui::state::HelpDoc;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Margin, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

/// Wider lines are hard to read; the box stops growing here.
const MAX_WIDTH: u16 = 100;
/// The key column at most; longer key lists wrap inside it.
const KEYS_MAX: usize = 18;
/// Rows are indented under their section's title.
const INDENT: usize = 2;
const GAP: usize = 2;

/// One line of the text: a section title or not.
type TextLine = (bool, String);

/// The text wrapped to `width` columns.
fn text(doc: &HelpDoc, width: usize) -> Vec<TextLine> {
    let rows = || doc.sections.iter().flat_map(|s| &s.rows);
    let kw = rows()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        .min(KEYS_MAX)
        .min(width / 4)
        .max(1);
    let dw = width.saturating_sub(INDENT + kw + GAP);
    let mut out = Vec::new();
    for (i, section) in doc.sections.iter().enumerate() {
        if i > 0 {
            out.push((false, String::new()));
        }
        out.extend(wrap(&section.title, width).into_iter().map(|l| (true, l)));
        for (keys, does) in &section.rows {
            let (k, d) = (wrap(keys, kw), wrap(does, dw));
            for n in 0..k.len().max(d.len()) {
                let key = k.get(n).map_or("", String::as_str);
                let line = format!(
                    "{:INDENT$}{key:<kw$}{:GAP$}{}",
                    "",
                    "",
                    d.get(n).map_or("", String::as_str)
                );
                out.push((false, line.trim_end().to_string()));
            }
        }
    }
    out
}

/// The box: a margin around it, never wider than [`MAX_WIDTH`], as tall as
/// the text or the screen allows.
fn layout(doc: &HelpDoc, area: Rect) -> (Rect, Vec<TextLine>) {
    let room = area.inner(Margin::new(2, 1));
    let width = room.width.min(MAX_WIDTH);
    let lines = text(doc, width.saturating_sub(2) as usize);
    let height = (lines.len() as u16).saturating_add(2).min(room.height);
    (centered(area, width, height), lines)
}

fn visible(rect: Rect) -> u16 {
    rect.height.saturating_sub(2)
}

/// How far help can scroll in `area`.
pub fn max_scroll(doc: &HelpDoc, area: Rect) -> u16 {
    let (rect, lines) = layout(doc, area);
    (lines.len() as u16).saturating_sub(visible(rect))
}

/// Lines a page key scrolls: a screenful, keeping one line for context.
pub fn page(doc: &HelpDoc, area: Rect) -> u16 {
    visible(layout(doc, area).0).saturating_sub(1).max(1)
}

pub fn draw(frame: &mut Frame, area: Rect, doc: &HelpDoc, scroll: u16, theme: &Theme) {
    let (rect, lines) = layout(doc, area);
    let total = lines.len() as u16;
    let shown = visible(rect);
    let scroll = scroll.min(total.saturating_sub(shown));
    // Where the window is, when the text does not fit.
    let footer = if total > shown {
        let last = (scroll + shown).min(total);
        format!("lines {}-{last} of {total}", scroll + 1)
    } else {
        String::new()
    };
    let title = format!("Keys: {} · esc closes", doc.focus);
    let inner = frame_box_footed(frame, rect, &title, &footer, theme);
    let lines: Vec<Line> = lines
        .into_iter()
        .map(|(heading, l)| match heading {
            true => Line::styled(l, theme.header()),
            false => Line::from(l),
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::state::HelpSection;

    fn doc() -> HelpDoc {
        HelpDoc {
            focus: "Hosts pane",
            sections: vec![
                HelpSection {
                    title: "Hosts pane".into(),
                    rows: vec![(
                        "shift-tab, left, h".into(),
                        "answer the host's key or passphrase prompt; go to its VMs".into(),
                    )],
                },
                HelpSection {
                    title: "Every pane".into(),
                    rows: vec![("q".into(), "quit".into())],
                },
            ],
        }
    }

    #[test]
    fn keys_and_text_wrap_in_their_columns() {
        let lines: Vec<String> = text(&doc(), 40).into_iter().map(|l| l.1).collect();
        assert_eq!(
            lines,
            [
                "Hosts pane",
                "  shift-tab,  answer the host's key or",
                "  left, h     passphrase prompt; go to",
                "              its VMs",
                "",
                "Every pane",
                "  q           quit",
            ]
        );
        assert!(lines.iter().all(|l| l.chars().count() <= 40));
    }

    #[test]
    fn the_box_keeps_a_margin_and_never_leaves_the_screen() {
        for (w, h) in [(80, 24), (120, 40), (200, 60), (20, 6), (3, 2), (0, 0)] {
            let area = Rect::new(0, 0, w, h);
            let (rect, _) = layout(&doc(), area);
            assert!(area.contains(rect.as_position()) || rect.area() == 0);
            assert!(rect.right() <= area.right() && rect.bottom() <= area.bottom());
            assert!(rect.width <= MAX_WIDTH);
        }
        let (rect, lines) = layout(&doc(), Rect::new(0, 0, 120, 40));
        assert_eq!(rect.width, 100, "capped");
        assert_eq!(rect.height as usize, lines.len() + 2, "as tall as the text");
        assert_eq!(max_scroll(&doc(), Rect::new(0, 0, 120, 40)), 0);
        // 6 lines of text, 2 shown inside a box of 4.
        assert_eq!(max_scroll(&doc(), Rect::new(0, 0, 80, 6)), 4);
    }
}
