//! The copy engine: walks the source's allocation map batch by batch,
//! keeps a bounded number of windows in flight, never reads or sends what
//! reads as zeros, flushes at checkpoints and at the end, and reconnects
//! and resumes after transient failures.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio_util::sync::CancellationToken;

use super::error::{BlockError, CopyError, Op};
use super::hash::{DIGEST_BLOCK, Digest};
use super::plan::{Planner, WorkItem};
use super::progress::{Progress, ProgressSnapshot};
use super::retry::RetryPolicy;
use super::sink::{BlockSink, DiscardSink};
use super::source::BlockSource;
use super::state::State;
use super::throttle::Throttle;
use super::window::{Ctx, Failure, WindowDone, copy_window, zero};
use crate::nbd::Extent;

/// Default window: the unit of work, resume and progress steps.
pub const DEFAULT_WINDOW: u64 = 4 << 20;
/// Default windows in flight (e.g. 4 connections × 4 requests).
pub const DEFAULT_WORKERS: usize = 16;
/// Default bytes written between flushes; bounds what a resume re-copies.
pub const DEFAULT_CHECKPOINT: u64 = 256 << 20;

/// Tuning of one copy.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyOptions {
    /// Window size, rounded up to a multiple of [`DIGEST_BLOCK`] (1 MiB).
    pub window: u64,
    /// Windows in flight at once. Buffered data never exceeds
    /// `workers × min(window, max_io)`.
    pub workers: usize,
    /// Compute the BLAKE3 disk digest of what was read.
    pub hash: bool,
    pub retry: RetryPolicy,
    /// Flush after this many bytes written or zeroed. After a failure
    /// everything since the last completed flush is copied again.
    pub checkpoint_bytes: u64,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            window: DEFAULT_WINDOW,
            workers: DEFAULT_WORKERS,
            hash: false,
            retry: RetryPolicy::default(),
            checkpoint_bytes: DEFAULT_CHECKPOINT,
        }
    }
}

/// What a successful copy hands back.
#[derive(Debug)]
pub struct CopyOutcome<S, K> {
    /// The connections in use at the end (fresh ones after a reconnect).
    pub source: S,
    pub sink: K,
    /// The disk digest, when [`CopyOptions::hash`] was set.
    pub digest: Option<Digest>,
    pub stats: ProgressSnapshot,
    /// Reconnect attempts made.
    pub retries: u32,
}

/// One copy (one disk): options plus the shared stages (progress counters,
/// throttle, cancellation). Use a new job, or at least a new
/// [`Progress`], per copy.
#[derive(Debug, Clone)]
pub struct CopyJob {
    opts: CopyOptions,
    progress: Arc<Progress>,
    throttle: Throttle,
    cancel: CancellationToken,
}

/// A reconnect closure for copies that should not reconnect.
pub fn no_reconnect<S, K>() -> impl FnMut() -> std::future::Ready<Result<(S, K), BlockError>> {
    || {
        std::future::ready(Err(BlockError::fatal(
            "this copy does not reconnect".to_string(),
        )))
    }
}

enum Event {
    Map(u64, Result<Vec<Extent>, BlockError>),
    Window(Result<WindowDone, Failure>),
    Zeroed(Result<(u64, u64), Failure>),
    Flushed(Result<(), BlockError>),
}

impl CopyJob {
    pub fn new(opts: CopyOptions) -> Self {
        Self {
            opts,
            progress: Arc::new(Progress::new()),
            throttle: Throttle::unlimited(),
            cancel: CancellationToken::new(),
        }
    }

    pub fn with_progress(mut self, progress: Arc<Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// Shares a bandwidth limit (pass clones of one [`Throttle`] to every
    /// copy of a job).
    pub fn with_throttle(mut self, throttle: Throttle) -> Self {
        self.throttle = throttle;
        self
    }

    pub fn with_cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    pub fn options(&self) -> &CopyOptions {
        &self.opts
    }

    fn window(&self) -> u64 {
        self.opts.window.max(1).div_ceil(DIGEST_BLOCK) * DIGEST_BLOCK
    }

    /// Copies `source` to `sink`. On a transient failure it waits per the
    /// retry policy, calls `reconnect` for fresh connections (the old ones
    /// are dropped first) and resumes with what is not yet durably written.
    pub async fn run<S, K, R, Fut>(
        &self,
        source: S,
        sink: K,
        mut reconnect: R,
    ) -> Result<CopyOutcome<S, K>, CopyError>
    where
        S: BlockSource,
        K: BlockSink,
        R: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<(S, K), BlockError>> + Send,
    {
        let size = source.size();
        check_sizes(size, &sink)?;
        let mut st = State::new(size, self.opts.hash);
        let mut conn = Some((source, sink));
        let mut backoff = self.opts.retry.backoff();
        let mut retries = 0u32;
        loop {
            let Some((src, snk)) = conn.as_ref() else {
                return Err(CopyError::Internal("no connection to copy with"));
            };
            let before = st.done.total();
            let result = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(CopyError::Cancelled),
                r = self.attempt(src, snk, &mut st) => r,
            };
            let mut last = match result {
                Ok(()) => break,
                Err(f) if f.error.is_transient() => f,
                Err(f) => {
                    return Err(CopyError::Failed {
                        op: f.op,
                        offset: f.offset,
                        error: f.error,
                    });
                }
            };
            st.rollback(&self.progress);
            if st.done.total() > before {
                // Progress was made: a new failure gets the full patience.
                backoff = self.opts.retry.backoff();
            }
            // Old connections go first: the server may limit how many it
            // accepts.
            conn = None;
            while conn.is_none() {
                let Some(delay) = backoff.next() else {
                    return Err(CopyError::RetriesExhausted {
                        retries,
                        op: last.op,
                        offset: last.offset,
                        error: last.error,
                    });
                };
                retries += 1;
                let reason = format!(
                    "{} at offset {} failed: {}",
                    last.op, last.offset, last.error
                );
                tracing::warn!("copy: {reason}; retry {retries} in {delay:?}");
                self.progress.add_retry(retries, reason);
                let fresh = tokio::select! {
                    biased;
                    _ = self.cancel.cancelled() => return Err(CopyError::Cancelled),
                    r = async { tokio::time::sleep(delay).await; reconnect().await } => r,
                };
                match fresh {
                    Ok((s, k)) => {
                        if s.size() != size {
                            return Err(CopyError::SourceResized {
                                before: size,
                                now: s.size(),
                            });
                        }
                        check_sizes(size, &k)?;
                        conn = Some((s, k));
                    }
                    Err(e) if e.is_transient() => last = Failure::at(Op::Reconnect, 0)(e),
                    Err(e) => {
                        return Err(CopyError::Failed {
                            op: Op::Reconnect,
                            offset: 0,
                            error: e,
                        });
                    }
                }
            }
        }
        let digest = match st.digest.take() {
            Some(d) => Some(
                d.finish()
                    .ok_or(CopyError::Internal("digest is missing blocks"))?,
            ),
            None => None,
        };
        let (source, sink) = conn.ok_or(CopyError::Internal("no connection at the end"))?;
        Ok(CopyOutcome {
            source,
            sink,
            digest,
            stats: self.progress.snapshot(),
            retries,
        })
    }

    /// The disk digest of `source` (reads only its data; holes are hashed
    /// as zeros), with this job's throttle, progress, cancellation and
    /// retries. Use it to read a copy back for verification.
    pub async fn digest<S, R, Fut>(&self, source: S, mut reconnect: R) -> Result<Digest, CopyError>
    where
        S: BlockSource,
        R: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<S, BlockError>> + Send,
    {
        let size = source.size();
        let job = CopyJob {
            opts: CopyOptions {
                hash: true,
                ..self.opts.clone()
            },
            ..self.clone()
        };
        let out = job
            .run(source, DiscardSink::new(size), move || {
                let fresh = reconnect();
                async move { Ok((fresh.await?, DiscardSink::new(size))) }
            })
            .await?;
        out.digest
            .ok_or(CopyError::Internal("digest missing after a hashed copy"))
    }

    /// One pass over what is not done yet, with one set of connections.
    async fn attempt<S: BlockSource, K: BlockSink>(
        &self,
        src: &S,
        sink: &K,
        st: &mut State,
    ) -> Result<(), Failure> {
        let size = st.size;
        if st.total.is_none() {
            let total = scan(src, size).await?;
            st.total = Some(total);
            self.progress.set_total(total);
        }
        let window = self.window();
        let workers = self.opts.workers.max(1);
        let cx = Ctx {
            progress: &self.progress,
            throttle: &self.throttle,
            piece: src
                .max_io()
                .min(sink.max_io())
                .max(1)
                .min(window.min(u64::from(u32::MAX)) as u32),
            zeroed: sink.is_zeroed(),
        };
        let cx = &cx;
        let first = st.done.first_gap(0);
        let mut planner = Planner::new(first - first % window, size, window);
        let mut futs: FuturesUnordered<BoxFuture<'_, Event>> = FuturesUnordered::new();
        let (mut busy, mut mapping, mut flushing) = (0usize, false, false);
        loop {
            while busy < workers {
                let Some(item) = planner.pop() else { break };
                match item {
                    WorkItem::Window { start, end, data } => {
                        if st.done.contains(start, end) {
                            continue;
                        }
                        let hash = st.needs_hash(start, end);
                        futs.push(Box::pin(async move {
                            Event::Window(
                                copy_window(cx, src, sink, (start, end), data, hash).await,
                            )
                        }));
                        busy += 1;
                    }
                    WorkItem::Zeros { start, end } => {
                        for (s, e) in st.done.gaps(start, end) {
                            if cx.zeroed {
                                st.commit_zeros(s, e, true);
                            } else {
                                futs.push(Box::pin(async move {
                                    Event::Zeroed(zero(cx, sink, s, e).await.map(|()| (s, e)))
                                }));
                                busy += 1;
                            }
                        }
                    }
                }
            }
            if !mapping && !planner.is_mapped() && planner.ready() < workers {
                let pos = planner.position();
                futs.push(Box::pin(async move {
                    Event::Map(pos, src.extents(pos, size - pos).await)
                }));
                mapping = true;
            }
            if !flushing && st.unflushed_bytes >= self.opts.checkpoint_bytes {
                st.start_flush();
                futs.push(Box::pin(async move { Event::Flushed(sink.flush().await) }));
                flushing = true;
            }
            let Some(event) = futs.next().await else {
                break;
            };
            match event {
                Event::Map(pos, r) => {
                    mapping = false;
                    let batch = r.map_err(Failure::at(Op::Map, pos))?;
                    if batch.is_empty() {
                        return Err(bad_map(pos));
                    }
                    for e in batch {
                        planner.push(e).map_err(|_| bad_map(pos))?;
                    }
                    if planner.is_mapped() {
                        planner.finish().map_err(|_| bad_map(pos))?;
                    }
                }
                Event::Window(r) => {
                    busy -= 1;
                    st.commit_window(r?);
                }
                Event::Zeroed(r) => {
                    busy -= 1;
                    let (s, e) = r?;
                    st.commit_zeros(s, e, false);
                }
                Event::Flushed(r) => {
                    flushing = false;
                    r.map_err(Failure::at(Op::Flush, 0))?;
                    st.flushed();
                }
            }
        }
        drop(futs);
        st.start_flush();
        sink.flush().await.map_err(Failure::at(Op::Flush, 0))?;
        st.flushed();
        if !st.all_done() {
            return Err(bad_map(st.done.first_gap(0)));
        }
        Ok(())
    }
}

fn check_sizes<K: BlockSink>(size: u64, sink: &K) -> Result<(), CopyError> {
    if sink.size() < size {
        return Err(CopyError::SinkTooSmall {
            source_size: size,
            sink_size: sink.size(),
        });
    }
    Ok(())
}

fn bad_map(offset: u64) -> Failure {
    Failure::at(Op::Map, offset)(BlockError::BadAnswer(
        "allocation map is not contiguous or does not cover the disk",
    ))
}

/// Sums the data extents of the whole map (bytes to move), batch by batch.
async fn scan<S: BlockSource>(src: &S, size: u64) -> Result<u64, Failure> {
    let mut pos = 0;
    let mut total = 0;
    while pos < size {
        let batch = src
            .extents(pos, size - pos)
            .await
            .map_err(Failure::at(Op::Map, pos))?;
        if batch.is_empty() {
            return Err(bad_map(pos));
        }
        for e in batch {
            let end = e.offset.checked_add(e.length);
            if e.offset != pos || e.length == 0 || end.is_none_or(|end| end > size) {
                return Err(bad_map(pos));
            }
            if !e.kind.reads_as_zero() {
                total += e.length;
            }
            pos = e.end();
        }
    }
    Ok(total)
}
