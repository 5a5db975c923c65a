//! Engine tests over the in-memory source and sink.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::hash::digest_of_bytes;
use super::mem::{Fault, MemSink, MemSource, no_space, transient};
use super::*;
use crate::nbd::ExtentKind::{Data, Hole, Zero};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// 20 MiB + an odd tail, data in several extents, zero and hole regions,
/// windows that mix data and zeros.
fn source() -> MemSource {
    MemSource::from_pieces(&[
        (3 * MIB + 512, Data),
        (5 * MIB - 512, Hole),
        (64 * KIB, Data),
        (2 * MIB, Zero),
        (4 * KIB, Data),
        (4 * KIB, Hole),
        (4 * KIB, Data),
        (6 * MIB, Data),
        (4 * MIB - 12 * KIB, Hole),
        (777, Data),
    ])
}

fn opts() -> CopyOptions {
    CopyOptions {
        workers: 4,
        hash: true,
        retry: RetryPolicy {
            attempts: 3,
            initial: Duration::from_millis(10),
            max: Duration::from_millis(100),
            factor: 2.0,
            jitter: 0.0,
        },
        ..CopyOptions::default()
    }
}

#[tokio::test]
async fn copy_to_a_zeroed_sink_skips_zeros_and_keeps_holes() {
    let src = source();
    let image = src.image();
    let data = src.data_bytes();
    let sink = MemSink::new(src.size());
    let job = CopyJob::new(opts());
    let out = job
        .run(src.clone(), sink.clone(), no_reconnect())
        .await
        .unwrap();
    assert!(sink.image() == image, "content differs");
    assert_eq!(out.stats.bytes_total, data);
    assert_eq!(out.stats.bytes_written, data, "only data moved");
    assert_eq!(out.stats.bytes_read, data);
    assert_eq!(out.stats.bytes_done, data);
    assert_eq!(out.stats.bytes_zeroed, 0);
    assert_eq!(sink.zero_requests(), 0);
    assert_eq!(out.retries, 0);
    // Allocation follows the data (64 KiB pages): the big hole stays a hole.
    assert!(
        sink.allocated() < data + 8 * 64 * KIB,
        "{}",
        sink.allocated()
    );
    assert_eq!(out.digest, Some(digest_of_bytes(&image)));
}

/// Issue: zeros were sent from raw and block-device sources, whose map
/// calls everything data. A piece read as all zeros is not written to a
/// zeroed sink and becomes WRITE_ZEROES on another; the copy still equals
/// the source and the digest does not change.
#[tokio::test]
async fn zeros_read_from_data_extents_are_never_written() {
    // 16 MiB all "data"; 8 MiB of it (two whole windows) read as zeros.
    let src = MemSource::from_pieces(&[(16 * MIB, Data)]).with_zeros_in_data(4 * MIB, 12 * MIB);
    let image = src.image();
    let sink = MemSink::new(src.size());
    let out = CopyJob::new(opts())
        .run(src.clone(), sink.clone(), no_reconnect())
        .await
        .unwrap();
    assert!(sink.image() == image, "content differs");
    assert_eq!(out.stats.bytes_read, 16 * MIB, "everything is read");
    assert_eq!(out.stats.bytes_written, 8 * MIB, "zeros are not written");
    assert_eq!(out.stats.bytes_found_zero, 8 * MIB);
    assert_eq!(out.stats.bytes_done, 16 * MIB, "the copy is complete");
    assert_eq!(out.stats.bytes_stored(), 8 * MIB);
    assert!(
        sink.allocated() <= 8 * MIB + 2 * 64 * KIB,
        "{}",
        sink.allocated()
    );
    assert_eq!(out.digest, Some(digest_of_bytes(&image)));

    // A used sink: the zero pieces are zeroed, not written as data.
    let used = MemSink::dirty(src.size());
    let out = CopyJob::new(opts())
        .run(src.clone(), used.clone(), no_reconnect())
        .await
        .unwrap();
    assert!(used.image() == image, "content differs");
    assert_eq!(out.stats.bytes_written, 8 * MIB);
    assert_eq!(out.stats.bytes_zeroed, 8 * MIB);
    assert!(used.zero_requests() > 0);
}

#[tokio::test]
async fn copy_to_a_used_sink_zeroes_the_rest() {
    let src = source();
    let sink = MemSink::dirty(src.size() + 1000);
    let out = CopyJob::new(opts())
        .run(src.clone(), sink.clone(), no_reconnect())
        .await
        .unwrap();
    let img = sink.image();
    assert!(img[..src.size() as usize] == src.image()[..]);
    assert!(
        img[src.size() as usize..].iter().all(|&b| b == 0xa5),
        "past the source untouched"
    );
    assert_eq!(out.stats.bytes_written, src.data_bytes());
    assert_eq!(out.stats.bytes_zeroed, src.size() - src.data_bytes());
}

#[tokio::test]
async fn digest_does_not_depend_on_scheduling_or_window() {
    let src = source();
    let expected = digest_of_bytes(&src.image());
    for (workers, window) in [(1, MIB), (3, 2 * MIB), (16, 8 * MIB), (7, 3 * MIB + 1)] {
        let job = CopyJob::new(CopyOptions {
            workers,
            window,
            ..opts()
        });
        let d = job.digest(src.clone(), no_reconnect_source).await.unwrap();
        assert_eq!(d, expected, "workers {workers} window {window}");
    }
    // Data that happens to be zeros hashes like a hole.
    let as_data = MemSource::from_pieces(&[(3 * MIB, Hole)]);
    let d = CopyJob::new(opts())
        .digest(as_data, no_reconnect_source)
        .await
        .unwrap();
    assert_eq!(d, digest_of_bytes(&vec![0u8; 3 * MIB as usize]));
}

async fn no_reconnect_source() -> Result<MemSource, BlockError> {
    Err(BlockError::fatal("no reconnect".to_string()))
}

#[tokio::test]
async fn resumes_after_the_source_drops() {
    let src = source();
    let image = src.image();
    let data = src.data_bytes();
    let sink = MemSink::new(src.size());
    let calls = Arc::new(AtomicU32::new(0));
    let job = CopyJob::new(opts());
    let (s2, k2, c2) = (src.clone(), sink.clone(), calls.clone());
    let out = job
        .run(
            src.clone().with_fault(Fault::after(6, transient)),
            sink.clone(),
            move || {
                c2.fetch_add(1, SeqCst);
                let fresh = (s2.clone().without_fault(), k2.handle(None));
                async move { Ok(fresh) }
            },
        )
        .await
        .unwrap();
    assert_eq!(calls.load(SeqCst), 1);
    assert_eq!(out.retries, 1);
    // The retry and its reason are kept for the job's detail view.
    let events = job.progress().retries_after(0);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].seq, events[0].attempt), (1, 1));
    assert!(events[0].reason.contains("at offset"), "{events:?}");
    assert!(job.progress().retries_after(1).is_empty());
    assert!(sink.image() == image);
    assert_eq!(out.stats.bytes_done, data);
    // Re-copied at most what was unflushed: less than one checkpoint plus
    // the windows in flight; here everything before the fault.
    let recopied = out.stats.bytes_written - data;
    assert!(recopied <= 6 * MIB, "{recopied}");
    assert_eq!(out.digest, Some(digest_of_bytes(&image)));
}

#[tokio::test]
async fn sink_crash_loses_only_what_was_not_flushed() {
    // 64 MiB of data in 1 MiB extents separated by holes.
    let mut pieces = Vec::new();
    for _ in 0..64 {
        pieces.push((MIB, Data));
        pieces.push((MIB, Hole));
    }
    let src = MemSource::from_pieces(&pieces);
    let image = src.image();
    let sink = MemSink::new(src.size()).volatile();
    let checkpoint = 12 * MIB;
    let job = CopyJob::new(CopyOptions {
        checkpoint_bytes: checkpoint,
        ..opts()
    });
    let k2 = sink.clone();
    let s2 = src.clone();
    let out = job
        .run(
            src.clone(),
            sink.handle(Some(Fault::after(45, transient))),
            move || {
                let fresh = (s2.clone(), k2.handle(None));
                async move { Ok(fresh) }
            },
        )
        .await
        .unwrap();
    assert_eq!(out.retries, 1);
    assert!(sink.image() == image, "lost writes were copied again");
    let recopied = out.stats.bytes_written - src.data_bytes();
    let in_flight = 4 * 4 * MIB;
    assert!(recopied > 0, "the crash lost unflushed writes");
    assert!(recopied <= 2 * checkpoint + in_flight, "{recopied}");
}

#[tokio::test]
async fn fatal_errors_fail_at_once() {
    let src = source();
    let calls = Arc::new(AtomicU32::new(0));
    let c2 = calls.clone();
    let sink = MemSink::new(src.size()).handle(Some(Fault::after(2, no_space)));
    let err = CopyJob::new(opts())
        .run(src.clone(), sink, move || {
            c2.fetch_add(1, SeqCst);
            async { Err::<(MemSource, MemSink), _>(transient()) }
        })
        .await
        .unwrap_err();
    assert!(err.is_no_space(), "{err}");
    assert!(
        matches!(err, CopyError::Failed { op: Op::Write, .. }),
        "{err:?}"
    );
    assert_eq!(calls.load(SeqCst), 0, "no reconnect for a fatal error");
}

#[tokio::test]
async fn sink_smaller_than_source_is_refused() {
    let src = source();
    let err = CopyJob::new(opts())
        .run(src.clone(), MemSink::new(src.size() - 1), no_reconnect())
        .await
        .unwrap_err();
    assert!(matches!(err, CopyError::SinkTooSmall { .. }), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn retries_back_off_then_give_up() {
    let src = source();
    let sink = MemSink::new(src.size());
    let calls = Arc::new(AtomicU32::new(0));
    let c2 = calls.clone();
    let start = Instant::now();
    let err = CopyJob::new(opts())
        .run(
            src.clone().with_fault(Fault::after(0, transient)),
            sink,
            move || {
                c2.fetch_add(1, SeqCst);
                async { Err::<(MemSource, MemSink), _>(transient()) }
            },
        )
        .await
        .unwrap_err();
    match err {
        CopyError::RetriesExhausted { retries, op, .. } => {
            assert_eq!(retries, 3);
            assert_eq!(op, Op::Reconnect);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(calls.load(SeqCst), 3);
    // 10 + 20 + 40 ms of backoff, no jitter.
    assert_eq!(start.elapsed(), Duration::from_millis(70));
}

#[tokio::test(start_paused = true)]
async fn throttle_limits_the_whole_copy() {
    let src = source();
    let data = src.data_bytes();
    let rate = 2 * MIB;
    let burst = 64 * KIB;
    let job = CopyJob::new(opts()).with_throttle(Throttle::with_burst(rate, burst));
    let start = Instant::now();
    job.run(src.clone(), MemSink::new(src.size()), no_reconnect())
        .await
        .unwrap();
    let secs = start.elapsed().as_secs_f64();
    let expected = (data - burst) as f64 / rate as f64;
    assert!((secs - expected).abs() < 0.01, "{secs} vs {expected}");
}

#[tokio::test(start_paused = true)]
async fn two_copies_share_one_throttle() {
    let throttle = Throttle::with_burst(4 * MIB, 1);
    let a = source();
    let b = source();
    let total = a.data_bytes() + b.data_bytes();
    let job_a = CopyJob::new(opts()).with_throttle(throttle.clone());
    let job_b = CopyJob::new(opts()).with_throttle(throttle);
    let start = Instant::now();
    let (ra, rb) = tokio::join!(
        job_a.run(a.clone(), MemSink::new(a.size()), no_reconnect()),
        job_b.run(b.clone(), MemSink::new(b.size()), no_reconnect()),
    );
    ra.unwrap();
    rb.unwrap();
    let secs = start.elapsed().as_secs_f64();
    let expected = total as f64 / (4 * MIB) as f64;
    assert!((secs - expected).abs() < 0.01, "{secs} vs {expected}");
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_promptly() {
    let cancel = CancellationToken::new();
    let job = CopyJob::new(opts()).with_cancel(cancel.clone());
    let src = source().stalling();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        c.cancel();
    });
    let start = Instant::now();
    let err = job
        .run(src.clone(), MemSink::new(src.size()), no_reconnect())
        .await
        .unwrap_err();
    assert!(matches!(err, CopyError::Cancelled), "{err:?}");
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn cancel_interrupts_the_backoff() {
    let cancel = CancellationToken::new();
    let mut o = opts();
    o.retry.initial = Duration::from_secs(3600);
    let job = CopyJob::new(o).with_cancel(cancel.clone());
    let src = source().with_fault(Fault::after(0, transient));
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        c.cancel();
    });
    let start = Instant::now();
    let err = job
        .run(src.clone(), MemSink::new(src.size()), no_reconnect())
        .await
        .unwrap_err();
    assert!(matches!(err, CopyError::Cancelled));
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

/// Buffered bytes stay under `workers × piece` however large the disk.
#[tokio::test]
async fn memory_stays_flat_as_the_disk_grows() {
    let workers = 8;
    let piece = MIB;
    let mut maxima = Vec::new();
    for virtual_gib in [1u64, 64] {
        let size = virtual_gib << 30;
        // 128 data extents of 1 MiB + 4 KiB spread over the disk.
        let step = size / 128;
        let mut pieces = Vec::new();
        for _ in 0..128 {
            pieces.push((MIB + 4 * KIB, Data));
            pieces.push((step - MIB - 4 * KIB, Hole));
        }
        let src = MemSource::from_pieces(&pieces).with_max_io(piece as u32);
        let job = CopyJob::new(CopyOptions {
            workers,
            hash: true,
            ..CopyOptions::default()
        });
        let out = job
            .run(src.clone(), DiscardSink::new(size), no_reconnect())
            .await
            .unwrap();
        assert_eq!(out.stats.bytes_written, src.data_bytes());
        assert_eq!(out.stats.buffered, 0, "every buffer released");
        let max = out.stats.buffered_max;
        assert!(max >= piece, "the counter saw buffers: {max}");
        assert!(max <= workers as u64 * piece, "{max}");
        maxima.push(max);
    }
    assert!(maxima.iter().all(|&m| m <= workers as u64 * MIB));
}

#[tokio::test]
async fn inconsistent_map_is_an_error() {
    use crate::nbd::Extent;
    let bad = MemSource::new(
        10 * MIB,
        vec![
            Extent {
                offset: 0,
                length: MIB,
                kind: Data,
            },
            Extent {
                offset: 2 * MIB,
                length: 8 * MIB,
                kind: Data,
            },
        ],
    );
    let err = CopyJob::new(opts())
        .run(bad, MemSink::new(10 * MIB), no_reconnect())
        .await
        .unwrap_err();
    assert!(
        matches!(err, CopyError::Failed { op: Op::Map, .. }),
        "{err:?}"
    );
}
