//! Help: every binding, generated from the key map so it cannot drift.

use super::{centered, frame_box};
use crate::tui::keymap::HelpEntry;
use crate::tui::state::AppState;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

const WIDTH: u16 = 76;

/// Keys that belong to dialogs and text fields; fixed, not rebindable.
const FIXED: &[(&str, &str)] = &[
    ("esc", "close a dialog, clear the filter"),
    ("y / a", "accept an unknown host key"),
    ("y", "confirm: quit, cancel a job, start a checked clone"),
    ("n / esc", "reject a host key, keep running, keep the job"),
    (
        "tab",
        "next field (shift-tab: previous) in add-host and clone",
    ),
    (
        "←→ / ↑↓",
        "clone: choose the destination host or the profile",
    ),
    ("enter", "clone: run the checks; start once none failed"),
    (
        "pgup/pgdn",
        "clone: scroll the checklist (↑↓ on the button)",
    ),
    ("ctrl-u", "clear the passphrase or new-name field"),
];

fn lines(entries: &[HelpEntry]) -> Vec<Line<'static>> {
    let kw = entries
        .iter()
        .map(|e| e.keys.chars().count())
        .chain(FIXED.iter().map(|(k, _)| k.chars().count()))
        .max()
        .unwrap_or(0)
        .max(7);
    let nw = entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
    let mut out: Vec<Line> = entries
        .iter()
        .map(|e| {
            let keys = if e.keys.is_empty() {
                "(unbound)"
            } else {
                &e.keys
            };
            Line::from(vec![
                Span::raw(format!("{keys:<kw$}  ")),
                Span::raw(format!("{:<nw$}  ", e.name)),
                Span::raw(e.description),
            ])
        })
        .collect();
    out.push(Line::from(""));
    out.push(Line::from("In dialogs:"));
    out.extend(
        FIXED
            .iter()
            .map(|(k, d)| Line::from(format!("{k:<kw$}  {d}"))),
    );
    out
}

fn rect(n_lines: usize, area: Rect) -> Rect {
    let h = (n_lines as u16).saturating_add(2);
    centered(area, WIDTH, h.min(area.height.saturating_sub(2)))
}

/// How far the help can scroll in `area`.
pub fn max_scroll(entries: &[HelpEntry], area: Rect) -> u16 {
    let n = lines(entries).len() as u16;
    n.saturating_sub(rect(n as usize, area).height.saturating_sub(2))
}

pub fn draw(frame: &mut Frame, area: Rect, entries: &[HelpEntry], scroll: u16, state: &AppState) {
    let text = lines(entries);
    let rect = rect(text.len(), area);
    let inner = frame_box(frame, rect, "Keys (esc closes, ↑↓ scroll)", &state.theme);
    let scroll = scroll.min(max_scroll(entries, area));
    frame.render_widget(Paragraph::new(text).scroll((scroll, 0)), inner);
}
