//! Mouse: click focuses a pane and selects the row under the pointer; the
//! wheel moves the selection of the pane under the pointer.

use super::{AppState, CloneDialog, HelpView, Overlay};
use crate::backend::messages::Action;
use crate::tui::{layout::layout, panes};
use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

impl AppState {
    pub fn on_mouse(&mut self, ev: MouseEvent) -> Vec<Action> {
        let pos = Position::new(ev.column, ev.row);
        let delta: isize = match ev.kind {
            MouseEventKind::ScrollUp => -1,
            MouseEventKind::ScrollDown => 1,
            MouseEventKind::Down(MouseButton::Left) => 0,
            _ => return Vec::new(),
        };
        if matches!(self.overlay, Some(Overlay::Schedules(_))) {
            // Modal like the other views: the wheel moves the selection.
            self.schedules_wheel(delta);
            return Vec::new();
        }
        if let Some(ov) = &mut self.overlay {
            // Modal: only scrolling views react, and only to the wheel.
            if let Overlay::Help(HelpView { scroll, .. })
            | Overlay::VmDetail { scroll, .. }
            | Overlay::HistoryDetail { scroll, .. }
            | Overlay::Clone(CloneDialog { scroll, .. }) = ov
            {
                *scroll = if delta < 0 {
                    scroll.saturating_sub(1)
                } else {
                    scroll.saturating_add(delta as u16)
                };
            }
            self.clamp_overlay_scroll();
            return Vec::new();
        }
        let rects = layout(self.area);
        let Some(pane) = rects.pane_at(pos) else {
            return Vec::new();
        };
        if delta != 0 {
            self.move_selection(pane, delta);
            return Vec::new();
        }
        let before = self.focus;
        self.focus = pane;
        if let Some(row) = panes::row_at(pane, rects.get(pane), self, pos) {
            self.select(pane, row);
        }
        let mut out = Vec::new();
        self.history_on_focus(before, &mut out);
        out
    }

    fn clamp_overlay_scroll(&mut self) {
        let max = match &self.overlay {
            Some(Overlay::Help(v)) => crate::tui::overlays::help::max_scroll(&v.doc, self.area),
            Some(Overlay::VmDetail { host, vm, .. }) => {
                crate::tui::overlays::detail::max_scroll(self, host, vm, self.area)
            }
            Some(Overlay::Clone(d)) => crate::tui::overlays::clone::max_scroll(self, d, self.area),
            Some(Overlay::HistoryDetail { id, .. }) => {
                crate::tui::overlays::history_detail::max_scroll(self, *id, self.area)
            }
            _ => return,
        };
        if let Some(
            Overlay::Help(HelpView { scroll, .. })
            | Overlay::VmDetail { scroll, .. }
            | Overlay::HistoryDetail { scroll, .. }
            | Overlay::Clone(CloneDialog { scroll, .. }),
        ) = &mut self.overlay
        {
            *scroll = (*scroll).min(max);
        }
    }
}
