//! Every rule against fixtures: real XML captured from the lab (web01,
//! `virsh domcapabilities`, pool XML) and the XML rewrite's samples.

use super::run;
use crate::jobs::preflight::derive;
use crate::jobs::preflight::facts::*;
use crate::jobs::preflight::probe::{Answer, Probe, ProbeResults};
use crate::jobs::preflight::request::ValidationRequest;
use crate::jobs::rewrite::TpmPolicy;
use crate::libvirt::domain::{DiskSource, parse_domain};
use crate::model::checklist::{CheckItem, CheckStatus, ValidationReport, ids};
use crate::model::{DiskInfo, LiveClone, VmInfo, VmState};

const WEB01: &str = include_str!("../fixtures/web01-live.xml");
const MULTI: &str = include_str!("../../../../tests/data/domains/multi-live.xml");
const UEFI: &str = include_str!("../../../../tests/data/domains/uefi-tpm.xml");
const CAPS_I440FX: &str = include_str!("../fixtures/domcaps-alpha-i440fx.xml");
const CAPS_Q35: &str = include_str!("../fixtures/domcaps-beta-q35.xml");

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;
const IMAGES: &str = "/var/lib/libvirt/images";

use CheckStatus::{Fail, Pass, Warn};

/// A VM as the inventory would report it, from its XML.
fn vm_from_xml(xml: &str, state: VmState) -> VmInfo {
    let parsed = parse_domain(xml).unwrap();
    let disks = parsed
        .disks
        .iter()
        .map(|d| DiskInfo {
            target: d.target.clone(),
            device: d.device.clone(),
            source: d
                .source
                .path()
                .map(str::to_string)
                .or_else(|| match &d.source {
                    DiskSource::Volume { volume, .. } => Some(format!("{IMAGES}/{volume}")),
                    _ => None,
                }),
            format: d.format.clone(),
            readonly: d.readonly,
            shareable: d.shareable,
            allocation_bytes: 300 * MIB,
            capacity_bytes: 2 * GIB,
        })
        .collect();
    VmInfo {
        name: parsed.name.unwrap(),
        uuid: "00000000-0000-4000-8000-000000000001".into(),
        state,
        vcpus: 1,
        memory_bytes: 64 * MIB,
        disks,
        nics: parsed.nics,
        live_clone: LiveClone {
            possible: matches!(state, VmState::Running | VmState::Paused),
            reason: None,
        },
        xml: xml.to_string(),
    }
}

fn req() -> ValidationRequest {
    ValidationRequest::new("web01", "web01-clone", "default")
}

/// The lab: web01 on alpha, beta with the default pool and room to spare.
/// Probes get neutral answers: nothing at the target paths, every bridge,
/// interface, program and firmware file present.
fn lab_facts(req: &ValidationRequest, vm: Option<VmInfo>) -> Facts {
    let pool = PoolFacts {
        name: "default".into(),
        active: true,
        pool_type: "dir".into(),
        target_path: Some(IMAGES.into()),
        capacity_bytes: 252 * GIB,
        available_bytes: 216 * GIB,
        fs_available_bytes: Some(55 * GIB),
    };
    let mut facts = Facts {
        source_host: "alpha".into(),
        dest_host: "beta".into(),
        source: SourceFacts {
            libvirt_version: 9_000_000,
            vm_error: None,
            domcaps: vm.as_ref().map(|_| Ok(CAPS_I440FX.to_string())),
            vm,
        },
        dest: DestFacts {
            libvirt_version: 9_000_000,
            cpus: 2,
            memory_bytes: 14 * GIB,
            running: RunningLoad {
                domains: 1,
                memory_bytes: 64 * MIB,
                vcpus: 1,
            },
            name_taken: false,
            pool: Some(pool),
            networks: vec![],
            domcaps: None,
            existing_volumes: vec![],
            probes: ProbeResults::default(),
        },
    };
    if facts.source.vm.is_some() {
        facts.dest.domcaps = Some(Ok(CAPS_I440FX.to_string()));
    }
    let planned: Vec<String> = facts
        .source
        .vm
        .as_ref()
        .and_then(|vm| derive::derive(req, vm, facts.dest.pool.as_ref()).plan)
        .and_then(Result::ok)
        .map(|p| p.paths())
        .unwrap_or_default();
    answer_probes(req, &mut facts, |p| match p {
        Probe::Exists(path) if planned.contains(path) => Answer::No,
        Probe::FreeSpace(_) => Answer::Bytes(55 * GIB),
        _ => Answer::Yes,
    });
    facts
}

/// Answers exactly the probes gathering would ask.
fn answer_probes(req: &ValidationRequest, facts: &mut Facts, f: impl Fn(&Probe) -> Answer) {
    let Some(vm) = &facts.source.vm else { return };
    let derived = derive::derive(req, vm, facts.dest.pool.as_ref());
    for p in derive::probes(&derived, vm, facts.dest.pool.as_ref()) {
        let a = f(&p);
        facts.dest.probes.0.insert(p, a);
    }
}

fn web01_facts(req: &ValidationRequest) -> Facts {
    lab_facts(req, Some(vm_from_xml(WEB01, VmState::Running)))
}

fn item<'a>(r: &'a ValidationReport, id: &str) -> &'a CheckItem {
    r.item(id)
        .unwrap_or_else(|| panic!("no {id} in\n{}", r.render_text()))
}

fn status(r: &ValidationReport, id: &str) -> CheckStatus {
    item(r, id).status
}

fn set(facts: &mut Facts, probe: Probe, answer: Answer) {
    facts.dest.probes.0.insert(probe, answer);
}

// ---- the whole checklist ----

#[test]
fn web01_to_beta_passes_every_check() {
    let req = req();
    let r = run(&req, &web01_facts(&req));
    assert!(r.ok(), "{}", r.render_text());
    let got: Vec<&str> = r.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(got, ids::ALL, "every check, in order");
    for i in &r.items {
        assert_eq!(i.status, Pass, "{}", r.render_text());
    }
    assert!(item(&r, ids::SOURCE_STATE).message.contains("live clone"));
    assert!(
        item(&r, ids::DEST_PATHS_FREE)
            .message
            .contains("/var/lib/libvirt/images/web01-clone-vda.qcow2")
    );
}

#[test]
fn missing_vm_fails_and_skips_vm_checks() {
    let req = ValidationRequest::new("ghost", "ghost-clone", "default");
    let r = run(&req, &lab_facts(&req, None));
    assert!(!r.ok());
    let i = item(&r, ids::SOURCE_VM_EXISTS);
    assert_eq!(i.status, Fail);
    assert_eq!(i.message, "there is no VM named \"ghost\" on alpha");
    assert!(
        i.hint
            .as_ref()
            .unwrap()
            .contains("kvm-clone vms --host alpha")
    );
    let got: Vec<&str> = r.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        got,
        [
            ids::NAME_VALID,
            ids::OPTIONS_VALID,
            ids::SOURCE_VM_EXISTS,
            ids::DEST_NAME_FREE,
            ids::DEST_POOL
        ]
    );
}

#[test]
fn unreadable_vm_fails() {
    let req = req();
    let mut facts = lab_facts(&req, None);
    facts.source.vm_error = Some("domain web01: malformed domain XML".into());
    let r = run(&req, &facts);
    assert_eq!(status(&r, ids::SOURCE_VM_EXISTS), Fail);
    assert!(
        item(&r, ids::SOURCE_VM_EXISTS)
            .message
            .contains("malformed")
    );
}

#[test]
fn invalid_name_skips_name_dependent_checks() {
    let req = ValidationRequest::new("web01", "a/b", "default");
    let r = run(&req, &web01_facts(&req));
    assert_eq!(status(&r, ids::NAME_VALID), Fail);
    assert!(r.item(ids::DEST_NAME_FREE).is_none());
    assert!(r.item(ids::DEST_PATHS_FREE).is_none());
}

// ---- source ----

#[test]
fn source_state_rules() {
    let mut req = req();
    let mut vm = vm_from_xml(WEB01, VmState::Running);
    vm.live_clone = LiveClone {
        possible: false,
        reason: Some("not qcow2: vda (raw)".into()),
    };
    let r = run(&req, &lab_facts(&req, Some(vm.clone())));
    let i = item(&r, ids::SOURCE_STATE);
    assert_eq!(i.status, Fail);
    assert!(
        i.message
            .contains("cannot be cloned live: not qcow2: vda (raw)"),
        "{}",
        i.message
    );
    assert!(i.hint.as_ref().unwrap().contains("shut the VM down"));

    req.allow_shutdown = true;
    let r = run(&req, &lab_facts(&req, Some(vm.clone())));
    let i = item(&r, ids::SOURCE_STATE);
    assert_eq!(i.status, Warn);
    assert!(i.message.contains("shuts it down"), "{}", i.message);
    // A shutting-down policy shuts down even a VM that could go live.
    let mut live_ok = vm.clone();
    live_ok.live_clone = LiveClone {
        possible: true,
        reason: None,
    };
    let r = run(&req, &lab_facts(&req, Some(live_ok.clone())));
    assert_eq!(status(&r, ids::SOURCE_STATE), Warn);
    // A paused guest cannot act on the request.
    live_ok.state = VmState::Paused;
    let r = run(&req, &lab_facts(&req, Some(live_ok)));
    assert_eq!(status(&r, ids::SOURCE_STATE), Fail);

    let off = vm_from_xml(WEB01, VmState::ShutOff);
    let r = run(&req, &lab_facts(&req, Some(off)));
    assert_eq!(status(&r, ids::SOURCE_STATE), Pass);
    assert!(item(&r, ids::SOURCE_STATE).message.contains("offline copy"));

    let crashed = vm_from_xml(WEB01, VmState::Crashed);
    let r = run(&req, &lab_facts(&req, Some(crashed)));
    assert_eq!(
        status(&r, ids::SOURCE_STATE),
        Fail,
        "even with shutdown allowed"
    );
}

#[test]
fn source_disks_rules() {
    let req = req();
    let r = run(&req, &web01_facts(&req));
    assert!(
        item(&r, ids::SOURCE_DISKS)
            .message
            .contains("vda (300 MiB of 2 GiB)")
    );
    // A format change is said; `same` (the default) keeps qcow2 as it is.
    assert!(!item(&r, ids::SOURCE_DISKS).message.contains('→'));
    let mut to_raw = req.clone();
    to_raw.format = crate::model::FormatChoice::Raw;
    let r = run(&to_raw, &web01_facts(&to_raw));
    let msg = &item(&r, ids::SOURCE_DISKS).message;
    assert!(msg.contains("vda (300 MiB of 2 GiB, qcow2 → raw)"), "{msg}");

    // The rewrite's sample with an rbd disk and NVRAM.
    let net = include_str!("../../../../tests/data/domains/network-nvram.xml");
    let r = run(
        &req,
        &lab_facts(&req, Some(vm_from_xml(net, VmState::ShutOff))),
    );
    let i = item(&r, ids::SOURCE_DISKS);
    assert_eq!(i.status, Fail, "{}", r.render_text());
    assert!(i.message.contains("network disk"), "{}", i.message);

    let enc = WEB01.replace(
        "<backingStore/>",
        "<encryption format='luks'><secret type='passphrase' uuid='0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f'/></encryption><backingStore/>",
    );
    let r = run(
        &req,
        &lab_facts(&req, Some(vm_from_xml(&enc, VmState::ShutOff))),
    );
    let i = item(&r, ids::SOURCE_DISKS);
    assert_eq!(i.status, Fail);
    assert!(i.message.contains("vda is encrypted"), "{}", i.message);

    let r = run(
        &req,
        &lab_facts(&req, Some(vm_from_xml(MULTI, VmState::ShutOff))),
    );
    let i = item(&r, ids::SOURCE_DISKS);
    assert_eq!(i.status, Pass, "{}", r.render_text());
    assert!(
        i.message.contains("backing chain flattened"),
        "{}",
        i.message
    );
    assert!(
        i.message
            .contains("kept as they are: vdc (shareable, shared)"),
        "{}",
        i.message
    );
}

/// A domain the rewrite refuses (two disks on one target) fails the disk
/// check with the rewrite's reason; its platform facts are still read.
#[test]
fn a_disk_list_the_rewrite_refuses_fails_only_the_disks() {
    let req = req();
    let dup = MULTI.replace(
        "<target dev='vdc' bus='virtio'/>",
        "<target dev='vdd' bus='virtio'/>",
    );
    let r = run(
        &req,
        &lab_facts(&req, Some(vm_from_xml(&dup, VmState::ShutOff))),
    );
    let i = item(&r, ids::SOURCE_DISKS);
    assert_eq!(i.status, Fail, "{}", r.render_text());
    assert!(
        i.message.contains("two disks use target vdd"),
        "{}",
        i.message
    );
    assert_eq!(status(&r, ids::HYPERVISOR), Pass, "{}", r.render_text());
    assert!(item(&r, ids::CPU).message.contains("qemu64"));
}

// ---- name and target files ----

#[test]
fn name_conflict_fails() {
    let req = ValidationRequest::new("web01", "shared01", "default");
    let mut facts = web01_facts(&req);
    facts.dest.name_taken = true;
    let r = run(&req, &facts);
    let i = item(&r, ids::DEST_NAME_FREE);
    assert_eq!(i.status, Fail);
    assert_eq!(
        i.message,
        "a domain named \"shared01\" already exists on beta"
    );
    assert!(!r.ok());
}

#[test]
fn target_paths_rules() {
    let req = req();
    let path = format!("{IMAGES}/web01-clone-vda.qcow2");
    let mut facts = web01_facts(&req);
    set(&mut facts, Probe::Exists(path.clone()), Answer::Yes);
    let r = run(&req, &facts);
    let i = item(&r, ids::DEST_PATHS_FREE);
    assert_eq!(i.status, Fail);
    assert!(i.message.contains(&path) && i.message.contains("overwrite"));

    let mut facts = web01_facts(&req);
    facts.dest.existing_volumes = vec![path.clone()];
    let r = run(&req, &facts);
    assert!(
        item(&r, ids::DEST_PATHS_FREE)
            .message
            .contains("libvirt volume")
    );

    let mut facts = web01_facts(&req);
    facts.dest.probes.0.remove(&Probe::Exists(path.clone()));
    let r = run(&req, &facts);
    assert_eq!(status(&r, ids::DEST_PATHS_FREE), Warn);

    // NVRAM gets its own path, checked too.
    let req = ValidationRequest::new("secure01", "sec2", "default");
    let mut vm = vm_from_xml(UEFI, VmState::ShutOff);
    vm.nics.clear();
    let mut facts = lab_facts(&req, Some(vm));
    set(
        &mut facts,
        Probe::Exists(format!("{IMAGES}/sec2_VARS.fd")),
        Answer::Yes,
    );
    let r = run(&req, &facts);
    let i = item(&r, ids::DEST_PATHS_FREE);
    assert_eq!(i.status, Fail);
    assert!(i.message.contains("sec2_VARS.fd"), "{}", i.message);
}

// ---- pool and space ----

#[test]
fn pool_rules() {
    let req = req();
    let mut facts = web01_facts(&req);
    facts.dest.pool = None;
    let r = run(&req, &facts);
    let i = item(&r, ids::DEST_POOL);
    assert_eq!(i.status, Fail);
    assert!(
        i.message
            .contains("no storage pool named \"default\" on beta")
    );
    assert!(r.item(ids::DEST_SPACE).is_none() && r.item(ids::DEST_PATHS_FREE).is_none());

    let mut facts = web01_facts(&req);
    facts.dest.pool.as_mut().unwrap().active = false;
    let i = item(&run(&req, &facts), ids::DEST_POOL).clone();
    assert_eq!(i.status, Fail);
    assert!(i.hint.unwrap().contains("virsh pool-start default"));

    let mut facts = web01_facts(&req);
    let p = facts.dest.pool.as_mut().unwrap();
    p.pool_type = "logical".into();
    p.target_path = Some("/dev/vg0".into());
    let r = run(&req, &facts);
    assert!(item(&r, ids::DEST_POOL).message.contains("of type logical"));
    assert!(r.item(ids::DEST_SPACE).is_none());
}

#[test]
fn space_rules() {
    let mut req = req();
    let set_free = |facts: &mut Facts, bytes: u64| {
        let p = facts.dest.pool.as_mut().unwrap();
        p.available_bytes = bytes;
        p.fs_available_bytes = Some(bytes);
    };
    // 300 MiB × 1.1 = 330 MiB needed.
    let mut facts = web01_facts(&req);
    set_free(&mut facts, 320 * MIB);
    let r = run(&req, &facts);
    let i = item(&r, ids::DEST_SPACE);
    assert_eq!(i.status, Fail);
    assert!(i.message.contains("320 MiB free"), "{}", i.message);
    assert!(
        i.message
            .contains("330 MiB (source allocation 300 MiB × margin 1.1)"),
        "{}",
        i.message
    );

    // The filesystem's view wins when it is smaller than libvirt's.
    let mut facts = web01_facts(&req);
    facts.dest.pool.as_mut().unwrap().fs_available_bytes = Some(100 * MIB);
    let i = item(&run(&req, &facts), ids::DEST_SPACE).clone();
    assert_eq!(i.status, Fail);
    assert!(
        i.message.contains("libvirt reports 216 GiB"),
        "{}",
        i.message
    );

    // A margin that cannot be met.
    req.space_margin = 1e6;
    let r = run(&req, &web01_facts(&req));
    assert_eq!(status(&r, ids::DEST_SPACE), Fail);
    req.space_margin = 1.1;

    // Fits, but leaves the filesystem under 10 % free.
    let mut facts = web01_facts(&req);
    set_free(&mut facts, 10 * GIB);
    let r = run(&req, &facts);
    let i = item(&r, ids::DEST_SPACE);
    assert_eq!(i.status, Warn, "{}", i.message);
    assert!(i.message.contains("running low"));

    // Fits, but the thin disk could grow past the free space.
    let mut facts = web01_facts(&req);
    let p = facts.dest.pool.as_mut().unwrap();
    p.capacity_bytes = GIB;
    set_free(&mut facts, 800 * MIB);
    let i = item(&run(&req, &facts), ids::DEST_SPACE).clone();
    assert_eq!(i.status, Warn);
    assert!(i.message.contains("can grow to 2 GiB"), "{}", i.message);
}

#[test]
fn shared_disk_rules() {
    let req = ValidationRequest::new("multi01", "m2", "default");
    let mut facts = lab_facts(&req, Some(vm_from_xml(MULTI, VmState::ShutOff)));
    let r = run(&req, &facts);
    assert_eq!(status(&r, ids::SHARED_DISKS), Pass, "{}", r.render_text());
    let iso = format!("{IMAGES}/debian-12.5.0-amd64-netinst.iso");
    set(&mut facts, Probe::Exists(iso.clone()), Answer::No);
    let r = run(&req, &facts);
    let i = item(&r, ids::SHARED_DISKS);
    assert_eq!(i.status, Warn);
    assert!(i.message.contains(&iso), "{}", i.message);
}

/// Issue: with `--start` a kept file missing on the destination makes the
/// start fail for certain, so it is a failed check, not a warning.
#[test]
fn a_missing_kept_file_fails_when_the_clone_is_to_start() {
    let mut req = ValidationRequest::new("multi01", "m2", "default");
    req.start = true;
    let mut facts = lab_facts(&req, Some(vm_from_xml(MULTI, VmState::ShutOff)));
    assert_eq!(status(&run(&req, &facts), ids::SHARED_DISKS), Pass);
    let iso = format!("{IMAGES}/debian-12.5.0-amd64-netinst.iso");
    set(&mut facts, Probe::Exists(iso.clone()), Answer::No);
    let r = run(&req, &facts);
    let i = item(&r, ids::SHARED_DISKS);
    assert_eq!(i.status, Fail, "{}", r.render_text());
    assert!(
        i.message.contains(&iso) && i.message.contains("started"),
        "{}",
        i.message
    );
    assert!(!r.ok());
}

// ---- memory and vCPUs ----

#[test]
fn memory_rules() {
    let req = req();
    let mut facts = web01_facts(&req);
    facts.dest.running.memory_bytes = 14 * GIB - 32 * MIB;
    let i = item(&run(&req, &facts), ids::DEST_MEMORY).clone();
    assert_eq!(i.status, Warn);
    assert!(i.message.contains("overcommitted"), "{}", i.message);

    let mut facts = web01_facts(&req);
    facts.dest.memory_bytes = 32 * MIB;
    facts.dest.running.memory_bytes = 0;
    let i = item(&run(&req, &facts), ids::DEST_MEMORY).clone();
    assert_eq!(i.status, Warn);
    assert!(i.message.contains("alone needs more memory"));
}

#[test]
fn vcpu_rules() {
    let mut req = req();
    let mut facts = web01_facts(&req);
    facts.dest.running.vcpus = 8; // 8 + 1 > 2 × 4
    let i = item(&run(&req, &facts), ids::DEST_VCPUS).clone();
    assert_eq!(i.status, Warn);
    assert!(i.message.contains("limit 8 at ratio 4"), "{}", i.message);
    req.vcpu_ratio = 16.0;
    assert_eq!(status(&run(&req, &facts), ids::DEST_VCPUS), Pass);

    let wide = WEB01.replace("<vcpu placement='static'>1</vcpu>", "<vcpu>4</vcpu>");
    let r = run(
        &req,
        &lab_facts(&req, Some(vm_from_xml(&wide, VmState::ShutOff))),
    );
    assert_eq!(status(&r, ids::DEST_VCPUS), Warn);
    assert!(
        item(&r, ids::DEST_VCPUS)
            .message
            .contains("more vCPUs than beta has CPUs")
    );

    let huge = WEB01.replace("<vcpu placement='static'>1</vcpu>", "<vcpu>300</vcpu>");
    let r = run(
        &req,
        &lab_facts(&req, Some(vm_from_xml(&huge, VmState::ShutOff))),
    );
    let i = item(&r, ids::DEST_VCPUS);
    assert_eq!(i.status, Fail);
    assert!(i.message.contains("at most 255"), "{}", i.message);
}

// ---- networks and bridges ----

fn with_nic(nic: &str) -> VmInfo {
    let xml = WEB01.replace(
        "<interface type='user'>",
        &format!("{nic}</interface><interface type='user'>"),
    );
    vm_from_xml(&xml, VmState::ShutOff)
}

#[test]
fn network_rules() {
    let req = req();
    let nic = "<interface type='network'><mac address='52:54:00:00:00:01'/>\
               <source network='validate-missing-net'/>";
    let mut facts = lab_facts(&req, Some(with_nic(nic)));
    let r = run(&req, &facts);
    let i = item(&r, ids::NETWORKS);
    assert_eq!(i.status, Fail);
    assert_eq!(
        i.message,
        "NIC 1 (52:54:00:00:00:01) uses network \"validate-missing-net\", which does not exist on beta"
    );
    assert!(i.hint.as_ref().unwrap().contains("networks on beta: none"));

    facts.dest.networks = vec![NetworkFact {
        name: "validate-missing-net".into(),
        active: false,
    }];
    let i = item(&run(&req, &facts), ids::NETWORKS).clone();
    assert_eq!(i.status, Warn);
    assert!(i.message.contains("not active"));

    facts.dest.networks[0].active = true;
    assert_eq!(status(&run(&req, &facts), ids::NETWORKS), Pass);

    let r = run(&req, &web01_facts(&req));
    assert_eq!(
        item(&r, ids::NETWORKS).message,
        "the VM uses no libvirt network"
    );

    let odd = with_nic("<interface type='vhostuser'><source type='unix' path='/x' mode='client'/>");
    let r = run(&req, &lab_facts(&req, Some(odd)));
    assert_eq!(status(&r, ids::NETWORKS), Warn);
}

#[test]
fn bridge_rules() {
    let req = req();
    let vm = with_nic("<interface type='bridge'><source bridge='br-validate'/>");
    let mut facts = lab_facts(&req, Some(vm.clone()));
    assert_eq!(status(&run(&req, &facts), ids::BRIDGES), Pass);
    set(&mut facts, Probe::Bridge("br-validate".into()), Answer::No);
    let r = run(&req, &facts);
    let i = item(&r, ids::BRIDGES);
    assert_eq!(i.status, Fail);
    assert!(i.message.contains("bridge br-validate"), "{}", i.message);

    let direct = with_nic("<interface type='direct'><source dev='eno9' mode='bridge'/>");
    let mut facts = lab_facts(&req, Some(direct));
    set(&mut facts, Probe::NetDev("eno9".into()), Answer::No);
    assert_eq!(status(&run(&req, &facts), ids::BRIDGES), Fail);

    let bad = with_nic("<interface type='bridge'><source bridge='../../etc'/>");
    let r = run(&req, &lab_facts(&req, Some(bad)));
    assert!(
        item(&r, ids::BRIDGES)
            .message
            .contains("not a valid interface name")
    );
}

// ---- hypervisor and CPU ----

#[test]
fn hypervisor_rules() {
    let req = req();
    let mut facts = web01_facts(&req);
    facts.dest.domcaps = Some(Err(
        "invalid argument: the machine 'pc-i440fx-7.2' is not supported by emulator '/usr/bin/qemu-system-x86_64'".into(),
    ));
    let r = run(&req, &facts);
    let i = item(&r, ids::HYPERVISOR);
    assert_eq!(i.status, Fail);
    assert!(
        i.message
            .starts_with("beta cannot run kvm on x86_64, machine pc-i440fx-7.2")
    );
    assert!(i.hint.as_ref().unwrap().contains("machine type"));
    assert_eq!(status(&r, ids::CPU), Fail, "nothing runs there");

    facts.dest.domcaps = Some(Err(
        "Cannot check QEMU binary /usr/libexec/qemu-kvm: No such file or directory".into(),
    ));
    let i = item(&run(&req, &facts), ids::HYPERVISOR).clone();
    assert!(i.hint.unwrap().contains("install qemu"));

    assert!(
        item(&run(&req, &web01_facts(&req)), ids::HYPERVISOR)
            .message
            .contains("resolves to pc-i440fx-7.2")
    );
}

#[test]
fn cpu_custom_model_rules() {
    let req = req();
    // web01's qemu64 is usable='no' on both lab hosts: it runs on alpha, so pass.
    let r = run(&req, &web01_facts(&req));
    assert!(item(&r, ids::CPU).message.contains("nor on alpha"));

    // Usable on the source, not on the destination: warn.
    let mut facts = web01_facts(&req);
    facts.source.domcaps = Some(Ok(CAPS_I440FX.replace(
        "<model usable='no' vendor='unknown'>qemu64</model>",
        "<model usable='yes' vendor='unknown'>qemu64</model>",
    )));
    assert_eq!(status(&run(&req, &facts), ids::CPU), Warn);

    let usable = WEB01.replace(">qemu64<", ">486<");
    let r = run(
        &req,
        &lab_facts(&req, Some(vm_from_xml(&usable, VmState::ShutOff))),
    );
    assert_eq!(
        item(&r, ids::CPU).message,
        "CPU model 486 is usable on beta"
    );

    let unknown = WEB01.replace(">qemu64<", ">Zen9000<");
    let r = run(
        &req,
        &lab_facts(&req, Some(vm_from_xml(&unknown, VmState::ShutOff))),
    );
    let i = item(&r, ids::CPU);
    assert_eq!(i.status, Fail);
    assert!(i.message.contains("Zen9000 is unknown"));

    let fallback = unknown.replace("fallback='forbid'", "fallback='allow'");
    let r = run(
        &req,
        &lab_facts(&req, Some(vm_from_xml(&fallback, VmState::ShutOff))),
    );
    assert_eq!(status(&r, ids::CPU), Warn);
}

#[test]
fn cpu_host_mode_rules() {
    let req = req();
    let passthrough = WEB01.replace(
        "<cpu mode='custom' match='exact' check='full'>",
        "<cpu mode='host-passthrough' check='none'>",
    );
    let vm = vm_from_xml(&passthrough, VmState::ShutOff);
    let r = run(&req, &lab_facts(&req, Some(vm.clone())));
    assert_eq!(
        item(&r, ids::CPU).message,
        "host-passthrough: both hosts look like AMD kvm64"
    );

    let mut facts = lab_facts(&req, Some(vm.clone()));
    facts.dest.domcaps = Some(Ok(
        CAPS_I440FX.replace("<vendor>AMD</vendor>", "<vendor>Intel</vendor>")
    ));
    let i = item(&run(&req, &facts), ids::CPU).clone();
    assert_eq!(i.status, Warn);
    assert!(
        i.message.contains("Intel kvm64") && i.message.contains("AMD kvm64"),
        "{}",
        i.message
    );

    let mut facts = lab_facts(&req, Some(vm));
    facts.dest.domcaps = Some(Ok(CAPS_I440FX.replace(
        "<mode name='host-passthrough' supported='yes'>",
        "<mode name='host-passthrough' supported='no'>",
    )));
    assert_eq!(status(&run(&req, &facts), ids::CPU), Fail);
}

// ---- firmware and TPM ----

fn uefi_facts(req: &ValidationRequest) -> Facts {
    let mut vm = vm_from_xml(UEFI, VmState::ShutOff);
    vm.nics.clear();
    let mut facts = lab_facts(req, Some(vm));
    facts.source.domcaps = Some(Ok(CAPS_Q35.to_string()));
    facts.dest.domcaps = Some(Ok(CAPS_Q35.to_string()));
    facts
}

#[test]
fn firmware_rules() {
    let req = ValidationRequest::new("secure01", "sec2", "default");
    let r = run(&req, &uefi_facts(&req));
    let i = item(&r, ids::FIRMWARE);
    assert_eq!(i.status, Pass);
    assert!(i.message.contains("/usr/share/OVMF/OVMF_CODE_4M.ms.fd"));

    let mut facts = uefi_facts(&req);
    set(
        &mut facts,
        Probe::Exists("/usr/share/OVMF/OVMF_CODE_4M.ms.fd".into()),
        Answer::No,
    );
    let i = item(&run(&req, &facts), ids::FIRMWARE).clone();
    assert_eq!(i.status, Fail);
    assert!(
        i.message
            .contains("OVMF_CODE_4M.ms.fd does not exist on beta")
    );
    assert!(i.hint.unwrap().contains("ovmf"));

    let mut facts = uefi_facts(&req);
    set(
        &mut facts,
        Probe::Exists("/usr/share/OVMF/OVMF_VARS_4M.ms.fd".into()),
        Answer::No,
    );
    assert_eq!(status(&run(&req, &facts), ids::FIRMWARE), Warn);

    // Secure loader on a host (alpha's i440fx caps) offering secure='no' only.
    let mut facts = uefi_facts(&req);
    facts.dest.domcaps = Some(Ok(CAPS_I440FX.to_string()));
    let i = item(&run(&req, &facts), ids::FIRMWARE).clone();
    assert_eq!(i.status, Fail);
    assert!(i.message.contains("Secure Boot"), "{}", i.message);

    // Firmware auto-selection.
    let auto = WEB01.replace("<os>", "<os firmware='efi'>");
    let r = run(
        &req,
        &lab_facts(&req, Some(vm_from_xml(&auto, VmState::ShutOff))),
    );
    assert_eq!(status(&r, ids::FIRMWARE), Pass);
    let mut facts = lab_facts(&req, Some(vm_from_xml(&auto, VmState::ShutOff)));
    facts.dest.domcaps = Some(Ok(CAPS_I440FX.replace("<value>efi</value>", "")));
    let i = item(&run(&req, &facts), ids::FIRMWARE).clone();
    assert_eq!(i.status, Fail);
    assert!(i.message.contains("'efi' is not available"));

    assert_eq!(
        item(&run(&req, &web01_facts(&req)), ids::FIRMWARE).message,
        "BIOS: no firmware files needed"
    );
}

#[test]
fn tpm_rules() {
    let mut req = ValidationRequest::new("secure01", "sec2", "default");
    // Default policy refuses: the swtpm state would be lost.
    let r = run(&req, &uefi_facts(&req));
    let i = item(&r, ids::TPM);
    assert_eq!(i.status, Fail);
    assert!(i.message.contains("state lives on alpha"), "{}", i.message);

    // The lab's libvirt offers only passthrough: no swtpm there.
    req.tpm = TpmPolicy::Fresh;
    let i = item(&run(&req, &uefi_facts(&req)), ids::TPM).clone();
    assert_eq!(i.status, Fail);
    assert_eq!(
        i.message,
        "beta cannot emulate a TPM: swtpm is not installed"
    );

    let mut facts = uefi_facts(&req);
    facts.dest.domcaps = Some(Ok(CAPS_Q35.replace(
        "<value>passthrough</value>",
        "<value>passthrough</value><value>emulator</value>",
    )));
    assert_eq!(status(&run(&req, &facts), ids::TPM), Pass);

    // Without backend info in the capabilities, the swtpm probe decides.
    let no_backends = {
        let tpm = CAPS_Q35.find("<tpm ").unwrap();
        let start = CAPS_Q35[tpm..].find("<enum name='backendModel'>").unwrap() + tpm;
        let tpm_end = CAPS_Q35[start..].find("</enum>").unwrap() + start + "</enum>".len();
        format!("{}{}", &CAPS_Q35[..start], &CAPS_Q35[tpm_end..])
    };
    let mut facts = uefi_facts(&req);
    facts.dest.domcaps = Some(Ok(no_backends.clone()));
    assert_eq!(status(&run(&req, &facts), ids::TPM), Pass);
    set(&mut facts, Probe::Program("swtpm".into()), Answer::No);
    assert_eq!(status(&run(&req, &facts), ids::TPM), Fail);

    let pass_xml = UEFI.replace(
        "<backend type='emulator' version='2.0'/>",
        "<backend type='passthrough'><device path='/dev/tpm0'/></backend>",
    );
    let mut facts = lab_facts(&req, Some(vm_from_xml(&pass_xml, VmState::ShutOff)));
    facts.dest.domcaps = Some(Ok(CAPS_Q35.to_string()));
    set(&mut facts, Probe::Exists("/dev/tpm0".into()), Answer::No);
    let i = item(&run(&req, &facts), ids::TPM).clone();
    assert_eq!(i.status, Fail);
    assert!(i.message.contains("/dev/tpm0 does not exist on beta"));

    assert_eq!(
        item(&run(&req, &web01_facts(&req)), ids::TPM).message,
        "the VM has no TPM"
    );
}

#[test]
fn report_serialises_with_ok_flag() {
    let req = ValidationRequest::new("web01", "shared01", "default");
    let mut facts = web01_facts(&req);
    facts.dest.name_taken = true;
    let json = serde_json::to_value(run(&req, &facts)).unwrap();
    assert_eq!(json["ok"], false);
    let items = json["items"].as_array().unwrap();
    let conflict = items.iter().find(|i| i["id"] == "dest_name_free").unwrap();
    assert_eq!(conflict["status"], "fail");
    assert!(
        conflict["hint"]
            .as_str()
            .unwrap()
            .contains("virsh undefine shared01")
    );
}
