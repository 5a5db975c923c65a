//! The export dialog (`e` on a VM): which repository, which profile, and
//! the repository's passphrase (masked, kept only in memory). Enter first
//! asks the backend what the path holds: a repository starts the export,
//! nothing yet offers to create one ([`CreateRepo`]).

use super::keys::{is_ctrl, typed_char};
use super::repo_create::{CreateRepo, CreateStep};
use super::{AppState, Overlay, Pane};
use crate::backend::messages::{Action, Secret};
use crate::config::profile::ProfileKind;
use crate::model::{ExportRequest, RepoPlace};
use crossterm::event::{KeyCode, KeyEvent};

/// Focus order of the dialog; Tab moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportField {
    Repository,
    Profile,
    Passphrase,
}

impl ExportField {
    pub const ALL: [ExportField; 3] = [
        ExportField::Repository,
        ExportField::Profile,
        ExportField::Passphrase,
    ];

    fn step(self, by: isize) -> ExportField {
        let i = Self::ALL.iter().position(|f| *f == self).unwrap_or(0) as isize;
        let n = Self::ALL.len() as isize;
        Self::ALL[(i + by).rem_euclid(n) as usize]
    }
}

#[derive(Debug)]
pub struct ExportDialog {
    pub from: String,
    pub vm: String,
    pub repository: String,
    /// Export profiles, in backend order.
    pub profiles: Vec<String>,
    pub profile: usize,
    /// Empty: the profile's passphrase source, or `KVM_CLONE_PASSPHRASE`.
    pub passphrase: Secret,
    pub field: ExportField,
    /// Why Enter was refused, or what it waits for.
    pub note: Option<String>,
    /// Enter asked the backend what the path holds; the answer starts the
    /// export or offers to create a repository.
    pub probing: bool,
    /// The path holds no repository: the form that creates one.
    pub create: Option<CreateRepo>,
}

impl ExportDialog {
    pub fn profile_name(&self) -> Option<&str> {
        self.profiles.get(self.profile).map(String::as_str)
    }

    /// The request; `created` is the passphrase a repository was just
    /// created with, used when none was typed in the dialog.
    fn request(&self, created: Option<&Secret>) -> Result<ExportRequest, String> {
        let repo = self.repository.trim();
        if repo.is_empty() {
            return Err("type the repository's path".into());
        }
        let profile = self
            .profile_name()
            .ok_or("no export profile received yet")?
            .to_string();
        let typed = (!self.passphrase.expose().is_empty())
            .then_some(&self.passphrase)
            .or(created);
        Ok(ExportRequest {
            from: self.from.clone(),
            vm: self.vm.clone(),
            repo: repo.into(),
            profile,
            unlock: crate::backend::repo::unlock_from(typed),
        })
    }
}

impl AppState {
    /// `e`: the export dialog for the selected VM.
    pub(super) fn open_export(&mut self) {
        let (Pane::Vms, Some(host), Some(vm)) =
            (self.focus, self.selected_host(), self.selected_vm())
        else {
            self.set_status("select a VM in the VMs pane to export it");
            return;
        };
        let (from, vm) = (host.name.clone(), vm.name.clone());
        let profiles: Vec<String> = self
            .menu_profiles(ProfileKind::Export)
            .iter()
            .map(|p| p.name.clone())
            .collect();
        // quick-backup is what a headless export uses without --profile.
        let profile = profiles
            .iter()
            .position(|p| p == "quick-backup")
            .unwrap_or(0);
        self.overlay = Some(Overlay::Export(ExportDialog {
            from,
            vm,
            repository: self
                .repository
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            profiles,
            profile,
            passphrase: Secret::new(String::new()),
            field: ExportField::Repository,
            note: None,
            probing: false,
            create: None,
        }));
    }

    /// The open export dialog, if it is on top.
    fn export_dialog(&mut self, path: &str) -> Option<&mut ExportDialog> {
        match &mut self.overlay {
            Some(Overlay::Export(d)) if d.repository.trim() == path => Some(d),
            _ => None,
        }
    }

    /// The answer to the dialog's Enter: start, offer to create, or say why not.
    pub(super) fn export_probed(&mut self, path: &str, place: &RepoPlace) {
        let Some(d) = self.export_dialog(path).filter(|d| d.probing) else {
            return;
        };
        d.probing = false;
        match place {
            RepoPlace::Repository => {
                d.note = None;
                self.start_export(None);
            }
            RepoPlace::Absent => {
                d.note = None;
                d.create = Some(CreateRepo::new(path.to_string()));
            }
            RepoPlace::Other { reason } => d.note = Some(reason.clone()),
        }
    }

    /// The repository the dialog asked for exists now: export into it.
    pub(super) fn export_repo_created(&mut self, path: &str, encryption: &str) {
        let Some(d) = self.export_dialog(path) else {
            return;
        };
        let Some(c) = d.create.take().filter(|c| c.creating) else {
            return;
        };
        self.set_status(format!("created repository {path} ({encryption})"));
        self.start_export(c.created_passphrase());
    }

    pub(super) fn export_repo_failed(&mut self, path: &str, message: &str) {
        if let Some(d) = self.export_dialog(path)
            && let Some(c) = d.create.as_mut().filter(|c| c.creating)
        {
            c.creating = false;
            c.note = Some(message.to_string());
        }
    }

    /// Queues the export of the open dialog and closes it.
    fn start_export(&mut self, created: Option<&Secret>) {
        let Some(Overlay::Export(d)) = self.overlay.take() else {
            return;
        };
        match d.request(created) {
            Ok(req) => {
                self.set_status(format!("export of {} from {} queued", d.vm, d.from));
                self.remember_repository(&req.repo);
                self.outbox.push(Action::StartExport(req));
            }
            Err(e) => {
                self.overlay = Some(Overlay::Export(ExportDialog { note: Some(e), ..d }));
            }
        }
    }

    /// A key in the export dialog; None closes it.
    pub(super) fn export_key(
        &mut self,
        mut d: ExportDialog,
        key: &KeyEvent,
        out: &mut Vec<Action>,
    ) -> Option<ExportDialog> {
        if let Some(c) = &mut d.create {
            if c.key(key, out) == CreateStep::Back {
                d.create = None;
            }
            return Some(d);
        }
        // Any key but Enter drops a pending answer: the fields may change.
        d.probing = false;
        match key.code {
            KeyCode::Esc => return None,
            KeyCode::Tab | KeyCode::Down => d.field = d.field.step(1),
            KeyCode::BackTab | KeyCode::Up => d.field = d.field.step(-1),
            KeyCode::Enter => match d.request(None) {
                Ok(req) => {
                    d.repository = req.repo.display().to_string();
                    d.probing = true;
                    d.note = Some(format!("checking {}…", d.repository));
                    out.push(Action::RepoProbe { path: req.repo });
                }
                Err(e) => d.note = Some(e),
            },
            KeyCode::Left | KeyCode::Right
                if d.field == ExportField::Profile && !d.profiles.is_empty() =>
            {
                let n = d.profiles.len();
                d.profile = if key.code == KeyCode::Left {
                    (d.profile + n - 1) % n
                } else {
                    (d.profile + 1) % n
                };
            }
            KeyCode::Backspace => match d.field {
                ExportField::Repository => {
                    d.repository.pop();
                }
                ExportField::Passphrase => {
                    let mut s = d.passphrase.expose().to_owned();
                    s.pop();
                    d.passphrase = Secret::new(s);
                }
                ExportField::Profile => {}
            },
            _ if is_ctrl(key, 'u') => match d.field {
                ExportField::Repository => d.repository.clear(),
                ExportField::Passphrase => d.passphrase = Secret::new(String::new()),
                ExportField::Profile => {}
            },
            _ => {
                if let Some(c) = typed_char(key) {
                    match d.field {
                        ExportField::Repository => d.repository.push(c),
                        ExportField::Passphrase => {
                            let mut s = d.passphrase.expose().to_owned();
                            s.push(c);
                            d.passphrase = Secret::new(s);
                        }
                        ExportField::Profile => {}
                    }
                }
            }
        }
        Some(d)
    }
}
