//! The repository view (`b`): a repository's snapshots per VM, with
//! restore, verify and prune. Prune always shows its dry run first.

use super::AppState;
use super::keys::{is_ctrl, plain_code, typed_char};
use crate::backend::messages::{Action, Secret};
use crate::model::{KeepPolicy, PruneView, RepoView, SnapshotRow, VerifyView};
use crate::tui::keymap::{Command, KeyMap};
use crossterm::event::{KeyCode, KeyEvent};

/// The rules of the prune form, in the order shown.
pub const KEEP_FIELDS: [&str; 5] = ["last", "daily", "weekly", "monthly", "yearly"];

#[derive(Debug)]
pub struct RepoBrowser {
    /// The repository path; typed in [`RepoMode::Path`].
    pub path: String,
    /// The snapshots, once read.
    pub view: Option<RepoView>,
    /// Kept for the session once the repository opened with it, so
    /// restore, verify and prune do not ask again. Never written anywhere.
    pub passphrase: Option<Secret>,
    pub mode: RepoMode,
    /// Row in [`RepoBrowser::rows`].
    pub selected: usize,
    /// The last outcome or problem, shown above the key hints.
    pub note: Option<Note>,
    /// What the backend is doing for this view ("verifying…").
    pub busy: Option<String>,
    /// The destination the last restore form chose: the next one starts
    /// there, not back on the first host (or the snapshot's source).
    pub restore_host: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub error: bool,
    pub text: String,
}

#[derive(Debug)]
pub enum RepoMode {
    /// Typing the repository path.
    Path,
    /// The repository is encrypted: typing its passphrase.
    Passphrase(Secret),
    List,
    /// Typing a retention policy; `field` is the rule being edited.
    PruneForm {
        keep: [String; 5],
        field: usize,
    },
    /// The backend's dry run of that policy; `y` applies it.
    PrunePlan {
        policy: KeepPolicy,
        plan: PruneView,
    },
    /// The result of a verify, problems listed.
    Verified(VerifyView),
    /// `F` on a verify that found damaged chunk files: `y` removes them.
    RepairConfirm(VerifyView),
    Restore(RestoreForm),
    /// The path holds no repository yet: create one there?
    Create(super::CreateRepo),
}

/// Where and how to restore the selected snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreForm {
    pub snapshot: String,
    pub vm: String,
    /// Connected hosts to pick from.
    pub hosts: Vec<String>,
    pub host: usize,
    pub name: String,
    pub keep_identity: bool,
    /// 0 host, 1 name, 2 keep identity.
    pub field: usize,
    /// The pre-flight checklist of the fields as they are; any change
    /// drops it, and only a passed one lets enter start the restore.
    pub checklist: Option<crate::model::Checklist>,
    /// The checks are running.
    pub checking: bool,
}

impl RestoreForm {
    pub const FIELDS: usize = 3;
}

impl RepoBrowser {
    pub fn new(path: String) -> Self {
        let mode = if path.is_empty() {
            RepoMode::Path
        } else {
            RepoMode::List
        };
        RepoBrowser {
            path,
            view: None,
            passphrase: None,
            mode,
            selected: 0,
            note: None,
            busy: None,
            restore_host: None,
        }
    }

    /// Snapshots grouped per VM (by name), newest first within each.
    pub fn rows(&self) -> Vec<&SnapshotRow> {
        let mut rows: Vec<&SnapshotRow> = self
            .view
            .as_ref()
            .map(|v| v.snapshots.iter().collect())
            .unwrap_or_default();
        rows.sort_by(|a, b| a.vm.cmp(&b.vm).then(b.time.cmp(&a.time)));
        rows
    }

    pub fn selected_row(&self) -> Option<&SnapshotRow> {
        self.rows().get(self.selected).copied()
    }

    fn open_action(&mut self) -> Action {
        self.busy = Some("reading the repository…".into());
        Action::RepoOpen {
            path: self.path.clone().into(),
            passphrase: self.passphrase.clone(),
        }
    }

    pub(super) fn error(&mut self, text: impl Into<String>) {
        self.note = Some(Note {
            error: true,
            text: text.into(),
        });
    }
}

fn parse_keep(keep: &[String; 5]) -> Result<KeepPolicy, String> {
    let mut n = [0u32; 5];
    for (i, (v, name)) in keep.iter().zip(KEEP_FIELDS).enumerate() {
        let v = v.trim();
        n[i] = if v.is_empty() {
            0
        } else {
            v.parse()
                .map_err(|_| format!("keep {name}: {v:?} is not a whole number"))?
        };
    }
    let p = KeepPolicy {
        last: n[0],
        daily: n[1],
        weekly: n[2],
        monthly: n[3],
        yearly: n[4],
    };
    if p.is_empty() {
        return Err(
            "give at least one rule: a policy that keeps nothing would delete every snapshot"
                .into(),
        );
    }
    Ok(p)
}

impl AppState {
    /// `b`: the repository view, for the configured repository or a typed path.
    pub(super) fn open_repository(&mut self, out: &mut Vec<Action>) {
        let path = self
            .repository
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let mut b = RepoBrowser::new(path);
        if !b.path.is_empty() {
            out.push(b.open_action());
        }
        self.overlay = Some(super::Overlay::Repository(b));
    }

    /// A key in the repository view; None closes it.
    pub(super) fn repository_key(
        &mut self,
        mut b: RepoBrowser,
        key: &KeyEvent,
        keys: &KeyMap,
        out: &mut Vec<Action>,
    ) -> Option<RepoBrowser> {
        let cmd = keys.command(key);
        let mode = std::mem::replace(&mut b.mode, RepoMode::List);
        // The restore form's fields before this key: a change drops the
        // checklist, which was for the fields as they were.
        let fields = |f: &RestoreForm| (f.host, f.name.clone(), f.keep_identity);
        let before = match &mode {
            RepoMode::Restore(f) => Some(fields(f)),
            _ => None,
        };
        b.mode = match mode {
            RepoMode::Path => match key.code {
                KeyCode::Esc => return None,
                KeyCode::Enter if b.path.trim().is_empty() => {
                    b.error("type the repository's path");
                    RepoMode::Path
                }
                KeyCode::Enter => {
                    b.path = b.path.trim().to_string();
                    b.note = None;
                    out.push(b.open_action());
                    RepoMode::List
                }
                KeyCode::Backspace => {
                    b.path.pop();
                    RepoMode::Path
                }
                _ if is_ctrl(key, 'u') => {
                    b.path.clear();
                    RepoMode::Path
                }
                _ => {
                    if let Some(c) = typed_char(key) {
                        b.path.push(c);
                    }
                    RepoMode::Path
                }
            },
            RepoMode::Passphrase(input) => match key.code {
                KeyCode::Esc => return None,
                KeyCode::Enter if input.expose().is_empty() => RepoMode::Passphrase(input),
                KeyCode::Enter => {
                    b.passphrase = Some(input);
                    b.note = None;
                    out.push(b.open_action());
                    RepoMode::List
                }
                KeyCode::Backspace => {
                    let mut s = input.expose().to_owned();
                    s.pop();
                    RepoMode::Passphrase(Secret::new(s))
                }
                _ if is_ctrl(key, 'u') => RepoMode::Passphrase(Secret::new(String::new())),
                _ => match typed_char(key) {
                    Some(c) => {
                        let mut s = input.expose().to_owned();
                        s.push(c);
                        RepoMode::Passphrase(Secret::new(s))
                    }
                    None => RepoMode::Passphrase(input),
                },
            },
            RepoMode::List => return self.repository_list_key(b, key, cmd, out),
            RepoMode::Verified(v) => match (plain_code(key), cmd) {
                (KeyCode::Esc | KeyCode::Enter, _) | (_, Some(Command::Quit)) => RepoMode::List,
                (KeyCode::Char('F'), _) if v.repairable > 0 => RepoMode::RepairConfirm(v),
                _ => RepoMode::Verified(v),
            },
            RepoMode::RepairConfirm(v) => match plain_code(key) {
                KeyCode::Char('y') => {
                    b.busy = Some("removing the damaged chunk files…".into());
                    out.push(Action::RepoVerify {
                        path: b.path.clone().into(),
                        passphrase: b.passphrase.clone(),
                        snapshot: b.selected_row().map(|r| r.id.clone()),
                        read_data: true,
                        repair: true,
                    });
                    RepoMode::Verified(v)
                }
                _ => RepoMode::Verified(v),
            },
            RepoMode::PruneForm { mut keep, field } => match plain_code(key) {
                KeyCode::Esc => RepoMode::List,
                KeyCode::Tab | KeyCode::Down => RepoMode::PruneForm {
                    keep,
                    field: (field + 1) % KEEP_FIELDS.len(),
                },
                KeyCode::BackTab | KeyCode::Up => RepoMode::PruneForm {
                    keep,
                    field: (field + KEEP_FIELDS.len() - 1) % KEEP_FIELDS.len(),
                },
                KeyCode::Backspace => {
                    keep[field].pop();
                    RepoMode::PruneForm { keep, field }
                }
                KeyCode::Enter => match parse_keep(&keep) {
                    Ok(policy) => {
                        b.note = None;
                        b.busy = Some("planning the prune (dry run)…".into());
                        out.push(Action::RepoPrune {
                            path: b.path.clone().into(),
                            passphrase: b.passphrase.clone(),
                            policy,
                            dry_run: true,
                            confirmed: None,
                        });
                        RepoMode::PruneForm { keep, field }
                    }
                    Err(e) => {
                        b.error(e);
                        RepoMode::PruneForm { keep, field }
                    }
                },
                KeyCode::Char(c) if c.is_ascii_digit() && keep[field].len() < 4 => {
                    keep[field].push(c);
                    RepoMode::PruneForm { keep, field }
                }
                _ => RepoMode::PruneForm { keep, field },
            },
            RepoMode::PrunePlan { policy, plan } => match plain_code(key) {
                KeyCode::Char('y' | 'Y') => {
                    b.busy = Some("pruning…".into());
                    // Exactly what the dry run showed, nothing more.
                    let confirmed = plan
                        .snapshots
                        .iter()
                        .filter(|s| !s.keep)
                        .map(|s| s.id.clone())
                        .collect();
                    out.push(Action::RepoPrune {
                        path: b.path.clone().into(),
                        passphrase: b.passphrase.clone(),
                        policy,
                        dry_run: false,
                        confirmed: Some(confirmed),
                    });
                    RepoMode::List
                }
                KeyCode::Char('n' | 'N') | KeyCode::Esc => {
                    b.note = Some(Note {
                        error: false,
                        text: "prune not applied".into(),
                    });
                    RepoMode::List
                }
                _ => RepoMode::PrunePlan { policy, plan },
            },
            RepoMode::Restore(f) => self.restore_form_key(&mut b, f, key, out),
            RepoMode::Create(mut c) => match c.key(key, out) {
                super::repo_create::CreateStep::Back => {
                    b.busy = None;
                    b.note = None;
                    RepoMode::Path
                }
                super::repo_create::CreateStep::Sent => {
                    b.busy = Some("creating the repository…".into());
                    RepoMode::Create(c)
                }
                super::repo_create::CreateStep::Stay => RepoMode::Create(c),
            },
        };
        if let (Some(before), RepoMode::Restore(f)) = (before, &mut b.mode)
            && fields(f) != before
        {
            f.checklist = None;
        }
        Some(b)
    }

    fn repository_list_key(
        &mut self,
        mut b: RepoBrowser,
        key: &KeyEvent,
        cmd: Option<Command>,
        out: &mut Vec<Action>,
    ) -> Option<RepoBrowser> {
        let count = b.rows().len();
        match (plain_code(key), cmd) {
            (KeyCode::Esc, _) | (_, Some(Command::Quit)) => return None,
            (_, Some(Command::Up)) => b.selected = b.selected.saturating_sub(1),
            (_, Some(Command::Down)) => {
                b.selected = (b.selected + 1).min(count.saturating_sub(1));
            }
            (_, Some(Command::Top)) => b.selected = 0,
            (_, Some(Command::Bottom)) => b.selected = count.saturating_sub(1),
            (KeyCode::Char('r'), _) => out.push(b.open_action()),
            (KeyCode::Char('o'), _) => {
                b.mode = RepoMode::Path;
                b.view = None;
                b.passphrase = None;
                b.selected = 0;
                return Some(b);
            }
            (KeyCode::Char(c @ ('v' | 'V')), _) => {
                let read_data = c == 'V';
                let snapshot = b.selected_row().map(|r| r.id.clone());
                if snapshot.is_none() {
                    b.error("no snapshot to verify");
                } else {
                    b.busy = Some(if read_data {
                        "verifying (reading every chunk)…".into()
                    } else {
                        "verifying (chunks present)…".into()
                    });
                    out.push(Action::RepoVerify {
                        path: b.path.clone().into(),
                        passphrase: b.passphrase.clone(),
                        snapshot,
                        read_data,
                        repair: false,
                    });
                }
            }
            (KeyCode::Char('P'), _) => {
                if count == 0 {
                    b.error("nothing to prune");
                } else {
                    b.note = None;
                    b.mode = RepoMode::PruneForm {
                        keep: Default::default(),
                        field: 0,
                    };
                }
            }
            (KeyCode::Char('R'), _) => match b.selected_row() {
                None => b.error("no snapshot to restore"),
                Some(row) => {
                    let hosts: Vec<String> = self
                        .hosts
                        .iter()
                        .filter(|h| h.state == crate::model::ConnState::Up)
                        .map(|h| h.name.clone())
                        .collect();
                    // The destination chosen last time, else the snapshot's
                    // own host.
                    let want = b.restore_host.as_deref().unwrap_or(&row.host);
                    let host = hosts.iter().position(|h| h == want).unwrap_or(0);
                    let form = RestoreForm {
                        snapshot: row.id.clone(),
                        vm: row.vm.clone(),
                        hosts,
                        host,
                        name: format!("{}-restored", row.vm),
                        keep_identity: false,
                        field: 0,
                        checklist: None,
                        checking: false,
                    };
                    b.note = None;
                    b.mode = RepoMode::Restore(form);
                }
            },
            _ => {}
        }
        Some(b)
    }

    /// The open repository view, also while help is over it: the backend's
    /// answers still reach it.
    pub(super) fn repo_browser_mut(&mut self) -> Option<&mut RepoBrowser> {
        match self.view_mut() {
            Some(super::Overlay::Repository(b)) => Some(b),
            _ => None,
        }
    }

    /// Whether the repository view is open (its ages change with time).
    pub(super) fn shows_repository(&self) -> bool {
        matches!(self.view(), Some(super::Overlay::Repository(_)))
    }

    /// The backend read a repository: show it if its view is open.
    pub(super) fn repository_read(&mut self, view: RepoView) {
        if let Some(b) = self.repo_browser_mut()
            && b.path == view.path
        {
            let path = std::path::PathBuf::from(&view.path);
            b.busy = None;
            b.note = None;
            b.selected = b.selected.min(view.snapshots.len().saturating_sub(1));
            b.view = Some(view);
            b.mode = RepoMode::List;
            self.remember_repository(&path);
        }
    }

    /// The repository needs a passphrase, or the one given was wrong.
    pub(super) fn repository_locked(&mut self, path: &str, message: String) {
        if let Some(b) = self.repo_browser_mut()
            && b.path == path
        {
            b.busy = None;
            b.passphrase = None;
            b.note = Some(Note {
                error: true,
                text: message,
            });
            b.mode = RepoMode::Passphrase(Secret::new(String::new()));
        }
    }

    pub(super) fn repository_failed(&mut self, path: &str, message: String) {
        if let Some(b) = self.repo_browser_mut()
            && b.path == path
        {
            b.busy = None;
            if let RepoMode::Create(c) = &mut b.mode {
                c.creating = false;
                c.note = Some(message);
                return;
            }
            b.error(message);
            if b.view.is_none() && matches!(b.mode, RepoMode::List) {
                b.mode = RepoMode::Path;
            }
        }
    }

    pub(super) fn repository_verified(&mut self, path: &str, v: VerifyView) {
        if let Some(b) = self.repo_browser_mut()
            && b.path == path
        {
            b.busy = None;
            b.note = Some(Note {
                error: !v.problems.is_empty(),
                text: if v.repaired > 0 {
                    format!(
                        "removed {} damaged chunk file(s): export the VM again to store that data (until then its snapshots are incomplete)",
                        v.repaired
                    )
                } else if v.problems.is_empty() {
                    format!(
                        "verified {} snapshot(s), {} chunk(s): no damage{}",
                        v.snapshots,
                        v.chunks,
                        if v.read_data { " (data read)" } else { "" }
                    )
                } else {
                    format!("{} problem(s) found", v.problems.len())
                },
            });
            b.mode = RepoMode::Verified(v);
        }
    }

    pub(super) fn repository_pruned(&mut self, path: &str, policy: KeepPolicy, p: PruneView) {
        if let Some(b) = self.repo_browser_mut()
            && b.path == path
        {
            b.busy = None;
            if p.dry_run {
                b.mode = RepoMode::PrunePlan { policy, plan: p };
            } else {
                let removed = p.snapshots.iter().filter(|s| !s.keep).count();
                b.note = Some(Note {
                    error: false,
                    text: format!(
                        "pruned: {removed} snapshot(s) and {} chunk(s) removed, {} freed",
                        p.chunks_removed,
                        crate::model::format::size(p.bytes_freed)
                    ),
                });
                b.mode = RepoMode::List;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_rules_parse_and_an_empty_policy_is_refused() {
        let mut keep: [String; 5] = Default::default();
        assert!(parse_keep(&keep).unwrap_err().contains("at least one rule"));
        keep[0] = "3".into();
        keep[2] = " 4 ".into();
        let p = parse_keep(&keep).unwrap();
        assert_eq!((p.last, p.weekly, p.daily), (3, 4, 0));
        keep[1] = "x".into();
        assert!(parse_keep(&keep).unwrap_err().contains("keep daily"));
    }
}
