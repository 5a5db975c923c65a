//! Where each pane goes. One pure function of the terminal area, used by
//! both drawing and mouse hit-testing so they always agree.

use ratatui::layout::{Constraint, Layout, Position, Rect};

use super::state::Pane;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaneRects {
    pub hosts: Rect,
    pub vms: Rect,
    pub jobs: Rect,
    pub history: Rect,
    /// The one-line status / key-hint bar at the bottom.
    pub status: Rect,
}

impl PaneRects {
    pub fn get(&self, pane: Pane) -> Rect {
        match pane {
            Pane::Hosts => self.hosts,
            Pane::Vms => self.vms,
            Pane::Jobs => self.jobs,
            Pane::History => self.history,
        }
    }

    /// The pane under a screen position.
    pub fn pane_at(&self, pos: Position) -> Option<Pane> {
        Pane::ALL.into_iter().find(|p| self.get(*p).contains(pos))
    }
}

/// Hosts top-left, VMs top-right (wide), jobs and history full width below,
/// status line last. At 80×24: top 12 rows, jobs 6, history 5.
pub fn layout(area: Rect) -> PaneRects {
    let [main, status] = area.layout(&Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(1),
    ]));
    let jobs_h = (main.height / 4).max(6);
    let history_h = (main.height / 5).max(5);
    let [top, jobs, history] = main.layout(&Layout::vertical([
        Constraint::Min(5),
        Constraint::Length(jobs_h),
        Constraint::Length(history_h),
    ]));
    let hosts_w = (area.width.saturating_mul(3) / 8).clamp(30, 56);
    let [hosts, vms] = top.layout(&Layout::horizontal([
        Constraint::Length(hosts_w),
        Constraint::Fill(1),
    ]));
    PaneRects {
        hosts,
        vms,
        jobs,
        history,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panes_tile_80x24_without_overlap() {
        let r = layout(Rect::new(0, 0, 80, 24));
        assert_eq!(r.hosts, Rect::new(0, 0, 30, 12));
        assert_eq!(r.vms, Rect::new(30, 0, 50, 12));
        assert_eq!(r.jobs, Rect::new(0, 12, 80, 6));
        assert_eq!(r.history, Rect::new(0, 18, 80, 5));
        assert_eq!(r.status, Rect::new(0, 23, 80, 1));
        assert_eq!(r.pane_at(Position::new(31, 3)), Some(Pane::Vms));
        assert_eq!(r.pane_at(Position::new(5, 23)), None);
    }
}
