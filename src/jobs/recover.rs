//! Undoing what an interrupted job left on its hosts, from its journal.
//! Runs when the app starts again, once the hosts named in the journal are
//! connected.

use super::hosts::HostLink;
use super::journal::{Journal, Resource};
use crate::remote::{RemotePath, backup, image, rundir};

/// Removes one resource. Already-gone resources are not an error.
pub async fn undo(resource: &Resource, host: &HostLink) -> Result<(), String> {
    let path = |p: &str| RemotePath::new(p).map_err(|e| e.to_string());
    let s = &host.session;
    match resource {
        Resource::RemoteDir { path: p, .. } => rundir::cleanup(s, &path(p)?)
            .await
            .map_err(|e| e.to_string()),
        // The run directory's cleanup stops it (its pid file is there).
        Resource::QemuNbd { .. } => Ok(()),
        Resource::Image { path: p, pool, .. } | Resource::Scratch { path: p, pool, .. } => {
            image::remove_file(s, &host.worker, pool, &path(p)?)
                .await
                .map_err(|e| e.to_string())
        }
        Resource::BackupJob {
            domain,
            socket,
            pool,
            tag,
            ..
        } => backup::recover(s, &host.worker, domain, &path(socket)?, pool, tag)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Resource::Domain { name, .. } => {
            let name = name.clone();
            host.worker
                .call(move |c| match c.lookup_domain_by_name(&name) {
                    Ok(d) => d.undefine(),
                    // No such domain: nothing to undo.
                    Err(e)
                        if matches!(
                            e.code(),
                            virt::enumutil::Enum::Known(virt::error::ErrorNumber::NoDomain)
                        ) =>
                    {
                        Ok(())
                    }
                    Err(e) => Err(e),
                })
                .await
                .map_err(|e| e.to_string())
        }
    }
}

/// Undoes a journal's resources in reverse order, forgetting each one that
/// is gone. `link` gives a connected host by name. Returns what is left
/// (empty: the journal is finished and deleted).
pub async fn undo_journal(
    mut journal: Journal,
    link: impl Fn(&str) -> Option<HostLink>,
) -> Result<(), String> {
    let resources: Vec<Resource> = journal.entry().resources.iter().rev().cloned().collect();
    let mut errors = Vec::new();
    for r in resources {
        let Some(host) = link(r.host()) else {
            errors.push(format!("{} is not connected", r.host()));
            continue;
        };
        match undo(&r, &host).await {
            Ok(()) => journal.forget(&r).map_err(|e| e.to_string())?,
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        journal.finish().map_err(|e| e.to_string())
    } else {
        Err(errors.join("; "))
    }
}
