//! One disk's chunks: planned, read, sealed and stored, with the resume
//! log appended as they complete.

use super::*;

/// Which earlier state unchanged chunks are taken from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Reuse {
    Nothing,
    Parent,
    Done,
}

/// What every disk's export shares.
pub(super) struct Shared {
    pub(super) repo: Arc<Repo>,
    pub(super) log: Arc<Mutex<resume::Log>>,
    /// Bounds the chunks being hashed, compressed and sealed at once.
    pub(super) cpu: Arc<Semaphore>,
    pub(super) throttle: Throttle,
    pub(super) done: Arc<resume::Done>,
    pub(super) parent: Option<Arc<SnapshotInfo>>,
}

/// One disk's result.
#[derive(Default)]
pub(super) struct DiskOutcome {
    pub(super) size: u64,
    pub(super) chunks: Vec<ChunkRef>,
    pub(super) data_bytes: u64,
    pub(super) read_bytes: u64,
    pub(super) new_bytes: u64,
    pub(super) new_chunks: u64,
    pub(super) reused_chunks: u64,
    pub(super) unchanged: u64,
    pub(super) resumed: u64,
    /// Parent chunks missing from the repository, read again.
    pub(super) reread: u64,
}

/// A read chunk after the blocking pool handled it.
pub(super) struct Stored {
    pub(super) index: u64,
    pub(super) len: u64,
    pub(super) chunk: Option<crate::repo::StoredChunk>,
}

impl Job<'_> {
    pub(super) async fn export_disk(
        &self,
        d: &DiskJob,
        ep: Endpoint,
        counters: Arc<Counters>,
        sh: &Shared,
        reuse: Reuse,
        trust_offline: bool,
    ) -> Result<DiskOutcome, ExportError> {
        let profile = &self.spec.profile;
        let connections = usize::from(profile.connections).max(1);
        let pool = ep
            .connect(connections)
            .await
            .map_err(step("connecting NBD"))?;
        let dirty_ctx = ep
            .opts
            .extra_contexts
            .first()
            .and_then(|n| pool.clients().first()?.info().context_id(n));
        if !ep.opts.extra_contexts.is_empty() && dirty_ctx.is_none() {
            return Err(ExportError::Step {
                step: "connecting NBD",
                message: format!("the backup of {} offers no dirty bitmap", d.target),
            });
        }
        let size = pool.size();
        counters.total.store(size, Relaxed);
        let reader = Reader {
            endpoint: ep,
            connections,
            pool: RwLock::new((0, Arc::new(pool))),
            retry: RetryPolicy {
                attempts: profile.retry.attempts.saturating_sub(1),
                initial: profile.retry.initial,
                max: profile.retry.max,
                ..RetryPolicy::default()
            },
            counters: counters.clone(),
            target: d.target.clone(),
            report: self.ctx.report.clone(),
        };
        let out = self
            .export_chunks(
                d,
                &reader,
                dirty_ctx,
                size,
                &counters,
                sh,
                reuse,
                trust_offline,
            )
            .await;
        reader.close().await;
        out
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn export_chunks(
        &self,
        d: &DiskJob,
        reader: &Reader,
        dirty_ctx: Option<u32>,
        size: u64,
        counters: &Counters,
        sh: &Shared,
        reuse: Reuse,
        trust_offline: bool,
    ) -> Result<DiskOutcome, ExportError> {
        let geo = Geometry {
            chunk_size: u64::from(sh.repo.chunk_size()),
            disk_size: size,
        };
        let parent_disk: Option<&DiskIndex> = match reuse {
            Reuse::Parent => sh
                .parent
                .as_ref()
                .and_then(|s| s.manifest.disks.iter().find(|x| x.target == d.target))
                .filter(|x| x.virtual_size == size && u64::from(x.chunk_size) == geo.chunk_size),
            _ => None,
        };
        let known = |i: u64| -> Option<Known> {
            match reuse {
                Reuse::Nothing => None,
                Reuse::Parent => {
                    let idx = parent_disk?;
                    Some(match idx.chunks.binary_search_by_key(&i, |c| c.index) {
                        Ok(k) => Known::Chunk(idx.chunks[k].id),
                        Err(_) => Known::Zero,
                    })
                }
                Reuse::Done => match sh.done.get(&d.target, i)? {
                    Some(id) => Some(Known::Chunk(id)),
                    None => Some(Known::Zero),
                },
            }
        };
        let inflight = (usize::from(self.spec.profile.connections)
            * usize::from(self.spec.profile.requests_in_flight))
        .clamp(2, 4 * sh.cpu.available_permits().max(1));
        let mut out = DiskOutcome {
            size,
            ..DiskOutcome::default()
        };
        let mut pos = 0;
        while pos < size {
            self.ctx.check_cancel()?;
            let len = geo.window().min(size - pos);
            let alloc = reader
                .with_retry(|pool| async move {
                    Ok(crate::nbd::extents(pool.client(), pos, len).await?)
                })
                .await?;
            let dirty = match dirty_ctx {
                Some(ctx) => Some(
                    reader
                        .with_retry(|pool| async move {
                            Ok(crate::nbd::status_map(pool.client(), ctx, pos, len).await?)
                        })
                        .await?,
                ),
                None => None,
            };
            let first = pos / geo.chunk_size;
            let count = len.div_ceil(geo.chunk_size);
            let mut planned = plan::classify(
                geo,
                first,
                count,
                &alloc,
                dirty.as_deref(),
                trust_offline,
                known,
            );
            if matches!(reuse, Reuse::Parent) {
                let (checked, missing) = read_missing(&sh.repo, planned).await?;
                planned = checked;
                out.reread += missing;
            }
            let mut settled: Vec<(u64, Option<ChunkId>)> = Vec::new();
            let mut reads = Vec::new();
            for (i, a) in planned {
                let (_, clen) = geo.range(i);
                match a {
                    Action::Zero => {
                        settled.push((i, None));
                        counters.done.fetch_add(clen, Relaxed);
                    }
                    Action::Reuse(id) => {
                        settled.push((i, Some(id)));
                        out.chunks.push(ChunkRef { index: i, id });
                        out.data_bytes += clen;
                        out.reused_chunks += 1;
                        out.unchanged += 1;
                        if matches!(reuse, Reuse::Done) {
                            out.resumed += 1;
                        }
                        counters.done.fetch_add(clen, Relaxed);
                    }
                    Action::Read => reads.push(i),
                }
            }
            self.append_log(sh, &d.target, settled).await;
            let stream = futures::stream::iter(reads)
                .map(|i| self.read_and_store(i, geo, reader, counters, sh, &d.target))
                .buffer_unordered(inflight);
            tokio::pin!(stream);
            loop {
                let next = tokio::select! {
                    n = stream.next() => n,
                    _ = self.ctx.cancel.cancelled() => return Err(ExportError::Cancelled),
                };
                let Some(s) = next else { break };
                let s = s?;
                out.read_bytes += s.len;
                if let Some(c) = s.chunk {
                    out.chunks.push(ChunkRef {
                        index: s.index,
                        id: c.id,
                    });
                    out.data_bytes += s.len;
                    if c.new {
                        out.new_chunks += 1;
                        out.new_bytes += c.stored_bytes;
                    } else {
                        out.reused_chunks += 1;
                    }
                }
            }
            pos += len;
        }
        out.chunks.sort_unstable_by_key(|c| c.index);
        Ok(out)
    }

    pub(super) async fn append_log(
        &self,
        sh: &Shared,
        target: &str,
        chunks: Vec<(u64, Option<ChunkId>)>,
    ) {
        if chunks.is_empty() {
            return;
        }
        let (log, target) = (sh.log.clone(), target.to_string());
        let r = tokio::task::spawn_blocking(move || {
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .append(&target, &chunks)
        })
        .await;
        if let Ok(Err(e)) = r {
            tracing::warn!(job = %self.ctx.tag, "resume state not updated: {e}");
        }
    }

    pub(super) async fn read_and_store(
        &self,
        index: u64,
        geo: Geometry,
        reader: &Reader,
        counters: &Counters,
        sh: &Shared,
        target: &str,
    ) -> Result<Stored, ExportError> {
        let (off, len) = geo.range(index);
        sh.throttle.acquire(len).await;
        let buf = reader.read(off, len).await?;
        counters.read.fetch_add(len, Relaxed);
        let permit = sh
            .cpu
            .clone()
            .acquire_owned()
            .await
            .map_err(step("storing"))?;
        let (repo, log, target) = (sh.repo.clone(), sh.log.clone(), target.to_string());
        let chunk = blocking("storing", move || {
            let stored = if plan::is_zero(&buf) {
                drop(permit);
                None
            } else {
                let sealed = repo.seal_chunk(&buf)?;
                // The CPU work is done: the write waits on the disk, and
                // another chunk can be sealed meanwhile.
                drop((permit, buf));
                Some(repo.put_chunk(sealed)?)
            };
            let line = [(index, stored.as_ref().map(|s| s.id))];
            if let Err(e) = log
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .append(&target, &line)
            {
                tracing::warn!("resume state not updated: {e}");
            }
            Ok(stored)
        })
        .await?;
        counters.done.fetch_add(len, Relaxed);
        Ok(Stored { index, len, chunk })
    }
}

/// Turns the parent's chunks that are gone from the repository (removed as
/// damaged by `verify --repair`) from reused into read: the new snapshot
/// stays whole, and storing the data again heals every older snapshot that
/// shares the chunk. Returns the plan and how many were turned.
pub(super) async fn read_missing(
    repo: &Arc<Repo>,
    planned: Vec<(u64, Action)>,
) -> Result<(Vec<(u64, Action)>, u64), ExportError> {
    let repo = repo.clone();
    blocking("checking the parent snapshot's chunks", move || {
        let mut missing = 0;
        let mut out = Vec::with_capacity(planned.len());
        for (i, a) in planned {
            match a {
                Action::Reuse(id) if !repo.has_chunk(&id)? => {
                    missing += 1;
                    out.push((i, Action::Read));
                }
                a => out.push((i, a)),
            }
        }
        Ok((out, missing))
    })
    .await
}
