//! Host links: one host as a running job sees it, and the wait for a host
//! whose connection was replaced (a reconnect).

use super::error::JobError;
use crate::libvirt::HostWorker;
use crate::transport::{HostConnection, Session};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One host as a job sees it: its libvirt thread, its SSH connection (which
/// may be replaced by a reconnect) and its default pool.
#[derive(Clone)]
pub struct HostLink {
    pub name: String,
    pub worker: Arc<HostWorker>,
    pub conn: HostConnection,
    pub session: Arc<Session>,
    pub pool: String,
    /// The host's handles as they are now: after a reconnect, the worker
    /// and session above are dead and these are their successors.
    pub current: Arc<dyn Fn() -> Option<HostLink> + Send + Sync>,
}

/// How long a job waits for a host to come back before giving up.
const RECONNECT_WAIT: Duration = Duration::from_secs(120);

impl HostLink {
    fn alive(&self) -> bool {
        !self.session.is_closed() && !self.worker.is_closed()
    }

    /// Live handles for this host, waiting for a reconnect if needed.
    pub async fn fresh(&self) -> Result<HostLink, JobError> {
        if self.alive() {
            return Ok(self.clone());
        }
        let start = Instant::now();
        loop {
            if let Some(l) = (self.current)().filter(HostLink::alive) {
                return Ok(l);
            }
            if start.elapsed() > RECONNECT_WAIT {
                return Err(JobError::Step {
                    step: "reconnecting",
                    message: format!("{} did not come back within {RECONNECT_WAIT:?}", self.name),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
