//! The work of one item: copy a window's data (read → hash → write, piece
//! by piece), zero what must be zeroed. Runs as one of many futures in
//! flight; holds at most one piece buffer at a time.

use super::error::{BlockError, Op};
use super::hash::RegionHasher;
use super::progress::Progress;
use super::sink::BlockSink;
use super::source::BlockSource;
use super::throttle::Throttle;

/// A failed step of a copy, with where it happened.
#[derive(Debug)]
pub(crate) struct Failure {
    pub op: Op,
    pub offset: u64,
    pub error: BlockError,
}

impl Failure {
    pub fn at(op: Op, offset: u64) -> impl FnOnce(BlockError) -> Failure {
        move |error| Failure { op, offset, error }
    }
}

/// What a finished window contributes.
#[derive(Debug)]
pub(crate) struct WindowDone {
    pub start: u64,
    pub end: u64,
    /// Bytes of the map's data extents settled: written, or found to be
    /// zeros (`found_zero` of them).
    pub data: u64,
    /// Of `data`, bytes read as all zeros and not written.
    pub found_zero: u64,
    /// Bytes zeroed with WRITE_ZEROES.
    pub zeroed: u64,
    /// Digest leaves, when this window was hashed.
    pub leaves: Option<Vec<[u8; 32]>>,
}

/// Shared, read-only context of the workers of one attempt.
pub(crate) struct Ctx<'a> {
    pub progress: &'a Progress,
    pub throttle: &'a Throttle,
    /// Largest read/write.
    pub piece: u32,
    /// The sink reads as zeros where nothing was written.
    pub zeroed: bool,
}

pub(crate) async fn copy_window<S: BlockSource, K: BlockSink>(
    cx: &Ctx<'_>,
    src: &S,
    sink: &K,
    (start, end): (u64, u64),
    data: Vec<(u64, u64)>,
    hash: bool,
) -> Result<WindowDone, Failure> {
    let mut hasher = hash.then(|| RegionHasher::new(start, end));
    let mut cursor = start;
    let mut data_bytes = 0;
    let mut zeroed = 0;
    let mut found_zero = 0;
    for (ds, de) in data {
        if cursor < ds && !cx.zeroed {
            zero(cx, sink, cursor, ds).await?;
            zeroed += ds - cursor;
        }
        let mut off = ds;
        while off < de {
            // piece <= u32::MAX, so the min fits.
            let n = (de - off).min(u64::from(cx.piece)) as u32;
            cx.throttle.acquire(u64::from(n)).await;
            let _lease = cx.progress.lease(u64::from(n));
            let buf = src.read(off, n).await.map_err(Failure::at(Op::Read, off))?;
            if buf.len() != n as usize {
                return Err(Failure::at(Op::Read, off)(BlockError::BadAnswer(
                    "read returned a different length",
                )));
            }
            cx.progress.add_read(u64::from(n));
            if let Some(h) = &mut hasher {
                h.feed(off, &buf);
            }
            if kvm_clone_codec::is_zero(&buf) {
                // Zeros the map called data (a raw file or block device
                // without holes): never sent. A zeroed sink already reads
                // them; another one gets WRITE_ZEROES.
                if !cx.zeroed {
                    sink.write_zeroes(off, u64::from(n))
                        .await
                        .map_err(Failure::at(Op::WriteZeroes, off))?;
                    cx.progress.add_zeroed(u64::from(n));
                }
                cx.progress.add_found_zero(u64::from(n));
                found_zero += u64::from(n);
            } else {
                sink.write(off, buf)
                    .await
                    .map_err(Failure::at(Op::Write, off))?;
                cx.progress.add_written(u64::from(n));
            }
            off += u64::from(n);
            data_bytes += u64::from(n);
        }
        cursor = de;
    }
    if cursor < end && !cx.zeroed {
        zero(cx, sink, cursor, end).await?;
        zeroed += end - cursor;
    }
    Ok(WindowDone {
        start,
        end,
        data: data_bytes,
        zeroed,
        found_zero,
        leaves: hasher.map(RegionHasher::finish),
    })
}

/// Zeroes `[start, end)` on the sink.
pub(crate) async fn zero<K: BlockSink>(
    cx: &Ctx<'_>,
    sink: &K,
    start: u64,
    end: u64,
) -> Result<(), Failure> {
    sink.write_zeroes(start, end - start)
        .await
        .map_err(Failure::at(Op::WriteZeroes, start))?;
    cx.progress.add_zeroed(end - start);
    Ok(())
}
