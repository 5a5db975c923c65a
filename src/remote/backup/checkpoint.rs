//! libvirt checkpoints that kvm-clone's exports create: named
//! `kvm-clone-<job tag>` so they are recognisably ours, listed and deleted
//! on the host's libvirt thread. Checkpoints with other names belong to
//! someone else (virtnbdbackup, an operator) and are never touched.

use super::ffi;
use crate::libvirt::{HostWorker, LibvirtError};
use virt::error::ErrorNumber;

/// Prefix of every checkpoint kvm-clone creates.
pub const PREFIX: &str = "kvm-clone-";

/// The checkpoint name for a job tag (`[A-Za-z0-9_-]`, checked by the caller).
pub fn name_for(tag: &str) -> String {
    format!("{PREFIX}{tag}")
}

/// Whether a checkpoint name is one kvm-clone made.
pub fn is_ours(name: &str) -> bool {
    name.strip_prefix(PREFIX).is_some_and(|t| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// Every checkpoint of `domain`, ours or not.
pub async fn list(worker: &HostWorker, domain: &str) -> Result<Vec<String>, LibvirtError> {
    let name = domain.to_string();
    worker
        .call(move |c| ffi::checkpoint_names(&c.lookup_domain_by_name(&name)?))
        .await
}

/// Deletes checkpoint `name` of `domain`; one that is already gone is fine.
/// Refuses names that are not ours.
pub async fn delete(worker: &HostWorker, domain: &str, name: &str) -> Result<(), LibvirtError> {
    if !is_ours(name) {
        return Err(LibvirtError::Xml {
            domain: domain.to_string(),
            reason: format!("checkpoint {name} is not kvm-clone's; left alone"),
        });
    }
    let (dom, cp) = (domain.to_string(), name.to_string());
    worker
        .call(
            move |c| match ffi::checkpoint_delete(&c.lookup_domain_by_name(&dom)?, &cp) {
                Err(e) if e.code().is(ErrorNumber::NoDomainCheckpoint) => Ok(()),
                other => other,
            },
        )
        .await
}

/// Deletes every checkpoint of ours on `domain` except `keep`; returns the
/// names deleted. Others' checkpoints are left as they are.
pub async fn delete_ours_except(
    worker: &HostWorker,
    domain: &str,
    keep: Option<&str>,
) -> Result<Vec<String>, LibvirtError> {
    let mut deleted = Vec::new();
    for name in list(worker, domain).await? {
        if is_ours(&name) && Some(name.as_str()) != keep {
            delete(worker, domain, &name).await?;
            deleted.push(name);
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_by_name() {
        assert!(is_ours(&name_for("e1763")));
        assert!(is_ours("kvm-clone-e12_x-3"));
        assert!(!is_ours("kvm-clone-"));
        assert!(!is_ours("virtnbdbackup.0"));
        assert!(!is_ours("kvm-clone-a b"));
        assert!(!is_ours("xkvm-clone-e1"));
    }
}
