//! What a job made on its hosts, undone in reverse when it fails or is
//! cancelled, and the end of every job that made something ([`settle`]).
//! The journal holds the same resources for a restart after a kill.

use super::error::{JobError, journal_err};
use super::hosts::HostLink;
use super::journal::{Journal, Resource};
use crate::model::JobPhase;
use crate::remote::backup::PullBackup;
use crate::remote::qemu_nbd::QemuNbd;
use crate::remote::{Image, RunDir};

/// What the job made so far, undone in reverse by [`Made::undo`].
/// The journal's resources: what a path-based cleanup works from when the
/// handles above lost their connection (their cleanup then fails).
/// Restore uses it too, with only the destination half.
#[derive(Default)]
pub struct Made {
    pub src_dir: Option<RunDir>,
    pub backup: Option<PullBackup>,
    pub src_nbd: Vec<QemuNbd>,
    pub dst_dir: Option<RunDir>,
    pub dst_nbd: Vec<QemuNbd>,
    pub images: Vec<Image>,
    /// The NVRAM copy: a plain file with no handle, removed by path.
    pub nvram: Option<Resource>,
    pub resources: Vec<Resource>,
}

impl Made {
    /// Stops the NBD servers and ends the backup; when a connection was
    /// replaced meanwhile, does the same from the recorded paths over the
    /// hosts' current connections.
    pub async fn release_on(&mut self, src: &HostLink, dst: &HostLink) -> Result<(), String> {
        if self.release().await.is_ok() {
            return Ok(());
        }
        self.by_path(src, dst, |r| !matches!(r, Resource::Image { .. }))
            .await
    }

    /// After the copy: the exports and the backup are no longer needed,
    /// whatever comes next; a failure to stop them fails the job.
    pub async fn release_after_copy(
        &mut self,
        src: &HostLink,
        dst: &HostLink,
    ) -> Result<(), JobError> {
        self.release_on(src, dst)
            .await
            .map_err(|message| JobError::Step {
                step: "stopping the NBD exports",
                message,
            })
    }

    /// Removes everything, images included, falling back as `release_on` does.
    pub async fn undo_on(mut self, src: &HostLink, dst: &HostLink) -> Result<(), String> {
        let resources = std::mem::take(&mut self.resources);
        let nvram = self.nvram.take();
        if self.undo().await.is_ok() {
            return match nvram {
                Some(r) => {
                    let d = dst.fresh().await.map_err(|e| e.to_string())?;
                    crate::jobs::recover::undo(&r, &d).await
                }
                None => Ok(()),
            };
        }
        let mut again = Made {
            resources,
            ..Made::default()
        };
        again.by_path(src, dst, |_| true).await
    }

    async fn by_path(
        &mut self,
        src: &HostLink,
        dst: &HostLink,
        which: impl Fn(&Resource) -> bool,
    ) -> Result<(), String> {
        let (s, d) = match (src.fresh().await, dst.fresh().await) {
            (Ok(s), Ok(d)) => (s, d),
            (Err(e), _) | (_, Err(e)) => return Err(e.to_string()),
        };
        let mut errors = Vec::new();
        for r in self.resources.iter().rev().filter(|r| which(r)) {
            let host = if r.host() == s.name { &s } else { &d };
            if let Err(e) = crate::jobs::recover::undo(r, host).await {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Stops the NBD servers and ends the backup: the copy is over either way.
    async fn release(&mut self) -> Result<(), String> {
        // Each stop is a round trip to a host: run them side by side.
        let stops = self.dst_nbd.drain(..).chain(self.src_nbd.drain(..));
        let mut errors: Vec<String> = futures::future::join_all(stops.map(|n| n.stop()))
            .await
            .into_iter()
            .filter_map(|r| r.err().map(|e| e.to_string()))
            .collect();
        if let Some(b) = self.backup.take()
            && let Err(e) = b.end().await
        {
            errors.push(e.to_string());
        }
        let dirs = [self.dst_dir.take(), self.src_dir.take()];
        let removals = dirs.into_iter().flatten().map(|d| d.remove());
        for r in futures::future::join_all(removals).await {
            if let Err(e) = r {
                errors.push(e.to_string());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Removes everything, images included.
    async fn undo(mut self) -> Result<(), String> {
        let mut errors: Vec<String> = self.release().await.err().into_iter().collect();
        for img in self.images.drain(..) {
            if let Err(e) = img.remove().await {
                errors.push(e.to_string());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// Ends a job that made things on `src` and `dst`: on success closes its
/// journal and reports Done; on failure or cancel undoes `made` in reverse
/// (the journal keeps what could not be undone, for the next start) and
/// reports Failed or Cancelled.
pub async fn settle<T>(
    result: Result<T, JobError>,
    made: Made,
    (src, dst): (&HostLink, &HostLink),
    journal: Journal,
    tag: &str,
    phase: impl Fn(JobPhase),
) -> Result<T, JobError> {
    match result {
        Ok(done) => {
            journal.finish().map_err(journal_err)?;
            phase(JobPhase::Done);
            Ok(done)
        }
        Err(e) => {
            let ended = if matches!(e, JobError::Cancelled) {
                JobPhase::Cancelled
            } else {
                JobPhase::Failed
            };
            match made.undo_on(src, dst).await {
                // Nothing is left: the journal has nothing to tell a restart.
                Ok(()) => {
                    let _ = journal.finish();
                }
                Err(left) => {
                    tracing::warn!(job = %tag, "cleanup incomplete, kept in the journal: {left}");
                }
            }
            phase(ended);
            Err(e)
        }
    }
}

/// Records a resource in the journal (for a restart) and in `made` (for
/// this run's own path-based cleanup).
pub fn note(
    journal: &mut Journal,
    made: &mut Made,
    r: Resource,
) -> Result<(), crate::jobs::journal::JournalError> {
    made.resources.push(r.clone());
    journal.record(r)
}
