//! What every running job carries, whatever its kind: its id and log tag,
//! the view the jobs pane shows, where it reports, and its cancel token.
//! A kind's `Job` holds one and adds only what is special to it.

use super::error::JobError;
use super::progress::{Report, Update};
use crate::model::{JobKind, JobPhase, JobView};
use tokio_util::sync::CancellationToken;

pub struct JobContext {
    /// The backend's job id.
    pub id: u64,
    /// Short tag for logs and names made on hosts ("c123", "e123").
    pub tag: String,
    /// Kind, VM, source and destination as the jobs pane shows them.
    pub base: JobView,
    pub report: Report,
    pub cancel: CancellationToken,
}

impl JobContext {
    /// `tag` is the kind's letter and the id, e.g. "c123".
    pub fn new(
        id: u64,
        kind: JobKind,
        (vm, from, to): (String, String, String),
        report: Report,
        cancel: CancellationToken,
    ) -> JobContext {
        let letter = match kind {
            JobKind::Clone => 'c',
            JobKind::Export => 'e',
            JobKind::Restore => 'r',
            JobKind::Extract => 'x',
        };
        JobContext {
            id,
            tag: format!("{letter}{id}"),
            base: JobView {
                id,
                // The backend's watch gives each view the job's number.
                number: 0,
                kind,
                vm,
                from,
                to,
                phase: JobPhase::Queued,
                disks: Vec::new(),
                rate_bytes_per_sec: 0.0,
                eta_secs: None,
                message: None,
                queue_position: None,
            },
            report,
            cancel,
        }
    }

    /// The job's view in `phase`, no progress yet.
    pub fn view(&self, phase: JobPhase) -> JobView {
        JobView {
            phase,
            ..self.base.clone()
        }
    }

    /// Enters `phase`: logged and reported.
    pub fn phase(&self, phase: JobPhase) {
        tracing::info!(job = %self.tag, ?phase, "{} phase", self.base.kind);
        (self.report)(Update::View(self.view(phase)));
    }

    /// A phase with a line saying what happens in it.
    pub fn phase_note(&self, phase: JobPhase, note: String) {
        tracing::info!(job = %self.tag, ?phase, note = %note, "{} phase", self.base.kind);
        let mut v = self.view(phase);
        v.message = Some(note);
        (self.report)(Update::View(v));
    }

    pub fn check_cancel(&self) -> Result<(), JobError> {
        if self.cancel.is_cancelled() {
            Err(JobError::Cancelled)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn phases_are_reported_with_the_base_view_and_cancel_is_seen() {
        let seen: Arc<Mutex<Vec<JobView>>> = Arc::default();
        let sink = seen.clone();
        let report: Report = Arc::new(move |u| {
            if let Update::View(v) = u {
                sink.lock().unwrap().push(v);
            }
        });
        let cancel = CancellationToken::new();
        let names = ("web01".into(), "alpha".into(), "/backups/r".into());
        let ctx = JobContext::new(7, JobKind::Export, names, report, cancel.clone());
        assert_eq!(ctx.tag, "e7");
        ctx.phase(JobPhase::Validating);
        ctx.phase_note(JobPhase::Defining, "committing".into());
        let views = seen.lock().unwrap().clone();
        assert_eq!(views.len(), 2);
        assert_eq!(views[0].phase, JobPhase::Validating);
        assert_eq!((views[0].id, views[0].kind), (7, JobKind::Export));
        assert_eq!(views[0].to, "/backups/r");
        assert_eq!(views[1].message.as_deref(), Some("committing"));
        assert!(ctx.check_cancel().is_ok());
        cancel.cancel();
        assert!(matches!(ctx.check_cancel(), Err(JobError::Cancelled)));
    }
}
