//! Backend events into view state.

use super::{AppState, CheckState, Overlay, PassphrasePrompt};
use crate::backend::messages::{Event, JobResult};
use crate::model::snapshot::StateSnapshot;
use crate::model::{ConnState, HostView};

impl AppState {
    /// Fold one backend event into the state.
    pub fn apply(&mut self, ev: Event) {
        match ev {
            Event::Snapshot(snapshot) => self.restore(*snapshot),
            Event::Hosts(hosts) => self.set_hosts(hosts),
            Event::Host(view) => {
                self.note_host_state(&view);
                match self.hosts.iter_mut().find(|h| h.name == view.name) {
                    Some(h) => *h = view,
                    None => self.hosts.push(view),
                }
            }
            Event::Profiles(list) => self.profiles_listed(list),
            Event::Schedules(list) => self.schedules_listed(list),
            Event::ProfileSaved { name, path } => {
                self.profile_saved(&name);
                self.set_status(format!("saved profile {name} to {}", path.display()))
            }
            Event::Validation { request, checklist } => {
                // Only the answer to what the open dialog asked; a late one is dropped.
                if let Some(Overlay::Clone(d)) = &mut self.overlay
                    && d.asked(&request)
                    && let Some(check) = &mut d.check
                {
                    check.state = CheckState::Done(checklist);
                    d.scroll = 0;
                }
            }
            // The TUI has no restore dialog yet: headless asks for these.
            Event::RestoreValidation {
                snapshot,
                to,
                checklist,
            } => self.restore_checked(&snapshot, &to, checklist),
            // The export dialog starts without a confirmation step (yet).
            Event::ExportValidation { .. } => {}
            Event::HostInfo { host, info } => {
                if let Some(h) = self.hosts.iter_mut().find(|h| h.name == host) {
                    h.info = Some(info);
                }
            }
            Event::Vms { host, vms } => {
                let shown = self.selected_host().is_some_and(|h| h.name == host);
                let keep = shown
                    .then(|| self.selected_vm().map(|v| v.name.clone()))
                    .flatten();
                self.vms.insert(host, vms);
                if let Some(name) = keep
                    && let Some(i) = self.visible_vms().iter().position(|v| v.name == name)
                {
                    self.selection.vms = i;
                }
            }
            Event::JobDone { id, result } => {
                let job = self.job_label(id);
                match result {
                    JobResult::Cloned(r) => {
                        self.set_status(format!(
                            "job {job}: cloned as {} ({})",
                            r.new_name, r.new_uuid
                        ));
                    }
                    JobResult::Restored(r) => {
                        self.set_status(format!("job {job}: restored as {} ({})", r.name, r.uuid));
                    }
                    JobResult::Exported(r) => {
                        self.set_status(format!("job {job}: exported as snapshot {}", r.snapshot));
                    }
                    JobResult::Failed { message, .. } => {
                        self.set_error(format!("job {job} failed: {message}"))
                    }
                    JobResult::Cancelled => {
                        self.set_status(format!("job {job} cancelled; nothing left behind"))
                    }
                }
            }
            Event::Job(job) => self.job_view(job),
            Event::JobDetail { id, update } => {
                self.job_details.entry(id).or_default().apply(update);
            }
            Event::History(page) => self.history_page(page),
            Event::HistoryDetail(entry) => self.history_detail = Some(*entry),
            Event::Error {
                host: None,
                message,
            } if self.profile_save_failed(&message) => self.set_error(message),
            Event::Error { host, message } => {
                // The dialog waiting on its source host shows why no checklist comes.
                if let Some(Overlay::Clone(d)) = &mut self.overlay
                    && host.as_deref() == Some(d.from.as_str())
                    && let Some(check) = &mut d.check
                    && check.state == CheckState::Waiting
                {
                    check.state = CheckState::Error(message.clone());
                }
                if let Some(h) = host.as_deref() {
                    self.restore_check_failed(h, &message);
                }
                match host {
                    Some(h) => self.set_error(format!("{h}: {message}")),
                    None => self.set_error(message),
                }
            }
            Event::Repo(view) => self.repository_read(view),
            Event::RepoLocked { path, message } => self.repository_locked(&path, message),
            Event::RepoFailed { path, message } => {
                self.export_repo_failed(&path, &message);
                self.repository_failed(&path, message)
            }
            Event::RepoProbed { path, place } => {
                self.export_probed(&path, &place);
                self.repository_probed(&path, &place);
            }
            Event::RepoCreated { path, encryption } => {
                self.export_repo_created(&path, &encryption);
                self.repository_created(&path, &encryption);
            }
            Event::RepoVerified { path, report } => self.repository_verified(&path, report),
            Event::RepoPruned {
                path,
                policy,
                report,
            } => self.repository_pruned(&path, policy, report),
            Event::Stopped => {
                self.set_error("backend stopped");
                self.quit = true;
            }
        }
        self.clamp_selections();
        self.open_pending_prompt();
    }

    fn set_hosts(&mut self, hosts: Vec<HostView>) {
        let keep = self.selected_host().map(|h| h.name.clone());
        for h in &hosts {
            self.note_host_state(h);
        }
        self.hosts = hosts;
        // Forget VMs of hosts that left the config.
        let names: Vec<String> = self.hosts.iter().map(|h| h.name.clone()).collect();
        self.vms.retain(|k, _| names.contains(k));
        if let Some(i) = keep.and_then(|n| names.iter().position(|h| *h == n)) {
            self.selection.hosts = i;
        }
    }

    /// What the backend holds when this front end attaches replaces what
    /// it shows; selections stay on the same host, VM and job when they
    /// are still there. A history page for another filter than this
    /// pane's is dropped, as a late page is.
    fn restore(&mut self, snapshot: StateSnapshot) {
        let vm = self.selected_vm().map(|v| v.name.clone());
        let job = self.selected_job().map(|j| j.id);
        self.vms = snapshot.vms;
        self.set_hosts(snapshot.hosts);
        if let Some(i) = vm.and_then(|n| self.visible_vms().iter().position(|v| v.name == n)) {
            self.selection.vms = i;
        }
        self.jobs.clear();
        self.job_details.clear();
        for (id, j) in snapshot.jobs {
            self.note_number(&j.view);
            self.jobs.push(j.view);
            self.job_details.insert(id, j.detail);
        }
        self.list_jobs(job);
        if let Some(page) = snapshot.history {
            self.history_page(page);
        }
        self.profiles = snapshot.profiles;
        self.schedules_listed(snapshot.schedules);
    }

    /// Lift prompt holds when the backend reports back on a host.
    fn note_host_state(&mut self, new: &HostView) {
        self.answered.remove(&new.name);
        let changed = self
            .hosts
            .iter()
            .find(|h| h.name == new.name)
            .is_none_or(|old| old.state.label() != new.state.label());
        if changed {
            self.dismissed.remove(&new.name);
        }
    }

    /// The prompt a host is waiting for, if any.
    pub(crate) fn prompt_for(host: &HostView) -> Option<Overlay> {
        match &host.state {
            ConnState::HostKeyUnknown { fingerprint } => Some(Overlay::HostKey {
                host: host.name.clone(),
                fingerprint: fingerprint.clone(),
            }),
            ConnState::NeedsPassphrase { key_path } => Some(Overlay::Passphrase(
                PassphrasePrompt::new(host.name.clone(), key_path.clone()),
            )),
            _ => None,
        }
    }

    /// Host-key and passphrase prompts open by themselves when nothing else
    /// is on screen, since the connection waits on them; a dismissed one
    /// stays closed until its host changes state (Enter on the host reopens it).
    pub(crate) fn open_pending_prompt(&mut self) {
        if self.overlay.is_some() || self.filter.editing || self.quit {
            return;
        }
        let next = self
            .hosts
            .iter()
            .filter(|h| !self.dismissed.contains(&h.name) && !self.answered.contains(&h.name))
            .find_map(Self::prompt_for);
        self.overlay = next;
    }

    pub(crate) fn dismiss_prompt(&mut self, host: &str) {
        self.dismissed.insert(host.to_string());
    }

    pub(crate) fn answered_prompt(&mut self, host: &str) {
        self.dismissed.remove(host);
        self.answered.insert(host.to_string());
    }
}
