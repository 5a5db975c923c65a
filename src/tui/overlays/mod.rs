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
pub mod repository;

use super::state::{AppState, Overlay};
use super::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Clear};

/// Draw the open overlay, if any.
pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    match &state.overlay {
        None => {}
        Some(Overlay::Help { entries, scroll }) => help::draw(frame, area, entries, *scroll, state),
        Some(Overlay::VmDetail { host, vm, scroll }) => {
            detail::draw(frame, area, state, host, vm, *scroll)
        }
        Some(Overlay::HistoryDetail { id, scroll }) => {
            history_detail::draw(frame, area, state, *id, *scroll)
        }
        Some(Overlay::ConfirmQuit) => confirm_quit::draw(frame, area, state),
        Some(Overlay::HostKey { host, fingerprint }) => {
            host_key::draw(frame, area, state, host, fingerprint)
        }
        Some(Overlay::Passphrase(p)) => passphrase::draw(frame, area, state, p),
        Some(Overlay::AddHost(form)) => add_host::draw(frame, area, state, form),
        Some(Overlay::Clone(d)) => clone::draw(frame, area, state, d),
        Some(Overlay::Profiles(m)) => profiles::draw(frame, area, state, m),
        Some(Overlay::ConfirmCancel { kind, vm, to, .. }) => {
            confirm_cancel::draw(frame, area, state, kind.label(), vm, to)
        }
        Some(Overlay::Repository(b)) => repository::draw(frame, area, state, b),
        Some(Overlay::Export(d)) => export::draw(frame, area, state, d),
        Some(Overlay::JobDetail { id, scroll }) => {
            job_detail::draw(frame, area, state, *id, *scroll)
        }
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
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.border(true))
        .title(Line::from(format!(" {title} ")));
    let inner = block.inner(rect);
    frame.render_widget(Clear, rect);
    frame.render_widget(block, rect);
    inner
}
