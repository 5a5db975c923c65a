//! UEFI variable store and TPM: state that lives on the host, not in the XML.

use super::error::RewriteError;
use super::plan::TpmPolicy;
use super::report::{Change, RewriteReport};
use crate::libvirt::domain::DomainDef;
use crate::xml::Element;

/// Points `<os><nvram>` at the clone's own variable store. Handles the
/// classic `<nvram template=…>PATH</nvram>` and libvirt 9's
/// `<nvram type='file'><source file=…/></nvram>` (a network or block store
/// becomes a file). The template attribute stays: libvirt uses it only when
/// the file is missing.
pub(super) fn nvram(
    root: &mut Element,
    domain: &DomainDef,
    new_path: Option<&str>,
    report: &mut RewriteReport,
) {
    let Some(new_path) = new_path else { return };
    let from = domain.nvram.as_ref().and_then(|n| n.path.clone());
    if root.find_mut("os/nvram").is_none() {
        // firmware='efi' with libvirt's derived store: the clone names its
        // own, after <loader> (or <type>), where libvirt writes it.
        let Some(os) = root.find_mut("os") else {
            return;
        };
        let after = ["loader", "type"]
            .iter()
            .find_map(|n| {
                os.children()
                    .iter()
                    .filter_map(|c| c.as_element())
                    .position(|e| e.name() == *n)
            })
            .map_or(0, |i| i + 1);
        let mut nv = Element::new("nvram");
        nv.set_text(new_path);
        os.insert_element(after, nv);
        report.changes.push(Change::Nvram {
            from: domain.var_store().map(|v| v.path),
            to: new_path.to_string(),
        });
        return;
    }
    let Some(nv) = root.find_mut("os/nvram") else {
        return;
    };
    let has_source = nv.child("source").is_some();
    if nv.has_attr("type") || has_source {
        nv.set_attr("type", "file");
        match nv.child_mut("source") {
            Some(source) => {
                source.retain_attrs(|n| n == "file");
                source.set_attr("file", new_path);
                source.clear_children();
            }
            None => {
                nv.clear_children();
                nv.insert_element(0, Element::new("source").with_attr("file", new_path));
            }
        }
    } else {
        nv.set_text(new_path);
    }
    report.changes.push(Change::Nvram {
        from,
        to: new_path.to_string(),
    });
}

/// Refuses emulated TPMs unless the plan chose what happens to their state.
pub(super) fn check_tpm(domain: &DomainDef, policy: TpmPolicy) -> Result<(), RewriteError> {
    match domain.tpms.iter().find(|t| t.has_host_state()) {
        Some(tpm) if policy == TpmPolicy::Refuse => Err(RewriteError::TpmState {
            model: tpm.model.clone(),
        }),
        _ => Ok(()),
    }
}

pub(super) fn report_tpm(
    domain: &DomainDef,
    policy: TpmPolicy,
    new_uuid: &str,
    report: &mut RewriteReport,
) {
    for tpm in &domain.tpms {
        if !tpm.has_host_state() {
            report.warnings.push(format!(
                "TPM {} uses the {} backend: the destination must provide it",
                tpm.model, tpm.backend
            ));
            continue;
        }
        report.changes.push(match policy {
            TpmPolicy::CopyState => Change::TpmStateToCopy {
                model: tpm.model.clone(),
                from_uuid: domain.uuid.clone(),
                to_uuid: new_uuid.to_string(),
            },
            _ => Change::TpmFresh {
                model: tpm.model.clone(),
            },
        });
    }
    for secret in domain
        .tpms
        .iter()
        .filter_map(|t| t.encryption_secret.as_ref())
    {
        report.warnings.push(format!(
            "TPM state is encrypted with libvirt secret {secret}: define it on the destination"
        ));
    }
}
