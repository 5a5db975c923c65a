//! Pre-flight validation of a clone alpha → beta against the lab's real
//! libvirtd and sshd: the lab's web01 passes; a name conflict, a missing VM,
//! a missing network and insufficient space (an unmeetable margin, and a
//! real 16 MiB tmpfs pool) fail with their messages; invalid names fail
//! without reaching the hosts. After each test beta is as it was.
//!
//! Run with KVM_CLONE_LAB_DIR=/work/main/target/lab and
//! KVM_CLONE_LAB_SCRIPT=/work/main/tests/lab/lab from a worktree.

mod common;

use kvm_clone::jobs::preflight::{CheckStatus, ValidationReport, ValidationRequest, ids, validate};
use kvm_clone::libvirt::HostWorker;
use kvm_clone::transport::{AgentSource, Session, SessionConfig};
use std::collections::BTreeSet;
use std::process::Command;
use tokio::sync::{Mutex, mpsc};

/// Tests here share alpha/beta objects (the tmpfs pool shows up in beta's
/// pool list): run them one at a time.
static SERIAL: Mutex<()> = Mutex::const_new(());

struct Hosts {
    alpha: HostWorker,
    beta: HostWorker,
    beta_ssh: Session,
}

async fn hosts() -> Hosts {
    let lab = common::lab();
    let (tx, _rx) = mpsc::unbounded_channel();
    let alpha = HostWorker::spawn("alpha", &lab.socket_uri("alpha"), tx.clone())
        .await
        .unwrap();
    let beta = HostWorker::spawn("beta", &lab.socket_uri("beta"), tx)
        .await
        .unwrap();
    Hosts {
        alpha,
        beta,
        beta_ssh: ssh("beta").await,
    }
}

async fn ssh(host: &str) -> Session {
    let lab = common::lab();
    let mut cfg = SessionConfig::new(common::Lab::address(host), 2222, "root");
    cfg.identity_files = vec![lab.key()];
    cfg.known_hosts = vec![lab.known_hosts()];
    cfg.agent = AgentSource::Disabled;
    Session::connect(&cfg, None).await.unwrap()
}

/// What validation could conceivably change on beta: its domains, the
/// default pool's volumes, and the image files themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BetaState {
    domains: BTreeSet<String>,
    volumes: BTreeSet<String>,
    files: BTreeSet<String>,
}

fn beta_state() -> BetaState {
    let lab = common::lab();
    let volumes = lab
        .virsh("beta", &["vol-list", "default"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect();
    let files = std::fs::read_dir(lab.dir.join("hosts/beta/lib/images"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    BetaState {
        domains: lab.domains("beta").into_iter().collect(),
        volumes,
        files,
    }
}

/// Beta is unchanged as far as this test is concerned. Other helpers' tests
/// may add or remove their own objects on the shared lab meanwhile; only a
/// difference touching this test's names (or a lab VM's) fails.
fn assert_beta_unchanged(before: &BetaState, after: &BetaState, new_name: &str) {
    let lab_objects = ["web02", "archive02", "multi02", "shared01"];
    let ours = |n: &str| {
        n.contains(new_name)
            || n.contains("validate")
            || lab_objects.iter().any(|o| n.starts_with(o))
    };
    for (what, b, a) in [
        ("domains", &before.domains, &after.domains),
        ("volumes", &before.volumes, &after.volumes),
        ("files", &before.files, &after.files),
    ] {
        let diff: Vec<&String> = b.symmetric_difference(a).collect();
        let relevant: Vec<&&String> = diff.iter().filter(|n| ours(n)).collect();
        assert!(relevant.is_empty(), "beta {what} changed: {relevant:?}");
        if !diff.is_empty() {
            eprintln!("beta {what}: concurrent changes by other tests ignored: {diff:?}");
        }
    }
}

async fn run(h: &Hosts, req: &ValidationRequest) -> ValidationReport {
    // Other helpers' tests clone web01 live on the shared lab; while their
    // backup job runs, web01 rightly cannot be cloned live. Wait for it to
    // end (bounded) rather than report their job as our failure.
    let mut attempt = 0;
    loop {
        let before = beta_state();
        let report = validate(&h.alpha, &h.beta, &h.beta_ssh, req).await.unwrap();
        eprintln!("{}", report.render_text());
        assert_beta_unchanged(&before, &beta_state(), &req.new_name);
        let busy = report
            .item(ids::SOURCE_STATE)
            .is_some_and(|i| i.status == CheckStatus::Fail && i.message.contains("job is"));
        if !busy || attempt == 60 {
            return report;
        }
        eprintln!(
            "{} has a job running (another test?); validating again",
            req.vm
        );
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        attempt += 1;
    }
}

fn item<'a>(r: &'a ValidationReport, id: &str) -> &'a kvm_clone::jobs::preflight::CheckItem {
    r.item(id)
        .unwrap_or_else(|| panic!("no {id} in\n{}", r.render_text()))
}

#[tokio::test]
async fn web01_clone_to_beta_passes_live() {
    let _serial = SERIAL.lock().await;
    let h = hosts().await;
    let req = ValidationRequest::new("web01", "web01-clone", "default");
    let r = run(&h, &req).await;
    assert!(r.ok(), "{}", r.render_text());
    let state = item(&r, ids::SOURCE_STATE);
    assert_eq!(state.status, CheckStatus::Pass);
    assert!(state.message.contains("live clone"), "{}", state.message);
    // Every check ran.
    let got: Vec<&str> = r.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(got, ids::ALL);
    let paths = item(&r, ids::DEST_PATHS_FREE);
    assert!(
        paths
            .message
            .contains("/var/lib/libvirt/images/web01-clone-vda.qcow2"),
        "{}",
        paths.message
    );
    // The real free space came from the filesystem and is reported.
    assert!(item(&r, ids::DEST_SPACE).message.contains("free"));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["ok"], true);
}

#[tokio::test]
async fn name_conflict_fails_clearly() {
    let _serial = SERIAL.lock().await;
    let h = hosts().await;
    let req = ValidationRequest::new("web01", "shared01", "default");
    let r = run(&h, &req).await;
    assert!(!r.ok());
    let i = item(&r, ids::DEST_NAME_FREE);
    assert_eq!(i.status, CheckStatus::Fail);
    assert_eq!(
        i.message,
        "a domain named \"shared01\" already exists on beta"
    );
    assert!(
        i.hint
            .as_deref()
            .unwrap()
            .contains("virsh undefine shared01")
    );
    // Only that check fails.
    let fails: Vec<&str> = r.failures().map(|i| i.id.as_str()).collect();
    assert_eq!(fails, [ids::DEST_NAME_FREE], "{}", r.render_text());
}

#[tokio::test]
async fn missing_vm_fails() {
    let _serial = SERIAL.lock().await;
    let h = hosts().await;
    let req = ValidationRequest::new("validate-no-such-vm", "validate-x", "default");
    let r = run(&h, &req).await;
    assert!(!r.ok());
    let i = item(&r, ids::SOURCE_VM_EXISTS);
    assert_eq!(i.status, CheckStatus::Fail);
    assert_eq!(
        i.message,
        "there is no VM named \"validate-no-such-vm\" on alpha"
    );
}

/// A domain defined on alpha for one test, undefined on drop.
struct TestVm {
    name: &'static str,
}

impl TestVm {
    fn define(name: &'static str, xml: &str) -> TestVm {
        let lab = common::lab();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("domain.xml");
        std::fs::write(&file, xml).unwrap();
        // A leftover from a killed run would make define update it: start clean.
        let _ = virsh_quiet("alpha", &["undefine", "--nvram", name]);
        lab.virsh("alpha", &["define", file.to_str().unwrap()]);
        TestVm { name }
    }
}

impl Drop for TestVm {
    fn drop(&mut self) {
        let ok = virsh_quiet("alpha", &["undefine", "--nvram", self.name]);
        if !ok {
            eprintln!("could not undefine {} on alpha", self.name);
        }
    }
}

fn virsh_quiet(host: &str, args: &[&str]) -> bool {
    Command::new("virsh")
        .arg("-q")
        .arg("-c")
        .arg(common::lab().socket_uri(host))
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn missing_network_fails_naming_it() {
    let _serial = SERIAL.lock().await;
    let h = hosts().await;
    let xml = "<domain type='qemu'>
  <name>validate-netvm</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='network'>
      <mac address='52:54:00:0a:0b:0c'/>
      <source network='validate-missing-net'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>";
    let _vm = TestVm::define("validate-netvm", xml);
    let req = ValidationRequest::new("validate-netvm", "validate-netvm-clone", "default");
    let r = run(&h, &req).await;
    assert!(!r.ok());
    let i = item(&r, ids::NETWORKS);
    assert_eq!(i.status, CheckStatus::Fail);
    assert_eq!(
        i.message,
        "NIC 1 (52:54:00:0a:0b:0c) uses network \"validate-missing-net\", which does not exist on beta"
    );
    let fails: Vec<&str> = r.failures().map(|i| i.id.as_str()).collect();
    assert_eq!(fails, [ids::NETWORKS], "{}", r.render_text());
    // No disks: nothing to copy, nothing to plan but the check still ran.
    assert_eq!(item(&r, ids::SOURCE_DISKS).message, "no disk to copy");
}

#[tokio::test]
async fn unmeetable_margin_fails_on_space() {
    let _serial = SERIAL.lock().await;
    let h = hosts().await;
    let mut req = ValidationRequest::new("web01", "validate-space", "default");
    req.space_margin = 1e6;
    let r = run(&h, &req).await;
    assert!(!r.ok());
    let i = item(&r, ids::DEST_SPACE);
    assert_eq!(i.status, CheckStatus::Fail);
    assert!(i.message.contains("× margin 1000000"), "{}", i.message);
    let fails: Vec<&str> = r.failures().map(|i| i.id.as_str()).collect();
    assert_eq!(fails, [ids::DEST_SPACE]);
}

/// A 16 MiB tmpfs mounted inside beta's namespace, defined as pool
/// `validate-tmpfs`; removed on drop (pool, mount, directory).
struct TmpfsPool {
    dir: &'static str,
    name: &'static str,
}

impl TmpfsPool {
    async fn create(ssh: &Session) -> TmpfsPool {
        let pool = TmpfsPool {
            dir: "/var/lib/libvirt/validate-tmpfs",
            name: "validate-tmpfs",
        };
        pool.cleanup_sync();
        let out = ssh
            .exec(
                "mkdir -p /var/lib/libvirt/validate-tmpfs && \
                 mount -t tmpfs -o size=16m validate-tmpfs /var/lib/libvirt/validate-tmpfs",
            )
            .await
            .unwrap();
        assert!(out.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let lab = common::lab();
        lab.virsh(
            "beta",
            &["pool-define-as", pool.name, "dir", "--target", pool.dir],
        );
        lab.virsh("beta", &["pool-start", pool.name]);
        pool
    }

    /// Synchronous, so Drop can run it: virsh directly, the mount through ssh(1).
    fn cleanup_sync(&self) {
        let _ = virsh_quiet("beta", &["pool-destroy", self.name]);
        let _ = virsh_quiet("beta", &["pool-undefine", self.name]);
        let lab = common::lab();
        let status = Command::new("ssh")
            .args(["-i", lab.key().to_str().unwrap()])
            .args([
                "-o",
                &format!("UserKnownHostsFile={}", lab.known_hosts().display()),
                "-o",
                "BatchMode=yes",
                "-p",
                "2222",
                "root@127.0.0.2",
            ])
            .arg(format!(
                "if mountpoint -q {0}; then umount {0}; fi; rmdir {0} 2>/dev/null; true",
                self.dir
            ))
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("could not unmount {} on beta", self.dir);
        }
    }
}

impl Drop for TmpfsPool {
    fn drop(&mut self) {
        self.cleanup_sync();
    }
}

#[tokio::test]
async fn small_pool_fails_on_space() {
    let _serial = SERIAL.lock().await;
    let h = hosts().await;
    let pool = TmpfsPool::create(&h.beta_ssh).await;
    let req = ValidationRequest::new("web01", "validate-small", pool.name);
    let r = run(&h, &req).await;
    assert!(!r.ok());
    let i = item(&r, ids::DEST_SPACE);
    assert_eq!(i.status, CheckStatus::Fail, "{}", r.render_text());
    assert!(
        i.message
            .starts_with("pool validate-tmpfs on beta has 16 MiB free; the copy needs about"),
        "{}",
        i.message
    );
    let pool_item = item(&r, ids::DEST_POOL);
    assert_eq!(pool_item.status, CheckStatus::Pass);
    assert!(
        pool_item
            .message
            .contains("/var/lib/libvirt/validate-tmpfs")
    );
    let paths = item(&r, ids::DEST_PATHS_FREE);
    assert!(
        paths
            .message
            .contains("/var/lib/libvirt/validate-tmpfs/validate-small-vda.qcow2")
    );
    drop(pool);
    let pools = common::lab().virsh("beta", &["pool-list", "--all", "--name"]);
    assert!(
        !pools.contains("validate-tmpfs"),
        "pool left behind: {pools}"
    );
}

#[tokio::test]
async fn missing_pool_fails() {
    let _serial = SERIAL.lock().await;
    let h = hosts().await;
    let req = ValidationRequest::new("web01", "validate-nopool", "validate-no-pool");
    let r = run(&h, &req).await;
    let i = item(&r, ids::DEST_POOL);
    assert_eq!(i.status, CheckStatus::Fail);
    assert_eq!(
        i.message,
        "there is no storage pool named \"validate-no-pool\" on beta"
    );
    assert!(r.item(ids::DEST_SPACE).is_none());
}

#[tokio::test]
async fn invalid_names_fail_without_touching_hosts() {
    let _serial = SERIAL.lock().await;
    let h = hosts().await;
    // With the SSH session closed, any probe would error out: the report
    // coming back proves validation stopped before the hosts.
    h.beta_ssh.disconnect().await;
    let long = "a".repeat(65);
    for (name, why) in [
        ("a/b", "path separator"),
        ("..", "\"..\""),
        (long.as_str(), "65 characters"),
        ("", "empty"),
    ] {
        let req = ValidationRequest::new("web01", name, "default");
        let r = validate(&h.alpha, &h.beta, &h.beta_ssh, &req)
            .await
            .unwrap();
        assert!(!r.ok());
        let ids_seen: Vec<&str> = r.items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids_seen, [ids::NAME_VALID, ids::OPTIONS_VALID], "{name:?}");
        let i = item(&r, ids::NAME_VALID);
        assert_eq!(i.status, CheckStatus::Fail);
        assert!(i.message.contains(why), "{name:?}: {}", i.message);
    }
}
