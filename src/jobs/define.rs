//! The last step of a job that makes a VM (clone, restore): define the
//! rewritten domain on the destination, start it if asked, and hand the
//! images over to the operator.

use super::error::{JobError, journal_err, step, taken_after_checks};
use super::hosts::HostLink;
use super::journal::{Journal, Resource};
use super::undo::{Made, note};
use crate::model::checklist::ids;

/// What [`define_domain`] made.
pub struct Defined {
    /// The images' paths, now the operator's: no undo removes them.
    pub disks: Vec<String>,
    pub started: bool,
    /// Why the start that was asked for failed. The VM is defined and
    /// complete all the same: the copy is what took long, and the reason
    /// (a missing ISO, memory) is for the operator to fix before starting
    /// it. The job succeeds with this as a warning.
    pub start_failed: Option<String>,
}

/// Defines `xml` as `name` on `dst` (and starts it when `start`), recorded
/// first so an undo or a restart removes it if the define fails. Once it is
/// defined the VM and its images are the operator's, started or not.
pub async fn define_domain(
    dst: &HostLink,
    name: &str,
    xml: String,
    start: bool,
    what: &'static str,
    made: &mut Made,
    journal: &mut Journal,
) -> Result<Defined, JobError> {
    let domain = Resource::Domain {
        host: dst.name.clone(),
        name: name.to_string(),
    };
    note(journal, made, domain.clone()).map_err(journal_err)?;
    let host = dst.fresh().await?;
    // A define fails on a name taken since the checks; say so as a check.
    let vm = name.to_string();
    let defined = host
        .worker
        .call(move |c| match c.lookup_domain_by_name(&vm) {
            Ok(_) => Ok(false),
            Err(_) => c.define_domain_xml(&xml).map(|_| true),
        })
        .await
        .map_err(step(what))?;
    if !defined {
        // Not ours: the undo must leave it alone.
        made.resources.retain(|r| *r != domain);
        journal.forget(&domain).map_err(journal_err)?;
        return Err(taken_after_checks(
            ids::DEST_NAME_FREE,
            "Name on destination",
            format!("a VM named {name:?} appeared on {}", dst.name),
        ));
    }
    let disks = made
        .images
        .drain(..)
        .map(|i| i.keep().as_str().to_string())
        .collect();
    // Defined: nothing of it is undone from here on.
    made.resources.clear();
    let mut defined = Defined {
        disks,
        started: false,
        start_failed: None,
    };
    if start {
        let vm = name.to_string();
        let started = host
            .worker
            .call(move |c| c.lookup_domain_by_name(&vm)?.create().map(drop))
            .await;
        match started {
            Ok(()) => defined.started = true,
            Err(e) => {
                let why = format!("{name} is defined on {} but did not start: {e}", dst.name);
                tracing::warn!("{why}");
                defined.start_failed = Some(why);
            }
        }
    }
    Ok(defined)
}
