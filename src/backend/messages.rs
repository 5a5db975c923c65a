//! The typed messages between front ends and the backend task. Nothing else crosses.

use crate::model::history::{HistoryFilter, HistoryPage};
use crate::model::snapshot::StateSnapshot;
use crate::model::{
    Checklist, CloneRequest, ExportRequest, HistoryEntry, HostInfo, HostView, JobView,
    RestoreRequest, VmInfo,
};
use serde::{Deserialize, Serialize};

pub use crate::model::JobResult;
pub use crate::model::Secret;

/// What a front end asks of the backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// Read a repository's snapshots: [`Event::Repo`], or
    /// [`Event::RepoLocked`] when it needs (another) passphrase.
    RepoOpen {
        path: std::path::PathBuf,
        passphrase: Option<Secret>,
    },
    /// Open a repository and keep its key for this session, without
    /// listing it: a job that names the repository with the same unlock
    /// (or none) then skips the key derivation. Silent on success;
    /// [`Event::RepoLocked`] or [`Event::RepoFailed`] otherwise.
    RepoUnlock {
        path: std::path::PathBuf,
        unlock: crate::model::Unlock,
    },
    /// What `path` holds (a repository, nothing yet, something else):
    /// answered by [`Event::RepoProbed`]. Front ends ask before an export
    /// so they can offer to create a repository.
    RepoProbe { path: std::path::PathBuf },
    /// Create a repository at a missing or empty directory, as `repo init`
    /// does, and keep it open for this session. Answered by
    /// [`Event::RepoCreated`], or [`Event::RepoFailed`].
    RepoCreate {
        path: std::path::PathBuf,
        key: crate::model::NewRepoKey,
    },
    /// Check one snapshot (or all): chunks present, or with `read_data`
    /// every chunk decrypted and its id checked; with `repair` (and
    /// `read_data`) the damaged chunk files are then removed, so the next
    /// export stores them again. Answer: [`Event::RepoVerified`].
    RepoVerify {
        path: std::path::PathBuf,
        passphrase: Option<Secret>,
        snapshot: Option<String>,
        read_data: bool,
        repair: bool,
    },
    /// Apply (or, `dry_run`, plan) a retention policy to every VM of a
    /// repository and collect unreferenced chunks. Answer: [`Event::RepoPruned`].
    RepoPrune {
        path: std::path::PathBuf,
        passphrase: Option<Secret>,
        policy: crate::model::KeepPolicy,
        dry_run: bool,
        /// For a real run: the snapshot ids the confirmed dry run removes;
        /// nothing else is removed, even if the policy now says more.
        confirmed: Option<Vec<String>>,
    },
    /// Re-read inventory: one host, or all when None.
    Refresh(Option<String>),
    /// Connect (or reconnect now) to a host.
    Connect(String),
    /// The operator accepted this fingerprint for an unknown host: append it to known_hosts.
    AcceptHostKey { host: String, fingerprint: String },
    /// The operator refused an unknown host key.
    RejectHostKey { host: String },
    /// Passphrase for an encrypted identity file. Used once, never stored.
    Passphrase {
        host: String,
        key_path: String,
        passphrase: Secret,
    },
    /// Add a host to the config file and connect to it.
    AddHost(crate::config::HostConfig),
    /// Run the pre-flight checks of a clone; answered by [`Event::Validation`].
    ValidateClone(CloneRequest),
    /// Validate again and, if nothing fails, start the clone job.
    StartClone(CloneRequest),
    /// Run the pre-flight checks of a restore; answered by
    /// [`Event::RestoreValidation`] (or [`Event::Error`] for the host).
    ValidateRestore(RestoreRequest),
    /// Queue a restore job from a repository snapshot (it validates first).
    StartRestore(RestoreRequest),
    /// Run the pre-flight checks of an export; answered by
    /// [`Event::ExportValidation`] (or [`Event::Error`] for the host).
    ValidateExport(ExportRequest),
    /// Queue an export of a VM into a repository (docs/export.md).
    StartExport(ExportRequest),
    /// Write a user profile named `name` with the settings of profile
    /// `from`; `replace` allows replacing a user profile of that name
    /// (built-in names are always refused). Answered by
    /// [`Event::ProfileSaved`] and [`Event::Profiles`], or [`Event::Error`].
    SaveProfile {
        name: String,
        from: String,
        replace: bool,
        /// The profile editor's settings; None keeps `from`'s. With an
        /// edit, a user profile saved under its own name is edited in its
        /// file (comments and other settings kept).
        #[serde(default)]
        edit: Option<crate::model::profile::ProfileEdit>,
    },
    /// Read the profiles again (a file added by hand shows up); answered
    /// by [`Event::Profiles`], or [`Event::Error`] naming a bad file.
    ListProfiles,
    /// Cancel a job: a queued one never starts; a running one cleans up
    /// what it created.
    CancelJob(u64),
    /// Run an ended job again, with the same request and profile settings,
    /// as a new job.
    RetryJob(u64),
    /// Show the history rows this filter matches; answered by
    /// [`Event::History`], and again whenever a job starts or ends.
    QueryHistory(HistoryFilter),
    /// One history row in full (log, validation report); answered by
    /// [`Event::HistoryDetail`].
    HistoryDetail(u64),
    /// Run a schedule now, as if it were due (the daemon's schedules;
    /// answered by [`Event::Schedules`], or [`Event::Error`]).
    RunSchedule(String),
    /// Stop the backend: close connections, end jobs.
    Quit,
}

/// What the backend tells front ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// The first event of every subscriber ([`super::Backend::attach`]):
    /// hosts, VMs, jobs with detail and result, the last history page and
    /// the profiles as the events so far left them. What follows is only
    /// what came after, so a front end replaces its state with this and
    /// then folds the rest as usual.
    Snapshot(Box<StateSnapshot>),
    /// Full host list in config order (sent on start and whenever the list changes).
    Hosts(Vec<HostView>),
    /// One host's state or facts changed.
    Host(HostView),
    HostInfo {
        host: String,
        info: HostInfo,
    },
    /// The complete VM list of a host.
    Vms {
        host: String,
        vms: Vec<VmInfo>,
    },
    /// Every profile (built-in, then the user's), with what the profile
    /// menu shows; "default" first.
    Profiles(Vec<crate::model::profile::ProfileSummary>),
    /// A user profile was written ("save as profile").
    ProfileSaved {
        name: String,
        path: std::path::PathBuf,
    },
    /// The pre-flight checklist of a requested clone.
    Validation {
        request: CloneRequest,
        checklist: Checklist,
    },
    /// The pre-flight checklist of a requested restore.
    RestoreValidation {
        snapshot: String,
        to: String,
        checklist: Checklist,
    },
    /// The pre-flight checklist of a requested export.
    ExportValidation {
        vm: String,
        from: String,
        checklist: Checklist,
    },
    Job(JobView),
    /// More of a job's detail (phases, checklist, retries, rate, log).
    JobDetail {
        id: u64,
        update: crate::model::detail::DetailUpdate,
    },
    /// A job ended; its last [`Event::Job`] has the final phase.
    JobDone {
        id: u64,
        result: JobResult,
    },
    /// The newest history rows of the last [`Action::QueryHistory`] filter,
    /// with the statistics of all the rows it matches.
    History(HistoryPage),
    /// One history row with its log and validation report.
    HistoryDetail(Box<HistoryEntry>),
    /// Something the operator should see, tied to a host when there is one.
    Error {
        host: Option<String>,
        message: String,
    },
    /// A repository's snapshots ([`Action::RepoOpen`]).
    Repo(crate::model::RepoView),
    /// The repository is encrypted and no passphrase, or a wrong one, was given.
    RepoLocked {
        path: String,
        message: String,
    },
    /// What a path holds ([`Action::RepoProbe`]; [`Action::RepoOpen`] also
    /// sends it, instead of failing, when there is no repository yet).
    RepoProbed {
        path: String,
        place: crate::model::RepoPlace,
    },
    /// A repository was created ([`Action::RepoCreate`]); `encryption` is
    /// "passphrase", "recipients" or "none".
    RepoCreated {
        path: String,
        encryption: String,
    },
    /// A repository action failed (not a damage report: see [`Event::RepoVerified`]).
    RepoFailed {
        path: String,
        message: String,
    },
    RepoVerified {
        path: String,
        report: crate::model::VerifyView,
    },
    RepoPruned {
        path: String,
        policy: crate::model::KeepPolicy,
        report: crate::model::PruneView,
    },
    /// Every schedule with its next and last run (the daemon's; sent on
    /// start and whenever a run starts or ends).
    Schedules(Vec<crate::model::schedule::ScheduleView>),
    /// The backend has stopped.
    Stopped,
}

#[cfg(test)]
#[path = "messages_tests.rs"]
mod tests;
