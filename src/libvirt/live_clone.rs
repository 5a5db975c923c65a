//! Whether a VM can be cloned while it keeps running: kvm-clone does that
//! with libvirt's backup API (pull mode, NBD), which needs libvirt ≥ 7.6.0
//! and qcow2 images for the dirty bitmaps. Pure, so every rule is tested.

use crate::model::{DiskInfo, LiveClone, VmState};

/// First libvirt release whose backup API is enabled without a capability flag.
pub const MIN_LIBVIRT_VERSION: u32 = 7_006_000;

/// The background job a domain is running, if any (`virsh domjobinfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActiveJob {
    None,
    Backup,
    /// Another job, named for the operator ("migration out", "snapshot", …).
    Other(String),
}

/// `libvirt_version` is in libvirt's encoding: major * 1_000_000 + minor * 1000 + release.
pub fn verdict(
    state: VmState,
    libvirt_version: u32,
    disks: &[DiskInfo],
    job: &ActiveJob,
) -> LiveClone {
    let no = |reason: String| LiveClone {
        possible: false,
        reason: Some(reason),
    };
    match state {
        VmState::Running | VmState::Paused => {}
        VmState::ShutOff => return no("shut off: offline copy".to_string()),
        other => {
            return no(format!(
                "VM is {}: only a running VM can be cloned live",
                other.label()
            ));
        }
    }
    if libvirt_version < MIN_LIBVIRT_VERSION {
        return no(format!(
            "host libvirt {} is older than 7.6.0 (no backup API)",
            version_string(libvirt_version)
        ));
    }
    let not_qcow2: Vec<String> = disks
        .iter()
        .filter(|d| !d.readonly && !d.shareable)
        // An empty floppy has nothing to copy; disks and LUNs always count.
        .filter(|d| d.source.is_some() || d.device == "disk" || d.device == "lun")
        .filter(|d| d.format.as_deref() != Some("qcow2"))
        .map(|d| {
            format!(
                "{} ({})",
                d.target,
                d.format.as_deref().unwrap_or("unknown format")
            )
        })
        .collect();
    if !not_qcow2.is_empty() {
        return no(format!(
            "not qcow2: {}; live clone needs every writable disk in qcow2",
            not_qcow2.join(", ")
        ));
    }
    match job {
        ActiveJob::None => LiveClone {
            possible: true,
            reason: None,
        },
        ActiveJob::Backup => no("a backup job is already running".to_string()),
        ActiveJob::Other(what) => no(format!("a {what} job is running")),
    }
}

/// libvirt's integer version as "major.minor.release", e.g. 9000000 → "9.0.0".
pub fn version_string(v: u32) -> String {
    format!("{}.{}.{}", v / 1_000_000, (v / 1000) % 1000, v % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(target: &str, device: &str, format: Option<&str>, ro: bool, shared: bool) -> DiskInfo {
        DiskInfo {
            target: target.into(),
            device: device.into(),
            source: Some(format!("/img/{target}")),
            format: format.map(Into::into),
            readonly: ro,
            shareable: shared,
            allocation_bytes: 0,
            capacity_bytes: 0,
        }
    }

    const V9: u32 = 9_000_000;

    #[test]
    fn running_qcow2_is_possible() {
        let disks = [disk("vda", "disk", Some("qcow2"), false, false)];
        let v = verdict(VmState::Running, V9, &disks, &ActiveJob::None);
        assert_eq!(
            v,
            LiveClone {
                possible: true,
                reason: None
            }
        );
        assert!(verdict(VmState::Paused, V9, &disks, &ActiveJob::None).possible);
    }

    #[test]
    fn shut_off_is_an_offline_copy() {
        let disks = [disk("vda", "disk", Some("qcow2"), false, false)];
        let v = verdict(VmState::ShutOff, V9, &disks, &ActiveJob::None);
        assert!(!v.possible);
        assert_eq!(v.reason.as_deref(), Some("shut off: offline copy"));
        let v = verdict(VmState::Crashed, V9, &disks, &ActiveJob::None);
        assert!(v.reason.unwrap().contains("crashed"));
    }

    #[test]
    fn old_libvirt_is_refused() {
        let disks = [disk("vda", "disk", Some("qcow2"), false, false)];
        let v = verdict(VmState::Running, 7_005_000, &disks, &ActiveJob::None);
        assert!(!v.possible);
        assert!(v.reason.unwrap().contains("7.5.0"));
        assert!(
            verdict(
                VmState::Running,
                MIN_LIBVIRT_VERSION,
                &disks,
                &ActiveJob::None
            )
            .possible
        );
    }

    #[test]
    fn writable_raw_disks_block_but_readonly_and_shared_do_not() {
        let mut disks = vec![
            disk("vda", "disk", Some("qcow2"), false, false),
            disk("sda", "cdrom", Some("raw"), true, false),
            disk("vdb", "disk", Some("raw"), false, true),
        ];
        assert!(verdict(VmState::Running, V9, &disks, &ActiveJob::None).possible);
        disks.push(disk("vdc", "disk", Some("raw"), false, false));
        disks.push(disk("vdd", "lun", None, false, false));
        let v = verdict(VmState::Running, V9, &disks, &ActiveJob::None);
        assert!(!v.possible);
        let reason = v.reason.unwrap();
        assert!(reason.contains("vdc (raw)"), "{reason}");
        assert!(reason.contains("vdd (unknown format)"), "{reason}");
        assert!(!reason.contains("vdb"), "{reason}");
    }

    #[test]
    fn empty_floppy_is_ignored() {
        let mut floppy = disk("fda", "floppy", None, false, false);
        floppy.source = None;
        let disks = [disk("vda", "disk", Some("qcow2"), false, false), floppy];
        assert!(verdict(VmState::Running, V9, &disks, &ActiveJob::None).possible);
    }

    #[test]
    fn running_jobs_block() {
        let disks = [disk("vda", "disk", Some("qcow2"), false, false)];
        let v = verdict(VmState::Running, V9, &disks, &ActiveJob::Backup);
        assert_eq!(v.reason.as_deref(), Some("a backup job is already running"));
        let v = verdict(
            VmState::Running,
            V9,
            &disks,
            &ActiveJob::Other("migration out".into()),
        );
        assert_eq!(v.reason.as_deref(), Some("a migration out job is running"));
    }

    #[test]
    fn versions_print_like_virsh() {
        assert_eq!(version_string(9_000_000), "9.0.0");
        assert_eq!(version_string(7_002_022), "7.2.22");
        assert_eq!(version_string(10_010_001), "10.10.1");
    }
}
