//! The chunk store as a copy's sink: the engine over a synthetic source
//! (chunk-aligned, as a `PlannedSource` answers) into a real repository in
//! a temporary directory.

use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use super::chunk_plan::Geometry;
use super::chunk_store::{ChunkJournal, ChunkLedger, ChunkStoreSink};
use super::mem::{Fault, MemSource, transient};
use super::{BlockSink, BlockSource, CopyJob, CopyOptions};
use crate::nbd::ExtentKind::{Data, Hole};
use crate::repo::{ChunkId, InitOptions, Repo};

const MIB: u64 = 1 << 20;
const CHUNK: u64 = 4 * MIB;

type Lines = Arc<Mutex<Vec<(u64, Option<ChunkId>)>>>;

fn ledger(size: u64) -> (Arc<ChunkLedger>, Lines) {
    let lines: Lines = Arc::default();
    let l = lines.clone();
    let journal: ChunkJournal = Box::new(move |c| l.lock().unwrap().extend_from_slice(c));
    let geo = Geometry {
        chunk_size: CHUNK,
        disk_size: size,
    };
    (Arc::new(ChunkLedger::new(geo, journal)), lines)
}

/// Chunks 0, 2 and 4 (a short last one) hold data; 1 is a hole; 3 is
/// called data but reads as zeros. Reads are whole chunks, as from a
/// `PlannedSource`.
fn source() -> MemSource {
    MemSource::from_pieces(&[
        (CHUNK, Data),
        (CHUNK, Hole),
        (CHUNK, Data),
        (CHUNK, Data),
        (MIB, Data),
    ])
    .with_zeros_in_data(3 * CHUNK, 4 * CHUNK)
    .with_max_io(CHUNK as u32)
}

fn opts() -> CopyOptions {
    CopyOptions {
        window: CHUNK,
        workers: 4,
        checkpoint_bytes: CHUNK,
        ..CopyOptions::default()
    }
}

fn sink(repo: &Arc<Repo>, ledger: &Arc<ChunkLedger>) -> ChunkStoreSink {
    ChunkStoreSink::new(repo.clone(), ledger.clone(), Arc::new(Semaphore::new(2)))
}

fn indexes(l: &ChunkLedger) -> Vec<u64> {
    l.totals().chunks.iter().map(|c| c.index).collect()
}

#[tokio::test]
async fn each_data_chunk_is_stored_once_and_zeros_never() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Arc::new(Repo::init(dir.path(), &InitOptions::default()).unwrap());
    let src = source();
    let image = src.image();
    let (l, lines) = ledger(src.size());
    let out = CopyJob::new(opts())
        .run(src.clone(), sink(&repo, &l), super::no_reconnect())
        .await
        .unwrap();
    let t = l.totals();
    assert_eq!(indexes(&l), vec![0, 2, 4]);
    assert_eq!((t.new_chunks, t.reused_chunks, t.unchanged), (3, 0, 0));
    assert_eq!(t.data_bytes, 2 * CHUNK + MIB);
    assert!(t.new_bytes > 0);
    // What the repository holds is the disk's bytes, chunk by chunk.
    for c in &t.chunks {
        let at = (c.index * CHUNK) as usize;
        let want = &image[at..(at + CHUNK as usize).min(image.len())];
        assert!(repo.read_chunk(&c.id).unwrap() == want, "chunk {}", c.index);
    }
    assert_eq!(
        out.stats.bytes_found_zero, CHUNK,
        "chunk 3 was read, not stored"
    );
    let mut logged: Vec<u64> = lines.lock().unwrap().iter().map(|l| l.0).collect();
    logged.sort();
    assert_eq!(logged, vec![0, 2, 4]);

    // The same disk again: every chunk is already there.
    let (again, _) = ledger(src.size());
    CopyJob::new(opts())
        .run(src, sink(&repo, &again), super::no_reconnect())
        .await
        .unwrap();
    let t = again.totals();
    assert_eq!((t.new_chunks, t.reused_chunks, t.new_bytes), (0, 3, 0));
}

/// After a reconnect the engine stores some chunks again; the first store
/// made them new, and the ledger keeps that.
#[tokio::test]
async fn a_chunk_stored_again_after_a_retry_still_counts_as_new() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Arc::new(Repo::init(dir.path(), &InitOptions::default()).unwrap());
    let src = MemSource::from_pieces(&[(16 * CHUNK, Data)]).with_max_io(CHUNK as u32);
    let (l, _) = ledger(src.size());
    let k = sink(&repo, &l);
    let (s2, k2) = (src.clone(), k.clone());
    let out = CopyJob::new(CopyOptions {
        // Flushes rarely, so the retry re-copies stored chunks.
        checkpoint_bytes: 64 * CHUNK,
        ..opts()
    })
    .run(src.with_fault(Fault::after(6, transient)), k, move || {
        let fresh = (s2.clone().without_fault(), k2.clone());
        async move { Ok(fresh) }
    })
    .await
    .unwrap();
    assert_eq!(out.retries, 1);
    assert!(out.stats.recopied() > 0, "{:?}", out.stats);
    let t = l.totals();
    assert_eq!(indexes(&l), (0..16).collect::<Vec<_>>());
    assert_eq!((t.new_chunks, t.reused_chunks), (16, 0));
}

#[tokio::test]
async fn a_write_that_is_not_one_whole_chunk_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Arc::new(Repo::init(dir.path(), &InitOptions::default()).unwrap());
    let (l, _) = ledger(3 * CHUNK);
    let k = sink(&repo, &l);
    assert_eq!(k.max_io() as u64, CHUNK);
    let off_grid = k.write(MIB, vec![1; CHUNK as usize]).await;
    assert!(off_grid.unwrap_err().to_string().contains("not one chunk"));
    let short = k.write(CHUNK, vec![1; MIB as usize]).await;
    assert!(short.is_err());
    assert!(l.totals().chunks.is_empty());
}

/// Chunks the planner settles without reading: reused ones enter the
/// index (and, from a resumed run, count as resumed); zeros only reach the
/// journal.
#[test]
fn settled_chunks_are_indexed_and_journaled() {
    let (l, lines) = ledger(4 * CHUNK);
    let id = ChunkId([7; 32]);
    l.settle(&[(2, id)], &[0, 1], true);
    l.add_reread(1);
    let t = l.totals();
    assert_eq!(t.chunks.len(), 1);
    assert_eq!((t.chunks[0].index, t.chunks[0].id), (2, id));
    assert_eq!((t.unchanged, t.resumed, t.reused_chunks), (1, 1, 1));
    assert_eq!((t.data_bytes, t.reread, t.new_chunks), (CHUNK, 1, 0));
    assert_eq!(
        *lines.lock().unwrap(),
        vec![(2, Some(id)), (0, None), (1, None)]
    );
}
