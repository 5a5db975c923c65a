//! The copy pipeline against real qemu-nbd servers on unix sockets: qcow2
//! to qcow2 and to raw, digests, throttle-free resume after a server is
//! killed, cancellation and a typed ENOSPC.

mod pipeline_util;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use kvm_clone::nbd::{ConnectOptions, NbdClient, ZeroFlags};
use kvm_clone::pipeline::{
    BlockError, CopyError, CopyJob, CopyOptions, NbdSink, NbdSource, Op, Progress, RetryPolicy,
    Throttle, no_reconnect,
};
use pipeline_util::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

const GIB: u64 = 1024 * MIB;
const WORKERS: usize = 8;
const WINDOW: u64 = 4 * MIB;

fn random(rng: &mut StdRng, len: u64) -> Vec<u8> {
    let mut v = vec![0u8; len as usize];
    rng.fill(&mut v[..]);
    v
}

/// A 2 GiB qcow2 with ~40 MiB of random data in several extents (odd
/// offsets and lengths included), a run of literal zero bytes, an
/// allocated zero region and a punched hole inside data.
async fn build_source(dir: &Path) -> PathBuf {
    let img = create(dir, "src.qcow2", "qcow2", 2 * GIB);
    let mut srv = Server::start(dir, &img, "qcow2", &[]);
    let c = NbdClient::connect(
        tokio::net::UnixStream::connect(&srv.socket).await.unwrap(),
        ConnectOptions::default(),
    )
    .await
    .unwrap();
    let mut rng = StdRng::seed_from_u64(42);
    for (off, len) in [
        (0, 3 * MIB + 4096),
        (100 * MIB + 512, 7 * MIB),
        (513 * MIB, 5 * MIB),
        (GIB - 64 * 1024, 128 * 1024),
        (1500 * MIB + 12345, 999_999),
        (1800 * MIB, 20 * MIB),
        (2 * GIB - 4096, 4096),
    ] {
        let mut pos = 0;
        while pos < len {
            let n = (len - pos).min(8 * MIB);
            c.write(off + pos, random(&mut rng, n), false)
                .await
                .unwrap();
            pos += n;
        }
    }
    c.write(300 * MIB, vec![0u8; MIB as usize], false)
        .await
        .unwrap();
    let no_hole = ZeroFlags {
        no_hole: true,
        ..ZeroFlags::default()
    };
    c.write_zeroes(200 * MIB, 4 * MIB as u32, no_hole)
        .await
        .unwrap();
    c.write_zeroes(101 * MIB, MIB as u32, ZeroFlags::default())
        .await
        .unwrap();
    c.flush().await.unwrap();
    c.close().await.unwrap();
    srv.stop();
    img
}

fn opts() -> CopyOptions {
    CopyOptions {
        workers: WORKERS,
        window: WINDOW,
        hash: true,
        retry: RetryPolicy {
            attempts: 20,
            initial: Duration::from_millis(50),
            max: Duration::from_millis(400),
            factor: 2.0,
            jitter: 0.25,
        },
        checkpoint_bytes: 4 * MIB,
    }
}

fn reconnect(
    src: PathBuf,
    sink: PathBuf,
) -> impl FnMut() -> futures::future::BoxFuture<'static, Result<(NbdSource, NbdSink), BlockError>> + Send
{
    move || {
        let (src, sink) = (src.clone(), sink.clone());
        Box::pin(async move {
            let s = NbdSource::new(pool_at(src, 4).await?);
            let k = NbdSink::new(pool_at(sink, 4).await?, true);
            Ok((s, k))
        })
    }
}

fn source_reconnect(
    socket: PathBuf,
) -> impl FnMut() -> futures::future::BoxFuture<'static, Result<NbdSource, BlockError>> + Send {
    move || {
        let socket = socket.clone();
        Box::pin(async move { Ok(NbdSource::new(pool_at(socket, 4).await?)) })
    }
}

async fn copy_to(format: &str) {
    let dir = tempfile::tempdir().unwrap();
    let src_img = build_source(dir.path()).await;
    let expected_data = data_bytes(&src_img, "qcow2");
    assert!(
        expected_data > 30 * MIB && expected_data < 60 * MIB,
        "{expected_data}"
    );
    let sink_img = create(dir.path(), &format!("dst.{format}"), format, 2 * GIB);
    let src_srv = Server::start(dir.path(), &src_img, "qcow2", &["--read-only"]);
    let mut sink_srv = Server::start(dir.path(), &sink_img, format, &[]);

    let job = CopyJob::new(opts());
    let out = job
        .run(
            src_srv.source(4).await,
            sink_srv.sink(4, true).await,
            reconnect(src_srv.socket.clone(), sink_srv.socket.clone()),
        )
        .await
        .unwrap();
    let stats = out.stats;
    assert_eq!(out.retries, 0);
    assert_eq!(
        stats.bytes_total, expected_data,
        "bytes to move = data extents"
    );
    // The MiB written as zeros at 300 MiB is data to qemu but zeros to us:
    // read, never sent (the hardening issue's "zeros are never sent").
    assert_eq!(
        stats.bytes_written,
        expected_data - MIB,
        "moved exactly the non-zero data"
    );
    assert_eq!(stats.bytes_found_zero, MIB, "the zero MiB was found");
    assert_eq!(stats.bytes_read, expected_data, "read nothing else");
    assert_eq!(stats.bytes_done, expected_data);
    assert_eq!(stats.bytes_zeroed, 0, "fresh sink: zeros skipped");
    // Memory: never more than one piece per worker in flight.
    let piece = WINDOW.min(u64::from(out.source.pool().max_io()));
    assert!(
        stats.buffered_max <= WORKERS as u64 * piece,
        "{}",
        stats.buffered_max
    );
    let copy_digest = out.digest.unwrap();

    // Digest of the source read on its own, and of the sink read back.
    let verify = CopyJob::new(opts());
    let src_digest = verify
        .digest(
            src_srv.source(2).await,
            source_reconnect(src_srv.socket.clone()),
        )
        .await
        .unwrap();
    assert_eq!(src_digest, copy_digest);
    let sink_digest = CopyJob::new(opts())
        .digest(
            out.sink.as_source(),
            source_reconnect(sink_srv.socket.clone()),
        )
        .await
        .unwrap();
    assert_eq!(sink_digest, copy_digest, "read-back digest matches");
    drop(out);
    sink_srv.stop();

    assert!(identical(&src_img, "qcow2", &sink_img, format));
    let allocated = match format {
        "raw" => du(&sink_img),
        _ => allocated_data(&sink_img, format),
    };
    // The zero MiB stays a hole on the sink.
    let non_zero = expected_data - MIB;
    assert!(
        allocated >= non_zero && allocated <= non_zero + 16 * 64 * 1024,
        "sink allocates {allocated} for {non_zero} of non-zero data"
    );

    // One flipped byte in what was a hole changes the digest.
    sink_srv.restart();
    let c = NbdClient::connect(
        tokio::net::UnixStream::connect(&sink_srv.socket)
            .await
            .unwrap(),
        ConnectOptions::default(),
    )
    .await
    .unwrap();
    c.write(700 * MIB + 3, vec![1u8], false).await.unwrap();
    c.flush().await.unwrap();
    c.close().await.unwrap();
    let flipped = CopyJob::new(opts())
        .digest(
            sink_srv.source(2).await,
            source_reconnect(sink_srv.socket.clone()),
        )
        .await
        .unwrap();
    assert_ne!(flipped, copy_digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qcow2_to_fresh_qcow2() {
    copy_to("qcow2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qcow2_to_fresh_raw() {
    copy_to("raw").await;
}

/// Polls until `cond` holds (the copy is observed mid-way).
async fn wait_for(mut cond: impl FnMut() -> bool) {
    for _ in 0..6000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached in 60 s");
}

async fn resume_after_kill(kill_sink: bool) {
    let dir = tempfile::tempdir().unwrap();
    let src_img = build_source(dir.path()).await;
    let total = data_bytes(&src_img, "qcow2");
    let sink_img = create(dir.path(), "dst.qcow2", "qcow2", 2 * GIB);
    let mut src_srv = Server::start(dir.path(), &src_img, "qcow2", &["--read-only"]);
    let mut sink_srv = Server::start(dir.path(), &sink_img, "qcow2", &[]);
    let progress = Arc::new(Progress::new());
    // Slow enough to be caught mid-copy (not a timing assertion).
    let job = CopyJob::new(opts())
        .with_progress(progress.clone())
        .with_throttle(Throttle::new(24 * MIB));
    let (src, sink) = (src_srv.source(4).await, sink_srv.sink(4, true).await);
    let recon = reconnect(src_srv.socket.clone(), sink_srv.socket.clone());
    let copy = tokio::spawn(async move { job.run(src, sink, recon).await });

    wait_for(|| progress.snapshot().bytes_done >= total / 3).await;
    let before_kill = progress.snapshot().bytes_written;
    let server = if kill_sink {
        &mut sink_srv
    } else {
        &mut src_srv
    };
    server.kill();
    // Reconnects fail while it is down; they are retried.
    wait_for(|| progress.snapshot().retries >= 2).await;
    server.restart();

    let out = copy.await.unwrap().unwrap();
    assert!(out.retries >= 2);
    assert!(before_kill < total, "killed mid-copy");
    // Written beyond what the copy holds (the zero MiB is never written).
    let recopied = out.stats.recopied();
    eprintln!(
        "kill_sink={kill_sink}: total {total}, written before kill {before_kill}, re-copied {recopied}, retries {}",
        out.retries
    );
    let bound = 2 * opts().checkpoint_bytes + WORKERS as u64 * WINDOW;
    assert!(
        recopied < before_kill && recopied <= bound,
        "re-copied {recopied}, done before the kill {before_kill}, bound {bound}"
    );
    assert_eq!(out.stats.bytes_done, total);
    let digest = out.digest.unwrap();
    drop(out);
    sink_srv.stop();
    src_srv.stop();
    assert!(identical(&src_img, "qcow2", &sink_img, "qcow2"));
    sink_srv.restart();
    let back = CopyJob::new(opts())
        .digest(
            sink_srv.source(2).await,
            source_reconnect(sink_srv.socket.clone()),
        )
        .await
        .unwrap();
    assert_eq!(back, digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_after_source_server_is_killed() {
    resume_after_kill(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_after_sink_server_is_killed() {
    resume_after_kill(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let src_img = build_source(dir.path()).await;
    let total = data_bytes(&src_img, "qcow2");
    let sink_img = create(dir.path(), "dst.qcow2", "qcow2", 2 * GIB);
    let src_srv = Server::start(dir.path(), &src_img, "qcow2", &["--read-only"]);
    let sink_srv = Server::start(dir.path(), &sink_img, "qcow2", &[]);
    let progress = Arc::new(Progress::new());
    let cancel = CancellationToken::new();
    let job = CopyJob::new(opts())
        .with_progress(progress.clone())
        .with_cancel(cancel.clone())
        .with_throttle(Throttle::new(16 * MIB));
    let (src, sink) = (src_srv.source(4).await, sink_srv.sink(4, true).await);
    let copy = tokio::spawn(async move { job.run(src, sink, no_reconnect()).await });
    wait_for(|| progress.snapshot().bytes_done > 0).await;
    cancel.cancel();
    let err = copy.await.unwrap().unwrap_err();
    assert!(matches!(err, CopyError::Cancelled), "{err:?}");
    let at_cancel = progress.snapshot().bytes_written;
    assert!(at_cancel < total);
    // Nothing keeps writing after the copy returned.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(progress.snapshot().bytes_written, at_cancel);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enospc_fails_at_once_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let src_img = build_source(dir.path()).await;
    let raw = create(dir.path(), "full.raw", "raw", 2 * GIB);
    let src_srv = Server::start(dir.path(), &src_img, "qcow2", &["--read-only"]);
    let opts_str = format!(
        "driver=raw,file.driver=blkdebug,file.inject-error.0.event=pwritev,\
         file.inject-error.0.errno=28,file.image.driver=file,file.image.filename={}",
        raw.display()
    );
    let full = Server::start_opts(dir.path(), "full", &opts_str);
    let calls = Arc::new(AtomicU32::new(0));
    let c2 = calls.clone();
    let err = CopyJob::new(opts())
        .run(
            src_srv.source(4).await,
            full.sink(4, true).await,
            move || {
                c2.fetch_add(1, SeqCst);
                async { Err::<(NbdSource, NbdSink), _>(BlockError::fatal("unused".to_string())) }
            },
        )
        .await
        .unwrap_err();
    assert!(err.is_no_space(), "{err}");
    assert!(
        matches!(err, CopyError::Failed { op: Op::Write, .. }),
        "{err:?}"
    );
    assert_eq!(calls.load(SeqCst), 0, "ENOSPC is not retried");
}
