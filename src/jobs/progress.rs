//! What a running job tells its owner (the backend): progress views, its
//! checklist, retries.

use crate::model::{Checklist, JobView};
use std::sync::Arc;

/// What a running job tells its owner.
#[derive(Debug, Clone)]
pub enum Update {
    /// Progress: at least 4 times a second while copying, and at each phase.
    View(JobView),
    /// The pre-flight checklist, passed or not, once checked.
    Checklist(Checklist),
    /// A disk's copy reconnected after a transient failure.
    Retry(crate::model::detail::RetryNote),
}

/// Receives the job's [`Update`]s.
pub type Report = Arc<dyn Fn(Update) + Send + Sync>;
