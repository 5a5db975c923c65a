//! The schedules view (`S`): the daemon's schedules, as the backend last
//! sent them, and Enter to run the selected one now.

use super::AppState;
use super::keys::plain_code;
use crate::backend::messages::Action;
use crate::model::schedule::ScheduleView;
use crate::tui::keymap::{Command, KeyMap};
use crossterm::event::{KeyCode, KeyEvent};

/// The view's own state; the schedules are [`AppState::schedules`], so
/// updates reach it while it is open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleList {
    /// Row in [`AppState::schedules`].
    pub selected: usize,
}

impl AppState {
    pub(super) fn open_schedules(&mut self) {
        self.overlay = Some(super::Overlay::Schedules(ScheduleList::default()));
    }

    /// The backend's schedules replace the ones shown; the view stays on
    /// the same schedule when it is still there.
    pub(super) fn schedules_listed(&mut self, list: Vec<ScheduleView>) {
        let keep = self
            .schedule_list()
            .and_then(|l| self.schedules.get(l.selected))
            .map(|s| s.name.clone());
        self.schedules = list;
        let len = self.schedules.len();
        let at = keep.and_then(|n| self.schedules.iter().position(|s| s.name == n));
        if let Some(l) = self.schedule_list_mut() {
            l.selected = at.unwrap_or(l.selected).min(len.saturating_sub(1));
        }
    }

    /// A key in the schedules view; None closes it.
    pub(super) fn schedules_key(
        &mut self,
        mut l: ScheduleList,
        key: &KeyEvent,
        keys: &KeyMap,
        out: &mut Vec<Action>,
    ) -> Option<ScheduleList> {
        let last = self.schedules.len().saturating_sub(1);
        match (plain_code(key), keys.command(key)) {
            (KeyCode::Esc, _) | (_, Some(Command::Quit | Command::Schedules)) => return None,
            (KeyCode::Enter, _) => match self.schedules.get(l.selected) {
                // The daemon would only record it skipped: a schedule
                // never overlaps itself.
                Some(s) if s.running => {
                    let text = format!(
                        "schedule {} is running; it can run again once it ends",
                        s.name
                    );
                    self.set_status(text);
                }
                Some(s) => {
                    let name = s.name.clone();
                    self.set_status(format!("asked the daemon to run schedule {name} now"));
                    out.push(Action::RunSchedule(name));
                }
                None => self.set_status("no schedule to run"),
            },
            (_, Some(Command::Up)) => l.selected = l.selected.saturating_sub(1),
            (_, Some(Command::Down)) => l.selected = (l.selected + 1).min(last),
            (_, Some(Command::Top)) => l.selected = 0,
            (_, Some(Command::Bottom)) => l.selected = last,
            _ => {}
        }
        Some(l)
    }

    /// The mouse wheel over the view moves its selection.
    pub(super) fn schedules_wheel(&mut self, delta: isize) {
        let last = self.schedules.len().saturating_sub(1);
        if let Some(l) = self.schedule_list_mut() {
            l.selected = l.selected.saturating_add_signed(delta).min(last);
        }
    }

    /// The open schedules view, also while help is over it.
    fn schedule_list_mut(&mut self) -> Option<&mut ScheduleList> {
        match self.view_mut() {
            Some(super::Overlay::Schedules(l)) => Some(l),
            _ => None,
        }
    }

    fn schedule_list(&self) -> Option<&ScheduleList> {
        match self.view() {
            Some(super::Overlay::Schedules(l)) => Some(l),
            _ => None,
        }
    }
}
