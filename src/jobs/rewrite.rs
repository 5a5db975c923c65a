//! Rewrites a source domain's XML into its clone's, following virt-clone's
//! checklist (docs/xml-rewrite.md). Pure: no I/O, no libvirt. The caller
//! copies disks, NVRAM and (if chosen) TPM state, then defines the result.
//!
//! Everything the rewrite does not have to change comes out byte for byte as
//! it went in (unknown elements, namespaces, comments, ordering, quoting).

mod devices;
mod disks;
mod error;
mod firmware;
mod identity;
mod inspect;
mod plan;
mod report;
#[cfg(test)]
mod tests;

/// A disk's storage as the source XML names it (in [`Change::DiskCopied`]).
pub use crate::libvirt::domain::DiskSource;
pub use devices::clone_file_path;
pub use error::RewriteError;
pub use inspect::{KeepReason, check_domain, inspect_domain};
pub use plan::{DiskAction, DiskTarget, ImageFormat, MacPolicy, RewritePlan, TpmPolicy};
pub use report::{Change, RewriteReport};

use crate::xml::Document;
use rand::RngCore;

/// The clone's XML and what was changed to get it. The XML may hold secrets
/// (`--security-info` graphics passwords): never log it; log the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    pub xml: String,
    pub report: RewriteReport,
}

/// Produces the clone's domain XML from the source's (best taken with
/// `virsh dumpxml --inactive --security-info`). `rng` supplies fresh MACs.
pub fn rewrite_domain(
    source_xml: &str,
    plan: &RewritePlan,
    rng: &mut dyn RngCore,
) -> Result<Rewritten, RewriteError> {
    let mut doc = Document::parse(source_xml)?;
    let domain = inspect::summarize(&doc.root)?;
    plan.validate(&domain)?;
    firmware::check_tpm(&domain, plan.tpm)?;

    let new_uuid = plan.new_uuid.to_string();
    let mut report = RewriteReport::default();
    let root = &mut doc.root;

    if plan.keep_identity {
        // The same machine again: only where its files are changes.
        if let Some(devices) = root.child_mut("devices") {
            disks::apply(devices, &domain, plan, &mut report);
        }
        firmware::nvram(root, &domain, plan.nvram_path.as_deref(), &mut report);
        return Ok(Rewritten {
            xml: doc.to_xml(),
            report,
        });
    }
    identity::apply(root, &plan.new_name, &new_uuid, &mut report)?;
    // Disks, NICs, TPMs and NVRAM are decided from the model; graphics,
    // channels and character devices from the element being edited, which
    // nothing else reads.
    if let Some(devices) = root.child_mut("devices") {
        disks::apply(devices, &domain, plan, &mut report);
        devices::interfaces(devices, &domain, plan.mac_policy, rng, &mut report)?;
        devices::graphics(devices, &mut report);
        devices::channels(devices, &mut report);
        let old_name = domain.name.as_deref().unwrap_or_default();
        devices::char_files(devices, old_name, &plan.new_name, &mut report);
        devices::host_device_warnings(domain.hostdevs, &mut report);
        firmware::report_tpm(&domain, plan.tpm, &new_uuid, &mut report);
    }
    firmware::nvram(root, &domain, plan.nvram_path.as_deref(), &mut report);

    Ok(Rewritten {
        xml: doc.to_xml(),
        report,
    })
}
