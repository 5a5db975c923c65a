//! The libvirt layer against the lab hosts' real libvirtd: inventory versus
//! virsh, the tunnel, lifecycle events and dead-connection detection.

use kvm_clone::libvirt::tunnel::{Connector, TunnelStream};
use kvm_clone::libvirt::vm_cache::Fresh;
use kvm_clone::libvirt::{
    HostEvent, HostEventKind, HostWorker, LibvirtError, LifecycleKind, Tunnel,
};
use kvm_clone::model::VmInfo;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio::sync::mpsc;

/// Upper bound for anything to happen; a failure bound, not a timing check.
const PATIENCE: Duration = Duration::from_secs(90);

mod common;

fn lab_dir() -> &'static Path {
    &common::lab().dir
}

fn socket(host: &str) -> PathBuf {
    lab_dir().join("hosts").join(host).join("run/libvirt-sock")
}

fn direct_uri(host: &str) -> String {
    format!("qemu+unix:///system?socket={}", socket(host).display())
}

fn virsh(uri: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new("virsh")
        .arg("-c")
        .arg(uri)
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Names and states as virsh sees them (states in our labels).
fn virsh_snapshot(uri: &str) -> BTreeMap<String, String> {
    let names = virsh(uri, &["list", "--all", "--name"]).unwrap();
    names
        .lines()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .filter_map(|name| {
            // A domain undefined meanwhile (another helper's test) drops out.
            let state = virsh(uri, &["domstate", name]).ok()?;
            let label = match state.trim() {
                "running" | "idle" => "running",
                "shut off" => "shut off",
                "paused" => "paused",
                "crashed" => "crashed",
                "pmsuspended" => "suspended",
                _ => "other",
            };
            Some((name.to_string(), label.to_string()))
        })
        .collect()
}

/// The inventory must agree with virsh on every domain that virsh saw in
/// the same state before and after it (other tests may add or remove
/// their own domains concurrently), and list nothing virsh never saw.
async fn assert_inventory_matches_virsh(worker: &HostWorker, uri: &str) -> Vec<VmInfo> {
    let before = virsh_snapshot(uri);
    let (_, vms) = worker.inventory(Fresh::All).await.unwrap();
    let after = virsh_snapshot(uri);
    let ours: BTreeMap<&str, &str> = vms
        .iter()
        .map(|v| (v.name.as_str(), v.state.label()))
        .collect();
    for (name, state) in &before {
        if after.get(name) == Some(state) {
            assert_eq!(ours.get(name.as_str()), Some(&state.as_str()), "{name}");
        }
    }
    for name in ours.keys() {
        assert!(
            before.contains_key(*name) || after.contains_key(*name),
            "{name} listed but virsh never saw it"
        );
    }
    vms
}

fn vm<'a>(vms: &'a [VmInfo], name: &str) -> &'a VmInfo {
    vms.iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("{name} missing"))
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<HostEvent>) -> HostEvent {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("no event within the failure bound")
        .expect("event channel closed")
}

// ---- tests ----

#[tokio::test(flavor = "multi_thread")]
async fn alpha_inventory_matches_virsh_and_reads_disks() {
    let uri = direct_uri("alpha");
    let (tx, _rx) = mpsc::unbounded_channel();
    let worker = HostWorker::spawn("alpha", &uri, tx).await.unwrap();
    let vms = assert_inventory_matches_virsh(&worker, &uri).await;

    let web01 = vm(&vms, "web01");
    assert_eq!(web01.disks.len(), 1);
    let vda = &web01.disks[0];
    assert_eq!(vda.target, "vda");
    assert_eq!(vda.format.as_deref(), Some("qcow2"));
    assert_eq!(
        vda.source.as_deref(),
        Some("/var/lib/libvirt/images/web01.qcow2")
    );
    assert_eq!(vda.capacity_bytes, 2 << 30);
    assert!(vda.allocation_bytes > 0, "{vda:?}");
    assert!(vda.allocation_bytes < 1 << 30, "{vda:?}");
    assert_eq!(web01.nics.len(), 1);
    assert_eq!(web01.nics[0].kind, "user");
    assert!(web01.live_clone.possible, "{:?}", web01.live_clone);
    let uuid = virsh(&uri, &["domuuid", "web01"]).unwrap();
    assert_eq!(web01.uuid, uuid.trim());

    // A shut-off VM: sizes come from the image, clone is offline.
    let archive = vm(&vms, "archive01");
    assert_eq!(archive.disks[0].capacity_bytes, 1 << 30);
    assert!(archive.disks[0].allocation_bytes < 1 << 30);
    assert!(!archive.live_clone.possible);
    assert_eq!(
        archive.live_clone.reason.as_deref(),
        Some("shut off: offline copy")
    );

    let multi = vm(&vms, "multi01");
    assert_eq!(multi.disks.len(), 2);
    assert_eq!(multi.nics.len(), 2);
    assert_ne!(multi.nics[0].mac, multi.nics[1].mac);
}

#[tokio::test(flavor = "multi_thread")]
async fn beta_inventory_and_host_facts_match_virsh() {
    let uri = direct_uri("beta");
    let (tx, _rx) = mpsc::unbounded_channel();
    let worker = HostWorker::spawn("beta", &uri, tx).await.unwrap();
    assert_inventory_matches_virsh(&worker, &uri).await;

    let (host, _) = worker.inventory(Fresh::All).await.unwrap();
    let version = virsh(&uri, &["version", "--daemon"]).unwrap();
    assert!(
        version.contains(&format!("Running against daemon: {}", host.libvirt_version)),
        "{version} vs {host:?}"
    );
    assert!(
        version.contains(&format!("Running hypervisor: QEMU {}", host.qemu_version)),
        "{version} vs {host:?}"
    );
    assert_eq!(host.hostname, virsh(&uri, &["hostname"]).unwrap().trim());
    assert!(host.cpus > 0);
    assert!(host.memory_free_bytes > 0 && host.memory_free_bytes <= host.memory_total_bytes);
    let pools: BTreeSet<String> = virsh(&uri, &["pool-list", "--all", "--name"])
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let ours: BTreeSet<String> = host.pools.iter().map(|p| p.name.clone()).collect();
    assert_eq!(ours, pools);
    let default = host.pools.iter().find(|p| p.name == "default").unwrap();
    assert!(default.active);
    assert!(default.capacity_bytes >= default.allocation_bytes);
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_typed() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let missing = format!(
        "qemu+unix:///system?socket={}",
        lab_dir().join("no-such.sock").display()
    );
    match HostWorker::spawn("nowhere", &missing, tx.clone()).await {
        Err(LibvirtError::Open { host, .. }) => assert_eq!(host, "nowhere"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("opened a missing socket"),
    }

    let worker = HostWorker::spawn("alpha", &direct_uri("alpha"), tx)
        .await
        .unwrap();
    let err = worker
        .domain_xml("libvirt-no-such-domain")
        .await
        .unwrap_err();
    assert!(matches!(err, LibvirtError::Call { .. }), "{err}");
    assert!(!err.is_disconnect());
    // The connection survives a failed call.
    worker.set_keepalive(10, 2).await.unwrap();
    let xml = worker.domain_xml("web01").await.unwrap();
    assert!(xml.contains("<name>web01</name>"));
}

#[test]
fn worker_is_shareable_across_tasks() {
    fn check<T: Send + Sync + 'static>() {}
    check::<HostWorker>();
    check::<Tunnel>();
    check::<LibvirtError>();
}

fn unix_connector(path: PathBuf) -> Connector {
    Box::new(move || {
        let path = path.clone();
        Box::pin(async move {
            let stream = tokio::net::UnixStream::connect(path).await?;
            Ok(Box::new(stream) as TunnelStream)
        })
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn worker_through_tunnel_lists_and_notices_the_tunnel_dying() {
    let tunnel = Tunnel::start(unix_connector(socket("alpha"))).unwrap();
    let uri = tunnel.uri("qemu:///system").unwrap();
    assert!(uri.starts_with("qemu+unix:///system?socket="), "{uri}");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let worker = HostWorker::spawn("alpha", &uri, tx).await.unwrap();
    assert!(worker.has_events());
    let vms = assert_inventory_matches_virsh(&worker, &direct_uri("alpha")).await;
    assert_eq!(vm(&vms, "web01").disks[0].capacity_bytes, 2 << 30);
    assert!(!worker.is_closed());

    drop(tunnel);
    // libvirt sees EOF on the socket: a Closed event, then typed errors.
    loop {
        let ev = next_event(&mut rx).await;
        if let HostEventKind::Closed { .. } = ev.kind {
            assert_eq!(ev.host, "alpha");
            break;
        }
    }
    assert!(worker.is_closed());
    let err = worker.inventory(Fresh::All).await.unwrap_err();
    assert!(err.is_disconnect(), "{err}");
}

/// Destroys and undefines the test VM however the test ends.
struct TestVm {
    uri: String,
    name: String,
}

impl Drop for TestVm {
    fn drop(&mut self) {
        let _ = virsh(&self.uri, &["destroy", &self.name]);
        let _ = virsh(&self.uri, &["undefine", &self.name]);
    }
}

fn kvm_usable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_events_arrive() {
    let uri = direct_uri("alpha");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let worker = HostWorker::spawn("alpha", &uri, tx).await.unwrap();
    assert!(worker.has_events());

    let name = format!("libvirt-test-{}", std::process::id());
    let vm = TestVm {
        uri: uri.clone(),
        name: name.clone(),
    };
    let kind = if kvm_usable() { "kvm" } else { "qemu" };
    // Like the lab VMs, without disks or NICs: it idles in the BIOS.
    let xml = format!(
        "<domain type='{kind}'>
  <name>{name}</name>
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <serial type='pty'><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vm.xml");
    std::fs::write(&file, xml).unwrap();
    virsh(&uri, &["define", file.to_str().unwrap()]).unwrap();
    virsh(&uri, &["start", &name]).unwrap();

    let mut seen = Vec::new();
    while !seen.contains(&LifecycleKind::Started) {
        let ev = next_event(&mut rx).await;
        assert_eq!(ev.host, "alpha");
        match ev.kind {
            HostEventKind::Lifecycle { domain, event } if domain == name => seen.push(event),
            HostEventKind::Lifecycle { .. } => {}
            HostEventKind::Closed { reason } => panic!("connection closed: {reason:?}"),
        }
    }
    assert_eq!(seen.first(), Some(&LifecycleKind::Defined), "{seen:?}");

    virsh(&uri, &["destroy", &name]).unwrap();
    let stopped = HostEventKind::Lifecycle {
        domain: name.clone(),
        event: LifecycleKind::Stopped,
    };
    while next_event(&mut rx).await.kind != stopped {}
    drop(vm);
}

/// Issue 19 (fleet scale): a shut-off VM read once is not read again
/// until an event names it, while a new one is read at once and an
/// undefined one drops out; a full read sees everything afresh.
#[tokio::test(flavor = "multi_thread")]
async fn shut_off_vms_are_read_again_only_when_named() {
    let uri = direct_uri("beta");
    let (tx, _rx) = mpsc::unbounded_channel();
    let worker = HostWorker::spawn("beta", &uri, tx).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        format!("t-cache-a-{}", std::process::id()),
        format!("t-cache-b-{}", std::process::id()),
    );
    // Defined again under its UUID: the same domain, changed.
    let define = |name: &str, mib: u32| {
        let xml = dir.path().join(format!("{name}.xml"));
        let uuid = virsh(&uri, &["domuuid", name])
            .map(|u| format!("<uuid>{}</uuid>", u.trim()))
            .unwrap_or_default();
        std::fs::write(
            &xml,
            format!(
                "<domain type='qemu'><name>{name}</name>{uuid}<memory unit='MiB'>{mib}</memory><vcpu>1</vcpu>\
                 <os><type arch='x86_64' machine='pc'>hvm</type></os></domain>"
            ),
        )
        .unwrap();
        virsh(&uri, &["define", xml.to_str().unwrap()]).unwrap();
    };
    struct Undefine(String, Vec<String>);
    impl Drop for Undefine {
        fn drop(&mut self) {
            for n in &self.1 {
                let _ = virsh(&self.0, &["undefine", n]);
            }
        }
    }
    let _g = Undefine(uri.clone(), vec![a.clone(), b.clone()]);
    let mib = |vms: &[VmInfo], name: &str| vm(vms, name).memory_bytes >> 20;

    define(&a, 64);
    let (_, vms) = worker.inventory(Fresh::All).await.unwrap();
    assert_eq!(mib(&vms, &a), 64);

    // Changed behind the cache's back: not read again without a reason.
    define(&a, 96);
    define(&b, 32);
    let (_, vms) = worker.inventory(Fresh::none()).await.unwrap();
    assert_eq!(mib(&vms, &a), 64, "an unnamed shut-off VM was read again");
    assert_eq!(mib(&vms, &b), 32, "a new VM is read at once");

    // Named by an event: read again.
    let mut named = Fresh::none();
    named.add(a.clone());
    let (_, vms) = worker.inventory(named).await.unwrap();
    assert_eq!(mib(&vms, &a), 96);

    // Undefined: gone from the next read, whatever it reads.
    virsh(&uri, &["undefine", &b]).unwrap();
    let (_, vms) = worker.inventory(Fresh::none()).await.unwrap();
    assert!(!vms.iter().any(|v| v.name == b));
    let (_, vms) = worker.inventory(Fresh::All).await.unwrap();
    assert_eq!(mib(&vms, &a), 96);
}
