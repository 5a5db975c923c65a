//! The NBD client against a real qemu-nbd on a unix socket.

mod nbd_util;

use kvm_clone::nbd::{
    ConnectOptions, Extent, ExtentKind, NbdError, OptionErrorCode, ZeroFlags, extents,
};
use nbd_util::{QemuNbd, qcow2, qemu_io, virtual_size};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const MIB: u64 = 1024 * 1024;

fn random_bytes(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    v
}

#[tokio::test]
async fn handshake_matches_qemu_img_info() {
    let dir = tempfile::tempdir().unwrap();
    let img = qcow2(dir.path(), "a.qcow2", 64 * MIB + 12345 * 512);
    let nbd = QemuNbd::serve(dir.path(), &img, &[]);
    let client = nbd.connect(ConnectOptions::default()).await.unwrap();
    let info = client.info();
    assert_eq!(info.size, virtual_size(&img));
    assert!(info.structured_replies);
    assert!(info.has_allocation());
    assert!(info.block_size_from_server);
    assert!(!info.flags.read_only());
    assert!(info.flags.can_flush());
    assert!(info.flags.can_write_zeroes());
    client.close().await.unwrap();
}

#[tokio::test]
async fn unknown_export_is_a_typed_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let img = qcow2(dir.path(), "a.qcow2", MIB);
    let nbd = QemuNbd::serve(dir.path(), &img, &["--export-name=disk0"]);
    let err = nbd
        .connect(ConnectOptions::new("no-such-disk"))
        .await
        .unwrap_err();
    match err {
        NbdError::OptionRefused(r) => assert_eq!(r.code, OptionErrorCode::UnknownExport),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let ok = nbd.connect(ConnectOptions::new("disk0")).await.unwrap();
    assert_eq!(ok.size(), MIB);
}

#[tokio::test]
async fn write_then_read_back_at_odd_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let img = qcow2(dir.path(), "a.qcow2", 16 * MIB);
    let nbd = QemuNbd::serve(dir.path(), &img, &[]);
    let client = nbd.connect(ConnectOptions::default()).await.unwrap();
    assert_eq!(client.info().block_size.min, 1, "qemu-nbd allows byte I/O");
    let mut rng = StdRng::seed_from_u64(1);
    let writes: Vec<(u64, Vec<u8>)> = [(1u64, 1usize), (4097, 65537), (3 * MIB + 7, 300_001)]
        .into_iter()
        .map(|(off, len)| (off, random_bytes(&mut rng, len)))
        .collect();
    for (off, data) in &writes {
        client.write(*off, data.clone(), false).await.unwrap();
    }
    for (off, data) in &writes {
        let got = client.read(*off, data.len() as u32).await.unwrap();
        assert_eq!(&got, data, "at {off}");
    }
    // A read spanning written data and never-written space.
    let span = client.read(0, 8192).await.unwrap();
    assert_eq!(span[0], 0);
    assert_eq!(span[1], writes[0].1[0]);
    assert!(span[2..4097].iter().all(|&b| b == 0));
    assert_eq!(&span[4097..], &writes[1].1[..8192 - 4097]);
    // The export's last byte.
    client.write(16 * MIB - 1, vec![0x5a], true).await.unwrap();
    assert_eq!(client.read(16 * MIB - 1, 1).await.unwrap(), vec![0x5a]);
    client.flush().await.unwrap();
    assert!(matches!(
        client.read(16 * MIB, 1).await,
        Err(NbdError::OutOfBounds { .. })
    ));
    client.close().await.unwrap();
}

/// Every extent that claims to read as zero does, and the map is
/// contiguous over the range.
async fn assert_map_consistent(client: &kvm_clone::nbd::NbdClient, map: &[Extent], start: u64) {
    let mut pos = start;
    for e in map {
        assert_eq!(e.offset, pos, "map is contiguous");
        assert!(e.length > 0);
        if e.kind.reads_as_zero() {
            let data = client
                .read(e.offset, e.length.min(MIB) as u32)
                .await
                .unwrap();
            assert!(data.iter().all(|&b| b == 0), "{e:?} claims zeros");
        }
        pos = e.end();
    }
}

#[tokio::test]
async fn write_zeroes_and_trim_show_in_block_status() {
    let dir = tempfile::tempdir().unwrap();
    let img = qcow2(dir.path(), "a.qcow2", 8 * MIB);
    let nbd = QemuNbd::serve(dir.path(), &img, &["--discard=unmap"]);
    let client = nbd.connect(ConnectOptions::default()).await.unwrap();
    let mut rng = StdRng::seed_from_u64(2);
    for i in 0..8u64 {
        let data = random_bytes(&mut rng, MIB as usize);
        client.write(i * MIB, data, false).await.unwrap();
    }
    let all_data = extents(&client, 0, 8 * MIB).await.unwrap();
    assert_eq!(
        all_data,
        vec![Extent {
            offset: 0,
            length: 8 * MIB,
            kind: ExtentKind::Data
        }]
    );

    client
        .write_zeroes(MIB, MIB as u32, ZeroFlags::default())
        .await
        .unwrap();
    client
        .write_zeroes(
            3 * MIB,
            MIB as u32,
            ZeroFlags {
                no_hole: true,
                ..ZeroFlags::default()
            },
        )
        .await
        .unwrap();
    client.trim(5 * MIB, MIB as u32, false).await.unwrap();
    client.flush().await.unwrap();

    let map = extents(&client, 0, 8 * MIB).await.unwrap();
    assert_map_consistent(&client, &map, 0).await;
    let kind_at = |off: u64| {
        map.iter()
            .find(|e| e.offset <= off && off < e.end())
            .unwrap()
            .kind
    };
    assert_eq!(kind_at(0), ExtentKind::Data);
    assert!(kind_at(MIB).reads_as_zero());
    assert!(kind_at(2 * MIB - 1).reads_as_zero());
    assert_eq!(kind_at(2 * MIB), ExtentKind::Data);
    // qemu reports zero clusters as HOLE|ZERO even with NO_HOLE (its HOLE
    // means "not data"), so only "reads as zero" is portable.
    assert!(kind_at(3 * MIB).reads_as_zero());
    assert_eq!(kind_at(4 * MIB), ExtentKind::Data);
    // qcow2 without a backing file reads discarded clusters as zeros.
    assert!(kind_at(5 * MIB).reads_as_zero());
    assert_eq!(kind_at(6 * MIB), ExtentKind::Data);

    // Raw block status agrees: flags say zero over the zeroed range.
    let descs = client.block_status(MIB, MIB as u32).await.unwrap();
    assert!(descs.iter().map(|d| u64::from(d.length)).sum::<u64>() <= MIB);
    assert!(descs[0].flags & kvm_clone::nbd::proto::STATE_ZERO != 0);

    // Fast zero: qemu either does it cheaply or says ENOTSUP, typed.
    if client.info().flags.can_fast_zero() {
        match client
            .write_zeroes(
                6 * MIB,
                MIB as u32,
                ZeroFlags {
                    fast: true,
                    ..ZeroFlags::default()
                },
            )
            .await
        {
            Ok(()) => {
                let d = client.read(6 * MIB, MIB as u32).await.unwrap();
                assert!(d.iter().all(|&b| b == 0));
            }
            Err(NbdError::FastZeroUnsupported) => {}
            Err(other) => panic!("fast zero: {other:?}"),
        }
    }
    client.close().await.unwrap();
}

#[tokio::test]
async fn block_status_matches_qemu_io_writes_on_read_only_export() {
    let dir = tempfile::tempdir().unwrap();
    let img = qcow2(dir.path(), "a.qcow2", 8 * MIB);
    qemu_io(
        &img,
        &[
            "write -P 0xab 1M 64k",
            "write -P 0xcd 3M 192k",
            "write -z 5M 128k",
            "write -P 0xef 8128k 64k",
        ],
    );
    let nbd = QemuNbd::serve(dir.path(), &img, &["--read-only"]);
    let client = nbd.connect(ConnectOptions::default()).await.unwrap();
    assert!(client.info().flags.read_only());
    assert!(matches!(
        client.write(0, vec![1u8], false).await,
        Err(NbdError::Unsupported { .. })
    ));

    let map = extents(&client, 0, 8 * MIB).await.unwrap();
    let data: Vec<(u64, u64)> = map
        .iter()
        .filter(|e| e.kind == ExtentKind::Data)
        .map(|e| (e.offset, e.length))
        .collect();
    assert_eq!(
        data,
        vec![
            (MIB, 64 << 10),
            (3 * MIB, 192 << 10),
            (8128 << 10, 64 << 10)
        ]
    );
    assert_map_consistent(&client, &map, 0).await;
    assert_eq!(map.last().unwrap().end(), 8 * MIB);
    // The written patterns are really there.
    assert!(
        client
            .read(MIB, 64 << 10)
            .await
            .unwrap()
            .iter()
            .all(|&b| b == 0xab)
    );
    assert!(
        client
            .read(3 * MIB, 192 << 10)
            .await
            .unwrap()
            .iter()
            .all(|&b| b == 0xcd)
    );

    // A sub-range starting mid-extent is clipped to the request.
    let part = extents(&client, MIB + 4096, 8192).await.unwrap();
    assert_eq!(
        part,
        vec![Extent {
            offset: MIB + 4096,
            length: 8192,
            kind: ExtentKind::Data
        }]
    );
}

#[tokio::test]
async fn without_allocation_everything_is_data() {
    let dir = tempfile::tempdir().unwrap();
    let img = qcow2(dir.path(), "a.qcow2", 4 * MIB);
    let nbd = QemuNbd::serve(dir.path(), &img, &[]);
    let opts = ConnectOptions {
        want_allocation: false,
        ..ConnectOptions::default()
    };
    let client = nbd.connect(opts).await.unwrap();
    assert!(!client.info().has_allocation());
    assert!(matches!(
        client.block_status(0, 4096).await,
        Err(NbdError::Unsupported { .. })
    ));
    let map = extents(&client, 4096, 4 * MIB - 4096).await.unwrap();
    assert_eq!(
        map,
        vec![Extent {
            offset: 4096,
            length: 4 * MIB - 4096,
            kind: ExtentKind::Data
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_reads_return_the_right_data() {
    let dir = tempfile::tempdir().unwrap();
    let img = qcow2(dir.path(), "a.qcow2", 8 * MIB);
    let nbd = QemuNbd::serve(dir.path(), &img, &[]);
    let client = nbd.connect(ConnectOptions::default()).await.unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let block = 100_003usize;
    let blocks: Vec<Vec<u8>> = (0..64).map(|_| random_bytes(&mut rng, block)).collect();
    let mut writes = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        let c = client.clone();
        let b = b.clone();
        writes.push(tokio::spawn(async move {
            c.write((i * block) as u64, b, false).await
        }));
    }
    for w in writes {
        w.await.unwrap().unwrap();
    }
    let mut reads = Vec::new();
    for i in 0..64 {
        let c = client.clone();
        reads.push(tokio::spawn(async move {
            c.read((i * block) as u64, block as u32).await
        }));
    }
    for (i, r) in reads.into_iter().enumerate() {
        assert_eq!(r.await.unwrap().unwrap(), blocks[i], "block {i}");
    }
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_connections_to_one_export() {
    let dir = tempfile::tempdir().unwrap();
    let img = qcow2(dir.path(), "a.qcow2", 16 * MIB);
    let nbd = QemuNbd::serve(dir.path(), &img, &[]);
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(nbd.connect(ConnectOptions::default()).await.unwrap());
    }
    let quarter = 4 * MIB;
    let mut rng = StdRng::seed_from_u64(4);
    let data: Vec<Vec<u8>> = (0..4)
        .map(|_| random_bytes(&mut rng, quarter as usize))
        .collect();
    let mut tasks = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let c = c.clone();
        let d = data[i].clone();
        tasks.push(tokio::spawn(async move {
            let base = i as u64 * quarter;
            for (j, piece) in d.chunks(MIB as usize).enumerate() {
                c.write(base + j as u64 * MIB, piece.to_vec(), false)
                    .await?;
            }
            c.flush().await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // Each connection reads a quarter another one wrote.
    let mut reads = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let c = c.clone();
        let other = (i + 1) % 4;
        reads.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for j in 0..4 {
                out.extend(c.read(other as u64 * quarter + j * MIB, MIB as u32).await?);
            }
            Ok::<_, NbdError>((other, out))
        }));
    }
    for r in reads {
        let (other, got) = r.await.unwrap().unwrap();
        assert_eq!(got, data[other], "quarter {other}");
    }
    for c in clients {
        c.close().await.unwrap();
    }
}

#[tokio::test]
async fn server_killed_mid_request_fails_every_pending_request() {
    let dir = tempfile::tempdir().unwrap();
    let img = qcow2(dir.path(), "a.qcow2", 8 * MIB);
    let nbd = QemuNbd::serve(dir.path(), &img, &[]);
    let client = nbd.connect(ConnectOptions::default()).await.unwrap();
    client.read(0, 4096).await.unwrap();

    // Freeze the server so nothing gets answered, put requests in flight
    // (one poll each registers and queues them), then kill it.
    nbd.signal(libc::SIGSTOP);
    let mut pending: Vec<_> = (0..8u64)
        .map(|i| Box::pin(client.read(i * MIB, MIB as u32)))
        .collect();
    for f in &mut pending {
        assert!(futures::poll!(f.as_mut()).is_pending());
    }
    nbd.signal(libc::SIGKILL);
    for f in pending {
        let err = f.await.unwrap_err();
        assert!(matches!(err, NbdError::ConnectionLost(_)), "got {err:?}");
        assert!(
            matches!(err.root(), NbdError::Io(_)),
            "root {:?}",
            err.root()
        );
    }
    // Later requests fail at once with the same cause.
    assert!(matches!(
        client.read(0, 512).await,
        Err(NbdError::ConnectionLost(_))
    ));
    assert!(client.connection_error().is_some());
}

#[tokio::test]
async fn close_disconnects_and_other_handles_see_closed() {
    let dir = tempfile::tempdir().unwrap();
    let img = qcow2(dir.path(), "a.qcow2", MIB);
    let nbd = QemuNbd::serve(dir.path(), &img, &[]);
    let a = nbd.connect(ConnectOptions::default()).await.unwrap();
    let b = a.clone();
    a.write(0, vec![7u8; 512], false).await.unwrap();
    a.close().await.unwrap();
    assert!(matches!(b.read(0, 512).await, Err(NbdError::Closed)));
    // The persistent server is fine and kept the data.
    let c = nbd.connect(ConnectOptions::default()).await.unwrap();
    assert_eq!(c.read(0, 512).await.unwrap(), vec![7u8; 512]);
    // Bounds are checked before anything reaches the server.
    assert!(matches!(
        c.write(MIB - 1, vec![0u8; 2], false).await,
        Err(NbdError::OutOfBounds { .. })
    ));
}

/// A dirty bitmap served by qemu-nbd (`-B`), negotiated with
/// base:allocation: both maps come back, each for its own context.
#[tokio::test]
async fn dirty_bitmap_context_beside_allocation() {
    use kvm_clone::nbd::proto::STATE_DIRTY;
    let dir = tempfile::tempdir().unwrap();
    let img = qcow2(dir.path(), "a.qcow2", 64 * MIB);
    // Data before the bitmap exists is allocated but clean.
    qemu_io(&img, &["write -P 0x11 0 8M"]);
    let out = std::process::Command::new("qemu-img")
        .args(["bitmap", "--add"])
        .arg(&img)
        .arg("b0")
        .output()
        .unwrap();
    assert!(out.status.success(), "qemu-img bitmap: {out:?}");
    qemu_io(&img, &["write -P 0x22 20M 1M", "write -P 0x33 40M 64k"]);
    let nbd = QemuNbd::serve(dir.path(), &img, &["-B", "b0", "-r"]);
    let ctx_name = "qemu:dirty-bitmap:b0".to_string();
    let opts = ConnectOptions {
        extra_contexts: vec![ctx_name.clone(), "qemu:dirty-bitmap:nope".into()],
        ..ConnectOptions::default()
    };
    let client = nbd.connect(opts).await.unwrap();
    assert!(client.info().has_allocation());
    let ctx = client
        .info()
        .context_id(&ctx_name)
        .expect("bitmap negotiated");
    assert_eq!(client.info().context_id("qemu:dirty-bitmap:nope"), None);
    let dirty = kvm_clone::nbd::status_map(&client, ctx, 0, 64 * MIB)
        .await
        .unwrap();
    let dirty_ranges: Vec<(u64, u64)> = dirty
        .iter()
        .filter(|e| e.flags & STATE_DIRTY != 0)
        .map(|e| (e.offset, e.length))
        .collect();
    // qemu tracks at its granularity (64 KiB for qcow2's default clusters).
    assert_eq!(dirty_ranges, vec![(20 * MIB, MIB), (40 * MIB, 64 * 1024)]);
    assert_eq!(dirty.iter().map(|e| e.length).sum::<u64>(), 64 * MIB);
    // The allocation map still answers through the old API.
    let alloc = extents(&client, 0, 64 * MIB).await.unwrap();
    assert_eq!(alloc[0].kind, ExtentKind::Data);
    assert_eq!(alloc[0].length, 8 * MIB);
    client.close().await.unwrap();
}
