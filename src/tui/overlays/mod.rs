//! Modal views drawn over the panes; one file each.

pub mod add_host;
pub mod clone;
pub mod confirm_cancel;
pub mod confirm_quit;
pub mod detail;
pub mod export;
pub mod help;
pub mod history_detail;
pub mod host_key;
pub mod job_detail;
pub mod passphrase;
pub mod profiles;
pub mod repo_create;
pub mod repository;
pub mod schedules;

use super::state::{AppState, Overlay};
use super::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Clear};

/// Draw the open overlay, if any.
pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    if let Some(ov) = &state.overlay {
        draw_one(frame, area, state, ov);
    }
}

fn draw_one(frame: &mut Frame, area: Rect, state: &AppState, ov: &Overlay) {
    match ov {
        Overlay::Help(v) => {
            if let Some(under) = &v.under {
                draw_one(frame, area, state, under);
            }
            help::draw(frame, area, &v.doc, v.scroll, &state.theme)
        }
        Overlay::VmDetail { host, vm, scroll } => {
            detail::draw(frame, area, state, host, vm, *scroll)
        }
        Overlay::HistoryDetail { id, scroll } => {
            history_detail::draw(frame, area, state, *id, *scroll)
        }
        Overlay::ConfirmQuit => confirm_quit::draw(frame, area, state),
        Overlay::HostKey { host, fingerprint } => {
            host_key::draw(frame, area, state, host, fingerprint)
        }
        Overlay::Passphrase(p) => passphrase::draw(frame, area, state, p),
        Overlay::AddHost(form) => add_host::draw(frame, area, state, form),
        Overlay::Clone(d) => clone::draw(frame, area, state, d),
        Overlay::Profiles(m) => profiles::draw(frame, area, state, m),
        Overlay::ConfirmCancel { id, kind, vm, to } => {
            let what = format!(
                "job {} ({} of {vm} to {to})",
                state.job_label(*id),
                kind.label()
            );
            confirm_cancel::draw(frame, area, state, &what, to)
        }
        Overlay::Repository(b) => repository::draw(frame, area, state, b),
        Overlay::Export(d) => export::draw(frame, area, state, d),
        Overlay::Schedules(l) => schedules::draw(frame, area, state, l),
        Overlay::JobDetail { id, scroll } => job_detail::draw(frame, area, state, *id, *scroll),
    }
}

/// A centred box of at most `w`×`h` inside `area`.
pub(crate) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    area.centered(
        Constraint::Length(w.min(area.width)),
        Constraint::Length(h.min(area.height)),
    )
}

/// Clear the box and draw its frame; returns the inside.
pub(crate) fn frame_box(frame: &mut Frame, rect: Rect, title: &str, theme: &Theme) -> Rect {
    frame_box_footed(frame, rect, title, "", theme)
}

/// [`frame_box`] with a note on the right of the bottom border.
pub(crate) fn frame_box_footed(
    frame: &mut Frame,
    rect: Rect,
    title: &str,
    footer: &str,
    theme: &Theme,
) -> Rect {
    let mut block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.border(true))
        .title(Line::from(format!(" {title} ")));
    if !footer.is_empty() {
        block = block.title_bottom(Line::from(format!(" {footer} ")).right_aligned());
    }
    let inner = block.inner(rect);
    frame.render_widget(Clear, rect);
    frame.render_widget(block, rect);
    inner
}

/// Greedy word wrap to `width` columns; a word longer than a line is split.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = cur.chars().count();
            let sep = usize::from(used > 0);
            if used + sep + word.len() <= width {
                if sep == 1 {
                    cur.push(' ');
                }
                cur.extend(word.iter());
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut cur));
                continue;
            }
            let rest = word.split_off(width);
            lines.push(word.into_iter().collect());
            word = rest;
        }
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrap_breaks_at_spaces_and_splits_long_words() {
        assert_eq!(wrap("a bb ccc", 4), ["a bb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), [""]);
        assert_eq!(wrap("x  y", 10), ["x y"]);
    }
}
