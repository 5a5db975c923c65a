//! The domain's identity: id, name, UUID (and its sysinfo copy), genid,
//! dynamic security labels.

use super::report::{Change, RewriteReport};
use crate::xml::Element;

pub(super) fn apply(
    root: &mut Element,
    new_name: &str,
    new_uuid: &str,
    report: &mut RewriteReport,
) -> Result<(), super::RewriteError> {
    // A live XML's id names the running instance on the source host.
    if let Some(id) = root.remove_attr("id") {
        report.changes.push(Change::DomainIdDropped { id });
    }

    let name = root
        .child_mut("name")
        .ok_or(super::RewriteError::Missing("name"))?;
    let old_name = name.text();
    name.set_text(new_name);
    report.changes.push(Change::Name {
        from: old_name,
        to: new_name.to_string(),
    });

    let old_uuid = match root.child_mut("uuid") {
        Some(uuid) => {
            let old = uuid.text().trim().to_string();
            uuid.set_text(new_uuid);
            Some(old)
        }
        None => {
            // libvirt would invent one; writing ours keeps the caller's UUID
            // (and any TPM state plan) true.
            let pos = root
                .elements()
                .position(|e| e.name() == "name")
                .map_or(0, |p| p + 1);
            let mut uuid = Element::new("uuid");
            uuid.set_text(new_uuid);
            root.insert_element(pos, uuid);
            None
        }
    };
    report.changes.push(Change::Uuid {
        from: old_uuid,
        to: new_uuid.to_string(),
    });

    for sysinfo in root.children_named_mut("sysinfo") {
        for system in sysinfo.children_named_mut("system") {
            for entry in system.children_named_mut("entry") {
                if entry.attr("name").as_deref() == Some("uuid") {
                    let from = entry.text();
                    entry.set_text(new_uuid);
                    report.changes.push(Change::SysinfoUuid {
                        from,
                        to: new_uuid.to_string(),
                    });
                }
            }
        }
    }

    // A guest that sees the same generation ID assumes it was not cloned
    // (Active Directory relies on it); an empty <genid/> makes libvirt pick one.
    if let Some(genid) = root.child_mut("genid") {
        if !genid.text().trim().is_empty() {
            genid.set_text("");
            report.changes.push(Change::GenidRegenerated);
        }
    }

    // Dynamic labels are allocated per running instance (apparmor's embed
    // the UUID); static and 'none' labels are the operator's choice.
    for seclabel in root.children_named_mut("seclabel") {
        if seclabel.attr("type").as_deref() != Some("dynamic") {
            continue;
        }
        let removed =
            seclabel.remove_elements_where(|e| matches!(e.name(), "label" | "imagelabel"));
        if removed > 0 {
            report.changes.push(Change::SeclabelCleared {
                model: seclabel.attr("model").unwrap_or_else(|| "default".into()),
            });
        }
    }
    Ok(())
}
