//! Live source against the lab: a pull-mode backup of alpha's running
//! web01, read over NBD through the SSH session. A backup does not modify
//! the VM; every test still ends the job in a guard, even when it fails.
//!
//! Run with KVM_CLONE_LAB_DIR=/work/main/target/lab
//! KVM_CLONE_LAB_SCRIPT=/work/main/tests/lab/lab from a worktree.

mod remote_util;

use kvm_clone::nbd::extents;
use kvm_clone::remote::backup::{self, PullBackup};
use kvm_clone::remote::{RemoteError, RunDir, SocketTransport};
use remote_util::*;
use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard};

const MIB: u64 = 1024 * 1024;
const VM: &str = "web01";

/// One backup job per domain at a time: the tests of this file take turns.
static ONE_JOB: Mutex<()> = Mutex::const_new(());

/// Ends any backup job on web01 and removes this test's scratch files and
/// run directories, synchronously, whatever happened in the test.
struct JobGuard {
    tag: String,
    _dirs: RunDirGuard,
}

impl JobGuard {
    fn new(tag: &str) -> Self {
        JobGuard {
            tag: tag.to_string(),
            _dirs: RunDirGuard {
                host: "alpha",
                tag: tag.to_string(),
            },
        }
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        let script = format!(
            "if virsh -q domjobinfo {VM} | grep -q Backup; then virsh domjobabort {VM}; fi; \
             rm -f -- {IMAGES}/kvm-clone.{}.*; virsh -q pool-refresh default >/dev/null; exit 0",
            self.tag
        );
        let out = ssh_sync("alpha", &script);
        if !out.status.success() {
            eprintln!(
                "job cleanup failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

fn job_type() -> String {
    lab()
        .virsh("alpha", &["domjobinfo", VM])
        .lines()
        .find_map(|l| l.strip_prefix("Job type:").map(|t| t.trim().to_string()))
        .unwrap_or_default()
}

fn state() -> String {
    lab().virsh("alpha", &["domstate", VM]).trim().to_string()
}

fn inactive_xml() -> String {
    lab().virsh("alpha", &["dumpxml", "--inactive", VM])
}

fn checkpoints() -> String {
    lab()
        .virsh("alpha", &["checkpoint-list", "--name", VM])
        .trim()
        .to_string()
}

async fn scratch_left(s: &kvm_clone::transport::Session, tag: &str) -> bool {
    sh_str(
        s,
        &format!("ls {IMAGES} | grep -c 'kvm-clone.{tag}' || true"),
    )
    .await
    .trim()
        != "0"
}

async fn lock() -> MutexGuard<'static, ()> {
    ONE_JOB.lock().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_backup_of_running_vm_reads_data_and_ends_clean() {
    let _one = lock().await;
    let s = session("alpha").await;
    let (_tunnel, worker) = worker(&s, "alpha").await;
    let t = format!("remote-test-{}", tag());
    let _guard = JobGuard::new(&t);
    assert_eq!(state(), "running", "lab VM web01 must run");
    assert_eq!(job_type(), "None", "web01 already has a job");
    let before = inactive_xml();
    let blk = lab().virsh("alpha", &["domblkinfo", VM, "vda"]);
    let field = |name: &str| -> u64 {
        blk.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (capacity, allocation) = (field("Capacity:"), field("Allocation:"));

    let dir = RunDir::create(s.clone(), &t).await.unwrap();
    let expected_socket = PullBackup::socket_for(&dir).unwrap();
    let b = PullBackup::begin(&dir, worker.clone(), VM, &["vda"], "default", &t)
        .await
        .unwrap();
    assert_eq!(b.socket(), &expected_socket);
    assert_eq!(job_type(), "Unbounded");
    assert_eq!(state(), "running");
    let disk = b.disk("vda").unwrap().clone();
    assert_eq!(disk.export_name, "vda");
    assert_eq!(
        disk.scratch.as_str(),
        format!("{IMAGES}/kvm-clone.{t}.vda.scratch")
    );
    assert!(matches!(
        b.connect("vdb", SocketTransport::Auto).await,
        Err(RemoteError::Backup { .. })
    ));

    // Both ways to the socket; the map and the bytes.
    let c1 = b
        .connect("vda", SocketTransport::Streamlocal)
        .await
        .unwrap();
    let c2 = b.connect("vda", SocketTransport::NcExec).await.unwrap();
    assert_eq!(c1.size(), capacity);
    assert!(c1.info().flags.read_only());
    let map = extents(&c1, 0, c1.size()).await.unwrap();
    let data: u64 = map
        .iter()
        .filter(|e| !e.kind.reads_as_zero())
        .map(|e| e.length)
        .sum();
    // qcow2 allocation also counts metadata; data is a little below it.
    assert!(
        data <= allocation && data >= allocation * 8 / 10,
        "data {data} vs allocation {allocation}"
    );
    eprintln!("web01 vda: {data} bytes of data, allocation {allocation}, capacity {capacity}");
    assert!(data < capacity / 2, "sparse disk reported as full: {data}");
    let first = map.iter().find(|e| !e.kind.reads_as_zero()).unwrap();
    let mut read = 0u64;
    let mut off = first.offset;
    while read < 4 * MIB && off < first.end() {
        let len = (MIB).min(first.end() - off) as u32;
        let (a, bb) = tokio::join!(c1.read(off, len), c2.read(off, len));
        assert_eq!(a.unwrap(), bb.unwrap(), "two connections disagree at {off}");
        read += len as u64;
        off += len as u64;
    }
    assert!(read >= MIB.min(first.length));
    // The backup's view equals the image's guest view where the guest is not
    // writing (the boot sector area).
    let head = c1.read(0, 64 * 1024).await.unwrap();
    let file = format!("{IMAGES}/web01.qcow2");
    assert_eq!(
        head,
        qemu_io_read(&s, "qcow2", &file, 0, 64 * 1024, true).await
    );
    // A hole reads as zeros.
    if let Some(hole) = map
        .iter()
        .find(|e| e.kind.reads_as_zero() && e.length >= 65536)
    {
        let z = c1.read(hole.offset, 65536).await.unwrap();
        assert!(z.iter().all(|&x| x == 0));
    }
    c1.close().await.unwrap();
    c2.close().await.unwrap();

    b.end().await.unwrap();
    assert_eq!(job_type(), "None");
    assert_eq!(checkpoints(), "");
    assert!(!scratch_left(&s, &t).await, "scratch file left");
    assert_eq!(state(), "running");
    assert_eq!(inactive_xml(), before, "web01's definition changed");
    assert!(
        !sh_str(&s, &format!("ls {}", dir.path()))
            .await
            .contains("backup"),
        "socket directory left"
    );
    dir.remove().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_backup_is_recovered_from_the_journal_facts() {
    let _one = lock().await;
    let s = session("alpha").await;
    let (_tunnel, worker) = worker(&s, "alpha").await;
    let t = format!("remote-test-{}", tag());
    let _guard = JobGuard::new(&t);
    let dir = RunDir::create(s.clone(), &t).await.unwrap();
    let b = PullBackup::begin(&dir, worker.clone(), VM, &["vda"], "default", &t)
        .await
        .unwrap();
    let socket = b.socket().clone();
    // The app dies: no end(), no drop.
    std::mem::forget(b);
    assert_eq!(job_type(), "Unbounded");
    // A job with another socket is left alone.
    let other = kvm_clone::remote::RemotePath::new("/run/not-ours.sock").unwrap();
    assert!(
        !backup::recover(&s, &worker, VM, &other, "default", &t)
            .await
            .unwrap()
    );
    assert_eq!(job_type(), "Unbounded");
    // With the journal's facts, it is ended and the scratch file goes.
    assert!(
        backup::recover(&s, &worker, VM, &socket, "default", &t)
            .await
            .unwrap()
    );
    assert_eq!(job_type(), "None");
    assert!(!scratch_left(&s, &t).await);
    assert_eq!(state(), "running");
    // Nothing left to do the second time.
    assert!(
        !backup::recover(&s, &worker, VM, &socket, "default", &t)
            .await
            .unwrap()
    );
    dir.remove().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_backup_is_ended_and_bad_requests_are_refused() {
    let _one = lock().await;
    let s = session("alpha").await;
    let (_tunnel, worker) = worker(&s, "alpha").await;
    let t = format!("remote-test-{}", tag());
    let _guard = JobGuard::new(&t);
    let dir = RunDir::create(s.clone(), &t).await.unwrap();
    // Refusals before anything starts.
    for (disks, vm) in [
        (&["vdz"][..], VM),
        (&[][..], VM),
        (&["vda"][..], "archive01"),
    ] {
        assert!(matches!(
            PullBackup::begin(&dir, worker.clone(), vm, disks, "default", &t).await,
            Err(RemoteError::Backup { .. })
        ));
    }
    assert!(
        PullBackup::begin(&dir, worker.clone(), "no-such-vm", &["vda"], "default", &t)
            .await
            .is_err()
    );
    assert_eq!(job_type(), "None");

    let b = PullBackup::begin(&dir, worker.clone(), VM, &["vda"], "default", &t)
        .await
        .unwrap();
    // A second backup of the same VM is refused by libvirt, and the first
    // one is not disturbed.
    let dir2 = RunDir::create(s.clone(), &t).await.unwrap();
    assert!(
        PullBackup::begin(
            &dir2,
            worker.clone(),
            VM,
            &["vda"],
            "default",
            &format!("{t}2")
        )
        .await
        .is_err()
    );
    assert_eq!(job_type(), "Unbounded");
    dir2.remove().await.unwrap();

    drop(b);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while job_type() != "None" || scratch_left(&s, &t).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "dropped backup not ended"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(state(), "running");
    dir.remove().await.unwrap();
}
