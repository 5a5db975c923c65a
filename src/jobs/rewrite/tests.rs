//! The rewrite against realistic libvirt 9 samples: every change checked
//! exactly, and everything else compared byte for byte after masking out the
//! nodes that were meant to change.

use super::*;
use crate::libvirt::domain::{Nvram, Tpm};
use crate::xml::{Document, Element};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::BTreeSet;
use uuid::Uuid;

const MULTI: &str = include_str!("../../../tests/data/domains/multi-live.xml");
const UEFI_TPM: &str = include_str!("../../../tests/data/domains/uefi-tpm.xml");
const NET_NVRAM: &str = include_str!("../../../tests/data/domains/network-nvram.xml");

const NEW_UUID: &str = "11111111-2222-4333-8444-555555555555";

fn new_uuid() -> Uuid {
    Uuid::parse_str(NEW_UUID).unwrap()
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

fn copy_file(path: &str, format: ImageFormat) -> DiskAction {
    DiskAction::Copy {
        target: DiskTarget::File(path.into()),
        format,
    }
}

fn multi_plan() -> RewritePlan {
    let mut plan = RewritePlan::new("multi01-clone", new_uuid());
    plan.disks.insert(
        "vda".into(),
        copy_file(
            "/var/lib/libvirt/images/multi01-clone-root.qcow2",
            ImageFormat::Qcow2,
        ),
    );
    plan.disks.insert(
        "vdb".into(),
        copy_file(
            "/var/lib/libvirt/images/multi01-clone-data.img",
            ImageFormat::Raw,
        ),
    );
    plan.disks.insert(
        "vde".into(),
        DiskAction::Copy {
            target: DiskTarget::Volume {
                pool: "default".into(),
                volume: "multi01-clone-scratch.qcow2".into(),
            },
            format: ImageFormat::Qcow2,
        },
    );
    plan
}

fn uefi_plan(tpm: TpmPolicy) -> RewritePlan {
    let mut plan = RewritePlan::new("secure02", new_uuid());
    plan.disks.insert(
        "sda".into(),
        copy_file("/var/lib/libvirt/images/secure02.qcow2", ImageFormat::Qcow2),
    );
    plan.nvram_path = Some("/var/lib/libvirt/qemu/nvram/secure02_VARS.fd".into());
    plan.tpm = tpm;
    plan
}

fn net_plan() -> RewritePlan {
    let mut plan = RewritePlan::new("rbd02", new_uuid());
    plan.disks.insert(
        "vda".into(),
        copy_file(
            "/var/lib/libvirt/images/rbd02-root.qcow2",
            ImageFormat::Qcow2,
        ),
    );
    plan.nvram_path = Some("/var/lib/libvirt/qemu/nvram/rbd02_VARS.fd".into());
    plan
}

fn parse(xml: &str) -> Element {
    Document::parse(xml).unwrap().root
}

/// Applies `f` to every element reached by the `/`-separated path.
fn each(el: &mut Element, path: &str, f: &mut dyn FnMut(&mut Element)) {
    match path.split_once('/') {
        None => el.children_named_mut(path).for_each(&mut *f),
        Some((first, rest)) => {
            for child in el.children_named_mut(first) {
                each(child, rest, f);
            }
        }
    }
}

fn drop_children(el: &mut Element, path: &str, names: &'static [&'static str]) {
    each(el, path, &mut |e| {
        e.remove_elements_where(|c| names.contains(&c.name()));
    });
}

fn drop_attrs(el: &mut Element, path: &str, names: &'static [&'static str]) {
    each(el, path, &mut |e| {
        for n in names {
            e.remove_attr(n);
        }
    });
}

/// Masks the same nodes in both documents and requires the rest to be
/// byte-identical: whatever the rewrite was not meant to touch, it did not.
fn assert_rest_identical(src: &str, out: &str, mask: impl Fn(&mut Document)) {
    let mut a = Document::parse(src).unwrap();
    let mut b = Document::parse(out).unwrap();
    mask(&mut a);
    mask(&mut b);
    assert_eq!(a.to_xml(), b.to_xml());
}

fn disk<'a>(root: &'a Element, dev: &str) -> &'a Element {
    root.find("devices")
        .unwrap()
        .children_named("disk")
        .find(|d| d.find("target").and_then(|t| t.attr("dev")).as_deref() == Some(dev))
        .unwrap()
}

fn attrs(el: &Element) -> Vec<(String, String)> {
    el.attrs()
        .iter()
        .map(|a| (a.name().to_string(), a.value()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn mask_multi(doc: &mut Document) {
    let r = &mut doc.root;
    r.remove_attr("id");
    r.remove_elements_where(|e| matches!(e.name(), "name" | "uuid"));
    drop_children(r, "seclabel", &["label", "imagelabel"]);
    drop_children(r, "devices/disk", &["source", "driver", "backingStore"]);
    drop_attrs(r, "devices/disk", &["type"]);
    drop_children(r, "devices/interface", &["mac", "target"]);
    drop_attrs(
        r,
        "devices/graphics",
        &["port", "tlsPort", "autoport", "websocket"],
    );
    drop_children(r, "devices/serial", &["source", "log"]);
    drop_children(r, "devices/console", &["source", "log"]);
    drop_attrs(r, "devices/channel/source", &["path"]);
}

#[test]
fn multi_disk_live_domain_is_rewritten_like_virt_clone() {
    let out = rewrite_domain(MULTI, &multi_plan(), &mut rng()).unwrap();
    let src = parse(MULTI);
    let dst = parse(&out.xml);

    assert_eq!(dst.attr("id"), None);
    assert_eq!(dst.attr("type").as_deref(), Some("kvm"));
    assert_eq!(dst.child("name").unwrap().text(), "multi01-clone");
    assert_eq!(dst.child("uuid").unwrap().text(), NEW_UUID);

    // vda: qcow2 with a two-level backing chain, flattened into a new file.
    let vda = disk(&dst, "vda");
    assert_eq!(vda.attr("type").as_deref(), Some("file"));
    assert_eq!(
        attrs(vda.child("source").unwrap()),
        pairs(&[("file", "/var/lib/libvirt/images/multi01-clone-root.qcow2")])
    );
    assert_eq!(
        attrs(vda.child("driver").unwrap()),
        pairs(&[
            ("name", "qemu"),
            ("type", "qcow2"),
            ("cache", "none"),
            ("io", "native"),
            ("discard", "unmap")
        ])
    );
    assert!(vda.child("backingStore").is_none());
    let names: Vec<&str> = vda.elements().map(Element::name).collect();
    assert_eq!(
        names,
        ["driver", "source", "target", "boot", "alias", "address"]
    );

    // vdb: raw, written with double quotes; its untouched children keep them.
    let vdb = disk(&dst, "vdb");
    assert_eq!(
        vdb.child("source").unwrap().to_xml(),
        "<source file=\"/var/lib/libvirt/images/multi01-clone-data.img\"/>"
    );
    assert_eq!(
        vdb.child("driver").unwrap().attr("type").as_deref(),
        Some("raw")
    );
    assert!(out.xml.contains("<serial>DATA-0001</serial>"));
    assert!(
        out.xml
            .contains("        <total_iops_sec>500</total_iops_sec>\n")
    );

    // vde: a pool volume stays a pool volume, under its new name.
    let vde = disk(&dst, "vde");
    assert_eq!(vde.attr("type").as_deref(), Some("volume"));
    assert_eq!(
        attrs(vde.child("source").unwrap()),
        pairs(&[
            ("pool", "default"),
            ("volume", "multi01-clone-scratch.qcow2")
        ])
    );

    // Shareable, read-only, cdrom and empty cdrom: untouched, byte for byte.
    for dev in ["vdc", "vdd", "sda", "sdb"] {
        assert_eq!(disk(&dst, dev).to_xml(), disk(&src, dev).to_xml(), "{dev}");
    }

    // NICs: fresh, distinct 52:54:00 MACs and no tap device names.
    let old_macs: BTreeSet<String> = ["52:54:00:aa:01:01", "52:54:00:aa:01:02"]
        .map(String::from)
        .into();
    let ifaces: Vec<&Element> = dst
        .find("devices")
        .unwrap()
        .children_named("interface")
        .collect();
    let macs: BTreeSet<String> = ifaces
        .iter()
        .map(|i| i.child("mac").unwrap().attr("address").unwrap())
        .collect();
    assert_eq!(macs.len(), 2);
    for mac in &macs {
        assert!(mac.starts_with("52:54:00:"), "{mac}");
        assert_eq!(mac.len(), 17);
        assert!(!old_macs.contains(mac));
    }
    assert!(ifaces.iter().all(|i| i.child("target").is_none()));

    // Graphics: autoport; the websocket stays on, automatically numbered;
    // the VNC password is kept (the clone needs it) but never reported.
    let gfx: Vec<&Element> = dst
        .find("devices")
        .unwrap()
        .children_named("graphics")
        .collect();
    assert_eq!(
        attrs(gfx[0]),
        pairs(&[
            ("type", "vnc"),
            ("autoport", "yes"),
            ("websocket", "-1"),
            ("listen", "0.0.0.0"),
            ("passwd", "s3cr3tvn")
        ])
    );
    assert_eq!(
        attrs(gfx[1]),
        pairs(&[
            ("type", "spice"),
            ("autoport", "yes"),
            ("listen", "192.168.10.5")
        ])
    );

    // Character devices: file names follow the new name; the pty is untouched.
    let devices = dst.find("devices").unwrap();
    let serials: Vec<&Element> = devices.children_named("serial").collect();
    let console = devices.child("console").unwrap();
    for dev in [serials[0], console] {
        assert_eq!(
            dev.child("source").unwrap().attr("path").as_deref(),
            Some("/var/log/libvirt/qemu/multi01-clone-serial0.log")
        );
        assert_eq!(
            dev.child("log").unwrap().attr("file").as_deref(),
            Some("/var/log/libvirt/qemu/multi01-clone-serial0-qemu.log")
        );
    }
    assert!(out.xml.contains("      <source path='/dev/pts/4'/>\n"));

    // Guest agent socket: path cleared; a foreign socket is not ours to move.
    let channels: Vec<&Element> = devices.children_named("channel").collect();
    assert_eq!(
        attrs(channels[0].child("source").unwrap()),
        pairs(&[("mode", "bind")])
    );
    assert_eq!(
        channels[1].child("source").unwrap().attr("path").as_deref(),
        Some("/run/monitoring/collector.sock")
    );

    // Dynamic labels go (apparmor's embeds the old UUID).
    assert!(
        out.xml
            .contains("  <seclabel type='dynamic' model='apparmor' relabel='yes'/>\n")
    );
    assert!(
        out.xml
            .contains("  <seclabel type='dynamic' model='dac' relabel='yes'/>\n")
    );
    assert!(!out.xml.contains("0d3c7a2e-5b1f-4c9e-8a7d-6e5f4c3b2a19"));

    // Foreign namespace, comment, escaped text: verbatim.
    let qemu = "  <qemu:commandline>\n    <qemu:arg value='-fw_cfg'/>\n    <qemu:arg value='name=opt/org.example/role,string=web&amp;db'/>\n    <qemu:env name='SPICE_DEBUG_LEVEL' value=\"2\"/>\n  </qemu:commandline>\n";
    assert!(out.xml.contains(qemu));
    assert!(out.xml.starts_with("<!-- multi01 as libvirt 9 dumps it while running, with security info -->\n<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"));
    assert!(
        out.xml
            .contains("    <!-- data disk moved to the SSD array 2024-03 -->\n")
    );
    assert!(
        out.xml
            .contains("<title>multi01 — two disks &amp; two NICs</title>")
    );

    assert_rest_identical(MULTI, &out.xml, mask_multi);
}

#[test]
fn multi_report_lists_each_change_and_warns_about_host_addresses() {
    let out = rewrite_domain(MULTI, &multi_plan(), &mut rng()).unwrap();
    let c = &out.report.changes;
    let has = |want: &Change| c.contains(want);
    assert!(has(&Change::DomainIdDropped { id: "7".into() }));
    assert!(has(&Change::Name {
        from: "multi01".into(),
        to: "multi01-clone".into()
    }));
    assert!(has(&Change::Uuid {
        from: Some("0d3c7a2e-5b1f-4c9e-8a7d-6e5f4c3b2a19".into()),
        to: NEW_UUID.into()
    }));
    assert!(has(&Change::BackingChainFlattened {
        target: "vda".into()
    }));
    assert!(!has(&Change::BackingChainFlattened {
        target: "vdb".into()
    }));
    assert!(has(&Change::DiskCopied {
        target: "vde".into(),
        from: Some(DiskSource::Volume {
            pool: "default".into(),
            volume: "multi01-scratch.qcow2".into()
        }),
        to: DiskTarget::Volume {
            pool: "default".into(),
            volume: "multi01-clone-scratch.qcow2".into()
        },
        format: ImageFormat::Qcow2,
    }));
    for (target, reason) in [
        ("vdc", KeepReason::Shareable),
        ("vdd", KeepReason::ReadOnly),
        ("sda", KeepReason::ReadOnly),
        ("sdb", KeepReason::NoSource),
    ] {
        assert!(has(&Change::DiskKept {
            target: target.into(),
            reason
        }));
    }
    assert!(has(&Change::InterfaceTargetDropped {
        dev: "vnet3".into()
    }));
    assert!(has(&Change::GraphicsAutoport {
        kind: "vnc".into(),
        reset: vec!["autoport".into(), "port".into(), "websocket".into()]
    }));
    assert!(has(&Change::GraphicsAutoport {
        kind: "spice".into(),
        reset: vec!["port".into(), "tlsPort".into()]
    }));
    assert_eq!(
        c.iter()
            .filter(|x| matches!(x, Change::SeclabelCleared { .. }))
            .count(),
        2
    );
    assert_eq!(
        c.iter()
            .filter(|x| matches!(x, Change::CharFileRenamed { .. }))
            .count(),
        4
    );
    assert_eq!(
        c.iter()
            .filter(|x| matches!(x, Change::MacAddress { .. }))
            .count(),
        2
    );
    assert_eq!(out.report.warnings.len(), 1, "{:?}", out.report.warnings);
    assert!(out.report.warnings[0].contains("192.168.10.5"));
    let log: String = c.iter().map(|x| format!("{x}\n")).collect();
    assert!(!log.contains("s3cr3t"));
    assert!(log.contains("disk vda: file /var/lib/libvirt/images/multi01-root.qcow2 → file /var/lib/libvirt/images/multi01-clone-root.qcow2 (qcow2)"));
}

#[test]
fn macs_are_deterministic_for_a_seed_and_differ_between_seeds() {
    let a = rewrite_domain(MULTI, &multi_plan(), &mut rng()).unwrap();
    let b = rewrite_domain(MULTI, &multi_plan(), &mut rng()).unwrap();
    let c = rewrite_domain(MULTI, &multi_plan(), &mut StdRng::seed_from_u64(8)).unwrap();
    assert_eq!(a.xml, b.xml);
    assert_ne!(a.xml, c.xml);
}

/// Always yields the same bytes: the second NIC can never get a free MAC.
struct StuckRng;
impl rand::RngCore for StuckRng {
    fn next_u32(&mut self) -> u32 {
        0
    }
    fn next_u64(&mut self) -> u64 {
        0
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        dst.fill(0);
    }
}

#[test]
fn mac_collisions_are_retried_then_refused() {
    let err = rewrite_domain(MULTI, &multi_plan(), &mut StuckRng).unwrap_err();
    assert_eq!(err, RewriteError::MacExhausted(64));
    // One NIC is fine: 52:54:00:00:00:00 is unused.
    let one_nic = MULTI.replacen("<mac address='52:54:00:aa:01:01'/>", "", 1);
    let src = one_nic.replace(
        "<mac address='52:54:00:AA:01:02'/>",
        "<mac address='52:54:00:00:00:01'/>",
    );
    let out = rewrite_domain(&src, &multi_plan(), &mut StuckRng).unwrap();
    assert!(out.xml.contains("<mac address='52:54:00:00:00:00'/>"));
    // An address the source already uses is never handed out.
    let taken = MULTI.replace("52:54:00:AA:01:02", "52:54:00:00:00:00");
    assert_eq!(
        rewrite_domain(&taken, &multi_plan(), &mut StuckRng).unwrap_err(),
        RewriteError::MacExhausted(64)
    );
}

#[test]
fn preserved_macs_stay_with_a_warning() {
    let mut plan = multi_plan();
    plan.mac_policy = MacPolicy::Preserve;
    let out = rewrite_domain(MULTI, &plan, &mut StuckRng).unwrap();
    assert!(out.xml.contains("<mac address='52:54:00:aa:01:01'/>"));
    assert!(out.xml.contains("<mac address='52:54:00:AA:01:02'/>"));
    assert!(!out.xml.contains("vnet3"));
    assert!(
        out.report
            .warnings
            .iter()
            .any(|w| w.contains("MAC addresses preserved"))
    );
}

#[test]
fn uefi_tpm_guest_is_refused_by_default() {
    let err = rewrite_domain(UEFI_TPM, &uefi_plan(TpmPolicy::Refuse), &mut rng()).unwrap_err();
    assert_eq!(
        err,
        RewriteError::TpmState {
            model: "tpm-crb".into()
        }
    );
    assert!(err.to_string().contains("swtpm state"));
}

fn mask_uefi(doc: &mut Document) {
    let r = &mut doc.root;
    r.remove_elements_where(|e| matches!(e.name(), "name" | "uuid" | "genid"));
    each(r, "sysinfo/system/entry", &mut |e| {
        if e.attr("name").as_deref() == Some("uuid") {
            e.set_text("");
        }
    });
    each(r, "os/nvram", &mut |e| e.set_text(""));
    drop_children(r, "devices/disk", &["source"]);
    drop_children(r, "devices/interface", &["mac"]);
}

#[test]
fn uefi_tpm_guest_with_a_fresh_tpm() {
    let out = rewrite_domain(UEFI_TPM, &uefi_plan(TpmPolicy::Fresh), &mut rng()).unwrap();
    let dst = parse(&out.xml);
    let src = parse(UEFI_TPM);

    let nvram = dst.find("os/nvram").unwrap();
    assert_eq!(nvram.text(), "/var/lib/libvirt/qemu/nvram/secure02_VARS.fd");
    assert_eq!(
        nvram.attr("template").as_deref(),
        Some("/usr/share/OVMF/OVMF_VARS_4M.ms.fd")
    );
    let entries: Vec<String> = dst
        .find("sysinfo/system")
        .unwrap()
        .children_named("entry")
        .map(Element::text)
        .collect();
    assert_eq!(entries, ["Example Corp", NEW_UUID, "SN-0001"]);
    assert!(out.xml.contains("  <genid/>\n"));
    assert_eq!(
        dst.find("devices/tpm").unwrap().to_xml(),
        src.find("devices/tpm").unwrap().to_xml()
    );
    // Kept, unlike virt-clone: a title describes the guest, not the instance.
    assert!(out.xml.contains("<title>Secure Boot guest</title>"));
    // The spice device already used autoport: nothing to change.
    assert!(out.xml.contains("<graphics type='spice' autoport='yes'>"));

    let c = &out.report.changes;
    assert!(c.contains(&Change::TpmFresh {
        model: "tpm-crb".into()
    }));
    assert!(c.contains(&Change::GenidRegenerated));
    assert!(c.contains(&Change::Nvram {
        from: Some("/var/lib/libvirt/qemu/nvram/secure01_VARS.fd".into()),
        to: "/var/lib/libvirt/qemu/nvram/secure02_VARS.fd".into()
    }));
    assert!(
        !c.iter()
            .any(|x| matches!(x, Change::GraphicsAutoport { .. }))
    );
    assert!(out.report.warnings.is_empty(), "{:?}", out.report.warnings);
    assert_rest_identical(UEFI_TPM, &out.xml, mask_uefi);
}

#[test]
fn uefi_tpm_guest_with_copied_tpm_state() {
    let out = rewrite_domain(UEFI_TPM, &uefi_plan(TpmPolicy::CopyState), &mut rng()).unwrap();
    assert!(out.report.changes.contains(&Change::TpmStateToCopy {
        model: "tpm-crb".into(),
        from_uuid: Some("6f1c3a52-8d4e-4b7a-9a51-2c3e4d5f6a7b".into()),
        to_uuid: NEW_UUID.into(),
    }));
    assert_rest_identical(UEFI_TPM, &out.xml, mask_uefi);
}

/// The model's TPM facts reach the report: an encrypted state's secret must
/// be defined on the destination too.
#[test]
fn an_encrypted_tpm_state_names_its_secret() {
    let src = UEFI_TPM.replace(
        "<backend type='emulator' version='2.0'/>",
        "<backend type='emulator' version='2.0'><encryption secret='6dd3e4a5-1d76-44ce-961f-f119f5aad935'/></backend>",
    );
    let out = rewrite_domain(&src, &uefi_plan(TpmPolicy::Fresh), &mut rng()).unwrap();
    assert_eq!(
        out.report.warnings,
        [
            "TPM state is encrypted with libvirt secret 6dd3e4a5-1d76-44ce-961f-f119f5aad935: \
          define it on the destination"
        ]
    );
}

#[test]
fn an_nvram_file_needs_a_new_path() {
    let mut plan = uefi_plan(TpmPolicy::Fresh);
    plan.nvram_path = None;
    assert_eq!(
        rewrite_domain(UEFI_TPM, &plan, &mut rng()).unwrap_err(),
        RewriteError::NvramPathMissing {
            current: "/var/lib/libvirt/qemu/nvram/secure01_VARS.fd".into()
        }
    );
    // Without a path libvirt derives one from the new name: nothing to plan.
    let derived = UEFI_TPM.replace(
        ">/var/lib/libvirt/qemu/nvram/secure01_VARS.fd</nvram>",
        "/>",
    );
    let out = rewrite_domain(&derived, &plan, &mut rng()).unwrap();
    assert!(
        out.xml
            .contains("<nvram template='/usr/share/OVMF/OVMF_VARS_4M.ms.fd'/>")
    );
    // A path for a domain without NVRAM is a planning mistake.
    let mut plan = multi_plan();
    plan.nvram_path = Some("/tmp/x_VARS.fd".into());
    assert_eq!(
        rewrite_domain(MULTI, &plan, &mut rng()).unwrap_err(),
        RewriteError::NvramNotInDomain
    );
}

/// firmware='efi' with no `<nvram>` (libvirt 9's inactive XML): the copy
/// names its own store, inside `<os>`, so the source's variables copied
/// there are the ones it boots with.
#[test]
fn an_efi_domain_without_nvram_gets_its_own_store() {
    let efi = MULTI.replacen("<os>", "<os firmware='efi'>", 1);
    assert!(efi.contains("<os firmware='efi'>") && !efi.contains("<nvram"));
    let mut plan = multi_plan();
    plan.nvram_path = Some("/pool/multi01-clone_VARS.fd".into());
    let out = rewrite_domain(&efi, &plan, &mut rng()).unwrap();
    let dst = parse(&out.xml);
    let nv = dst.find("os/nvram").expect("an <nvram> in <os>");
    assert_eq!(nv.text(), "/pool/multi01-clone_VARS.fd");
    assert!(out.report.changes.iter().any(|c| matches!(c,
        Change::Nvram { from: Some(f), to } if f == "/var/lib/libvirt/qemu/nvram/multi01_VARS.fd"
            && to == "/pool/multi01-clone_VARS.fd")));
}

#[test]
fn network_disk_and_libvirt9_nvram_source() {
    let out = rewrite_domain(NET_NVRAM, &net_plan(), &mut rng()).unwrap();
    let dst = parse(&out.xml);
    let src = parse(NET_NVRAM);

    assert!(
        out.xml
            .starts_with("<?xml version='1.0' encoding='UTF-8'?>\n<domain type='kvm'>\n")
    );
    let nvram = dst.find("os/nvram").unwrap();
    assert_eq!(
        attrs(nvram),
        pairs(&[
            ("template", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
            ("type", "file")
        ])
    );
    assert_eq!(
        attrs(nvram.child("source").unwrap()),
        pairs(&[("file", "/var/lib/libvirt/qemu/nvram/rbd02_VARS.fd")])
    );

    // rbd → local qcow2 file: auth and monitor hosts belong to Ceph.
    let vda = disk(&dst, "vda");
    assert_eq!(vda.attr("type").as_deref(), Some("file"));
    assert!(vda.child("auth").is_none());
    assert_eq!(
        vda.child("source").unwrap().to_xml(),
        "<source file='/var/lib/libvirt/images/rbd02-root.qcow2'/>"
    );
    assert_eq!(
        attrs(vda.child("driver").unwrap()),
        pairs(&[("name", "qemu"), ("type", "qcow2"), ("cache", "writeback")])
    );
    assert!(out.report.changes.contains(&Change::DiskCopied {
        target: "vda".into(),
        from: Some(DiskSource::Network {
            protocol: "rbd".into(),
            name: "vms/rbd01-root".into()
        }),
        to: DiskTarget::File("/var/lib/libvirt/images/rbd02-root.qcow2".into()),
        format: ImageFormat::Qcow2,
    }));

    // Floppy kept; agent channel without a path, vnc on autoport already,
    // unmanaged tap and hostdev: left alone.
    assert_eq!(disk(&dst, "fda").to_xml(), disk(&src, "fda").to_xml());
    assert!(out.report.changes.contains(&Change::DiskKept {
        target: "fda".into(),
        reason: KeepReason::RemovableMedia
    }));
    for kept in ["channel", "graphics", "hostdev", "console"] {
        assert_eq!(
            dst.find("devices").unwrap().child(kept).unwrap().to_xml(),
            src.find("devices").unwrap().child(kept).unwrap().to_xml()
        );
    }
    assert!(out.xml.contains("<target dev='tap-rbd01' managed='no'/>"));
    let w = out.report.warnings.join("\n");
    assert!(w.contains("eno1"), "{w}");
    assert!(w.contains("tap-rbd01"), "{w}");
    assert!(w.contains("host device"), "{w}");
    assert_eq!(out.report.warnings.len(), 3, "{w}");

    assert_rest_identical(NET_NVRAM, &out.xml, |doc| {
        let r = &mut doc.root;
        r.remove_elements_where(|e| matches!(e.name(), "name" | "uuid"));
        drop_children(r, "os", &["nvram"]);
        drop_children(r, "devices", &["disk"]);
        drop_children(r, "devices/interface", &["mac"]);
    });
}

#[test]
fn unplanned_or_unsafely_kept_disks_are_refused() {
    let mut plan = multi_plan();
    plan.disks.remove("vdb");
    assert_eq!(
        rewrite_domain(MULTI, &plan, &mut rng()).unwrap_err(),
        RewriteError::DiskNotPlanned {
            target: "vdb".into()
        }
    );
    plan.disks.insert("vdb".into(), DiskAction::Keep);
    assert_eq!(
        rewrite_domain(MULTI, &plan, &mut rng()).unwrap_err(),
        RewriteError::UnsafeKeep {
            target: "vdb".into()
        }
    );
    let mut plan = multi_plan();
    plan.disks.insert("vdz".into(), DiskAction::Keep);
    assert_eq!(
        rewrite_domain(MULTI, &plan, &mut rng()).unwrap_err(),
        RewriteError::UnknownDisk("vdz".into())
    );
    let mut plan = multi_plan();
    plan.disks
        .insert("sdb".into(), copy_file("/x.iso", ImageFormat::Raw));
    assert_eq!(
        rewrite_domain(MULTI, &plan, &mut rng()).unwrap_err(),
        RewriteError::NothingToCopy("sdb".into())
    );
}

#[test]
fn shared_disks_may_be_copied_on_request_and_kept_explicitly() {
    let mut plan = multi_plan();
    plan.disks.insert(
        "vdc".into(),
        copy_file("/var/lib/libvirt/images/q.img", ImageFormat::Raw),
    );
    plan.disks.insert("vdd".into(), DiskAction::Keep);
    let out = rewrite_domain(MULTI, &plan, &mut rng()).unwrap();
    let vdc = disk(&parse(&out.xml), "vdc").clone();
    assert_eq!(vdc.attr("type").as_deref(), Some("file"));
    assert_eq!(
        vdc.child("source").unwrap().to_xml(),
        "<source file='/var/lib/libvirt/images/q.img'/>"
    );
    // Still marked shareable: that is the guest's configuration, not storage.
    assert!(vdc.child("shareable").is_some());
    assert_eq!(
        disk(&parse(&out.xml), "vdd").to_xml(),
        disk(&parse(MULTI), "vdd").to_xml()
    );
}

#[test]
fn encrypted_disks_are_refused() {
    let src = MULTI.replace(
        "<target dev=\"vdb\" bus=\"virtio\"/>",
        "<target dev=\"vdb\" bus=\"virtio\"/>\n      <encryption format='luks'><secret type='passphrase' uuid='0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f'/></encryption>",
    );
    assert_eq!(
        rewrite_domain(&src, &multi_plan(), &mut rng()).unwrap_err(),
        RewriteError::EncryptedDisk("vdb".into())
    );
}

#[test]
fn malformed_disk_lists_are_refused() {
    let dup = MULTI.replace(
        "<target dev='vdc' bus='virtio'/>",
        "<target dev='vdd' bus='virtio'/>",
    );
    assert_eq!(
        rewrite_domain(&dup, &multi_plan(), &mut rng()).unwrap_err(),
        RewriteError::DuplicateDiskTarget("vdd".into())
    );
    let none = MULTI.replace("<target dev='vdc' bus='virtio'/>", "");
    assert_eq!(
        rewrite_domain(&none, &multi_plan(), &mut rng()).unwrap_err(),
        RewriteError::DiskWithoutTarget
    );
}

#[test]
fn bad_names_uuids_and_paths_are_refused() {
    for (name, why) in [("", "empty"), ("a/b", "'/'"), ("a\nb", "control")] {
        let mut plan = multi_plan();
        plan.new_name = name.into();
        let err = rewrite_domain(MULTI, &plan, &mut rng()).unwrap_err();
        assert!(matches!(err, RewriteError::InvalidName { .. }), "{err}");
        assert!(err.to_string().contains(why), "{err}");
    }
    for uuid in [
        Uuid::nil(),
        Uuid::parse_str("0d3c7a2e-5b1f-4c9e-8a7d-6e5f4c3b2a19").unwrap(),
    ] {
        let mut plan = multi_plan();
        plan.new_uuid = uuid;
        assert_eq!(
            rewrite_domain(MULTI, &plan, &mut rng()).unwrap_err(),
            RewriteError::UuidNotNew(uuid)
        );
    }
    let mut plan = multi_plan();
    plan.disks.insert(
        "vda".into(),
        copy_file("relative.qcow2", ImageFormat::Qcow2),
    );
    assert!(matches!(
        rewrite_domain(MULTI, &plan, &mut rng()).unwrap_err(),
        RewriteError::InvalidPlan(_)
    ));
    let mut plan = multi_plan();
    plan.disks.insert(
        "vde".into(),
        DiskAction::Copy {
            target: DiskTarget::Volume {
                pool: "default".into(),
                volume: "../etc".into(),
            },
            format: ImageFormat::Qcow2,
        },
    );
    assert!(matches!(
        rewrite_domain(MULTI, &plan, &mut rng()).unwrap_err(),
        RewriteError::InvalidPlan(_)
    ));
}

#[test]
fn non_domains_and_broken_xml_are_refused() {
    assert_eq!(
        rewrite_domain(
            "<network><name>x</name></network>",
            &multi_plan(),
            &mut rng()
        )
        .unwrap_err(),
        RewriteError::NotADomain("network".into())
    );
    assert!(matches!(
        rewrite_domain("<domain><name>x</domain>", &multi_plan(), &mut rng()).unwrap_err(),
        RewriteError::Xml(_)
    ));
    assert_eq!(
        rewrite_domain("<domain/>", &multi_plan(), &mut rng()).unwrap_err(),
        RewriteError::Missing("name")
    );
}

#[test]
fn missing_uuid_and_driver_are_inserted_in_place() {
    let src = "<domain type='kvm'>\n  <name>tiny</name>\n  <memory>1</memory>\n  <devices>\n    <disk type='file' device='disk'>\n      <source file='/a.img'/>\n      <target dev='vda'/>\n    </disk>\n  </devices>\n</domain>\n";
    let mut plan = RewritePlan::new("tiny2", new_uuid());
    plan.disks
        .insert("vda".into(), copy_file("/b.qcow2", ImageFormat::Qcow2));
    let out = rewrite_domain(src, &plan, &mut rng()).unwrap();
    assert_eq!(
        out.xml,
        format!(
            "<domain type='kvm'>\n  <name>tiny2</name>\n  <uuid>{NEW_UUID}</uuid>\n  <memory>1</memory>\n  <devices>\n    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2'/>\n      <source file='/b.qcow2'/>\n      <target dev='vda'/>\n    </disk>\n  </devices>\n</domain>\n"
        )
    );
}

#[test]
fn block_targets_and_cdrom_startup_policy() {
    let src = "<domain>\n  <name>b</name>\n  <devices>\n    <disk type='file' device='cdrom'>\n      <source file='/iso/a.iso' startupPolicy='optional'/>\n      <target dev='hdc'/>\n    </disk>\n    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2'/>\n      <source file='/a.qcow2'/>\n      <target dev='vda'/>\n    </disk>\n  </devices>\n</domain>";
    let mut plan = RewritePlan::new("b2", new_uuid());
    plan.disks.insert(
        "vda".into(),
        DiskAction::Copy {
            target: DiskTarget::Block("/dev/vg0/b2".into()),
            format: ImageFormat::Raw,
        },
    );
    plan.disks
        .insert("hdc".into(), copy_file("/iso/b.iso", ImageFormat::Raw));
    let out = rewrite_domain(src, &plan, &mut rng()).unwrap();
    assert!(out.xml.contains("<disk type='block' device='disk'>\n      <driver name='qemu' type='raw'/>\n      <source dev='/dev/vg0/b2'/>"));
    assert!(
        out.xml
            .contains("<source file='/iso/b.iso' startupPolicy='optional'/>")
    );
}

#[test]
fn clone_file_names_follow_the_new_name() {
    let cases = [
        ("/var/log/web01-serial.log", "/var/log/web02-serial.log"),
        ("/var/log/web01/web01.log", "/var/log/web01/web02.log"),
        ("/var/log/console.log", "/var/log/console-web02.log"),
        ("/var/log/console", "/var/log/console-web02"),
        ("/var/log/.hidden", "/var/log/.hidden-web02"),
        (
            "/var/log/serial.verylongext",
            "/var/log/serial.verylongext-web02",
        ),
        ("plain.txt", "plain-web02.txt"),
    ];
    for (from, to) in cases {
        assert_eq!(clone_file_path(from, "web01", "web02"), to, "{from}");
    }
}

#[test]
fn only_the_name_standing_alone_is_replaced() {
    let cases = [
        // The case: "test" inside "latest" is not the VM's name.
        ("/var/log/test-latest.log", "/var/log/NEW-latest.log"),
        ("/var/log/test.log", "/var/log/NEW.log"),
        ("/var/log/test_test.log", "/var/log/NEW_NEW.log"),
        // Another VM's name that starts with this one's: suffixed instead.
        ("/var/log/test2.log", "/var/log/test2-NEW.log"),
        ("/var/log/mytest.log", "/var/log/mytest-NEW.log"),
        ("/var/log/latest", "/var/log/latest-NEW"),
    ];
    for (from, to) in cases {
        assert_eq!(clone_file_path(from, "test", "NEW"), to, "{from}");
    }
}

#[test]
fn inspect_reports_what_a_plan_must_decide() {
    let d = inspect_domain(MULTI).unwrap();
    assert_eq!(d.name.as_deref(), Some("multi01"));
    assert_eq!(
        d.uuid.as_deref(),
        Some("0d3c7a2e-5b1f-4c9e-8a7d-6e5f4c3b2a19")
    );
    let reasons: Vec<(&str, Option<KeepReason>)> = d
        .disks
        .iter()
        .map(|x| (x.target.as_str(), x.keep_reason()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("vda", None),
            ("vdb", None),
            ("vdc", Some(KeepReason::Shareable)),
            ("vdd", Some(KeepReason::ReadOnly)),
            ("vde", None),
            ("sda", Some(KeepReason::ReadOnly)),
            ("sdb", Some(KeepReason::NoSource)),
        ]
    );
    assert!(d.disks[0].backing_chain);
    assert!(!d.disks[1].backing_chain);
    assert_eq!(d.disks[0].format.as_deref(), Some("qcow2"));
    assert_eq!(d.macs(), ["52:54:00:aa:01:01", "52:54:00:aa:01:02"]);
    assert!(d.nvram.is_none() && d.tpms.is_empty());

    let u = inspect_domain(UEFI_TPM).unwrap();
    assert_eq!(
        u.nvram,
        Some(Nvram {
            path: Some("/var/lib/libvirt/qemu/nvram/secure01_VARS.fd".into()),
            template: Some("/usr/share/OVMF/OVMF_VARS_4M.ms.fd".into()),
            typed: false,
        })
    );
    assert_eq!(
        u.tpms,
        [Tpm {
            model: "tpm-crb".into(),
            backend: "emulator".into(),
            device_path: None,
            encryption_secret: None
        }]
    );
    let n = inspect_domain(NET_NVRAM).unwrap();
    assert_eq!(
        n.nvram.unwrap().path.as_deref(),
        Some("/var/lib/libvirt/qemu/nvram/rbd01_VARS.fd")
    );
    assert_eq!(n.disks[1].keep_reason(), Some(KeepReason::RemovableMedia));
}

/// Where the proptest puts foreign content: after the line that contains
/// the anchor. Each spot is outside what the rewrite changes, though some
/// are inside elements it changes (a disk, a graphics device).
const ANCHORS: &[&str] = &[
    "  <description>",
    "    <emulator>",
    "      <target dev='vda' bus='virtio'/>",
    "    <graphics type='vnc'",
    "      <listen type='address' address='0.0.0.0'/>",
    "      <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>",
    "    <qemu:env ",
    "  </devices>",
];

fn insert_after_line(src: &str, anchor: &str, text: &str) -> String {
    let start = src.find(anchor).unwrap();
    let eol = start + src[start..].find('\n').unwrap() + 1;
    format!("{}{}\n{}", &src[..eol], text, &src[eol..])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn foreign_content_survives_the_rewrite_byte_for_byte(
        bodies in prop::collection::vec(crate::xml::tests::arb_element(3), ANCHORS.len()),
        attr_value in "[ -~]{0,16}",
    ) {
        // Wrapped so generated names can never be ones the rewrite acts on.
        let wrapped: Vec<String> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| format!("<x-wrap n='{i}'>{b}</x-wrap><!--{i}-->"))
            .collect();
        let mut src = MULTI.to_string();
        for (anchor, text) in ANCHORS.iter().zip(&wrapped) {
            src = insert_after_line(&src, anchor, text);
        }
        // An unknown attribute on elements whose start tags are rebuilt.
        let escaped = quick_xml::escape::escape(attr_value.as_str()).into_owned();
        src = src.replacen("<disk type='file' device='disk'>", &format!("<disk type='file' x:a='{escaped}' device='disk'>"), 1);
        src = src.replacen("<graphics type='vnc' ", &format!("<graphics x:a=\"{escaped}\" type='vnc' "), 1);

        let out = rewrite_domain(&src, &multi_plan(), &mut rng()).unwrap();
        for text in &wrapped {
            prop_assert!(out.xml.contains(text.as_str()));
        }
        let dst = parse(&out.xml);
        prop_assert_eq!(disk(&dst, "vda").attr("x:a"), Some(attr_value.clone()));
        prop_assert_eq!(
            dst.find("devices/graphics").unwrap().attr("x:a"),
            Some(attr_value.clone())
        );
        assert_rest_identical(&src, &out.xml, mask_multi);
    }
}

/// A restore with --keep-identity: the same name, UUID and MACs; only the
/// disk paths move.
#[test]
fn keep_identity_changes_only_the_paths() {
    let mut plan = multi_plan();
    plan.new_name = "multi01".into();
    plan.new_uuid = Uuid::parse_str("0d3c7a2e-5b1f-4c9e-8a7d-6e5f4c3b2a19").unwrap();
    plan.mac_policy = MacPolicy::Preserve;
    plan.keep_identity = true;
    let out = rewrite_domain(MULTI, &plan, &mut rng()).unwrap();
    let (src, dst) = (parse(MULTI), parse(&out.xml));
    assert_eq!(dst.child("name").unwrap().text(), "multi01");
    assert_eq!(
        dst.child("uuid").unwrap().text(),
        src.child("uuid").unwrap().text()
    );
    let macs = |root: &Element| -> Vec<String> {
        root.child("devices")
            .unwrap()
            .elements()
            .filter(|e| e.name() == "interface")
            .filter_map(|i| i.child("mac").and_then(|m| m.attr("address")))
            .map(|a| a.to_string())
            .collect()
    };
    assert_eq!(macs(&dst), macs(&src));
    assert_eq!(macs(&dst).len(), 2);
    assert_eq!(
        disk(&dst, "vda")
            .child("source")
            .unwrap()
            .attr("file")
            .as_deref(),
        Some("/var/lib/libvirt/images/multi01-clone-root.qcow2")
    );

    // A different name or UUID is refused: that would not be the same machine.
    plan.new_uuid = new_uuid();
    assert!(rewrite_domain(MULTI, &plan, &mut rng()).is_err());
}
