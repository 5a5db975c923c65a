//! Where the clone's files go on the destination. Pure, so validation and
//! the clone job compute the very same paths:
//!
//! - each copied disk: `<pool dir>/<new name>-<target dev>.<format>`
//!   (`/var/lib/libvirt/images/web01-clone-vda.qcow2`);
//! - the UEFI variable store, when the source has one:
//!   `<pool dir>/<new name>_VARS.fd`.

use super::request::name_problem;
use crate::jobs::rewrite::{DiskAction, DiskTarget, ImageFormat};
use crate::libvirt::domain::{DiskSource, DomainDef};
use crate::model::DiskInfo as SizedDisk;
use crate::model::FormatChoice;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("pool directory {0:?} is not an absolute path without control characters")]
    PoolDir(String),
    #[error("new name {name:?} cannot be used in a file name: {reason}")]
    Name { name: String, reason: String },
    #[error("disk target {0:?} cannot be used in a file name (letters, digits, '_' and '-' only)")]
    Target(String),
}

/// One disk the clone copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedDisk {
    /// Guest device, e.g. "vda".
    pub target: String,
    /// The source storage as the domain XML names it.
    pub source: DiskSource,
    /// Host path of the source on the source host (a pool volume resolved
    /// by the inventory); None for network and other pathless disks.
    pub source_path: Option<String>,
    /// Format of the source image (`<driver type>`).
    pub source_format: Option<String>,
    /// Destination path of the copy.
    pub path: String,
    pub format: ImageFormat,
    /// Bytes allocated on the source host: what the copy will roughly write.
    pub allocation_bytes: u64,
    /// Virtual size: what the copy may grow to.
    pub capacity_bytes: u64,
    /// A backing chain, flattened by the copy (it may need more than
    /// `allocation_bytes`).
    pub backing_chain: bool,
    /// `<encryption>`: such a disk cannot be cloned.
    pub encrypted: bool,
}

/// The UEFI variable store copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedNvram {
    pub source: String,
    pub path: String,
    /// libvirt's own path for a `firmware='efi'` domain whose XML names no
    /// store: missing until the domain first ran, and then not copied.
    pub derived: bool,
}

/// Every file the clone creates on the destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPlan {
    pub disks: Vec<PlannedDisk>,
    pub nvram: Option<PlannedNvram>,
}

impl TargetPlan {
    /// Every destination path the clone would create, disks first.
    pub fn paths(&self) -> Vec<String> {
        self.disks
            .iter()
            .map(|d| d.path.clone())
            .chain(self.nvram.iter().map(|n| n.path.clone()))
            .collect()
    }

    pub fn allocation_bytes(&self) -> u64 {
        self.disks.iter().map(|d| d.allocation_bytes).sum()
    }

    pub fn capacity_bytes(&self) -> u64 {
        self.disks.iter().map(|d| d.capacity_bytes).sum()
    }

    /// The disk part of the XML rewrite's `RewritePlan` (kept disks are left
    /// to the rewrite's defaults).
    pub fn rewrite_disks(&self) -> BTreeMap<String, DiskAction> {
        self.disks
            .iter()
            .map(|d| {
                (
                    d.target.clone(),
                    DiskAction::Copy {
                        target: DiskTarget::File(d.path.clone()),
                        format: d.format,
                    },
                )
            })
            .collect()
    }
}

/// `<pool dir>/<new name>-<target>.<format>`.
pub fn disk_path(
    pool_dir: &str,
    new_name: &str,
    target: &str,
    format: ImageFormat,
) -> Result<String, PlanError> {
    let dir = checked_dir(pool_dir)?;
    checked_name(new_name)?;
    if target.is_empty()
        || !target
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(PlanError::Target(target.to_string()));
    }
    Ok(format!("{dir}/{new_name}-{target}.{}", format.as_str()))
}

/// `<pool dir>/<new name>_VARS.fd`.
pub fn nvram_path(pool_dir: &str, new_name: &str) -> Result<String, PlanError> {
    let dir = checked_dir(pool_dir)?;
    checked_name(new_name)?;
    Ok(format!("{dir}/{new_name}_VARS.fd"))
}

/// Plans every file of the clone. Disks are copied exactly when the XML
/// rewrite would copy them (`keep_reason()` is None); `sizes` are the
/// inventory's disks of the same VM (matched by target) for sizes and
/// resolved source paths.
pub fn plan_targets(
    pool_dir: &str,
    new_name: &str,
    format: FormatChoice,
    domain: &DomainDef,
    sizes: &[SizedDisk],
) -> Result<TargetPlan, PlanError> {
    let mut disks = Vec::new();
    for disk in &domain.disks {
        // Kept disks (those without a source among them) are not copied.
        if disk.keep_reason().is_some() {
            continue;
        }
        let source = disk.source.clone();
        let sized = sizes.iter().find(|s| s.target == disk.target);
        let source_path = match &source {
            DiskSource::File(p) | DiskSource::Block(p) => Some(p.clone()),
            _ => sized.and_then(|s| s.source.clone()),
        };
        let format = format.for_source(disk.format.as_deref());
        disks.push(PlannedDisk {
            path: disk_path(pool_dir, new_name, &disk.target, format)?,
            target: disk.target.clone(),
            source,
            source_path,
            source_format: disk.format.clone(),
            format,
            allocation_bytes: sized.map_or(0, |s| s.allocation_bytes),
            capacity_bytes: sized.map_or(0, |s| s.capacity_bytes),
            backing_chain: disk.backing_chain,
            encrypted: disk.encrypted,
        });
    }
    // The store the XML names (any kind: a copy is always a file), or the
    // one libvirt derives for firmware='efi'.
    let source = match domain.nvram.as_ref().and_then(|n| n.path.clone()) {
        Some(source) => Some((source, false)),
        None => domain
            .var_store()
            .filter(|v| v.derived)
            .map(|v| (v.path, true)),
    };
    let nvram = match source {
        Some((source, derived)) => Some(PlannedNvram {
            source,
            path: nvram_path(pool_dir, new_name)?,
            derived,
        }),
        None => None,
    };
    Ok(TargetPlan { disks, nvram })
}

fn checked_dir(dir: &str) -> Result<&str, PlanError> {
    let trimmed = dir.trim_end_matches('/');
    let bad = !dir.starts_with('/')
        || dir.chars().any(char::is_control)
        || trimmed.split('/').any(|c| c == "..");
    if bad {
        return Err(PlanError::PoolDir(dir.to_string()));
    }
    Ok(trimmed)
}

fn checked_name(name: &str) -> Result<(), PlanError> {
    match name_problem(name) {
        None => Ok(()),
        Some(reason) => Err(PlanError::Name {
            name: name.to_string(),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::rewrite::inspect_domain;

    const MULTI: &str = include_str!("../../../tests/data/domains/multi-live.xml");
    const UEFI: &str = include_str!("../../../tests/data/domains/uefi-tpm.xml");
    const WEB01: &str = include_str!("fixtures/web01-live.xml");

    fn sized(target: &str, alloc: u64, cap: u64) -> SizedDisk {
        SizedDisk {
            target: target.into(),
            device: "disk".into(),
            source: Some(format!("/resolved/{target}")),
            format: None,
            readonly: false,
            shareable: false,
            allocation_bytes: alloc,
            capacity_bytes: cap,
        }
    }

    #[test]
    fn paths_follow_the_naming_rule() {
        assert_eq!(
            disk_path(
                "/var/lib/libvirt/images",
                "web01-clone",
                "vda",
                ImageFormat::Qcow2
            )
            .unwrap(),
            "/var/lib/libvirt/images/web01-clone-vda.qcow2"
        );
        assert_eq!(
            disk_path("/srv/pool/", "c", "sdb", ImageFormat::Raw).unwrap(),
            "/srv/pool/c-sdb.raw"
        );
        assert_eq!(
            nvram_path("/var/lib/libvirt/images", "c").unwrap(),
            "/var/lib/libvirt/images/c_VARS.fd"
        );
        assert_eq!(
            disk_path("/", "c", "vda", ImageFormat::Raw).unwrap(),
            "/c-vda.raw"
        );
    }

    #[test]
    fn unsafe_inputs_are_refused() {
        let q = ImageFormat::Qcow2;
        assert!(matches!(
            disk_path("relative", "c", "vda", q),
            Err(PlanError::PoolDir(_))
        ));
        assert!(matches!(
            disk_path("/a/../etc", "c", "vda", q),
            Err(PlanError::PoolDir(_))
        ));
        assert!(matches!(
            disk_path("/a\n", "c", "vda", q),
            Err(PlanError::PoolDir(_))
        ));
        assert!(matches!(
            disk_path("/p", "a/b", "vda", q),
            Err(PlanError::Name { .. })
        ));
        assert!(matches!(
            nvram_path("/p", ".."),
            Err(PlanError::Name { .. })
        ));
        assert!(matches!(
            disk_path("/p", "c", "../x", q),
            Err(PlanError::Target(_))
        ));
        assert!(matches!(
            disk_path("/p", "c", "", q),
            Err(PlanError::Target(_))
        ));
    }

    #[test]
    fn web01_plan() {
        let d = inspect_domain(WEB01).unwrap();
        let plan = plan_targets(
            "/var/lib/libvirt/images",
            "web01-clone",
            FormatChoice::Qcow2,
            &d,
            &[sized("vda", 300 << 20, 2 << 30)],
        )
        .unwrap();
        assert_eq!(plan.disks.len(), 1);
        let vda = &plan.disks[0];
        assert_eq!(vda.path, "/var/lib/libvirt/images/web01-clone-vda.qcow2");
        assert_eq!(
            vda.source_path.as_deref(),
            Some("/var/lib/libvirt/images/web01.qcow2")
        );
        assert_eq!(vda.source_format.as_deref(), Some("qcow2"));
        assert_eq!(plan.allocation_bytes(), 300 << 20);
        assert_eq!(plan.capacity_bytes(), 2 << 30);
        assert_eq!(plan.nvram, None);
        assert_eq!(
            plan.paths(),
            ["/var/lib/libvirt/images/web01-clone-vda.qcow2"]
        );
        let rw = plan.rewrite_disks();
        assert_eq!(
            rw.get("vda"),
            Some(&DiskAction::Copy {
                target: DiskTarget::File(vda.path.clone()),
                format: ImageFormat::Qcow2
            })
        );
    }

    #[test]
    fn lab_multi01_plans_both_disks_in_the_chosen_format() {
        let d = inspect_domain(include_str!("fixtures/multi01.xml")).unwrap();
        let plan = plan_targets(
            "/var/lib/libvirt/images",
            "multi01-copy",
            FormatChoice::Raw,
            &d,
            &[sized("vda", 50 << 20, 1 << 30), sized("vdb", 0, 512 << 20)],
        )
        .unwrap();
        assert_eq!(
            plan.paths(),
            [
                "/var/lib/libvirt/images/multi01-copy-vda.raw",
                "/var/lib/libvirt/images/multi01-copy-vdb.raw"
            ]
        );
        assert_eq!(plan.disks[0].source_format.as_deref(), Some("qcow2"));
        assert_eq!(plan.disks[1].source_format.as_deref(), Some("raw"));
        assert_eq!(plan.allocation_bytes(), 50 << 20);
        assert_eq!(plan.capacity_bytes(), (1 << 30) + (512 << 20));
    }

    /// `same` keeps each disk's format: multi01 has a qcow2 and a raw disk.
    #[test]
    fn same_keeps_each_disks_own_format() {
        let d = inspect_domain(include_str!("fixtures/multi01.xml")).unwrap();
        let plan = plan_targets("/p", "m", FormatChoice::Same, &d, &[]).unwrap();
        assert_eq!(plan.paths(), ["/p/m-vda.qcow2", "/p/m-vdb.raw"]);
        let formats: Vec<ImageFormat> = plan.disks.iter().map(|d| d.format).collect();
        assert_eq!(formats, [ImageFormat::Qcow2, ImageFormat::Raw]);
    }

    #[test]
    fn kept_disks_are_not_planned_and_nvram_is() {
        let d = inspect_domain(UEFI).unwrap();
        let plan = plan_targets("/pool", "sec2", FormatChoice::Raw, &d, &[]).unwrap();
        assert_eq!(plan.paths(), ["/pool/sec2-sda.raw", "/pool/sec2_VARS.fd"]);
        assert_eq!(
            plan.nvram.unwrap().source,
            "/var/lib/libvirt/qemu/nvram/secure01_VARS.fd"
        );

        let d = inspect_domain(MULTI).unwrap();
        let plan = plan_targets("/pool", "m", FormatChoice::Qcow2, &d, &[]).unwrap();
        let copied: Vec<&str> = plan.disks.iter().map(|d| d.target.as_str()).collect();
        let expected: Vec<&str> = d
            .disks
            .iter()
            .filter(|x| x.keep_reason().is_none())
            .map(|x| x.target.as_str())
            .collect();
        assert_eq!(copied, expected);
        assert!(d.disks.len() > copied.len(), "the sample has kept disks");
    }
}
