//! Source side against the lab: run directories and read-only qemu-nbd on
//! alpha's images, read over NBD through the SSH session (streamlocal and
//! `nc -U`), compared with the files themselves.
//!
//! Run with KVM_CLONE_LAB_DIR=/work/main/target/lab
//! KVM_CLONE_LAB_SCRIPT=/work/main/tests/lab/lab from a worktree.

mod remote_util;

use kvm_clone::nbd::{ExtentKind, NbdClient, extents};
use kvm_clone::remote::rundir::{self, RunDir};
use kvm_clone::remote::{
    ExportSpec, ImageFormat, QemuNbd, RemoteError, RemotePath, SocketTransport,
};
use remote_util::*;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;
/// A failure bound for things that happen in the background, not a timing check.
const PATIENCE: Duration = Duration::from_secs(60);

fn archive() -> RemotePath {
    RemotePath::new(format!("{IMAGES}/archive01.raw")).unwrap()
}

fn multi_sys() -> RemotePath {
    RemotePath::new(format!("{IMAGES}/multi01-sys.qcow2")).unwrap()
}

async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn exists(session: &kvm_clone::transport::Session, path: &str) -> bool {
    sh_str(session, &format!("[ -e {path} ] && echo y || echo n"))
        .await
        .trim()
        == "y"
}

/// Running, that is: a zombie waiting for init to reap it holds nothing.
async fn pid_alive(session: &kvm_clone::transport::Session, pid: u32) -> bool {
    let state = sh_str(
        session,
        &format!("sed -n 's/^State:[[:space:]]*//p' /proc/{pid}/status 2>/dev/null"),
    )
    .await;
    !state.trim().is_empty() && !state.trim_start().starts_with('Z')
}

/// Every data range of `map` (up to `limit` ranges, `chunk` bytes from each
/// range's start and end) read over NBD equals the file's bytes at the
/// mapped host offset.
async fn compare_data(
    session: &kvm_clone::transport::Session,
    client: &NbdClient,
    file: &str,
    map: &[MapEntry],
    chunk: u64,
) -> usize {
    let mut compared = 0;
    for e in map.iter().filter(|e| e.data) {
        let host = e.offset.expect("data has a host offset");
        let len = chunk.min(e.length);
        for off in [0, e.length - len] {
            let want = dd(session, file, host + off, len).await;
            let got = client.read(e.start + off, len as u32).await.unwrap();
            assert!(
                got == want,
                "{file}: bytes differ at guest offset {}",
                e.start + off
            );
            compared += 1;
        }
    }
    compared
}

/// NBD's allocation map equals qemu-img's: same data ranges; holes read as zero.
async fn assert_same_map(client: &NbdClient, map: &[MapEntry]) {
    let nbd = extents(client, 0, client.size()).await.unwrap();
    let data = |v: Vec<(u64, u64)>| {
        // Merge neighbours so both sides compare as maximal runs.
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (s, e) in v {
            match out.last_mut() {
                Some(last) if last.1 == s => last.1 = e,
                _ => out.push((s, e)),
            }
        }
        out
    };
    let ours = data(
        nbd.iter()
            .filter(|e| !e.kind.reads_as_zero())
            .map(|e| (e.offset, e.end()))
            .collect(),
    );
    let theirs = data(
        map.iter()
            .filter(|e| e.data && !e.zero)
            .map(|e| (e.start, e.start + e.length))
            .collect(),
    );
    assert_eq!(ours, theirs, "data ranges differ");
    assert!(
        nbd.iter().any(|e| e.kind != ExtentKind::Data),
        "no hole reported at all"
    );
    let covered: u64 = nbd.iter().map(|e| e.length).sum();
    assert_eq!(covered, client.size());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_dir_is_private_listed_and_removed() {
    let s = session("alpha").await;
    let t = format!("remote-test-{}", tag());
    let _guard = RunDirGuard {
        host: "alpha",
        tag: t.clone(),
    };
    let dir = RunDir::create(s.clone(), &t).await.unwrap();
    let p = dir.path().clone();
    assert!(
        p.as_str().starts_with(&format!("/run/kvm-clone.{t}.")),
        "{p}"
    );
    let mode = sh_str(&s, &format!("stat -c '%a %U' {p}")).await;
    assert_eq!(mode.trim(), "700 root");
    assert!(rundir::list(&s).await.unwrap().contains(&p));
    assert!(dir.socket(&"x".repeat(32)).is_ok());
    assert!(matches!(
        dir.socket("a/b"),
        Err(RemoteError::InvalidName { .. })
    ));
    dir.remove().await.unwrap();
    assert!(!exists(&s, p.as_str()).await);
    assert!(!rundir::list(&s).await.unwrap().contains(&p));

    // Refusals: a bad tag, and cleanup of something that is not a run dir.
    assert!(RunDir::create(s.clone(), "a b").await.is_err());
    let images = RemotePath::new(IMAGES).unwrap();
    assert!(matches!(
        rundir::cleanup(&s, &images).await,
        Err(RemoteError::InvalidPath { .. })
    ));
    assert!(exists(&s, &format!("{IMAGES}/archive01.raw")).await);

    // Dropped without remove(): removed in the background.
    let dropped = RunDir::create(s.clone(), &t).await.unwrap();
    let dp = dropped.path().to_string();
    drop(dropped);
    wait_until("dropped run dir removed", || async {
        !exists(&s, &dp).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_source_over_streamlocal_and_nc() {
    let s = session("alpha").await;
    let t = format!("remote-test-{}", tag());
    let _guard = RunDirGuard {
        host: "alpha",
        tag: t.clone(),
    };
    let dir = RunDir::create(s.clone(), &t).await.unwrap();
    let spec = ExportSpec::read_only(archive(), ImageFormat::Raw, "vda");
    let nbd = QemuNbd::start(&dir, spec).await.unwrap();
    assert!(nbd.socket().as_str().starts_with(dir.path().as_str()));
    assert!(pid_alive(&s, nbd.pid()).await);
    let file = archive().to_string();
    let map = qemu_img_map(&s, "raw", &file).await;
    let size: u64 = sh_str(&s, &format!("stat -c %s {file}"))
        .await
        .trim()
        .parse()
        .unwrap();

    for transport in [SocketTransport::Streamlocal, SocketTransport::NcExec] {
        let client = nbd.connect(transport).await.unwrap();
        assert_eq!(client.size(), size);
        assert!(client.info().flags.read_only());
        assert_same_map(&client, &map).await;
        let n = compare_data(&s, &client, &file, &map, 256 * 1024).await;
        assert!(n >= 2, "{transport:?}: only {n} ranges compared");
        // A hole reads as zeros, as it does in the file.
        let hole = map.iter().find(|e| e.zero).unwrap();
        let got = client.read(hole.start + MIB, 65536).await.unwrap();
        assert_eq!(got, dd(&s, &file, hole.start + MIB, 65536).await);
        assert!(got.iter().all(|&b| b == 0));
        // Writes are refused locally on a read-only export.
        assert!(client.write(0, vec![0; 512], false).await.is_err());
        client.close().await.unwrap();
    }

    // Several connections at once (--shared=4), reading in parallel.
    let clients: Vec<NbdClient> =
        futures::future::join_all((0..3).map(|_| nbd.connect(SocketTransport::Auto)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    let reads = futures::future::join_all(
        clients
            .iter()
            .enumerate()
            .map(|(i, c)| c.read(i as u64 * 4 * MIB, MIB as u32)),
    )
    .await;
    for (i, r) in reads.into_iter().enumerate() {
        assert_eq!(r.unwrap(), dd(&s, &file, i as u64 * 4 * MIB, MIB).await);
    }
    for c in clients {
        c.close().await.unwrap();
    }

    let (pid, sock) = (nbd.pid(), nbd.socket().to_string());
    nbd.stop().await.unwrap();
    assert!(!pid_alive(&s, pid).await, "qemu-nbd {pid} still running");
    assert!(!exists(&s, &sock).await);
    dir.remove().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qcow2_source_shows_guest_data_and_holes() {
    let s = session("alpha").await;
    let t = format!("remote-test-{}", tag());
    let _guard = RunDirGuard {
        host: "alpha",
        tag: t.clone(),
    };
    let dir = RunDir::create(s.clone(), &t).await.unwrap();
    let file = multi_sys().to_string();
    let nbd = QemuNbd::start(
        &dir,
        ExportSpec::read_only(multi_sys(), ImageFormat::Qcow2, "vda"),
    )
    .await
    .unwrap();
    let client = nbd.connect(SocketTransport::Streamlocal).await.unwrap();
    let virt: u64 = {
        let info = sh_str(&s, &format!("qemu-img info -U --output=json {file}")).await;
        let v: serde_json::Value = serde_json::from_str(&info).unwrap();
        v["virtual-size"].as_u64().unwrap()
    };
    assert_eq!(client.size(), virt, "NBD size is the virtual size");
    let map = qemu_img_map(&s, "qcow2", &file).await;
    assert_same_map(&client, &map).await;
    // Guest bytes are not file bytes in qcow2: compare with the mapped host
    // offset, and once more with qemu-io's own guest view.
    assert!(compare_data(&s, &client, &file, &map, 128 * 1024).await >= 2);
    let via_qemu_io = qemu_io_read(&s, "qcow2", &file, 4096, 4096, false).await;
    assert_eq!(client.read(4096, 4096).await.unwrap(), via_qemu_io);
    client.close().await.unwrap();
    nbd.stop().await.unwrap();
    dir.remove().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_vms_image_is_refused_and_run_dir_cleanup_stops_qemu_nbd() {
    let s = session("alpha").await;
    let t = format!("remote-test-{}", tag());
    let _guard = RunDirGuard {
        host: "alpha",
        tag: t.clone(),
    };
    let dir = RunDir::create(s.clone(), &t).await.unwrap();
    // web01 runs: qemu's image lock keeps a read-only qemu-nbd off it.
    let web01 = RemotePath::new(format!("{IMAGES}/web01.qcow2")).unwrap();
    match QemuNbd::start(
        &dir,
        ExportSpec::read_only(web01, ImageFormat::Qcow2, "vda"),
    )
    .await
    {
        Err(RemoteError::QemuNbd { detail, .. }) => {
            assert!(detail.contains("lock"), "{detail}")
        }
        other => panic!("expected a qemu-nbd refusal, got {other:?}"),
    }
    // The same label twice in one run dir is refused before starting.
    let a = QemuNbd::start(
        &dir,
        ExportSpec::read_only(archive(), ImageFormat::Raw, "a"),
    )
    .await
    .unwrap();
    assert!(
        QemuNbd::start(
            &dir,
            ExportSpec::read_only(archive(), ImageFormat::Raw, "a")
        )
        .await
        .is_err()
    );
    // A crash leaves qemu-nbd running: cleanup by path (as from a journal)
    // stops it and removes the directory.
    let pid = a.pid();
    std::mem::forget(a);
    let path = dir.path().clone();
    std::mem::forget(dir);
    assert!(pid_alive(&s, pid).await);
    rundir::cleanup(&s, &path).await.unwrap();
    assert!(!pid_alive(&s, pid).await, "qemu-nbd {pid} survived cleanup");
    assert!(!exists(&s, path.as_str()).await);
    // Cleaning an already removed directory is fine.
    rundir::cleanup(&s, &path).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_qemu_nbd_is_stopped() {
    let s = session("alpha").await;
    let t = format!("remote-test-{}", tag());
    let _guard = RunDirGuard {
        host: "alpha",
        tag: t.clone(),
    };
    let dir = RunDir::create(s.clone(), &t).await.unwrap();
    let nbd = QemuNbd::start(
        &dir,
        ExportSpec::read_only(archive(), ImageFormat::Raw, "d"),
    )
    .await
    .unwrap();
    let pid = nbd.pid();
    drop(nbd);
    wait_until("dropped qemu-nbd stopped", || async {
        !pid_alive(&s, pid).await
    })
    .await;
    dir.remove().await.unwrap();
}
