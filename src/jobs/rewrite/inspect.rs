//! Reads what a clone plan must decide about: disks, NVRAM, TPMs, MACs.
//! The clone job uses [`inspect_domain`] to build its plan; the rewrite uses
//! the same summary to check it.

use super::error::RewriteError;
use crate::xml::{Document, Element};
use std::collections::BTreeSet;
use std::fmt;

/// The parts of a source domain a clone plan depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSummary {
    pub name: String,
    pub uuid: Option<String>,
    pub disks: Vec<DiskInfo>,
    pub nvram: Option<NvramInfo>,
    pub tpms: Vec<TpmInfo>,
    /// Every `<interface><mac address=…>`, lower-cased, in document order.
    pub macs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskInfo {
    /// `<target dev=…>`: the key of [`super::RewritePlan::disks`].
    pub target: String,
    /// `disk`, `cdrom`, `floppy` or `lun`.
    pub device: String,
    pub source: Option<DiskSource>,
    /// `<driver type=…>`, when given.
    pub format: Option<String>,
    pub readonly: bool,
    /// `<shareable/>` or `<transient shareBacking='yes'/>`.
    pub shareable: bool,
    /// `<encryption>` on the disk or its source.
    pub encrypted: bool,
    /// A non-empty `<backingStore>` (a copy flattens it).
    pub backing_chain: bool,
}

impl DiskInfo {
    /// Why virt-clone would share rather than copy this disk; None means it
    /// must be copied.
    pub fn keep_reason(&self) -> Option<KeepReason> {
        if self.source.is_none() {
            Some(KeepReason::NoSource)
        } else if self.readonly {
            Some(KeepReason::ReadOnly)
        } else if self.shareable {
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

/// A disk's storage as the source XML names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskSource {
    File(String),
    Block(String),
    Volume {
        pool: String,
        volume: String,
    },
    Network {
        protocol: String,
        name: String,
    },
    /// `dir`, `nvme`, `vhostuser`, …: described by the disk type only.
    Other(String),
}

impl fmt::Display for DiskSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskSource::File(p) => write!(f, "file {p}"),
            DiskSource::Block(p) => write!(f, "block device {p}"),
            DiskSource::Volume { pool, volume } => write!(f, "volume {pool}/{volume}"),
            DiskSource::Network { protocol, name } => write!(f, "{protocol} {name}"),
            DiskSource::Other(kind) => write!(f, "{kind} disk"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvramInfo {
    /// The variable store's path: the element's text, or libvirt 9's
    /// `<source file=…>`. None when libvirt is left to derive it.
    pub path: Option<String>,
    pub template: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmInfo {
    /// `tpm-crb`, `tpm-tis`, … (`default` when unset).
    pub model: String,
    /// `emulator`, `passthrough` or `external`.
    pub backend: String,
}

impl TpmInfo {
    /// swtpm keeps an emulated TPM's state on the host, keyed by UUID.
    pub fn has_host_state(&self) -> bool {
        self.backend == "emulator"
    }
}

/// Summarises a domain XML for planning a clone.
pub fn inspect_domain(xml: &str) -> Result<DomainSummary, RewriteError> {
    let doc = Document::parse(xml)?;
    summarize(&doc.root)
}

pub(super) fn summarize(root: &Element) -> Result<DomainSummary, RewriteError> {
    if root.name() != "domain" {
        return Err(RewriteError::NotADomain(root.name().to_string()));
    }
    let name = root
        .child("name")
        .map(Element::text)
        .ok_or(RewriteError::Missing("name"))?;
    let uuid = root.child("uuid").map(|u| u.text().trim().to_lowercase());
    let devices = root.child("devices");
    let device_list = |kind: &'static str| {
        devices
            .into_iter()
            .flat_map(move |d| d.children_named(kind))
    };

    let mut disks = Vec::new();
    let mut seen = BTreeSet::new();
    for disk in device_list("disk") {
        let info = disk_info(disk)?;
        if !seen.insert(info.target.clone()) {
            return Err(RewriteError::DuplicateDiskTarget(info.target));
        }
        disks.push(info);
    }

    let nvram = root.find("os/nvram").map(|nv| NvramInfo {
        path: nvram_path(nv),
        template: nv.attr("template"),
    });
    let tpms = device_list("tpm")
        .map(|t| TpmInfo {
            model: t.attr("model").unwrap_or_else(|| "default".into()),
            backend: t
                .child("backend")
                .and_then(|b| b.attr("type"))
                .unwrap_or_else(|| "emulator".into()),
        })
        .collect();
    let macs = device_list("interface")
        .filter_map(|i| i.child("mac").and_then(|m| m.attr("address")))
        .map(|m| m.to_lowercase())
        .collect();

    Ok(DomainSummary {
        name,
        uuid,
        disks,
        nvram,
        tpms,
        macs,
    })
}

fn disk_info(disk: &Element) -> Result<DiskInfo, RewriteError> {
    let target = disk
        .child("target")
        .and_then(|t| t.attr("dev"))
        .filter(|t| !t.is_empty())
        .ok_or(RewriteError::DiskWithoutTarget)?;
    let src = disk.child("source");
    let src_attr = |name: &str| src.and_then(|s| s.attr(name)).filter(|v| !v.is_empty());
    let kind = disk.attr("type").unwrap_or_else(|| "file".into());
    let source = match kind.as_str() {
        "file" => src_attr("file").map(DiskSource::File),
        "block" => src_attr("dev").map(DiskSource::Block),
        "volume" => src_attr("volume").map(|volume| DiskSource::Volume {
            pool: src_attr("pool").unwrap_or_default(),
            volume,
        }),
        "network" => src_attr("protocol").map(|protocol| DiskSource::Network {
            protocol,
            name: src_attr("name").unwrap_or_default(),
        }),
        other => src.map(|_| DiskSource::Other(other.to_string())),
    };
    let backing_chain = disk
        .child("backingStore")
        .is_some_and(|b| !b.attrs().is_empty() || b.elements().next().is_some());
    Ok(DiskInfo {
        target,
        device: disk.attr("device").unwrap_or_else(|| "disk".into()),
        source,
        format: disk.child("driver").and_then(|d| d.attr("type")),
        readonly: disk.child("readonly").is_some(),
        shareable: disk.child("shareable").is_some()
            || disk
                .child("transient")
                .is_some_and(|t| t.attr("shareBacking").as_deref() == Some("yes")),
        encrypted: disk.child("encryption").is_some()
            || src.is_some_and(|s| s.child("encryption").is_some()),
        backing_chain,
    })
}

pub(super) fn nvram_path(nv: &Element) -> Option<String> {
    // libvirt 9 form: a file, or a network/block source the clone must not share.
    let from_source = nv.child("source").and_then(|s| {
        s.attr("file")
            .or_else(|| s.attr("dev"))
            .or_else(|| s.attr("name"))
    });
    from_source
        .or_else(|| Some(nv.text().trim().to_string()))
        .filter(|p| !p.is_empty())
}
