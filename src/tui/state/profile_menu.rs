//! The profile menu (`p`): the profiles for the selected action beside the
//! selected one's settings; Enter picks one for that action. Also the
//! clone dialog's "save as profile" prompt.

use super::keys::{is_ctrl, typed_char};
use super::{AppState, CloneDialog, Overlay, Pane};
use crate::backend::messages::Action;
use crate::config::profile::{
    ProfileKind, ProfileSource, ProfileSummary, is_builtin, name_problem,
};
use crate::tui::keymap::{Command, KeyMap};
use crossterm::event::{KeyCode, KeyEvent};
use std::path::PathBuf;

/// What the picked profile is for. Export adds its own target here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuTarget {
    Clone { from: String, vm: String },
}

impl MenuTarget {
    pub fn kind(&self) -> ProfileKind {
        match self {
            MenuTarget::Clone { .. } => ProfileKind::Clone,
        }
    }

    pub fn title(&self) -> String {
        match self {
            MenuTarget::Clone { from, vm } => format!("Profile for cloning {vm} from {from}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileMenu {
    pub target: MenuTarget,
    /// Row in [`AppState::menu_profiles`] of the target's kind.
    pub selected: usize,
}

/// The "save as profile" prompt of a job dialog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaveAs {
    pub name: String,
    /// Why Enter was refused, or what a second Enter will do.
    pub note: Option<String>,
    /// The name belongs to a user profile and the operator was told that
    /// Enter again replaces it.
    pub confirm_replace: bool,
}

/// Whether `name` can be saved: Err with why not, Ok with the user file it
/// would replace.
pub fn save_target(name: &str, profiles: &[ProfileSummary]) -> Result<Option<PathBuf>, String> {
    if let Some(why) = name_problem(name) {
        return Err(why);
    }
    if is_builtin(name) {
        return Err(format!(
            "{name:?} is a built-in profile; choose another name"
        ));
    }
    Ok(profiles
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| match &p.source {
            ProfileSource::User(path) => Some(path.clone()),
            ProfileSource::BuiltIn => None,
        }))
}

impl AppState {
    /// The profiles a menu for `kind` lists, in backend order.
    pub fn menu_profiles(&self, kind: ProfileKind) -> Vec<&ProfileSummary> {
        self.profiles.iter().filter(|p| p.kind == kind).collect()
    }

    /// `profiles`: the menu for the selected action.
    pub(super) fn open_profiles(&mut self) {
        // The VMs pane highlights the selected host's VM even while the
        // hosts pane has the focus: that VM is the one meant.
        let target = match (self.focus, self.selected_host(), self.selected_vm()) {
            (Pane::Vms | Pane::Hosts, Some(h), Some(vm)) => MenuTarget::Clone {
                from: h.name.clone(),
                vm: vm.name.clone(),
            },
            _ => {
                self.set_status(
                    "profiles: select a VM in the VMs pane first (its action is clone)",
                );
                return;
            }
        };
        let selected = self
            .menu_profiles(target.kind())
            .iter()
            .position(|p| p.name == "default")
            .unwrap_or(0);
        self.overlay = Some(Overlay::Profiles(ProfileMenu { target, selected }));
    }

    pub(super) fn profile_menu_key(
        &mut self,
        mut m: ProfileMenu,
        key: &KeyEvent,
        keys: &KeyMap,
    ) -> Option<Overlay> {
        let n = self.menu_profiles(m.target.kind()).len();
        match (key.code, keys.command(key)) {
            (KeyCode::Esc, _) | (_, Some(Command::Quit | Command::Profiles)) => return None,
            (KeyCode::Enter, _) => return self.pick_profile(&m),
            (_, Some(Command::Up)) => m.selected = m.selected.saturating_sub(1),
            (_, Some(Command::Down)) => m.selected = (m.selected + 1).min(n.saturating_sub(1)),
            (_, Some(Command::Top)) => m.selected = 0,
            (_, Some(Command::Bottom)) => m.selected = n.saturating_sub(1),
            _ => {}
        }
        Some(Overlay::Profiles(m))
    }

    /// Enter: the action's dialog opens with the picked profile.
    fn pick_profile(&mut self, m: &ProfileMenu) -> Option<Overlay> {
        let list = self.menu_profiles(m.target.kind());
        let Some(name) = list.get(m.selected).map(|p| p.name.clone()) else {
            return Some(Overlay::Profiles(m.clone()));
        };
        match &m.target {
            MenuTarget::Clone { .. } => {
                self.open_clone();
                if let Some(Overlay::Clone(d)) = &mut self.overlay {
                    d.profile = name;
                }
                self.overlay.take()
            }
        }
    }

    /// `save_profile` in the clone dialog: ask for a name.
    pub(super) fn open_save(&mut self, mut d: CloneDialog) -> Option<Overlay> {
        d.save = Some(SaveAs::default());
        Some(Overlay::Clone(d))
    }

    /// Keys while the save prompt is open.
    pub(super) fn save_key(
        &mut self,
        mut d: CloneDialog,
        key: &KeyEvent,
        out: &mut Vec<Action>,
    ) -> Option<Overlay> {
        let Some(mut s) = d.save.take() else {
            return Some(Overlay::Clone(d));
        };
        match key.code {
            KeyCode::Esc => return Some(Overlay::Clone(d)),
            KeyCode::Enter => match save_target(&s.name, &self.profiles) {
                Err(why) => s.note = Some(why),
                Ok(Some(path)) if !s.confirm_replace => {
                    s.note = Some(format!(
                        "replaces {}; enter again to confirm",
                        path.display()
                    ));
                    s.confirm_replace = true;
                }
                Ok(existing) => {
                    self.set_status(format!("saving profile {}…", s.name));
                    out.push(Action::SaveProfile {
                        name: s.name,
                        from: d.profile.clone(),
                        replace: existing.is_some(),
                    });
                    return Some(Overlay::Clone(d));
                }
            },
            KeyCode::Backspace => {
                s.name.pop();
                (s.note, s.confirm_replace) = (None, false);
            }
            _ if is_ctrl(key, 'u') => {
                s.name.clear();
                (s.note, s.confirm_replace) = (None, false);
            }
            _ => {
                if let Some(c) = typed_char(key) {
                    s.name.push(c);
                    (s.note, s.confirm_replace) = (None, false);
                }
            }
        }
        d.save = Some(s);
        Some(Overlay::Clone(d))
    }
}
