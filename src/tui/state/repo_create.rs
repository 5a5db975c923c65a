//! "Create a repository here?": the form the export dialog and the
//! repository view show when a path holds no repository yet. The backend
//! creates it ([`Action::RepoCreate`]) with the same code as `repo init`.

use super::keys::{is_ctrl, typed_char};
use crate::backend::messages::{Action, Secret};
use crate::model::NewRepoKey;
use crossterm::event::{KeyCode, KeyEvent};

/// How the new repository is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewKeyKind {
    Passphrase,
    Recipients,
    None,
}

impl NewKeyKind {
    const ALL: [NewKeyKind; 3] = [
        NewKeyKind::Passphrase,
        NewKeyKind::Recipients,
        NewKeyKind::None,
    ];

    pub fn label(self) -> &'static str {
        match self {
            NewKeyKind::Passphrase => "passphrase",
            NewKeyKind::Recipients => "age recipients",
            NewKeyKind::None => "none (NOT encrypted)",
        }
    }

    fn step(self, by: isize) -> NewKeyKind {
        let i = Self::ALL.iter().position(|k| *k == self).unwrap_or(0) as isize;
        Self::ALL[(i + by).rem_euclid(Self::ALL.len() as isize) as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateField {
    Encryption,
    Passphrase,
    Repeat,
    Recipients,
}

#[derive(Debug)]
pub struct CreateRepo {
    pub path: String,
    pub kind: NewKeyKind,
    pub passphrase: Secret,
    /// The passphrase typed again; it must match.
    pub repeat: Secret,
    /// `age1…` keys, separated by spaces or commas.
    pub recipients: String,
    pub field: CreateField,
    /// Why Enter was refused, or why the backend could not create it.
    pub note: Option<String>,
    /// Sent to the backend; waiting for its answer.
    pub creating: bool,
}

/// What a key in the form asks of its owner.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateStep {
    Stay,
    /// Esc: back to where the path was typed.
    Back,
    /// The [`Action::RepoCreate`] was pushed.
    Sent,
}

impl CreateRepo {
    pub fn new(path: String) -> Self {
        CreateRepo {
            path,
            kind: NewKeyKind::Passphrase,
            passphrase: Secret::new(String::new()),
            repeat: Secret::new(String::new()),
            recipients: String::new(),
            field: CreateField::Encryption,
            note: None,
            creating: false,
        }
    }

    /// The fields the chosen protection has, in Tab order.
    pub fn fields(&self) -> &'static [CreateField] {
        match self.kind {
            NewKeyKind::Passphrase => &[
                CreateField::Encryption,
                CreateField::Passphrase,
                CreateField::Repeat,
            ],
            NewKeyKind::Recipients => &[CreateField::Encryption, CreateField::Recipients],
            NewKeyKind::None => &[CreateField::Encryption],
        }
    }

    fn move_field(&mut self, by: isize) {
        let fields = self.fields();
        let i = fields.iter().position(|f| *f == self.field).unwrap_or(0) as isize;
        self.field = fields[(i + by).rem_euclid(fields.len() as isize) as usize];
    }

    /// The passphrase the repository was created with, for the export that
    /// follows; None for the other kinds.
    pub fn created_passphrase(&self) -> Option<&Secret> {
        (self.kind == NewKeyKind::Passphrase).then_some(&self.passphrase)
    }

    /// The key to create with, or a one-line reason why not.
    pub fn request(&self) -> Result<NewRepoKey, String> {
        match self.kind {
            NewKeyKind::Passphrase if self.passphrase.expose().is_empty() => {
                Err("type a passphrase (twice)".into())
            }
            NewKeyKind::Passphrase if self.passphrase != self.repeat => {
                Err("the passphrases differ; type them again".into())
            }
            NewKeyKind::Passphrase => Ok(NewRepoKey::Passphrase(self.passphrase.clone())),
            NewKeyKind::Recipients => {
                let list: Vec<String> = self
                    .recipients
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|r| !r.is_empty())
                    .map(str::to_string)
                    .collect();
                if list.is_empty() {
                    return Err("give at least one age recipient (age1…)".into());
                }
                if let Some(why) = list
                    .iter()
                    .find_map(|r| crate::config::profile::recipient_problem(r))
                {
                    return Err(why);
                }
                Ok(NewRepoKey::Recipients(list))
            }
            NewKeyKind::None => Ok(NewRepoKey::None),
        }
    }

    fn edit(&mut self, f: impl FnOnce(&mut String)) {
        match self.field {
            CreateField::Encryption => {}
            CreateField::Recipients => f(&mut self.recipients),
            CreateField::Passphrase | CreateField::Repeat => {
                let slot = if self.field == CreateField::Passphrase {
                    &mut self.passphrase
                } else {
                    &mut self.repeat
                };
                let mut s = slot.expose().to_owned();
                f(&mut s);
                *slot = Secret::new(s);
            }
        }
    }

    /// One key; Enter pushes the create action when the fields are right.
    pub fn key(&mut self, key: &KeyEvent, out: &mut Vec<Action>) -> CreateStep {
        if self.creating {
            // Waiting for the backend: only Esc (which forgets the answer).
            return if key.code == KeyCode::Esc {
                CreateStep::Back
            } else {
                CreateStep::Stay
            };
        }
        match key.code {
            KeyCode::Esc => return CreateStep::Back,
            KeyCode::Tab | KeyCode::Down => self.move_field(1),
            KeyCode::BackTab | KeyCode::Up => self.move_field(-1),
            KeyCode::Left | KeyCode::Right if self.field == CreateField::Encryption => {
                self.kind = self
                    .kind
                    .step(if key.code == KeyCode::Left { -1 } else { 1 });
                self.note = None;
            }
            KeyCode::Enter => match self.request() {
                Ok(k) => {
                    self.note = None;
                    self.creating = true;
                    out.push(Action::RepoCreate {
                        path: self.path.clone().into(),
                        key: k,
                    });
                    return CreateStep::Sent;
                }
                Err(why) => self.note = Some(why),
            },
            KeyCode::Backspace => self.edit(|s| {
                s.pop();
            }),
            _ if is_ctrl(key, 'u') => self.edit(String::clear),
            _ => {
                if let Some(c) = typed_char(key) {
                    self.edit(|s| s.push(c));
                }
            }
        }
        CreateStep::Stay
    }
}

impl super::AppState {
    /// The repository view asked for a path that holds no repository:
    /// offer to create one there.
    pub(super) fn repository_probed(&mut self, path: &str, place: &crate::model::RepoPlace) {
        use super::RepoMode;
        if let Some(b) = self.repo_browser_mut()
            && b.path == path
        {
            b.busy = None;
            match place {
                crate::model::RepoPlace::Absent => {
                    b.note = None;
                    b.mode = RepoMode::Create(CreateRepo::new(path.to_string()));
                }
                crate::model::RepoPlace::Other { reason } => {
                    b.error(reason.clone());
                    b.mode = RepoMode::Path;
                }
                crate::model::RepoPlace::Repository => {}
            }
        }
    }

    /// The view's repository was created: read it (the backend keeps it
    /// open, so no key is derived again).
    pub(super) fn repository_created(&mut self, path: &str, encryption: &str) {
        let Some(b) = self.repo_browser_mut() else {
            return;
        };
        if b.path != path || !matches!(&b.mode, super::RepoMode::Create(c) if c.creating) {
            return;
        }
        b.busy = Some("reading the repository…".into());
        b.mode = super::RepoMode::List;
        let open = Action::RepoOpen {
            path: path.into(),
            passphrase: None,
        };
        self.set_status(format!("created repository {path} ({encryption})"));
        self.outbox.push(open);
    }
}
