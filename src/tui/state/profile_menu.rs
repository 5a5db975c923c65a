//! The profile menu (`p`): the profiles for the selected action beside the
//! selected one's settings; Enter picks one for that action, Tab switches
//! between clone and export profiles, `e` edits the selected one
//! ([`ProfileForm`]). Opening it reads the profiles again, so a file added
//! by hand shows up. Also the clone dialog's "save as profile" prompt.

use super::keys::{is_ctrl, plain_code, typed_char};
use super::profile_form::{FormStep, ProfileForm};
use super::{AppState, CloneDialog, Overlay, Pane};
use crate::backend::messages::Action;
use crate::config::profile::{
    ProfileKind, ProfileSource, ProfileSummary, is_builtin, name_problem,
};
use crate::tui::keymap::{Command, KeyMap};
use crossterm::event::{KeyCode, KeyEvent};
use std::path::PathBuf;

/// What the picked profile is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuTarget {
    Clone { from: String, vm: String },
    Export { from: String, vm: String },
}

impl MenuTarget {
    pub fn kind(&self) -> ProfileKind {
        match self {
            MenuTarget::Clone { .. } => ProfileKind::Clone,
            MenuTarget::Export { .. } => ProfileKind::Export,
        }
    }

    pub fn title(&self) -> String {
        match self {
            MenuTarget::Clone { from, vm } => format!("Profile for cloning {vm} from {from}"),
            MenuTarget::Export { from, vm } => format!("Profile for exporting {vm} from {from}"),
        }
    }

    /// Tab: the same VM, the other action.
    fn other(&self) -> MenuTarget {
        match self.clone() {
            MenuTarget::Clone { from, vm } => MenuTarget::Export { from, vm },
            MenuTarget::Export { from, vm } => MenuTarget::Clone { from, vm },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileMenu {
    pub target: MenuTarget,
    /// Row in [`AppState::menu_profiles`] of the target's kind.
    pub selected: usize,
    /// `e`: the selected profile's settings being edited.
    pub form: Option<ProfileForm>,
    /// Select this profile when the next list arrives (the one just saved).
    pub follow: Option<String>,
}

/// The row a menu of `kind` starts on: what a job uses without a profile.
fn start_row(list: &[&ProfileSummary], kind: ProfileKind) -> usize {
    let name = match kind {
        ProfileKind::Clone => "default",
        ProfileKind::Export => "quick-backup",
    };
    list.iter().position(|p| p.name == name).unwrap_or(0)
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
    pub(super) fn open_profiles(&mut self, out: &mut Vec<Action>) {
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
        let selected = start_row(&self.menu_profiles(target.kind()), target.kind());
        self.overlay = Some(Overlay::Profiles(ProfileMenu {
            target,
            selected,
            form: None,
            follow: None,
        }));
        // Files added or changed by hand since the last list.
        out.push(Action::ListProfiles);
    }

    /// A new list of profiles: the open menu keeps its row on the same
    /// profile, or moves to the one just saved.
    pub(super) fn profiles_listed(&mut self, list: Vec<ProfileSummary>) {
        let kept = match &self.overlay {
            Some(Overlay::Profiles(m)) => m.follow.clone().or_else(|| {
                self.menu_profiles(m.target.kind())
                    .get(m.selected)
                    .map(|p| p.name.clone())
            }),
            _ => None,
        };
        self.profiles = list;
        let Some(name) = kept else {
            return;
        };
        let Some(Overlay::Profiles(m)) = &self.overlay else {
            return;
        };
        let kind = m.target.kind();
        let row = self.menu_profiles(kind).iter().position(|p| p.name == name);
        if let Some(Overlay::Profiles(m)) = &mut self.overlay {
            m.follow = None;
            if let Some(row) = row {
                m.selected = row;
            }
        }
    }

    /// The editor's profile was written: back to the menu, on it.
    pub(super) fn profile_saved(&mut self, name: &str) {
        if let Some(Overlay::Profiles(m)) = &mut self.overlay
            && m.form
                .as_ref()
                .is_some_and(|f| f.saving && f.name.trim() == name)
        {
            m.form = None;
            m.follow = Some(name.to_string());
        }
    }

    /// An error while the editor waits on a save is why it was not saved.
    pub(super) fn profile_save_failed(&mut self, message: &str) -> bool {
        if let Some(Overlay::Profiles(m)) = &mut self.overlay
            && let Some(f) = m.form.as_mut().filter(|f| f.saving)
        {
            f.saving = false;
            f.note = Some(message.to_string());
            return true;
        }
        false
    }

    pub(super) fn profile_menu_key(
        &mut self,
        mut m: ProfileMenu,
        key: &KeyEvent,
        keys: &KeyMap,
        out: &mut Vec<Action>,
    ) -> Option<Overlay> {
        if let Some(mut f) = m.form.take() {
            match f.key(key, &self.profiles) {
                FormStep::Back => {}
                FormStep::Stay => m.form = Some(f),
                FormStep::Save {
                    name,
                    edit,
                    replace,
                } => {
                    self.set_status(format!("saving profile {name}…"));
                    out.push(Action::SaveProfile {
                        name,
                        from: f.from.clone(),
                        replace,
                        edit: Some(edit),
                    });
                    f.saving = true;
                    m.form = Some(f);
                }
            }
            return Some(Overlay::Profiles(m));
        }
        let n = self.menu_profiles(m.target.kind()).len();
        match (plain_code(key), keys.command(key)) {
            (KeyCode::Esc, _) | (_, Some(Command::Quit | Command::Profiles)) => return None,
            (KeyCode::Enter, _) => return self.pick_profile(&m),
            (KeyCode::Tab, _) => {
                m.target = m.target.other();
                let kind = m.target.kind();
                m.selected = start_row(&self.menu_profiles(kind), kind);
            }
            (KeyCode::Char('e'), _) => {
                let list = self.menu_profiles(m.target.kind());
                if let Some(p) = list.get(m.selected) {
                    m.form = Some(ProfileForm::new(p));
                }
            }
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
            MenuTarget::Export { .. } => {
                self.open_export();
                if let Some(Overlay::Export(d)) = &mut self.overlay
                    && let Some(i) = d.profiles.iter().position(|p| *p == name)
                {
                    d.profile = i;
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
                        edit: None,
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
