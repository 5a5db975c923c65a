//! The snapshot source over a real repository in a temp dir.

use std::sync::Arc;

use super::*;
use crate::pipeline::mem::{MemSink, pattern};
use crate::pipeline::{CopyError, CopyJob, CopyOptions, no_reconnect};
use crate::repo::{ChunkRef, InitEncryption, InitOptions};

const CS: u64 = 64 * 1024;

struct Fixture {
    _dir: tempfile::TempDir,
    repo: Arc<Repo>,
    disk: Arc<DiskIndex>,
    /// The guest-visible disk the index describes.
    image: Vec<u8>,
}

/// 3.5 chunks: data, hole, data, and a short data chunk at the end.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let opts = InitOptions {
        // Encrypted, as repositories are by default; a cheap key derivation.
        encryption: InitEncryption::Passphrase(zeroize::Zeroizing::new("rs-test".into())),
        chunk_size: CS as u32,
        scrypt_log_n: Some(10),
    };
    let repo = Repo::init(&dir.path().join("repo"), &opts).unwrap();
    let size = 3 * CS + CS / 2;
    let mut image = vec![0u8; size as usize];
    pattern(0, &mut image);
    image[CS as usize..2 * CS as usize].fill(0);
    let mut chunks = Vec::new();
    for index in [0u64, 2, 3] {
        let s = (index * CS) as usize;
        let e = ((index + 1) * CS).min(size) as usize;
        let stored = repo.store_chunk(&image[s..e]).unwrap();
        chunks.push(ChunkRef {
            index,
            id: stored.id,
        });
    }
    let disk = DiskIndex {
        target: "vda".into(),
        virtual_size: size,
        format: "qcow2".into(),
        source_path: "/var/lib/libvirt/images/x.qcow2".into(),
        chunk_size: CS as u32,
        chunks,
    };
    Fixture {
        _dir: dir,
        repo: Arc::new(repo),
        disk: Arc::new(disk),
        image,
    }
}

fn source(f: &Fixture) -> SnapshotSource {
    SnapshotSource::new(f.repo.clone(), f.disk.clone())
}

/// The file a chunk is stored in.
fn chunk_file(f: &Fixture, id: &ChunkId) -> std::path::PathBuf {
    let hex = id.to_string();
    f.repo.path().join("chunks").join(&hex[..2]).join(&hex)
}

#[tokio::test]
async fn listed_chunks_are_data_and_the_rest_holes() {
    let f = fixture();
    let s = source(&f);
    let size = s.size();
    let map = s.extents(0, size).await.unwrap();
    let got: Vec<(u64, u64, ExtentKind)> =
        map.iter().map(|e| (e.offset, e.length, e.kind)).collect();
    assert_eq!(
        got,
        [
            (0, CS, ExtentKind::Data),
            (CS, CS, ExtentKind::Hole),
            (2 * CS, size - 2 * CS, ExtentKind::Data),
        ]
    );
    // From the middle of a chunk: starts exactly at the offset asked.
    let map = s.extents(CS + 10, 100).await.unwrap();
    assert_eq!(map.len(), 1);
    assert_eq!(
        (map[0].offset, map[0].length, map[0].kind),
        (CS + 10, 100, ExtentKind::Hole)
    );
    assert!(s.extents(size - 1, 2).await.is_err());
}

#[tokio::test]
async fn reads_cross_chunk_boundaries_and_the_short_last_chunk() {
    let f = fixture();
    let s = source(&f);
    let size = s.size();
    for (offset, len) in [
        (0, 100),
        (CS - 100, 300),          // data into the hole
        (2 * CS - 7, 20),         // hole into data
        (0, size),                // everything
        (3 * CS + 5, CS / 2 - 5), // inside the short last chunk, to the end
    ] {
        let got = s.read(offset, len as u32).await.unwrap();
        assert_eq!(
            got,
            &f.image[offset as usize..(offset + len) as usize],
            "{offset}+{len}"
        );
    }
    assert!(s.read(size - 10, 11).await.is_err());
}

#[tokio::test]
async fn a_copy_writes_the_data_and_leaves_the_hole_unallocated() {
    let f = fixture();
    let s = source(&f);
    let sink = MemSink::new(s.size());
    let job = CopyJob::new(CopyOptions {
        window: s.window(),
        hash: true,
        ..CopyOptions::default()
    });
    let out = job.run(s, sink.clone(), no_reconnect()).await.unwrap();
    assert_eq!(sink.image(), f.image);
    // The hole chunk was never written: 3.5 chunks, 2.5 of them data.
    assert_eq!(out.stats.bytes_written, 2 * CS + CS / 2);
    assert!(sink.allocated() <= 3 * CS, "{}", sink.allocated());
}

async fn expect_fatal(f: &Fixture, offset: u64) -> String {
    let s = source(f);
    let e = s.read(offset, CS as u32).await.unwrap_err();
    assert!(!e.is_transient(), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("disk vda"), "{msg}");
    assert!(msg.contains(&format!("offset {offset}")), "{msg}");
    // The engine stops at once (no retry) and names the same place.
    let job = CopyJob::new(CopyOptions {
        window: s.window(),
        ..CopyOptions::default()
    });
    let err = job
        .run(s.clone(), MemSink::new(s.size()), no_reconnect())
        .await
        .unwrap_err();
    assert!(matches!(err, CopyError::Failed { .. }), "{err}");
    assert!(err.to_string().contains("disk vda"), "{err}");
    msg
}

#[tokio::test]
async fn a_damaged_chunk_is_a_fatal_error_naming_disk_and_offset() {
    let f = fixture();
    let file = chunk_file(&f, &f.disk.chunks[1].id);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    expect_fatal(&f, 2 * CS).await;
    // The undamaged chunk still reads.
    assert_eq!(
        source(&f).read(0, CS as u32).await.unwrap(),
        &f.image[..CS as usize]
    );
}

#[tokio::test]
async fn a_missing_chunk_is_a_fatal_error_naming_disk_and_offset() {
    let f = fixture();
    std::fs::remove_file(chunk_file(&f, &f.disk.chunks[0].id)).unwrap();
    expect_fatal(&f, 0).await;
}
