//! Pure parsing of libvirt domain XML: the disks and NICs the inventory and
//! the clone jobs need. No libvirt calls here, so it is unit-tested on
//! sample XML.

use crate::model::NicInfo;
use roxmltree::{Document, Node};

#[derive(Debug, thiserror::Error)]
pub enum DomainXmlError {
    #[error("malformed domain XML: {0}")]
    Parse(#[from] roxmltree::Error),
    #[error("root element is <{0}>, expected <domain>")]
    NotADomain(String),
}

/// Where a disk's data lives, from `<disk type=…><source …/>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskSource {
    /// No `<source>` (an empty cdrom or floppy drive).
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
}

impl DiskSource {
    /// The host path, for the source types that have one.
    pub fn path(&self) -> Option<&str> {
        match self {
            DiskSource::File(p) | DiskSource::Block(p) | DiskSource::Dir(p) => Some(p),
            _ => None,
        }
    }
}

/// One `<disk>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskXml {
    /// `<target dev=…>`, e.g. "vda".
    pub target: String,
    /// "disk" (libvirt's default), "cdrom", "floppy", "lun".
    pub device: String,
    pub source: DiskSource,
    /// `<driver type=…>`, e.g. "qcow2".
    pub format: Option<String>,
    /// `<readonly/>`, or a cdrom, which libvirt always attaches read-only.
    pub readonly: bool,
    pub shareable: bool,
}

/// What the inventory reads from a domain's XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainXml {
    pub disks: Vec<DiskXml>,
    pub nics: Vec<NicInfo>,
    /// `<os><nvram>`: the UEFI variable store, which a clone must copy.
    pub nvram: Option<String>,
}

pub fn parse_domain(xml: &str) -> Result<DomainXml, DomainXmlError> {
    let doc = Document::parse(xml)?;
    let root = doc.root_element();
    if root.tag_name().name() != "domain" {
        return Err(DomainXmlError::NotADomain(
            root.tag_name().name().to_string(),
        ));
    }
    let devices = child(root, "devices");
    let elements = |name: &'static str| {
        devices
            .into_iter()
            .flat_map(|d| d.children())
            .filter(move |n| n.has_tag_name(name))
    };
    Ok(DomainXml {
        disks: elements("disk").map(parse_disk).collect(),
        nics: elements("interface").map(parse_nic).collect(),
        nvram: child(root, "os")
            .and_then(|os| child(os, "nvram"))
            .and_then(|n| n.text())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
    })
}

/// Direct child only: a disk's `<backingStore>` has its own `<source>`.
pub(crate) fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| n.has_tag_name(name))
}

/// An element's trimmed text, if it has any.
pub(crate) fn text(node: Node) -> Option<String> {
    node.text()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

fn attr(node: Option<Node>, name: &str) -> Option<String> {
    node.and_then(|n| n.attribute(name)).map(str::to_string)
}

fn parse_disk(disk: Node) -> DiskXml {
    let device = disk.attribute("device").unwrap_or("disk").to_string();
    let source = child(disk, "source");
    let get = |name: &str| attr(source, name);
    let source = match (source, disk.attribute("type").unwrap_or("file")) {
        (None, _) => DiskSource::Empty,
        (Some(_), "block") => get("dev").map_or(DiskSource::Empty, DiskSource::Block),
        (Some(_), "dir") => get("dir").map_or(DiskSource::Empty, DiskSource::Dir),
        (Some(_), "volume") => match (get("pool"), get("volume")) {
            (Some(pool), Some(volume)) => DiskSource::Volume { pool, volume },
            _ => DiskSource::Empty,
        },
        (Some(_), "network") => DiskSource::Network {
            protocol: get("protocol").unwrap_or_default(),
            name: get("name").unwrap_or_default(),
        },
        (Some(_), _) => get("file").map_or(DiskSource::Empty, DiskSource::File),
    };
    DiskXml {
        target: attr(child(disk, "target"), "dev").unwrap_or_default(),
        readonly: child(disk, "readonly").is_some() || device == "cdrom",
        shareable: child(disk, "shareable").is_some(),
        format: attr(child(disk, "driver"), "type"),
        device,
        source,
    }
}

fn parse_nic(nic: Node) -> NicInfo {
    let kind = nic.attribute("type").unwrap_or("").to_string();
    let source = child(nic, "source");
    let source = match kind.as_str() {
        "network" => attr(source, "network"),
        "bridge" => attr(source, "bridge"),
        "direct" => attr(source, "dev"),
        _ => ["network", "bridge", "dev"]
            .iter()
            .find_map(|a| attr(source, a)),
    };
    NicInfo {
        kind,
        source,
        mac: attr(child(nic, "mac"), "address"),
        model: attr(child(nic, "model"), "type"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A running UEFI guest as `virsh dumpxml` prints it: qcow2 with a
    /// backing chain, an empty cdrom, a raw shareable block disk, a readonly
    /// ISO, a pool volume, and network/bridge/user/direct NICs.
    const UEFI_MULTI: &str = r#"<domain type='kvm' id='7'>
  <name>app01</name>
  <uuid>0b6c1a2e-6d0c-4bde-9f0e-0d9a3c1f2e11</uuid>
  <memory unit='KiB'>2097152</memory>
  <vcpu placement='static'>2</vcpu>
  <os firmware='efi'>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <loader readonly='yes' secure='no' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
    <nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/app01_VARS.fd</nvram>
    <boot dev='hd'/>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='/var/lib/libvirt/images/app01.qcow2' index='2'/>
      <backingStore type='file' index='3'>
        <format type='qcow2'/>
        <source file='/var/lib/libvirt/images/base.qcow2'/>
        <backingStore/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
      <alias name='virtio-disk0'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source dev='/dev/vg0/shared'/>
      <target dev='vdb' bus='virtio'/>
      <shareable/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/srv/iso/debian-12.iso'/>
      <target dev='sdb' bus='sata'/>
    </disk>
    <disk type='volume'>
      <driver name='qemu' type='qcow2'/>
      <source pool='default' volume='app01-data.qcow2'/>
      <target dev='vdc' bus='virtio'/>
    </disk>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='rbd' name='rbdpool/app01-logs'>
        <host name='ceph1' port='6789'/>
      </source>
      <target dev='vdd' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:11:22:33'/>
      <source network='default' portid='4d9f' bridge='virbr0'/>
      <target dev='vnet3'/>
      <model type='virtio'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:44:55:66'/>
      <source bridge='br0'/>
      <model type='e1000e'/>
    </interface>
    <interface type='user'>
      <mac address='52:54:00:77:88:99'/>
      <model type='rtl8139'/>
    </interface>
    <interface type='direct'>
      <source dev='eno1' mode='bridge'/>
    </interface>
  </devices>
</domain>"#;

    #[test]
    fn disks_of_a_uefi_guest() {
        let d = parse_domain(UEFI_MULTI).unwrap();
        assert_eq!(
            d.nvram.as_deref(),
            Some("/var/lib/libvirt/qemu/nvram/app01_VARS.fd")
        );
        let targets: Vec<&str> = d.disks.iter().map(|d| d.target.as_str()).collect();
        assert_eq!(targets, ["vda", "sda", "vdb", "sdb", "vdc", "vdd"]);

        let vda = &d.disks[0];
        // The image itself, not its backing file.
        assert_eq!(
            vda.source,
            DiskSource::File("/var/lib/libvirt/images/app01.qcow2".into())
        );
        assert_eq!(vda.format.as_deref(), Some("qcow2"));
        assert_eq!(vda.device, "disk");
        assert!(!vda.readonly && !vda.shareable);

        let empty_cdrom = &d.disks[1];
        assert_eq!(empty_cdrom.source, DiskSource::Empty);
        assert_eq!(empty_cdrom.device, "cdrom");
        assert!(empty_cdrom.readonly);

        let shared = &d.disks[2];
        assert_eq!(shared.source, DiskSource::Block("/dev/vg0/shared".into()));
        assert_eq!(shared.source.path(), Some("/dev/vg0/shared"));
        assert!(shared.shareable && !shared.readonly);

        // A cdrom without <readonly/> is still read-only.
        assert!(d.disks[3].readonly);

        let vol = &d.disks[4];
        assert_eq!(vol.device, "disk");
        assert_eq!(
            vol.source,
            DiskSource::Volume {
                pool: "default".into(),
                volume: "app01-data.qcow2".into()
            }
        );
        assert_eq!(vol.source.path(), None);

        assert_eq!(
            d.disks[5].source,
            DiskSource::Network {
                protocol: "rbd".into(),
                name: "rbdpool/app01-logs".into()
            }
        );
    }

    #[test]
    fn nics_of_every_kind() {
        let d = parse_domain(UEFI_MULTI).unwrap();
        let nic =
            |kind: &str, source: Option<&str>, mac: Option<&str>, model: Option<&str>| NicInfo {
                kind: kind.into(),
                source: source.map(Into::into),
                mac: mac.map(Into::into),
                model: model.map(Into::into),
            };
        assert_eq!(
            d.nics,
            [
                nic(
                    "network",
                    Some("default"),
                    Some("52:54:00:11:22:33"),
                    Some("virtio")
                ),
                nic(
                    "bridge",
                    Some("br0"),
                    Some("52:54:00:44:55:66"),
                    Some("e1000e")
                ),
                nic("user", None, Some("52:54:00:77:88:99"), Some("rtl8139")),
                nic("direct", Some("eno1"), None, None),
            ]
        );
    }

    #[test]
    fn bios_guest_without_devices_extras() {
        let xml = "<domain type='qemu'><name>tiny</name><os><type>hvm</type></os>\
                   <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>";
        let d = parse_domain(xml).unwrap();
        assert!(d.disks.is_empty() && d.nics.is_empty());
        assert_eq!(d.nvram, None);
    }

    #[test]
    fn rejects_garbage_and_other_documents() {
        assert!(matches!(
            parse_domain("<domain><devices>"),
            Err(DomainXmlError::Parse(_))
        ));
        assert!(matches!(
            parse_domain("<pool type='dir'/>"),
            Err(DomainXmlError::NotADomain(t)) if t == "pool"
        ));
    }
}
