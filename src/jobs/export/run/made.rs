//! What the export made on the source host, undone in reverse.

use super::*;

/// What the source side of the job made, undone in reverse.
#[derive(Default)]
pub(super) struct Made {
    pub(super) dir: Option<RunDir>,
    pub(super) backup: Option<PullBackup>,
    pub(super) nbd: Vec<QemuNbd>,
    /// The checkpoint this run created (deleted if the run fails).
    pub(super) checkpoint: Option<String>,
}

impl Made {
    /// Ends the backup, stops qemu-nbd and removes the run directory;
    /// falls back to a path-based cleanup over the current connection.
    pub(super) async fn release(&mut self, host: &HostLink) -> Result<(), String> {
        let mut errors: Vec<String> = Vec::new();
        let stops = self.nbd.drain(..).map(|n| n.stop());
        for r in futures::future::join_all(stops).await {
            if let Err(e) = r {
                errors.push(e.to_string());
            }
        }
        if let Some(b) = self.backup.take() {
            let socket = b.socket().clone();
            let domain = b.domain().to_string();
            if let Err(e) = b.end().await {
                // The session may have been replaced: again, by path.
                let retry = match host.fresh().await {
                    Ok(h) => crate::jobs::recover::undo(
                        &Resource::BackupJob {
                            host: h.name.clone(),
                            domain,
                            socket: socket.as_str().into(),
                            pool: h.pool.clone(),
                            tag: String::new(),
                        },
                        &h,
                    )
                    .await
                    .err(),
                    Err(e2) => Some(e2.to_string()),
                };
                if let Some(again) = retry {
                    errors.push(format!("{e}; {again}"));
                }
            }
        }
        if let Some(d) = self.dir.take() {
            let path = d.path().clone();
            if let Err(e) = d.remove().await {
                let retry = match host.fresh().await {
                    Ok(h) => rundir::cleanup(&h.session, &path).await.err(),
                    Err(e2) => Some(crate::remote::RemoteError::Backup {
                        domain: String::new(),
                        reason: e2.to_string(),
                    }),
                };
                if let Some(again) = retry {
                    errors.push(format!("{e}; {again}"));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}
