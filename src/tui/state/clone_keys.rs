//! Keys of the clone flow: `clone` opens the dialog, the dialog's own fixed
//! keys, `cancel` with its confirmation, and `retry`.

use super::keys::{is_ctrl, plain_code, typed_char};
use super::{
    AppState, CloneCheck, CloneDialog, CloneField, Confirm, Overlay, Pane, destinations,
    is_running, name_problem,
};
use crate::backend::messages::Action;
use crate::model::JobPhase;
use crate::model::format::phase_label;
use crate::tui::overlays;
use crossterm::event::{KeyCode, KeyEvent};

/// Checklist lines moved by PageUp / PageDown.
const PAGE: u16 = 5;

impl AppState {
    /// `clone` on the selected VM: open the dialog, prefilled.
    pub(super) fn open_clone(&mut self) {
        if self.focus != Pane::Vms {
            self.set_status("clone: select a VM in the VMs pane first");
            return;
        }
        let (Some(host), Some(vm)) = (self.selected_host(), self.selected_vm()) else {
            self.set_status("clone: no VM selected");
            return;
        };
        let (from, vm) = (host.name.clone(), vm.name.clone());
        let dests = destinations(&self.hosts, &from);
        if dests.is_empty() {
            let add = self.key_for("add_host").unwrap_or("a").to_string();
            self.set_error(format!("clone: no other host to clone to; {add} adds one"));
            return;
        }
        let dialog = CloneDialog::new(&from, &vm, &dests, &self.profile_names());
        self.overlay = Some(Overlay::Clone(dialog));
    }

    /// Keys while the clone dialog is open; returns it unless it closes.
    pub(super) fn clone_key(
        &mut self,
        mut d: CloneDialog,
        key: &KeyEvent,
        out: &mut Vec<Action>,
    ) -> Option<Overlay> {
        let picker = matches!(d.field, CloneField::Destination | CloneField::Profile);
        let max = overlays::clone::max_scroll(self, &d, self.area);
        match key.code {
            KeyCode::Esc => return None,
            KeyCode::Enter => return self.clone_submit(d, out),
            KeyCode::Tab => d.field = d.field.next(),
            KeyCode::BackTab => d.field = d.field.prev(),
            KeyCode::PageUp => d.scroll = d.scroll.saturating_sub(PAGE),
            KeyCode::PageDown => d.scroll = d.scroll.saturating_add(PAGE),
            KeyCode::Left | KeyCode::Up if picker => self.choose(&mut d, -1),
            KeyCode::Right | KeyCode::Down if picker => self.choose(&mut d, 1),
            // On the button the arrows scroll the checklist.
            KeyCode::Up if d.field == CloneField::Confirm => d.scroll = d.scroll.saturating_sub(1),
            KeyCode::Down if d.field == CloneField::Confirm => {
                d.scroll = d.scroll.saturating_add(1)
            }
            KeyCode::Home if d.field == CloneField::Confirm => d.scroll = 0,
            KeyCode::End if d.field == CloneField::Confirm => d.scroll = max,
            KeyCode::Backspace if d.field == CloneField::Name => {
                d.name.pop();
            }
            _ if d.field == CloneField::Name && is_ctrl(key, 'u') => d.name.clear(),
            _ if d.field == CloneField::Name => {
                if let Some(c) = typed_char(key) {
                    d.name.push(c);
                }
            }
            // Outside the text field, y confirms like Enter, but only a start.
            KeyCode::Char('y' | 'Y')
                if d.confirm() == Confirm::Start && typed_char(key).is_some() =>
            {
                return self.clone_submit(d, out);
            }
            _ => {}
        }
        d.scroll = d.scroll.min(max);
        Some(Overlay::Clone(d))
    }

    /// Move a picker to the next or previous choice.
    fn choose(&self, d: &mut CloneDialog, step: isize) {
        let (options, current) = match d.field {
            CloneField::Destination => (destinations(&self.hosts, &d.from), &mut d.to),
            CloneField::Profile => (self.profile_names(), &mut d.profile),
            _ => return,
        };
        if let Some(next) = super::clone::cycle(&options, current, step) {
            *current = next;
        }
    }

    /// Enter: start when the current fields passed, otherwise (re)check them.
    fn clone_submit(&mut self, mut d: CloneDialog, out: &mut Vec<Action>) -> Option<Overlay> {
        match d.confirm() {
            Confirm::Start => {
                let req = d.request();
                self.set_status(format!(
                    "starting clone of {} to {} as {}…",
                    req.vm, req.to, req.new_name
                ));
                // Where its progress shows, and where x cancels it.
                self.focus = Pane::Jobs;
                out.push(Action::StartClone(req));
                return None;
            }
            Confirm::Waiting => {}
            Confirm::Check | Confirm::Blocked { .. } | Confirm::Retry => {
                if name_problem(&d.name).is_some() {
                    d.field = CloneField::Name;
                } else {
                    let request = d.request();
                    d.check = Some(CloneCheck {
                        request: request.clone(),
                        state: super::CheckState::Waiting,
                    });
                    d.scroll = 0;
                    d.field = CloneField::Confirm;
                    out.push(Action::ValidateClone(request));
                }
            }
        }
        Some(Overlay::Clone(d))
    }

    /// `cancel` on the selected job: ask first.
    pub(super) fn ask_cancel(&mut self) {
        if self.focus != Pane::Jobs {
            self.set_status("cancel: select a running job in the Jobs pane first");
            return;
        }
        let Some(job) = self.selected_job() else {
            self.set_status("no job to cancel");
            return;
        };
        if !is_running(job.phase) {
            let msg = format!(
                "job {} has already ended ({})",
                job.label(),
                phase_label(job.phase)
            );
            self.set_status(msg);
            return;
        }
        self.overlay = Some(Overlay::ConfirmCancel {
            id: job.id,
            kind: job.kind,
            vm: job.vm.clone(),
            to: job.to.clone(),
        });
    }

    /// `R` on an ended job that did not succeed: run it again as a new job.
    pub(super) fn retry(&mut self, out: &mut Vec<Action>) {
        let Some(job) = self.selected_job() else {
            self.set_status("no job to retry");
            return;
        };
        let (id, phase, job) = (job.id, job.phase, job.label());
        match phase {
            JobPhase::Failed | JobPhase::Cancelled => {
                self.set_status(format!("retrying job {job} as a new job…"));
                out.push(Action::RetryJob(id));
            }
            JobPhase::Done => self.set_status(format!("job {job} succeeded; nothing to retry")),
            _ => self.set_status(format!("job {job} is still {}", phase_label(phase))),
        }
    }

    /// y sends the cancel if the job still runs; n or Esc keeps it running.
    pub(super) fn confirm_cancel_key(
        &mut self,
        ov: Overlay,
        key: &KeyEvent,
        out: &mut Vec<Action>,
    ) -> Option<Overlay> {
        let Overlay::ConfirmCancel { id, kind, vm, to } = &ov else {
            return Some(ov);
        };
        match plain_code(key) {
            KeyCode::Char('y' | 'Y') => {
                let job = self.job_label(*id);
                if self.jobs.iter().any(|j| j.id == *id && is_running(j.phase)) {
                    self.set_status(format!("cancelling job {job} ({kind} of {vm} to {to})…"));
                    out.push(Action::CancelJob(*id));
                } else {
                    self.set_status(format!("job {job} has already ended"));
                }
                None
            }
            KeyCode::Char('n' | 'N') | KeyCode::Esc => None,
            _ => Some(ov),
        }
    }
}
