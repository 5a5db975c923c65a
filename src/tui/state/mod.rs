//! The view state of the TUI and the pure functions that change it: the
//! event reducer ([`AppState::apply`]), keys ([`AppState::on_key`]) and mouse
//! ([`AppState::on_mouse`]). Drawing only reads it.

mod clone;
mod clone_keys;
mod export;
mod help;
mod history;
mod job_list;
mod keys;
mod mouse;
mod overlay;
mod profile_form;
mod profile_menu;
mod reducer;
mod repo_create;
mod repository;
mod restore_form;
mod schedules;

pub use clone::{
    CheckState, CloneCheck, CloneDialog, CloneField, Confirm, NAME_MAX, destinations, name_problem,
};
pub use export::{ExportDialog, ExportField};
pub use help::{HelpDoc, HelpSection, HelpView, document as help_document};
pub use history::parse_filter as parse_history_filter;
pub use overlay::{AddHostField, AddHostForm, Overlay, PassphrasePrompt};
pub use profile_form::{FormField, ProfileForm};
pub use profile_menu::{MenuTarget, ProfileMenu, SaveAs, save_target};
pub use repo_create::{CreateField, CreateRepo, NewKeyKind};
pub use repository::{KEEP_FIELDS, Note, RepoBrowser, RepoMode, RestoreForm};
pub use schedules::ScheduleList;

use crate::model::detail::JobDetail;
use crate::model::history::{HistoryFilter, HistoryStats};
use crate::model::schedule::ScheduleView;
use crate::model::{HistoryEntry, HostView, JobPhase, JobView, VmInfo};
use crate::tui::keymap::{HelpEntry, KeyMap};
use crate::tui::theme::Theme;
use ratatui::layout::Rect;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pane {
    Hosts,
    Vms,
    Jobs,
    History,
}

impl Pane {
    /// Tab order.
    pub const ALL: [Pane; 4] = [Pane::Hosts, Pane::Vms, Pane::Jobs, Pane::History];

    fn index(self) -> usize {
        Pane::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    pub fn next(self) -> Pane {
        Pane::ALL[(self.index() + 1) % Pane::ALL.len()]
    }

    pub fn prev(self) -> Pane {
        Pane::ALL[(self.index() + Pane::ALL.len() - 1) % Pane::ALL.len()]
    }
}

/// Selected row of each pane (an index into what the pane shows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection {
    pub hosts: usize,
    pub vms: usize,
    pub jobs: usize,
    pub history: usize,
}

impl Selection {
    pub fn get(&self, pane: Pane) -> usize {
        match pane {
            Pane::Hosts => self.hosts,
            Pane::Vms => self.vms,
            Pane::Jobs => self.jobs,
            Pane::History => self.history,
        }
    }

    fn slot(&mut self, pane: Pane) -> &mut usize {
        match pane {
            Pane::Hosts => &mut self.hosts,
            Pane::Vms => &mut self.vms,
            Pane::Jobs => &mut self.jobs,
            Pane::History => &mut self.history,
        }
    }
}

/// The `/` filter on VM names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub text: String,
    /// Keys go into the filter text while true.
    pub editing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub error: bool,
    /// Unix seconds it was first drawn at; it goes [`STATUS_SECS`] later
    /// (errors [`ERROR_SECS`]), so it never hides the key hints for good.
    pub shown_s: Option<i64>,
}

/// How long a status line stays, in seconds.
pub const STATUS_SECS: i64 = 5;
/// How long an error stays: long enough to read.
pub const ERROR_SECS: i64 = 15;

#[derive(Debug)]
pub struct AppState {
    /// Unix seconds when the screen was last drawn (the event loop sets
    /// it); ages are counted to it. 0 in tests: then to when the data was
    /// read.
    pub clock_s: i64,
    pub hosts: Vec<HostView>,
    /// VMs by host name.
    pub vms: BTreeMap<String, Vec<VmInfo>>,
    /// In the order the jobs pane shows them (see `job_list`).
    pub jobs: Vec<JobView>,
    /// The backend's number of each job seen, by id, for the history rows
    /// of jobs that have left the jobs pane.
    job_numbers: BTreeMap<u64, u32>,
    /// What the job detail view shows, by job id, for the jobs listed.
    pub job_details: BTreeMap<u64, JobDetail>,
    /// Newest first: the backend's page for the history filter.
    pub history: Vec<HistoryEntry>,
    /// Totals of every row the history filter matches.
    pub history_stats: Option<HistoryStats>,
    /// The History pane's own `/` filter (see [`parse_history_filter`]).
    pub history_filter: Filter,
    /// The filter last sent to the backend.
    history_asked: HistoryFilter,
    /// The row the detail overlay shows, with its log, once it has come.
    pub history_detail: Option<HistoryEntry>,
    /// Show times in UTC instead of local time (snapshot tests).
    pub utc: bool,
    /// The daemon's schedules, in its config's order (none in-process).
    pub schedules: Vec<ScheduleView>,
    /// Job profiles from the backend, "default" first.
    pub profiles: Vec<crate::config::profile::ProfileSummary>,
    pub focus: Pane,
    pub selection: Selection,
    pub filter: Filter,
    pub overlay: Option<Overlay>,
    pub status: Option<Status>,
    /// Shown when there are no hosts, so the operator knows what to edit.
    pub config_path: Option<PathBuf>,
    /// Where the export dialog and `b` start: the repository used last
    /// (remembered between runs, see `tui::remembered`), else
    /// `[export] repository`.
    pub repository: Option<PathBuf>,
    /// Where [`AppState::repository`] is remembered between runs; None
    /// (tests): nowhere.
    pub remember_in: Option<PathBuf>,
    /// Actions that answers from the backend call for (an export once its
    /// repository is known to exist); the event loop sends them.
    outbox: Vec<crate::backend::messages::Action>,
    /// The daemon this TUI is attached to (its name and version); None:
    /// the backend runs in this process. Quitting an attached TUI leaves
    /// its jobs running.
    pub daemon: Option<String>,
    pub theme: Theme,
    /// The terminal area last seen; mouse hit-testing lays it out like draw does.
    pub area: Rect,
    /// The event loop ends when this is set.
    pub quit: bool,
    /// Key hints for the status bar, from the key map.
    pub help: Vec<HelpEntry>,
    /// Hosts whose host-key or passphrase prompt the operator dismissed; not
    /// reopened on their own until the host's state changes.
    dismissed: BTreeSet<String>,
    /// Hosts whose prompt was answered; not reopened until the backend reports back.
    answered: BTreeSet<String>,
}

impl AppState {
    pub fn new(keys: &KeyMap, theme: Theme, config_path: Option<PathBuf>) -> AppState {
        AppState {
            clock_s: 0,
            hosts: Vec::new(),
            vms: BTreeMap::new(),
            jobs: Vec::new(),
            job_numbers: BTreeMap::new(),
            job_details: BTreeMap::new(),
            history: Vec::new(),
            history_stats: None,
            history_filter: Filter::default(),
            history_asked: HistoryFilter::default(),
            history_detail: None,
            utc: false,
            schedules: Vec::new(),
            profiles: Vec::new(),
            focus: Pane::Hosts,
            selection: Selection::default(),
            filter: Filter::default(),
            overlay: None,
            status: None,
            repository: None,
            remember_in: None,
            outbox: Vec::new(),
            daemon: None,
            config_path,
            theme,
            area: Rect::new(0, 0, 80, 24),
            quit: false,
            help: keys.help(),
            dismissed: BTreeSet::new(),
            answered: BTreeSet::new(),
        }
    }

    pub fn selected_host(&self) -> Option<&HostView> {
        self.hosts.get(self.selection.hosts)
    }

    /// The selected host's VMs that match the filter, in backend order.
    pub fn visible_vms(&self) -> Vec<&VmInfo> {
        let Some(host) = self.selected_host() else {
            return Vec::new();
        };
        let needle = self.filter.text.to_lowercase();
        self.vms
            .get(&host.name)
            .map(|vms| {
                vms.iter()
                    .filter(|vm| needle.is_empty() || vm.name.to_lowercase().contains(&needle))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn selected_vm(&self) -> Option<&VmInfo> {
        self.visible_vms().get(self.selection.vms).copied()
    }

    pub fn selected_job(&self) -> Option<&JobView> {
        self.jobs.get(self.selection.jobs)
    }

    /// The clone dialog picker's choices: the clone profiles; "default"
    /// until the backend has sent its list.
    pub fn profile_names(&self) -> Vec<String> {
        let names: Vec<String> = self
            .profiles
            .iter()
            .filter(|p| p.kind == crate::config::profile::ProfileKind::Clone)
            .map(|p| p.name.clone())
            .collect();
        if names.is_empty() {
            vec!["default".into()]
        } else {
            names
        }
    }

    /// Rows shown in a pane.
    pub fn len(&self, pane: Pane) -> usize {
        match pane {
            Pane::Hosts => self.hosts.len(),
            Pane::Vms => self.visible_vms().len(),
            Pane::Jobs => self.jobs.len(),
            Pane::History => self.history.len(),
        }
    }

    /// Whether any job is still working (quit asks first; the loop ticks).
    pub fn has_running_jobs(&self) -> bool {
        self.jobs.iter().any(|j| is_running(j.phase))
    }

    /// Whether the screen shows something that changes with time alone:
    /// a running job, the repository view's snapshot ages, a status line
    /// that will go.
    pub fn needs_ticks(&self) -> bool {
        self.has_running_jobs() || self.shows_repository() || self.status.is_some()
    }

    /// Called before each draw with the clock: stamps a new status line,
    /// and drops one that has been shown long enough.
    pub fn expire_status(&mut self, now_s: i64) {
        let Some(st) = &mut self.status else {
            return;
        };
        let shown = *st.shown_s.get_or_insert(now_s);
        let keep = if st.error { ERROR_SECS } else { STATUS_SECS };
        if now_s - shown >= keep {
            self.status = None;
        }
    }

    /// The first key bound to a named action, for hints ("?" for "help").
    pub fn key_for(&self, action: &str) -> Option<&str> {
        self.help
            .iter()
            .find(|h| h.name == action)
            .and_then(|h| h.keys.split(", ").next())
            .filter(|k| !k.is_empty())
    }

    /// What backend answers asked to send since the last call.
    pub fn take_actions(&mut self) -> Vec<crate::backend::messages::Action> {
        std::mem::take(&mut self.outbox)
    }

    /// The repository used last; the next dialog starts there.
    pub(super) fn remember_repository(&mut self, path: &std::path::Path) {
        self.repository = Some(path.to_path_buf());
    }

    pub fn set_status(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: false,
            shown_s: None,
        });
    }

    pub fn set_error(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: true,
            shown_s: None,
        });
    }

    /// Select a row, clamped to what the pane shows. Changing host resets the VM row.
    pub fn select(&mut self, pane: Pane, row: usize) {
        let len = self.len(pane);
        let row = row.min(len.saturating_sub(1));
        let old = std::mem::replace(self.selection.slot(pane), row);
        if pane == Pane::Hosts && old != row {
            self.selection.vms = 0;
        }
    }

    /// Move a pane's selection by `delta` rows, stopping at the ends.
    pub fn move_selection(&mut self, pane: Pane, delta: isize) {
        let cur = self.selection.get(pane);
        let row = if delta < 0 {
            cur.saturating_sub(delta.unsigned_abs())
        } else {
            cur.saturating_add(delta as usize)
        };
        self.select(pane, row);
    }

    /// Keep every selection inside its list after the lists changed.
    fn clamp_selections(&mut self) {
        for pane in Pane::ALL {
            let row = self.selection.get(pane);
            let len = self.len(pane);
            *self.selection.slot(pane) = row.min(len.saturating_sub(1));
        }
    }
}

/// Ended jobs kept in the jobs pane (for details and retry); older ones leave.
pub const ENDED_JOBS_KEPT: usize = 10;

/// Running and past the queue: what the jobs pane lists first.
pub(crate) fn at_work(phase: JobPhase) -> bool {
    is_running(phase) && phase != JobPhase::Queued
}

pub(crate) fn is_running(phase: JobPhase) -> bool {
    !matches!(
        phase,
        JobPhase::Done | JobPhase::Failed | JobPhase::Cancelled
    )
}
