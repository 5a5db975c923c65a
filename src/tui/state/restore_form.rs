//! The restore form of the repository view: where and as what a snapshot
//! comes back, checked by the backend before enter can start it.

use super::AppState;
use super::keys::{is_ctrl, typed_char};
use super::repository::{Note, RepoBrowser, RepoMode, RestoreForm};
use crate::backend::messages::Action;
use crossterm::event::{KeyCode, KeyEvent};

impl AppState {
    /// A key in the restore form: the next mode of the view.
    pub(super) fn restore_form_key(
        &mut self,
        b: &mut RepoBrowser,
        mut f: RestoreForm,
        key: &KeyEvent,
        out: &mut Vec<Action>,
    ) -> RepoMode {
        match key.code {
            KeyCode::Esc => RepoMode::List,
            KeyCode::Tab | KeyCode::Down => {
                f.field = (f.field + 1) % RestoreForm::FIELDS;
                RepoMode::Restore(f)
            }
            KeyCode::BackTab | KeyCode::Up => {
                f.field = (f.field + RestoreForm::FIELDS - 1) % RestoreForm::FIELDS;
                RepoMode::Restore(f)
            }
            KeyCode::Left | KeyCode::Right if f.field == 0 && !f.hosts.is_empty() => {
                let n = f.hosts.len();
                f.host = if key.code == KeyCode::Left {
                    (f.host + n - 1) % n
                } else {
                    (f.host + 1) % n
                };
                b.restore_host = f.hosts.get(f.host).cloned();
                RepoMode::Restore(f)
            }
            KeyCode::Char(' ') if f.field == 2 => {
                f.keep_identity = !f.keep_identity;
                RepoMode::Restore(f)
            }
            KeyCode::Backspace if f.field == 1 => {
                f.name.pop();
                RepoMode::Restore(f)
            }
            // As help says, and as in the clone dialog's name field.
            _ if f.field == 1 && is_ctrl(key, 'u') => {
                f.name.clear();
                RepoMode::Restore(f)
            }
            KeyCode::Enter => match self.restore_request(b, &f) {
                // The checks passed for these very fields: start.
                Ok(req) if f.checklist.as_ref().is_some_and(|c| c.ok()) => {
                    self.set_status(format!("restore of {} queued", f.vm));
                    out.push(Action::StartRestore(req));
                    b.note = Some(Note {
                        error: false,
                        text: format!(
                            "restore of {} to {} started: see the Jobs pane",
                            f.vm,
                            f.hosts.get(f.host).map(String::as_str).unwrap_or("?")
                        ),
                    });
                    RepoMode::List
                }
                // First (or again after a change or a failure): check.
                Ok(req) => {
                    out.push(Action::ValidateRestore(req));
                    f.checking = true;
                    f.checklist = None;
                    b.note = Some(Note {
                        error: false,
                        text: "checking…".into(),
                    });
                    RepoMode::Restore(f)
                }
                Err(e) => {
                    b.error(e);
                    RepoMode::Restore(f)
                }
            },
            _ => {
                if f.field == 1
                    && let Some(c) = typed_char(key)
                {
                    f.name.push(c);
                }
                RepoMode::Restore(f)
            }
        }
    }

    pub(super) fn restore_request(
        &self,
        b: &RepoBrowser,
        f: &RestoreForm,
    ) -> Result<crate::model::RestoreRequest, String> {
        let to = f
            .hosts
            .get(f.host)
            .cloned()
            .ok_or("no connected host to restore to")?;
        let name = f.name.trim();
        if !f.keep_identity
            && let Some(why) = crate::model::names::name_problem(name)
        {
            return Err(format!("new name: {why}"));
        }
        Ok(crate::model::RestoreRequest {
            repo: b.path.clone().into(),
            snapshot: f.snapshot.clone(),
            to,
            new_name: (!f.keep_identity).then(|| name.to_string()),
            keep_identity: f.keep_identity,
            // Restores use clone profiles; "default" is what headless uses.
            profile: "default".into(),
            format: None,
            start: false,
            unlock: crate::backend::repo::unlock_from(b.passphrase.as_ref()),
        })
    }

    /// The backend could not check a restore to `to` (an error tied to that
    /// host): the form stops waiting and says why; enter checks again.
    pub(super) fn restore_check_failed(&mut self, to: &str, message: &str) {
        let Some(b) = self.repo_browser_mut() else {
            return;
        };
        let RepoMode::Restore(f) = &mut b.mode else {
            return;
        };
        if !f.checking || f.hosts.get(f.host).map(String::as_str) != Some(to) {
            return;
        }
        f.checking = false;
        b.note = Some(Note {
            error: true,
            text: format!("the checks could not run: {message}"),
        });
    }

    /// The backend checked a restore: the open form for that snapshot and
    /// host shows the checklist; enter then starts it if nothing failed.
    pub(super) fn restore_checked(
        &mut self,
        snapshot: &str,
        to: &str,
        checklist: crate::model::Checklist,
    ) {
        let Some(b) = self.repo_browser_mut() else {
            return;
        };
        let RepoMode::Restore(f) = &mut b.mode else {
            return;
        };
        if f.snapshot != snapshot || f.hosts.get(f.host).map(String::as_str) != Some(to) {
            return;
        }
        f.checking = false;
        let text = if checklist.ok() {
            "checks passed: enter starts the restore".to_string()
        } else {
            format!(
                "{} check(s) failed: fix them, enter checks again",
                checklist.failures().count()
            )
        };
        b.note = Some(Note {
            error: !checklist.ok(),
            text,
        });
        f.checklist = Some(checklist);
    }
}
