//! The one typed model of a libvirt domain definition: what every reader of
//! domain XML needs (inventory, export, backup, validation, restore, the
//! clone's XML rewrite), read once by [`parse_domain`] or, from a tree the
//! rewrite already holds, [`read_domain`]. Plain data and pure parsing: no
//! libvirt calls, so it is unit-tested on sample XML.
//!
//! It reads through the byte-preserving DOM in `crate::xml`, the one the
//! rewrite edits, so a document the rewrite accepts is one the model
//! accepts, and the rewrite needs no second parse.

mod parse;
#[cfg(test)]
mod tests;

pub use parse::{parse_domain, read_domain};

use crate::model::NicInfo;
use crate::xml::XmlError;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainXmlError {
    #[error("malformed domain XML: {0}")]
    Parse(#[from] XmlError),
    #[error("root element is <{0}>, expected <domain>")]
    NotADomain(String),
}

/// A domain as its XML defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainDef {
    /// `<domain type=…>`: kvm, qemu, … (`qemu` when unset).
    pub virt_type: String,
    /// `<name>` as written; None without one (libvirt always writes one).
    pub name: Option<String>,
    /// `<uuid>`, trimmed and lower-cased.
    pub uuid: Option<String>,
    /// `<memory>`: the most the guest can have (0 when unset).
    pub memory_bytes: u64,
    /// `<vcpu>` (1 when unset).
    pub vcpus: u32,
    /// `<os><type arch=… machine=…>`.
    pub arch: Option<String>,
    pub machine: Option<String>,
    /// `<os firmware=…>`: firmware auto-selection (`efi`, `bios`).
    pub firmware: Option<String>,
    /// `<os><firmware><feature enabled='yes' name=…/>`: required features.
    pub firmware_features: Vec<String>,
    pub loader: Option<Loader>,
    pub nvram: Option<Nvram>,
    /// `<devices><emulator>`.
    pub emulator: Option<String>,
    /// None without a `<cpu>` that names a mode or model (hypervisor default).
    pub cpu: Option<Cpu>,
    /// Every `<disk>`, in document order.
    pub disks: Vec<Disk>,
    /// Every `<interface>`, in document order.
    pub nics: Vec<NicInfo>,
    pub tpms: Vec<Tpm>,
    /// How many `<hostdev>` (passed-through host devices) there are.
    pub hostdevs: usize,
    /// `<seclabel model='dac'><label>`: the `user:group` qemu runs as.
    pub dac_label: Option<String>,
}

impl DomainDef {
    /// The variable store to copy: the file `<nvram>` names, or, for
    /// `firmware='efi'` or an `<nvram>` without a path, the file libvirt
    /// derives for the domain (`<NVRAM_DIR>/<name>_VARS.fd`), which its
    /// inactive XML does not name. A typed store (a block device, a network store) is not a
    /// file to read: None, like no store at all.
    pub fn var_store(&self) -> Option<VarStore> {
        if let Some(n) = &self.nvram
            && n.path.is_some()
        {
            return n.classic_file().map(|p| VarStore {
                path: p.to_string(),
                derived: false,
            });
        }
        // `<nvram/>` (a template only) also leaves the path to libvirt.
        let efi = self.firmware.as_deref() == Some("efi") || self.nvram.is_some();
        let name = self
            .name
            .as_deref()
            .filter(|n| !n.is_empty() && !n.contains('/'))?;
        efi.then(|| VarStore {
            path: format!("{NVRAM_DIR}/{name}_VARS.fd"),
            derived: true,
        })
    }

    /// Every `<interface><mac address=…>`, lower-cased, in document order.
    pub fn macs(&self) -> Vec<String> {
        self.nics
            .iter()
            .filter_map(|n| n.mac.as_deref())
            .map(str::to_lowercase)
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cpu {
    /// `custom`, `host-model`, `host-passthrough` or `maximum`.
    pub mode: String,
    pub model: Option<String>,
    /// `<model fallback=…>`: `allow` lets libvirt pick a close model.
    pub fallback: Option<String>,
}

/// `<os><loader>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loader {
    /// The firmware code file, when the XML names one.
    pub path: Option<String>,
    pub secure: bool,
}

/// `<os><nvram>`: the UEFI variable store, state on the host that a copy of
/// the domain must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nvram {
    /// The store: libvirt 9's `<source file|dev|name>`, else the element's
    /// text. None when libvirt is left to derive it.
    pub path: Option<String>,
    pub template: Option<String>,
    /// `path` comes from a `<source>` (which may name a block device or a
    /// network store), not from the classic text form, which is a file.
    pub typed: bool,
}

impl Nvram {
    /// The store when it is written the classic way, as a file path.
    pub fn classic_file(&self) -> Option<&str> {
        self.path.as_deref().filter(|_| !self.typed)
    }
}

/// Where libvirt's system daemon keeps the variable stores it names itself.
pub const NVRAM_DIR: &str = "/var/lib/libvirt/qemu/nvram";

/// The UEFI variable store a copy of a domain must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarStore {
    pub path: String,
    /// libvirt derives the path (`firmware='efi'` with no `<nvram>`, whose
    /// inactive XML names none): the file exists only once the domain has
    /// run. Until then there is nothing to copy; libvirt makes one from its
    /// template at the first start.
    pub derived: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tpm {
    /// `tpm-crb`, `tpm-tis`, … (`default` when unset).
    pub model: String,
    /// `emulator` (swtpm), `passthrough` or `external`.
    pub backend: String,
    /// `<backend type='passthrough'><device path=…/>`.
    pub device_path: Option<String>,
    /// `<backend><encryption secret=…/>`: the libvirt secret its state is
    /// encrypted with.
    pub encryption_secret: Option<String>,
}

impl Tpm {
    /// swtpm keeps an emulated TPM's state on the host, keyed by UUID.
    pub fn has_host_state(&self) -> bool {
        self.backend == "emulator"
    }
}

/// One `<disk>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// `<target dev=…>`, e.g. "vda"; empty when missing (libvirt refuses that).
    pub target: String,
    /// "disk" (libvirt's default), "cdrom", "floppy", "lun".
    pub device: String,
    pub source: DiskSource,
    /// `<driver type=…>`, e.g. "qcow2".
    pub format: Option<String>,
    /// Attached read-only: `<readonly/>`, or a cdrom, which libvirt always
    /// attaches read-only.
    pub readonly: bool,
    /// `<readonly/>` itself: a cdrom without it counts as removable media
    /// rather than as a read-only disk when a clone decides what to share.
    pub readonly_marked: bool,
    /// `<shareable/>`.
    pub shareable: bool,
    /// `<transient shareBacking='yes'/>`: the image is shared, writes go to
    /// a private overlay.
    pub share_backing: bool,
    /// `<encryption>` on the disk or its source.
    pub encrypted: bool,
    /// A non-empty `<backingStore>` (a copy flattens it).
    pub backing_chain: bool,
}

/// Where a disk's data lives, from `<disk type=…><source …/>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskSource {
    /// No `<source>` (an empty cdrom or floppy drive), or one without the
    /// attribute its type needs.
    Empty,
    File(String),
    Block(String),
    Dir(String),
    /// `type='volume'`: a volume of a libvirt storage pool.
    Volume {
        pool: String,
        volume: String,
    },
    /// `type='network'` (rbd, iscsi, nbd, …).
    Network {
        protocol: String,
        name: String,
    },
    /// `nvme`, `vhostuser`, …: described by the disk type only.
    Other(String),
}

impl DiskSource {
    /// The host path, for the source types that have one.
    pub fn path(&self) -> Option<&str> {
        match self {
            DiskSource::File(p) | DiskSource::Block(p) | DiskSource::Dir(p) => Some(p),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == DiskSource::Empty
    }

    /// The `<disk type=…>` this source is of (`empty` for none).
    pub fn kind(&self) -> &str {
        match self {
            DiskSource::Empty => "empty",
            DiskSource::File(_) => "file",
            DiskSource::Block(_) => "block",
            DiskSource::Dir(_) => "dir",
            DiskSource::Volume { .. } => "volume",
            DiskSource::Network { .. } => "network",
            DiskSource::Other(kind) => kind,
        }
    }
}

impl fmt::Display for DiskSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskSource::Empty => f.write_str("no source"),
            DiskSource::File(p) => write!(f, "file {p}"),
            DiskSource::Block(p) => write!(f, "block device {p}"),
            DiskSource::Volume { pool, volume } => write!(f, "volume {pool}/{volume}"),
            DiskSource::Network { protocol, name } => write!(f, "{protocol} {name}"),
            DiskSource::Dir(_) | DiskSource::Other(_) => write!(f, "{} disk", self.kind()),
        }
    }
}
