//! What a clone plan decides from: the domain model (`libvirt::domain`),
//! checked for what the rewrite needs (a name, one target per disk), and
//! virt-clone's rule of which disks a clone shares rather than copies.
//! The clone job and validation plan with it; the rewrite checks the plan
//! against the same model.

use super::error::RewriteError;
use crate::libvirt::domain::{Disk, DomainDef, parse_domain, read_domain};
use crate::xml::Element;
use std::collections::BTreeSet;
use std::fmt;

/// Reads a domain XML for planning a clone.
pub fn inspect_domain(xml: &str) -> Result<DomainDef, RewriteError> {
    let domain = parse_domain(xml)?;
    check_domain(&domain)?;
    Ok(domain)
}

/// The same, from the tree the rewrite edits.
pub(super) fn summarize(root: &Element) -> Result<DomainDef, RewriteError> {
    let domain = read_domain(root)?;
    check_domain(&domain)?;
    Ok(domain)
}

/// What the model lets through but a plan cannot work with: a domain
/// without a name, a disk without a target, two disks with one target
/// (targets key [`super::RewritePlan::disks`]).
pub fn check_domain(domain: &DomainDef) -> Result<(), RewriteError> {
    if domain.name.is_none() {
        return Err(RewriteError::Missing("name"));
    }
    let mut seen = BTreeSet::new();
    for disk in &domain.disks {
        if disk.target.is_empty() {
            return Err(RewriteError::DiskWithoutTarget);
        }
        if !seen.insert(disk.target.as_str()) {
            return Err(RewriteError::DuplicateDiskTarget(disk.target.clone()));
        }
    }
    Ok(())
}

// The clone's rule lives with the rewrite that applies it; as an inherent
// method every planner has it without importing a trait.
impl Disk {
    /// Why virt-clone would share rather than copy this disk; None means it
    /// must be copied.
    pub fn keep_reason(&self) -> Option<KeepReason> {
        if self.source.is_empty() {
            Some(KeepReason::NoSource)
        } else if self.readonly_marked {
            Some(KeepReason::ReadOnly)
        } else if self.shareable || self.share_backing {
            Some(KeepReason::Shareable)
        } else if matches!(self.device.as_str(), "cdrom" | "floppy") {
            Some(KeepReason::RemovableMedia)
        } else {
            None
        }
    }
}

/// Why a disk is kept, not copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepReason {
    NoSource,
    ReadOnly,
    Shareable,
    RemovableMedia,
}

impl fmt::Display for KeepReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeepReason::NoSource => "no source, nothing to copy",
            KeepReason::ReadOnly => "read-only, shared",
            KeepReason::Shareable => "shareable, shared",
            KeepReason::RemovableMedia => "removable media, kept",
        })
    }
}
