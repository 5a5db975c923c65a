//! The domain model against sample XML: the shapes the inventory, export
//! and validation read (moved here with their parsers), and the fixtures
//! the rewrite and validation tests use, one field group at a time.

use super::*;
use crate::model::NicInfo;

// ---- disks, NICs and NVRAM (the inventory's reading) ----

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
        d.nvram.as_ref().and_then(Nvram::classic_file),
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
    let nic = |kind: &str, source: Option<&str>, mac: Option<&str>, model: Option<&str>| NicInfo {
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

/// The variable store a copy carries: the one `<nvram>` names, else for
/// `firmware='efi'` (whose inactive XML names none, libvirt 9) the one
/// libvirt derives from the name; none for a BIOS guest.
#[test]
fn the_variable_store_named_or_derived() {
    let efi = "<domain type='qemu'><name>fw1</name><os firmware='efi'><type>hvm</type></os>\
               <devices/></domain>";
    let d = parse_domain(efi).unwrap();
    assert_eq!(
        d.var_store(),
        Some(VarStore {
            path: "/var/lib/libvirt/qemu/nvram/fw1_VARS.fd".into(),
            derived: true
        })
    );
    let named = efi.replace(
        "<type>hvm</type>",
        "<type>hvm</type><nvram>/p/x_VARS.fd</nvram>",
    );
    let d = parse_domain(&named).unwrap();
    assert_eq!(
        d.var_store(),
        Some(VarStore {
            path: "/p/x_VARS.fd".into(),
            derived: false
        })
    );
    let bios = "<domain type='qemu'><name>tiny</name><os><type>hvm</type></os><devices/></domain>";
    assert_eq!(parse_domain(bios).unwrap().var_store(), None);
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

// ---- platform facts (validation's reading) ----

const WEB01: &str = include_str!("../../jobs/preflight/fixtures/web01-live.xml");
const UEFI: &str = include_str!("../../../tests/data/domains/uefi-tpm.xml");

#[test]
fn lab_web01() {
    let g = parse_domain(WEB01).unwrap();
    assert_eq!(g.virt_type, "kvm");
    assert_eq!(g.arch.as_deref(), Some("x86_64"));
    assert_eq!(g.machine.as_deref(), Some("pc-i440fx-7.2"));
    assert_eq!(g.emulator.as_deref(), Some("/usr/bin/qemu-system-x86_64"));
    assert_eq!(g.memory_bytes, 64 << 20);
    assert_eq!(g.vcpus, 1);
    assert_eq!(
        g.cpu,
        Some(Cpu {
            mode: "custom".into(),
            model: Some("qemu64".into()),
            fallback: Some("forbid".into())
        })
    );
    assert_eq!(g.firmware, None);
    assert_eq!(g.loader, None);
    assert!(g.tpms.is_empty());
}

#[test]
fn uefi_tpm_guest() {
    let g = parse_domain(UEFI).unwrap();
    assert_eq!(g.memory_bytes, 4 << 30);
    assert_eq!(g.vcpus, 2);
    assert_eq!(g.cpu.unwrap().mode, "host-passthrough");
    assert_eq!(
        g.loader,
        Some(Loader {
            path: Some("/usr/share/OVMF/OVMF_CODE_4M.ms.fd".into()),
            secure: true
        })
    );
    assert_eq!(
        g.nvram.as_ref().and_then(|n| n.template.as_deref()),
        Some("/usr/share/OVMF/OVMF_VARS_4M.ms.fd")
    );
    assert_eq!(
        g.tpms,
        [Tpm {
            model: "tpm-crb".into(),
            backend: "emulator".into(),
            device_path: None,
            encryption_secret: None
        }]
    );
}

#[test]
fn firmware_autoselection_and_units() {
    let xml = "<domain type='kvm'><memory unit='GiB'>2</memory><vcpu>4</vcpu>\
        <os firmware='efi'><type arch='aarch64' machine='virt'>hvm</type>\
        <firmware><feature enabled='yes' name='secure-boot'/>\
        <feature enabled='no' name='enrolled-keys'/></firmware></os>\
        <cpu><topology sockets='1' cores='2' threads='1'/></cpu>\
        <devices><tpm model='tpm-tis'><backend type='passthrough'>\
        <device path='/dev/tpm0'/></backend></tpm></devices></domain>";
    let g = parse_domain(xml).unwrap();
    assert_eq!(g.memory_bytes, 2 << 30);
    assert_eq!(g.vcpus, 4);
    assert_eq!(g.firmware.as_deref(), Some("efi"));
    assert_eq!(g.firmware_features, ["secure-boot"]);
    assert_eq!(g.cpu, None, "topology only");
    assert_eq!(g.tpms[0].device_path.as_deref(), Some("/dev/tpm0"));
    assert_eq!(g.emulator, None);
}

#[test]
fn garbage_is_an_error() {
    assert!(parse_domain("<domain>").is_err());
    assert!(matches!(
        parse_domain("<pool/>"),
        Err(DomainXmlError::NotADomain(_))
    ));
}

// ---- the shared fixtures, one field group at a time ----

const MULTI: &str = include_str!("../../../tests/data/domains/multi-live.xml");
const NET_NVRAM: &str = include_str!("../../../tests/data/domains/network-nvram.xml");
const MULTI01: &str = include_str!("../../jobs/preflight/fixtures/multi01.xml");

fn sources(d: &DomainDef) -> Vec<(&str, &DiskSource)> {
    d.disks
        .iter()
        .map(|x| (x.target.as_str(), &x.source))
        .collect()
}

#[test]
fn identity_of_every_fixture() {
    let m = parse_domain(MULTI).unwrap();
    assert_eq!(m.name.as_deref(), Some("multi01"));
    assert_eq!(
        m.uuid.as_deref(),
        Some("0d3c7a2e-5b1f-4c9e-8a7d-6e5f4c3b2a19")
    );
    assert_eq!(m.virt_type, "kvm");
    assert_eq!((m.memory_bytes, m.vcpus), (1 << 30, 2));
    // The DAC label is the domain's own, not the apparmor one before it.
    assert_eq!(m.dac_label.as_deref(), Some("+64055:+994"));
    let u = parse_domain(UEFI).unwrap();
    assert_eq!(u.name.as_deref(), Some("secure01"));
    assert_eq!(
        u.uuid.as_deref(),
        Some("6f1c3a52-8d4e-4b7a-9a51-2c3e4d5f6a7b")
    );
    assert_eq!(u.dac_label, None);
    let w = parse_domain(WEB01).unwrap();
    assert_eq!(w.dac_label.as_deref(), Some("+0:+0"));
    assert_eq!(
        parse_domain(MULTI01).unwrap().uuid.as_deref(),
        Some("d0eab722-ff05-4e08-a31d-ca04be006573")
    );
    // libvirt writes lower case; a hand-written upper-case UUID still compares.
    let upper =
        parse_domain("<domain><uuid> 0D3C7A2E-5B1F-4C9E-8A7D-6E5F4C3B2A19 </uuid></domain>")
            .unwrap();
    assert_eq!(
        upper.uuid.as_deref(),
        Some("0d3c7a2e-5b1f-4c9e-8a7d-6e5f4c3b2a19")
    );
    assert_eq!(upper.name, None);
}

#[test]
fn disks_of_the_multi_fixture() {
    let d = parse_domain(MULTI).unwrap();
    assert_eq!(
        sources(&d),
        [
            (
                "vda",
                &DiskSource::File("/var/lib/libvirt/images/multi01-root.qcow2".into())
            ),
            (
                "vdb",
                &DiskSource::File("/var/lib/libvirt/images/multi01-data.img".into())
            ),
            ("vdc", &DiskSource::Block("/dev/vg0/cluster-quorum".into())),
            (
                "vdd",
                &DiskSource::File("/srv/shared/reference-data.img".into())
            ),
            (
                "vde",
                &DiskSource::Volume {
                    pool: "default".into(),
                    volume: "multi01-scratch.qcow2".into()
                }
            ),
            (
                "sda",
                &DiskSource::File("/var/lib/libvirt/images/debian-12.5.0-amd64-netinst.iso".into())
            ),
            ("sdb", &DiskSource::Empty),
        ]
    );
    let flags: Vec<(bool, bool, bool, bool)> = d
        .disks
        .iter()
        .map(|x| (x.readonly, x.readonly_marked, x.shareable, x.backing_chain))
        .collect();
    assert_eq!(
        flags,
        [
            (false, false, false, true),  // a three-deep chain
            (false, false, false, false), // `<backingStore/>` ends the chain at once
            (false, false, true, false),
            (true, true, false, false),
            (false, false, false, false),
            (true, true, false, false),
            (true, true, false, false),
        ]
    );
    let formats: Vec<Option<&str>> = d.disks.iter().map(|x| x.format.as_deref()).collect();
    assert_eq!(
        formats,
        [
            Some("qcow2"),
            Some("raw"),
            Some("raw"),
            Some("raw"),
            Some("qcow2"),
            Some("raw"),
            Some("raw")
        ]
    );
    assert!(d.disks.iter().all(|x| !x.encrypted && !x.share_backing));
    assert_eq!(d.disks[5].device, "cdrom");

    let n = parse_domain(NET_NVRAM).unwrap();
    assert_eq!(
        sources(&n),
        [
            (
                "vda",
                &DiskSource::Network {
                    protocol: "rbd".into(),
                    name: "vms/rbd01-root".into()
                }
            ),
            (
                "fda",
                &DiskSource::File("/var/lib/libvirt/images/drivers.vfd".into())
            ),
        ]
    );
    // Only a cdrom is read-only without saying so; a floppy is writable.
    assert_eq!(n.disks[1].device, "floppy");
    assert!(!n.disks[1].readonly && !n.disks[1].readonly_marked);
    assert_eq!(n.disks[0].source.to_string(), "rbd vms/rbd01-root");

    let m = parse_domain(MULTI01).unwrap();
    let targets: Vec<&str> = m.disks.iter().map(|x| x.target.as_str()).collect();
    assert_eq!(targets, ["vda", "vdb"]);
    assert_eq!(
        m.disks[1].source.path(),
        Some("/var/lib/libvirt/images/multi01-data.raw")
    );
}

#[test]
fn rarer_disk_sources_and_flags() {
    let xml = "<domain><name>r</name><devices>\
        <disk type='dir'><source dir='/srv/tree'/><target dev='hda'/></disk>\
        <disk type='dir'><source/><target dev='hdb'/></disk>\
        <disk type='nvme' device='disk'><source type='pci' namespace='1'/><target dev='vda'/></disk>\
        <disk type='volume'><source volume='v.qcow2'/><target dev='vdb'/></disk>\
        <disk type='network'><source name='x'/><target dev='vdc'/></disk>\
        <disk><source file=''/><target dev='vdd'/></disk>\
        <disk type='file'><source file='/a.qcow2'><encryption format='luks'/></source>\
          <transient shareBacking='yes'/></disk>\
        </devices></domain>";
    let d = parse_domain(xml).unwrap();
    assert_eq!(
        sources(&d),
        [
            ("hda", &DiskSource::Dir("/srv/tree".into())),
            ("hdb", &DiskSource::Other("dir".into())),
            ("vda", &DiskSource::Other("nvme".into())),
            (
                "vdb",
                &DiskSource::Volume {
                    pool: String::new(),
                    volume: "v.qcow2".into()
                }
            ),
            ("vdc", &DiskSource::Empty),
            ("vdd", &DiskSource::Empty),
            // No <target>: libvirt refuses it; the rewrite says so.
            ("", &DiskSource::File("/a.qcow2".into())),
        ]
    );
    assert_eq!(d.disks[0].source.path(), Some("/srv/tree"));
    assert_eq!(d.disks[1].source.to_string(), "dir disk");
    assert_eq!(d.disks[2].source.to_string(), "nvme disk");
    let last = &d.disks[6];
    assert!(last.encrypted && last.share_backing && !last.shareable);
}

#[test]
fn nvram_and_loader_in_both_forms() {
    // Classic: the text is the file.
    let u = parse_domain(UEFI).unwrap();
    let nv = u.nvram.unwrap();
    assert_eq!(
        nv.path.as_deref(),
        Some("/var/lib/libvirt/qemu/nvram/secure01_VARS.fd")
    );
    assert!(!nv.typed);
    assert_eq!(nv.classic_file(), nv.path.as_deref());
    assert_eq!(u.firmware, None);

    // libvirt 9: a typed store in a <source>, not a classic file.
    let n = parse_domain(NET_NVRAM).unwrap();
    assert_eq!(
        n.nvram,
        Some(Nvram {
            path: Some("/var/lib/libvirt/qemu/nvram/rbd01_VARS.fd".into()),
            template: Some("/usr/share/OVMF/OVMF_VARS_4M.fd".into()),
            typed: true,
        })
    );
    assert_eq!(n.nvram.unwrap().classic_file(), None);
    assert_eq!(
        n.loader,
        Some(Loader {
            path: Some("/usr/share/OVMF/OVMF_CODE_4M.fd".into()),
            secure: false
        })
    );
    assert_eq!(n.cpu.unwrap().mode, "host-model");

    let block = parse_domain(
        "<domain><os><nvram type='block'><source dev='/dev/vg0/vars'/></nvram></os></domain>",
    )
    .unwrap();
    let nv = block.nvram.unwrap();
    assert_eq!(nv.path.as_deref(), Some("/dev/vg0/vars"));
    assert!(nv.typed && nv.template.is_none());
    // An empty <nvram/>: libvirt derives the path from the name.
    let derived = parse_domain("<domain><os><nvram/></os></domain>").unwrap();
    assert_eq!(derived.nvram.unwrap().path, None);
}

#[test]
fn tpms_and_host_devices() {
    let u = parse_domain(UEFI).unwrap();
    assert!(u.tpms[0].has_host_state());
    assert_eq!(u.hostdevs, 0);
    let xml = "<domain><devices><tpm model='tpm-tis'><backend type='passthrough'>\
        <device path='/dev/tpm0'/></backend></tpm>\
        <tpm><backend type='emulator' version='2.0'>\
        <encryption secret='6dd3e4a5-1d76-44ce-961f-f119f5aad935'/></backend></tpm>\
        </devices></domain>";
    let d = parse_domain(xml).unwrap();
    assert_eq!(
        d.tpms,
        [
            Tpm {
                model: "tpm-tis".into(),
                backend: "passthrough".into(),
                device_path: Some("/dev/tpm0".into()),
                encryption_secret: None,
            },
            Tpm {
                model: "default".into(),
                backend: "emulator".into(),
                device_path: None,
                encryption_secret: Some("6dd3e4a5-1d76-44ce-961f-f119f5aad935".into()),
            },
        ]
    );
    assert!(!d.tpms[0].has_host_state() && d.tpms[1].has_host_state());
    // A hostdev is counted, not read as a disk.
    let n = parse_domain(NET_NVRAM).unwrap();
    assert_eq!(n.hostdevs, 1);
    assert_eq!(n.disks.len(), 2);
}

#[test]
fn nics_and_macs_of_the_fixtures() {
    let nic = |kind: &str, source: Option<&str>, mac: &str, model: &str| NicInfo {
        kind: kind.into(),
        source: source.map(Into::into),
        mac: Some(mac.into()),
        model: Some(model.into()),
    };
    let m = parse_domain(MULTI).unwrap();
    assert_eq!(
        m.nics,
        [
            nic("bridge", Some("br0"), "52:54:00:aa:01:01", "virtio"),
            // The network's name, not the bridge libvirt put it on.
            nic("network", Some("isolated"), "52:54:00:AA:01:02", "e1000e"),
        ]
    );
    // As written in the NICs, lower-cased where addresses are compared.
    assert_eq!(m.macs(), ["52:54:00:aa:01:01", "52:54:00:aa:01:02"]);
    let n = parse_domain(NET_NVRAM).unwrap();
    assert_eq!(
        n.nics,
        [
            nic("direct", Some("eno1"), "52:54:00:5e:6f:70", "virtio"),
            nic("ethernet", None, "52:54:00:5e:6f:71", "virtio"),
        ]
    );
    let w = parse_domain(WEB01).unwrap();
    assert_eq!(w.nics, [nic("user", None, "52:54:00:5a:1f:d9", "virtio")]);
    assert_eq!(parse_domain(MULTI01).unwrap().macs().len(), 2);
}
