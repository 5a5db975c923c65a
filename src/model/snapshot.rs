//! The state a front end builds from the backend's events, as one value:
//! hosts, VMs, jobs with their detail and result, the last history page
//! and the profiles. The backend folds every event it sends into one, so a
//! front end that attaches late starts from it instead of from nothing.
//! The methods are the fold, one per kind of event; the backend maps its
//! events onto them (the event type is above this layer).

use super::detail::{DetailUpdate, JobDetail};
use super::history::HistoryPage;
use super::profile::ProfileSummary;
use super::{HostInfo, HostView, JobPhase, JobResult, JobView, VmInfo};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Ended jobs kept, the newest by id; older ones are forgotten so the
/// snapshot stays bounded however long the backend runs. As many as the
/// backend keeps requests for a retry.
pub const ENDED_JOBS_KEPT: usize = 200;

/// Everything a newly attached front end needs to show what the others show.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateSnapshot {
    /// In config order.
    pub hosts: Vec<HostView>,
    /// VMs by host name.
    pub vms: BTreeMap<String, Vec<VmInfo>>,
    /// By job id, so oldest first.
    pub jobs: BTreeMap<u64, SnapshotJob>,
    /// The last history page sent (for whichever filter asked for it).
    pub history: Option<HistoryPage>,
    /// Every profile, "default" first.
    pub profiles: Vec<ProfileSummary>,
    /// The daemon's schedules (none in-process).
    #[serde(default)]
    pub schedules: Vec<super::schedule::ScheduleView>,
}

/// One job as the events told it so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotJob {
    /// The latest view.
    pub view: JobView,
    pub detail: JobDetail,
    /// How it ended, once it has.
    pub result: Option<JobResult>,
}

impl StateSnapshot {
    /// The full host list; VMs of hosts no longer listed are forgotten.
    pub fn set_hosts(&mut self, hosts: Vec<HostView>) {
        self.vms
            .retain(|name, _| hosts.iter().any(|h| h.name == *name));
        self.hosts = hosts;
    }

    /// One host changed (or was added).
    pub fn set_host(&mut self, view: HostView) {
        match self.hosts.iter_mut().find(|h| h.name == view.name) {
            Some(h) => *h = view,
            None => self.hosts.push(view),
        }
    }

    pub fn set_host_info(&mut self, host: &str, info: HostInfo) {
        if let Some(h) = self.hosts.iter_mut().find(|h| h.name == host) {
            h.info = Some(info);
        }
    }

    /// A host's complete VM list.
    pub fn set_vms(&mut self, host: String, vms: Vec<VmInfo>) {
        self.vms.insert(host, vms);
    }

    /// A job's latest view; a job that ends may push the oldest ended out.
    pub fn set_job(&mut self, view: JobView) {
        let ended = is_ended(view.phase);
        match self.jobs.get_mut(&view.id) {
            Some(j) => j.view = view,
            None => {
                let job = SnapshotJob {
                    view,
                    detail: JobDetail::default(),
                    result: None,
                };
                self.jobs.insert(job.view.id, job);
            }
        }
        if ended {
            self.forget_old_jobs();
        }
    }

    /// More detail of a listed job. The backend lists a job before it
    /// details it, so an unknown id is one already forgotten.
    pub fn job_detail(&mut self, id: u64, update: DetailUpdate) {
        if let Some(j) = self.jobs.get_mut(&id) {
            j.detail.apply(update);
        }
    }

    /// How a listed job ended.
    pub fn job_done(&mut self, id: u64, result: JobResult) {
        if let Some(j) = self.jobs.get_mut(&id) {
            j.result = Some(result);
        }
    }

    pub fn set_history(&mut self, page: HistoryPage) {
        self.history = Some(page);
    }

    pub fn set_profiles(&mut self, profiles: Vec<ProfileSummary>) {
        self.profiles = profiles;
    }

    pub fn set_schedules(&mut self, schedules: Vec<super::schedule::ScheduleView>) {
        self.schedules = schedules;
    }

    /// Keeps the newest [`ENDED_JOBS_KEPT`] ended jobs; running and queued
    /// ones always stay.
    fn forget_old_jobs(&mut self) {
        let ended: Vec<u64> = self
            .jobs
            .iter()
            .filter(|(_, j)| is_ended(j.view.phase))
            .map(|(id, _)| *id)
            .collect();
        let excess = ended.len().saturating_sub(ENDED_JOBS_KEPT);
        for id in &ended[..excess] {
            self.jobs.remove(id);
        }
    }
}

fn is_ended(phase: JobPhase) -> bool {
    matches!(
        phase,
        JobPhase::Done | JobPhase::Failed | JobPhase::Cancelled
    )
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
