//! Destination side against the lab: images created in beta's default
//! pool, written through a writable qemu-nbd over SSH, checked, removed.
//!
//! Run with KVM_CLONE_LAB_DIR=/work/main/target/lab
//! KVM_CLONE_LAB_SCRIPT=/work/main/tests/lab/lab from a worktree.

mod remote_util;

use kvm_clone::nbd::{ZeroFlags, extents};
use kvm_clone::remote::image::{self, Image};
use kvm_clone::remote::{
    ExportSpec, ImageFormat, QemuNbd, RemoteError, RemotePath, RunDir, SocketTransport,
};
use rand::{Rng, SeedableRng};
use remote_util::*;

const MIB: u64 = 1024 * 1024;

fn vol_listed(name: &str) -> bool {
    lab()
        .virsh("beta", &["vol-list", "default"])
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

async fn info(s: &kvm_clone::transport::Session, path: &str) -> serde_json::Value {
    let text = sh_str(s, &format!("qemu-img info -U --output=json {path}")).await;
    serde_json::from_str(&text).unwrap()
}

async fn write_read_back(format: ImageFormat) {
    let s = session("beta").await;
    let (_tunnel, worker) = worker(&s, "beta").await;
    let t = format!("remote-test-{}", tag());
    let name = format!("{t}.{}", format.as_str());
    let _files = RemoveOnDrop {
        host: "beta",
        glob: format!("{IMAGES}/{t}.*"),
    };
    let _dirs = RunDirGuard {
        host: "beta",
        tag: t.clone(),
    };
    let size = 64 * MIB + 512 * 3;
    let img = Image::create(s.clone(), worker.clone(), "default", &name, format, size)
        .await
        .unwrap();
    let path = img.path().to_string();
    assert_eq!(path, format!("{IMAGES}/{name}"));
    assert!(image::file_exists(&s, img.path()).await.unwrap());
    assert!(vol_listed(&name), "pool not refreshed after create");
    let i = info(&s, &path).await;
    assert_eq!(i["format"], format.as_str());
    assert_eq!(i["virtual-size"].as_u64().unwrap(), size);
    let mode = sh_str(&s, &format!("stat -c %a {path}")).await;
    assert_eq!(mode.trim(), "600");

    // Write through NBD over SSH: data, explicit zeroes, a trailing partial block.
    let dir = RunDir::create(s.clone(), &t).await.unwrap();
    let nbd = QemuNbd::start(
        &dir,
        ExportSpec::writable(img.path().clone(), format, "vda"),
    )
    .await
    .unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let mut chunk = |n: usize| {
        let mut v = vec![0u8; n];
        rng.fill(&mut v[..]);
        v
    };
    let a = chunk(MIB as usize);
    let b = chunk(3 * 65536);
    let tail = chunk(512 * 3);
    {
        let c1 = nbd.connect(SocketTransport::Streamlocal).await.unwrap();
        let c2 = nbd.connect(SocketTransport::NcExec).await.unwrap();
        assert_eq!(c1.size(), size);
        assert!(!c1.info().flags.read_only());
        let (r1, r2, r3) = tokio::join!(
            c1.write(0, a.clone(), false),
            c2.write(40 * MIB, b.clone(), false),
            c2.write(64 * MIB, tail.clone(), false),
        );
        r1.unwrap();
        r2.unwrap();
        r3.unwrap();
        // Zeroes over part of what was written: must read back as zeros and,
        // with detect-zeroes/discard, not stay allocated.
        c1.write_zeroes(512 * 1024, 512 * 1024, ZeroFlags::default())
            .await
            .unwrap();
        c1.flush().await.unwrap();
        c2.flush().await.unwrap();
        c1.close().await.unwrap();
        c2.close().await.unwrap();
    }
    nbd.stop().await.unwrap();

    // Read back on the host, not through our client: qemu-io's guest view.
    let got = qemu_io_read(&s, format.as_str(), &path, 0, 512 * 1024, false).await;
    assert!(got == a[..512 * 1024], "first half of block a differs");
    let zeros = qemu_io_read(&s, format.as_str(), &path, 512 * 1024, 512 * 1024, false).await;
    assert!(zeros.iter().all(|&x| x == 0));
    let got = qemu_io_read(&s, format.as_str(), &path, 40 * MIB, b.len() as u64, false).await;
    assert!(got == b, "block b differs");
    let got = qemu_io_read(&s, format.as_str(), &path, 64 * MIB, 1536, false).await;
    assert!(got == tail, "tail differs");

    // And the allocation stayed thin: qemu-img map's data is what we wrote.
    let map = qemu_img_map(&s, format.as_str(), &path).await;
    let data: u64 = map.iter().filter(|e| e.data).map(|e| e.length).sum();
    assert!(data >= 512 * 1024 + b.len() as u64, "data {data}");
    assert!(data <= 2 * MIB, "image not thin: {data} bytes of data");

    // Read-only re-export over SSH agrees byte for byte with qemu-io.
    let ro = QemuNbd::start(
        &dir,
        ExportSpec::read_only(img.path().clone(), format, "ro"),
    )
    .await
    .unwrap();
    let c = ro.connect(SocketTransport::Auto).await.unwrap();
    assert!(c.read(0, 512 * 1024).await.unwrap() == a[..512 * 1024]);
    let ext = extents(&c, 0, c.size()).await.unwrap();
    assert!(
        ext.iter()
            .any(|e| e.kind.reads_as_zero() && e.offset <= 2 * MIB && e.end() >= 40 * MIB)
    );
    c.close().await.unwrap();
    ro.stop().await.unwrap();
    dir.remove().await.unwrap();

    img.remove().await.unwrap();
    assert!(
        !image::file_exists(&s, &RemotePath::new(&path).unwrap())
            .await
            .unwrap()
    );
    assert!(!vol_listed(&name), "pool not refreshed after remove");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qcow2_sink_write_read_back_remove() {
    write_read_back(ImageFormat::Qcow2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_sink_write_read_back_remove() {
    write_read_back(ImageFormat::Raw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_files_are_never_overwritten() {
    let s = session("beta").await;
    let (_tunnel, worker) = worker(&s, "beta").await;
    let t = format!("remote-test-{}", tag());
    let _files = RemoveOnDrop {
        host: "beta",
        glob: format!("{IMAGES}/{t}.*"),
    };
    let path = format!("{IMAGES}/{t}.qcow2");
    sh(&s, &format!("printf 'precious' > {path}")).await;
    match Image::create(
        s.clone(),
        worker.clone(),
        "default",
        &format!("{t}.qcow2"),
        ImageFormat::Qcow2,
        MIB,
    )
    .await
    {
        Err(RemoteError::Exists { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected Exists, got {other:?}"),
    }
    assert_eq!(sh_str(&s, &format!("cat {path}")).await, "precious");
    // A dangling symlink counts as existing too.
    let link = format!("{IMAGES}/{t}.link");
    sh(&s, &format!("ln -s /nonexistent/{t} {link}")).await;
    assert!(
        image::file_exists(&s, &RemotePath::new(&link).unwrap())
            .await
            .unwrap()
    );
    assert!(matches!(
        Image::create(
            s.clone(),
            worker.clone(),
            "default",
            &format!("{t}.link"),
            ImageFormat::Raw,
            MIB
        )
        .await,
        Err(RemoteError::Exists { .. })
    ));
    assert!(
        sh_str(
            &s,
            &format!("[ -L {link} ] && [ ! -e /nonexistent/{t} ] && echo ok")
        )
        .await
        .contains("ok")
    );

    // Bad input never reaches the host.
    for bad in ["../etc/passwd", "a/b", "", "x\ny"] {
        assert!(
            matches!(
                Image::create(
                    s.clone(),
                    worker.clone(),
                    "default",
                    bad,
                    ImageFormat::Raw,
                    MIB
                )
                .await,
                Err(RemoteError::InvalidName { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        Image::create(
            s.clone(),
            worker.clone(),
            "no-such-pool",
            &format!("{t}.x"),
            ImageFormat::Raw,
            MIB
        )
        .await,
        Err(RemoteError::Libvirt(_))
    ));
    // remove_file only touches files directly in the pool directory.
    assert!(matches!(
        image::remove_file(
            &s,
            &worker,
            "default",
            &RemotePath::new("/etc/hostname").unwrap()
        )
        .await,
        Err(RemoteError::InvalidPath { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unkept_image_is_removed_when_dropped() {
    let s = session("beta").await;
    let (_tunnel, worker) = worker(&s, "beta").await;
    let t = format!("remote-test-{}", tag());
    let _files = RemoveOnDrop {
        host: "beta",
        glob: format!("{IMAGES}/{t}.*"),
    };
    let img = Image::create(
        s.clone(),
        worker.clone(),
        "default",
        &format!("{t}.qcow2"),
        ImageFormat::Qcow2,
        MIB,
    )
    .await
    .unwrap();
    let path = img.path().clone();
    drop(img);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while image::file_exists(&s, &path).await.unwrap() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "dropped image not removed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // keep() disarms the rollback.
    let kept = Image::create(
        s.clone(),
        worker.clone(),
        "default",
        &format!("{t}.kept"),
        ImageFormat::Raw,
        MIB,
    )
    .await
    .unwrap()
    .keep();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(image::file_exists(&s, &kept).await.unwrap());
    image::remove_file(&s, &worker, "default", &kept)
        .await
        .unwrap();
    assert!(!image::file_exists(&s, &kept).await.unwrap());
}
