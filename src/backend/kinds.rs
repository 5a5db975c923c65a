//! What differs between job kinds as the backend runs them: the profile
//! they take, what they check before queueing, what they say when they
//! cannot start, and the function that runs them. Adding a kind adds one
//! arm to each match here; the job table ([`super::task`]) lists no kinds.

use super::bus::EventBus;
use super::history_feed::HistoryFeed;
use super::repo::OpenRepos;
use super::{clone, export, restore};
use crate::config::profile::Profile;
use crate::jobs::hosts::HostLink;
use crate::model::JobRequest;
use tokio_util::sync::CancellationToken;

/// What every running job gets from the backend besides its request.
pub(super) struct RunContext {
    /// The job's number, which every view of it carries.
    pub number: u32,
    pub cancel: CancellationToken,
    pub events: EventBus,
    pub history: HistoryFeed,
    pub repos: OpenRepos,
}

/// The profile the request names, of the kind it needs (restores use
/// clone profiles); the message says what could not start.
pub(super) fn find_profile(req: &JobRequest) -> Result<Profile, String> {
    match req {
        JobRequest::Clone(r) => {
            clone::find_profile(&r.profile).map_err(|e| format!("cannot clone {}: {e}", r.vm))
        }
        JobRequest::Export(r) => {
            export::find_profile(&r.profile).map_err(|e| format!("cannot export {}: {e}", r.vm))
        }
        JobRequest::Restore(r) => clone::find_profile(&r.profile)
            .map_err(|e| format!("cannot restore snapshot {}: {e}", r.snapshot)),
    }
}

/// The request as it is queued. An export names how to open its
/// repository: the key this session already holds for it when the front
/// end gave none, else the profile's passphrase source.
pub(super) fn prepare(
    req: JobRequest,
    profile: &Profile,
    repos: &OpenRepos,
) -> Result<JobRequest, String> {
    match req {
        JobRequest::Export(r) => {
            let cached =
                matches!(r.unlock, crate::repo::Unlock::None) && repos.cached(&r.repo).is_some();
            if cached {
                Ok(JobRequest::Export(r))
            } else {
                export::profile_unlock(r, profile).map(JobRequest::Export)
            }
        }
        other => Ok(other),
    }
}

/// What a job whose hosts never came says, `why` being the links' error.
pub(super) fn cannot_start(req: &JobRequest, why: &str) -> String {
    match req {
        JobRequest::Clone(r) => format!("cannot clone {}: {why}", r.vm),
        JobRequest::Export(r) => format!("cannot export {}: {why}", r.vm),
        JobRequest::Restore(r) => format!("cannot restore: {} is not connected", r.to),
    }
}

/// Runs the job to its end; `links` are its hosts' links in
/// [`JobRequest::hosts`] order.
pub(super) async fn run(
    id: u64,
    req: JobRequest,
    profile: Profile,
    links: Vec<HostLink>,
    ctx: RunContext,
) {
    let mut links = links.into_iter();
    let (first, second) = (links.next(), links.next());
    match (req, first) {
        (JobRequest::Clone(r), Some(source)) => {
            let Some(dest) = second else { return };
            clone::run_job(id, r, profile, source, dest, ctx).await
        }
        (JobRequest::Export(r), Some(source)) => export::run_job(id, r, profile, source, ctx).await,
        (JobRequest::Restore(r), Some(dest)) => restore::run_job(id, r, profile, dest, ctx).await,
        (_, None) => {}
    }
}
