//! Hosts, VMs, jobs and history like the lab's, in every connection state.

use crate::model::history::HistoryStats;
use crate::model::*;
use crate::tui::keymap::KeyMap;
use crate::tui::state::AppState;
use crate::tui::theme::Theme;
use ratatui::layout::Rect;
use std::path::PathBuf;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// `libvirt_free`: what libvirt claims, when more than `pool_free` (the
/// filesystem's reserved blocks).
fn info(host: &str, mem_free: u64, pool_free: u64, libvirt_free: Option<u64>) -> HostInfo {
    let mut pool = PoolInfo {
        name: "default".into(),
        active: true,
        capacity_bytes: 50 * GIB,
        allocation_bytes: 50 * GIB - pool_free,
        available_bytes: libvirt_free.unwrap_or(pool_free),
        path: Some("/var/lib/libvirt/images".into()),
        fs_available_bytes: None,
        usable_bytes: 0,
    };
    pool.set_fs_available(Some(pool_free));
    HostInfo {
        hostname: host.into(),
        libvirt_version: "9.0.0".into(),
        qemu_version: "7.2.0".into(),
        cpus: 2,
        memory_total_bytes: 8 * GIB,
        memory_free_bytes: mem_free,
        pools: vec![pool],
    }
}

pub fn hosts() -> Vec<HostView> {
    vec![
        HostView {
            name: "alpha".into(),
            endpoint: "root@127.0.0.1:2222".into(),
            state: ConnState::Up,
            info: Some(info(
                "alpha",
                3 * GIB + 200 * MIB,
                31 * GIB + 400 * MIB,
                None,
            )),
        },
        HostView {
            name: "beta".into(),
            endpoint: "root@127.0.0.2:2222".into(),
            state: ConnState::Up,
            info: Some(info("beta", 5 * GIB, 44 * GIB, Some(46 * GIB + 500 * MIB))),
        },
        HostView {
            name: "gamma".into(),
            endpoint: "root@10.0.0.3:22".into(),
            state: ConnState::HostKeyUnknown {
                fingerprint: "SHA256:n4Jd3Kx1qv0mW2v9cG7bZr0T8pQeXyL5uH6aF1sD2kE".into(),
            },
            info: None,
        },
        HostView {
            name: "delta".into(),
            endpoint: "admin@10.0.0.4:22".into(),
            state: ConnState::Unreachable {
                reason: "connection refused (10.0.0.4:22): is sshd running?".into(),
            },
            info: None,
        },
        HostView {
            name: "epsilon".into(),
            endpoint: "root@[fd00::5]:22".into(),
            state: ConnState::NeedsPassphrase {
                key_path: "/home/op/.ssh/id_ed25519".into(),
            },
            info: None,
        },
        HostView {
            name: "zeta".into(),
            endpoint: "root@10.0.0.6:22".into(),
            state: ConnState::Connecting,
            info: None,
        },
    ]
}

fn disk(target: &str, file: &str, format: &str, alloc: u64, cap: u64) -> DiskInfo {
    DiskInfo {
        target: target.into(),
        device: "disk".into(),
        source: Some(format!("/var/lib/libvirt/images/{file}")),
        format: Some(format.into()),
        readonly: false,
        shareable: false,
        allocation_bytes: alloc,
        capacity_bytes: cap,
    }
}

fn nic(kind: &str, source: &str, mac: &str) -> NicInfo {
    NicInfo {
        kind: kind.into(),
        source: Some(source.into()),
        mac: Some(mac.into()),
        model: Some("virtio".into()),
    }
}

const WEB01_XML: &str = "<domain type='kvm'>
  <name>web01</name>
  <uuid>6f1c2a9e-3b7d-4e2a-9c1f-0a8b7c6d5e41</uuid>
  <memory unit='KiB'>2097152</memory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/web01.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:12:34:01'/>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>";

fn vm(name: &str, state: VmState, vcpus: u32, mem: u64) -> VmInfo {
    VmInfo {
        name: name.into(),
        uuid: format!("00000000-0000-4000-8000-{:0>12}", name.len()),
        state,
        vcpus,
        memory_bytes: mem,
        disks: Vec::new(),
        nics: Vec::new(),
        live_clone: LiveClone {
            possible: false,
            reason: Some("VM is shut off; a cold copy is used".into()),
        },
        xml: format!("<domain type='kvm'>\n  <name>{name}</name>\n</domain>"),
    }
}

pub fn alpha_vms() -> Vec<VmInfo> {
    let mut web01 = vm("web01", VmState::Running, 2, 2 * GIB);
    web01.uuid = "6f1c2a9e-3b7d-4e2a-9c1f-0a8b7c6d5e41".into();
    web01.disks = vec![disk("vda", "web01.qcow2", "qcow2", 300 * MIB, 2 * GIB)];
    web01.nics = vec![nic("network", "default", "52:54:00:12:34:01")];
    web01.live_clone = LiveClone {
        possible: true,
        reason: None,
    };
    web01.xml = WEB01_XML.into();

    let mut archive01 = vm("archive01", VmState::ShutOff, 1, GIB);
    archive01.disks = vec![disk("vda", "archive01.img", "raw", 4 * MIB, GIB)];
    archive01.nics = vec![nic("network", "default", "52:54:00:12:34:02")];

    let mut multi01 = vm("multi01", VmState::ShutOff, 2, 1536 * MIB);
    multi01.disks = vec![
        disk("vda", "multi01.qcow2", "qcow2", 512 * MIB, 4 * GIB),
        disk("vdb", "multi01-data.img", "raw", 64 * MIB, GIB),
    ];
    multi01.nics = vec![
        nic("network", "default", "52:54:00:12:34:03"),
        nic("bridge", "br0", "52:54:00:12:34:04"),
    ];

    let mut shared01 = vm("shared01", VmState::ShutOff, 1, 512 * MIB);
    let mut shared = disk("vdb", "shared.img", "raw", 256 * MIB, 256 * MIB);
    shared.shareable = true;
    shared01.disks = vec![
        disk("vda", "shared01.qcow2", "qcow2", 200 * MIB, GIB),
        shared,
    ];
    shared01.nics = vec![nic("network", "default", "52:54:00:12:34:05")];
    vec![web01, archive01, multi01, shared01]
}

pub fn beta_vms() -> Vec<VmInfo> {
    ["web02", "archive02", "multi02", "shared01"]
        .iter()
        .map(|n| {
            let mut v = vm(n, VmState::ShutOff, 1, GIB);
            v.disks = vec![disk("vda", &format!("{n}.qcow2"), "qcow2", 100 * MIB, GIB)];
            v
        })
        .collect()
}

pub fn jobs() -> Vec<JobView> {
    vec![
        JobView {
            id: 7,
            number: 1,
            kind: crate::model::JobKind::Clone,
            vm: "web01".into(),
            from: "alpha".into(),
            to: "beta".into(),
            phase: JobPhase::Copying,
            disks: vec![DiskProgress {
                target: "vda".into(),
                bytes_done: 135 * MIB,
                bytes_total: 300 * MIB,
            }],
            rate_bytes_per_sec: 12.3 * MIB as f64,
            eta_secs: Some(65),
            message: None,
            queue_position: None,
        },
        JobView {
            id: 8,
            number: 2,
            kind: crate::model::JobKind::Clone,
            vm: "multi01".into(),
            from: "alpha".into(),
            to: "beta".into(),
            phase: JobPhase::Validating,
            disks: Vec::new(),
            rate_bytes_per_sec: 0.0,
            eta_secs: None,
            message: None,
            queue_position: None,
        },
    ]
}

/// A history row of the fixture: times in UTC (see [`empty`]).
pub fn history_entry(
    id: u64,
    vm: &str,
    route: (&str, &str),
    result: HistoryResult,
) -> HistoryEntry {
    HistoryEntry {
        id,
        job: 1_750_000_000_000 + id,
        kind: "clone".into(),
        vm: vm.into(),
        from: route.0.into(),
        to: route.1.into(),
        profile: "default".into(),
        started_ms: 1_750_000_000_000 + id * 600_000,
        ended_ms: None,
        result,
        error: None,
        bytes_moved: 0,
        bytes_stored: 0,
        bytes_skipped: 0,
        rate_bytes_per_sec: None,
        copy_secs: None,
        validation: None,
        log: Vec::new(),
    }
}

pub fn history() -> Vec<HistoryEntry> {
    let mut failed = history_entry(6, "shared01", ("beta", "alpha"), HistoryResult::Failed);
    failed.ended_ms = Some(failed.started_ms + 2_000);
    failed.error = Some("pool default on alpha: 512 MiB free, 1.1 GiB needed".into());
    let mut done = history_entry(5, "archive01", ("alpha", "beta"), HistoryResult::Done);
    done.ended_ms = Some(done.started_ms + 3_000);
    done.bytes_moved = 64 * MIB;
    done.bytes_stored = 64 * MIB;
    done.bytes_skipped = 960 * MIB;
    done.rate_bytes_per_sec = Some((64 * MIB) as f64 / 3.0);
    vec![failed, done]
}

/// Totals as the backend computes them for [`history`] plus older rows.
pub fn history_stats() -> HistoryStats {
    HistoryStats {
        jobs: 12,
        succeeded: 10,
        finished: 12,
        success_rate: Some(10.0 / 12.0),
        bytes_moved: 1300 * MIB,
        average_rate_bytes_per_sec: Some(45.0 * MIB as f64),
        average_duration_secs: Some(65.0),
    }
}

/// An empty state without colour (snapshots compare text only).
pub fn empty(w: u16, h: u16) -> AppState {
    let mut s = AppState::new(
        &KeyMap::default(),
        Theme { color: false },
        Some(PathBuf::from("/home/op/.config/kvm-clone/config.toml")),
    );
    s.area = Rect::new(0, 0, w, h);
    s.utc = true;
    s
}

/// The full fixture, as after the operator dismissed the prompts of gamma
/// (unknown key) and epsilon (passphrase), so none pops up on the next key.
pub fn full(w: u16, h: u16) -> AppState {
    let mut s = empty(w, h);
    s.hosts = hosts();
    s.dismiss_prompt("gamma");
    s.dismiss_prompt("epsilon");
    s.vms.insert("alpha".into(), alpha_vms());
    s.vms.insert("beta".into(), beta_vms());
    s.jobs = jobs();
    s.history = history();
    s.history_stats = Some(history_stats());
    s
}

/// The built-in profiles, as the backend sends them: "default" first.
pub fn profiles() -> Vec<crate::config::profile::ProfileSummary> {
    crate::config::profile::load_profiles(None)
        .unwrap()
        .iter()
        .map(crate::config::profile::ProfileSummary::from)
        .collect()
}

/// multi01 to beta, first disk copied, second under way.
pub fn two_disk_job() -> JobView {
    JobView {
        id: 9,
        number: 3,
        kind: crate::model::JobKind::Clone,
        vm: "multi01".into(),
        from: "alpha".into(),
        to: "beta".into(),
        phase: JobPhase::Copying,
        disks: vec![
            DiskProgress {
                target: "vda".into(),
                bytes_done: 512 * MIB,
                bytes_total: 512 * MIB,
            },
            DiskProgress {
                target: "vdb".into(),
                bytes_done: 25 * MIB,
                bytes_total: 64 * MIB,
            },
        ],
        rate_bytes_per_sec: 85.2 * MIB as f64,
        eta_secs: Some(1),
        message: None,
        queue_position: None,
    }
}

fn check(
    id: &str,
    title: &str,
    status: CheckStatus,
    message: &str,
    hint: Option<&str>,
) -> CheckItem {
    CheckItem {
        id: id.into(),
        title: title.into(),
        status,
        message: message.into(),
        hint: hint.map(String::from),
    }
}

/// What validating web01 → beta as web01-clone could say: all pass but memory.
pub fn checklist_ok() -> Checklist {
    use CheckStatus::*;
    Checklist {
        items: vec![
            check(
                "source_exists",
                "Source VM",
                Pass,
                "web01 exists on alpha (running)",
                None,
            ),
            check(
                "live_clone",
                "Live clone",
                Pass,
                "libvirt 9.0.0, qcow2 disks, no backup job running: copied without downtime",
                None,
            ),
            check(
                "name_valid",
                "New name",
                Pass,
                "web01-clone is a valid domain name",
                None,
            ),
            check(
                "name_free",
                "Name on beta",
                Pass,
                "no domain named web01-clone",
                None,
            ),
            check(
                "volumes_free",
                "Target volumes",
                Pass,
                "/var/lib/libvirt/images/web01-clone.qcow2 does not exist",
                None,
            ),
            check("pool", "Destination pool", Pass, "default is active", None),
            check(
                "space",
                "Free space",
                Pass,
                "pool default on beta: 44 GiB free, 330 MiB needed (300 MiB × 1.1)",
                None,
            ),
            check(
                "memory",
                "Memory",
                Warn,
                "beta would commit 9 GiB of its 8 GiB RAM if all VMs run",
                Some("the clone is defined but not started; stop another VM before starting it"),
            ),
            check(
                "networks",
                "Networks",
                Pass,
                "network default exists on beta",
                None,
            ),
            check(
                "compat",
                "CPU and machine",
                Pass,
                "x86_64, pc-q35-7.2 and host-model are supported by beta",
                None,
            ),
        ],
    }
}

/// The same request failing on a name clash and a missing network.
pub fn checklist_failed() -> Checklist {
    use CheckStatus::*;
    Checklist {
        items: vec![
            check(
                "source_exists",
                "Source VM",
                Pass,
                "web01 exists on alpha (running)",
                None,
            ),
            check(
                "name_free",
                "Name on beta",
                Fail,
                "a domain named web01-clone already exists",
                Some("choose another name, or undefine the old clone on beta first"),
            ),
            check(
                "networks",
                "Networks",
                Fail,
                "network lan0 (NIC 52:54:00:12:34:01) does not exist on beta",
                Some("define and start it on beta (virsh net-define, net-start)"),
            ),
            check(
                "space",
                "Free space",
                Pass,
                "pool default on beta: 44 GiB free",
                None,
            ),
        ],
    }
}
