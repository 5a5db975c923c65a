//! Disks: copied ones point at their new storage, flattened; the rest stay.

use super::plan::{DiskAction, DiskTarget, ImageFormat, RewritePlan};
use super::report::{Change, RewriteReport};
use crate::libvirt::domain::DomainDef;
use crate::xml::Element;

/// Source attributes that survive a change of storage: they describe how the
/// guest sees the medium, not where it is.
const KEPT_SOURCE_ATTRS: &[&str] = &["startupPolicy"];

/// Disk children that belong to the old storage and mean nothing for a flat
/// local copy: the backing chain, network auth, a live block-job mirror.
const OLD_STORAGE_CHILDREN: &[&str] = &["backingStore", "auth", "mirror"];

pub(super) fn apply(
    devices: &mut Element,
    domain: &DomainDef,
    plan: &RewritePlan,
    report: &mut RewriteReport,
) {
    // `domain` was read from this tree: its disks are these elements, in
    // order, each with a target of its own (checked before the rewrite).
    for (disk, info) in devices.children_named_mut("disk").zip(&domain.disks) {
        let target = info.target.clone();
        match plan.disks.get(&target) {
            Some(DiskAction::Copy { target: to, format }) => {
                relocate(disk, to, *format);
                report.changes.push(Change::DiskCopied {
                    target: target.clone(),
                    from: Some(info.source.clone()).filter(|s| !s.is_empty()),
                    to: to.clone(),
                    format: *format,
                });
                if info.backing_chain {
                    report
                        .changes
                        .push(Change::BackingChainFlattened { target });
                }
            }
            // Validation allowed Keep (or no entry) only with a keep reason.
            _ => {
                if let Some(reason) = info.keep_reason() {
                    report.changes.push(Change::DiskKept { target, reason });
                }
            }
        }
    }
}

fn relocate(disk: &mut Element, to: &DiskTarget, format: ImageFormat) {
    let (kind, attrs): (&str, Vec<(&str, &str)>) = match to {
        DiskTarget::File(p) => ("file", vec![("file", p)]),
        DiskTarget::Block(p) => ("block", vec![("dev", p)]),
        DiskTarget::Volume { pool, volume } => ("volume", vec![("pool", pool), ("volume", volume)]),
    };
    disk.set_attr("type", kind);

    match disk.child_mut("source") {
        Some(source) => {
            // The old storage's attributes and children (network hosts,
            // slices, per-source seclabels, index) do not apply to the copy.
            // Attributes that stay are updated in place to keep the diff small.
            source.retain_attrs(|n| {
                KEPT_SOURCE_ATTRS.contains(&n) || attrs.iter().any(|(a, _)| *a == n)
            });
            for (n, v) in &attrs {
                source.set_attr(n, v);
            }
            source.clear_children();
        }
        None => {
            let mut source = Element::new("source");
            for (n, v) in attrs {
                source.set_attr(n, v);
            }
            let pos = disk
                .elements()
                .position(|e| e.name() == "driver")
                .map_or(0, |p| p + 1);
            disk.insert_element(pos, source);
        }
    }

    match disk.child_mut("driver") {
        Some(driver) => driver.set_attr("type", format.as_str()),
        None => {
            let driver = Element::new("driver")
                .with_attr("name", "qemu")
                .with_attr("type", format.as_str());
            disk.insert_element(0, driver);
        }
    }

    disk.remove_elements_where(|e| OLD_STORAGE_CHILDREN.contains(&e.name()));
}
