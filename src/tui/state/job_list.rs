//! The jobs pane's list and the jobs' numbers. Jobs at work come first
//! (newest first), then the queue in its order, then ended jobs (newest
//! first), so the running ones are what a small screen shows. The
//! selection follows its job when the order changes, and goes to a job
//! that appears, which is the one the operator just started.

use super::{AppState, ENDED_JOBS_KEPT, at_work, is_running};
use crate::model::{JobPhase, JobView, job_label};
use std::cmp::Reverse;

/// Numbers of the jobs seen, for history rows: more than a history page
/// (200 rows) holds, and bounded however long a daemon runs.
const NUMBERS_KEPT: usize = 1000;

/// Where a job sorts: at work, then waiting by place in line, then ended;
/// the newest first within each group.
fn rank(j: &JobView) -> (u8, usize, Reverse<u64>) {
    if at_work(j.phase) {
        (0, 0, Reverse(j.id))
    } else if j.phase == JobPhase::Queued {
        (1, j.queue_position.unwrap_or(usize::MAX), Reverse(j.id))
    } else {
        (2, 0, Reverse(j.id))
    }
}

impl AppState {
    /// A job's latest view, listed in its place.
    pub(super) fn job_view(&mut self, job: JobView) {
        let new = !self.jobs.iter().any(|j| j.id == job.id);
        let keep = if new {
            Some(job.id)
        } else {
            self.selected_job().map(|j| j.id)
        };
        self.note_number(&job);
        match self.jobs.iter_mut().find(|j| j.id == job.id) {
            Some(j) => *j = job,
            None => self.jobs.push(job),
        }
        self.list_jobs(keep);
    }

    /// Drops old ended jobs, sorts the rest and selects job `keep` if it
    /// is still listed.
    pub(super) fn list_jobs(&mut self, keep: Option<u64>) {
        self.forget_old_jobs();
        self.jobs.sort_by_key(rank);
        if let Some(i) = keep.and_then(|id| self.jobs.iter().position(|j| j.id == id)) {
            self.selection.jobs = i;
        }
    }

    /// Ended jobs stay in the jobs pane, for their details and a retry,
    /// until [`ENDED_JOBS_KEPT`] newer ones have ended.
    fn forget_old_jobs(&mut self) {
        let mut ended: Vec<u64> = self
            .jobs
            .iter()
            .filter(|j| !is_running(j.phase))
            .map(|j| j.id)
            .collect();
        ended.sort_unstable();
        let gone = &ended[..ended.len().saturating_sub(ENDED_JOBS_KEPT)];
        self.jobs.retain(|j| !gone.contains(&j.id));
        let ids: Vec<u64> = self.jobs.iter().map(|j| j.id).collect();
        self.job_details.retain(|id, _| ids.contains(id));
    }

    pub(super) fn note_number(&mut self, job: &JobView) {
        if job.number == 0 {
            return;
        }
        self.job_numbers.insert(job.id, job.number);
        while self.job_numbers.len() > NUMBERS_KEPT {
            self.job_numbers.pop_first();
        }
    }

    /// The number the backend gave job `id`, if this front end saw it.
    pub fn job_number(&self, id: u64) -> Option<u32> {
        let listed = self.jobs.iter().find(|j| j.id == id).map(|j| j.number);
        listed
            .filter(|n| *n > 0)
            .or_else(|| self.job_numbers.get(&id).copied())
    }

    /// "#3": how the status line and the dialogs name job `id`.
    pub fn job_label(&self, id: u64) -> String {
        job_label(id, self.job_number(id).unwrap_or(0))
    }
}
