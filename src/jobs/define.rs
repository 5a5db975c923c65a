//! The last step of a job that makes a VM (clone, restore): define the
//! rewritten domain on the destination, start it if asked, and hand the
//! images over to the operator.

use super::error::{JobError, journal_err, step};
use super::hosts::HostLink;
use super::journal::{Journal, Resource};
use super::undo::{Made, note};

/// Defines `xml` as `name` on `dst` (and starts it when `start`), recorded
/// first so an undo or a restart removes it. On success the images are the
/// operator's: their paths are returned and no undo removes them.
pub async fn define_domain(
    dst: &HostLink,
    name: &str,
    xml: String,
    start: bool,
    what: &'static str,
    made: &mut Made,
    journal: &mut Journal,
) -> Result<Vec<String>, JobError> {
    let domain = Resource::Domain {
        host: dst.name.clone(),
        name: name.to_string(),
    };
    note(journal, made, domain).map_err(journal_err)?;
    dst.fresh()
        .await?
        .worker
        .call(move |c| {
            let d = c.define_domain_xml(&xml)?;
            if start {
                d.create()?;
            }
            Ok(())
        })
        .await
        .map_err(step(what))?;
    Ok(made
        .images
        .drain(..)
        .map(|i| i.keep().as_str().to_string())
        .collect())
}
