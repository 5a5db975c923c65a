//! One disk's copy into the repository: the pipeline's engine from a
//! [`PlannedSource`] (only changed chunks are data) into a
//! [`ChunkStoreSink`], with the profile's throttle, retry and workers; the
//! resume log is appended as chunks settle.

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
pub(super) struct DiskOutcome {
    pub(super) size: u64,
    pub(super) ledger: LedgerTotals,
    pub(super) read_bytes: u64,
    pub(super) retries: u32,
}

impl Job<'_> {
    pub(super) async fn export_disk(
        &self,
        d: &DiskJob,
        ep: Endpoint,
        progress: Arc<Progress>,
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
        let size = pool.size();
        let geo = Geometry {
            chunk_size: u64::from(sh.repo.chunk_size()),
            disk_size: size,
        };
        let (log, target) = (sh.log.clone(), d.target.clone());
        let tag = self.ctx.tag.clone();
        let journal: ChunkJournal = Box::new(move |chunks| {
            if let Err(e) = log
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .append(&target, chunks)
            {
                tracing::warn!(job = %tag, "resume state not updated: {e}");
            }
        });
        let ledger = Arc::new(ChunkLedger::new(geo, journal));
        let plan = DiskPlan::new(
            PlanInputs {
                dirty_context: ep.opts.extra_contexts.first().cloned(),
                trust_known: trust_offline,
                known: known_chunks(d, sh, reuse, geo),
                check_in: matches!(reuse, Reuse::Parent).then(|| sh.repo.clone()),
                resumed: matches!(reuse, Reuse::Done),
            },
            ledger.clone(),
        );
        let source = PlannedSource::new(pool, plan.clone()).map_err(step("connecting NBD"))?;
        let sink = ChunkStoreSink::new(sh.repo.clone(), ledger.clone(), sh.cpu.clone())
            .compressed(profile.compression);
        // Chunks are bounded by the CPUs sealing them, as by the requests.
        let workers = profile.copy_workers().clamp(
            2,
            4 * std::thread::available_parallelism().map_or(2, |n| n.get()),
        );
        let job = CopyJob::new(CopyOptions {
            // One chunk per window and per write; a stored chunk is in
            // place, so a retry resumes from the last chunk stored.
            window: geo.chunk_size,
            workers,
            hash: false,
            retry: profile_retry(profile),
            checkpoint_bytes: geo.chunk_size,
        })
        .with_progress(progress)
        .with_throttle(sh.throttle.clone())
        .with_cancel(self.ctx.cancel.child_token());
        let again = sink.clone();
        let reconnect = move || {
            let (ep, plan, sink) = (ep.clone(), plan.clone(), again.clone());
            async move {
                let pool = ep.connect(connections).await?;
                Ok((PlannedSource::new(pool, plan)?, sink))
            }
        };
        let out = job
            .run(source, sink, reconnect)
            .await
            .map_err(|e| match e {
                CopyError::Cancelled => ExportError::Cancelled,
                other => ExportError::Step {
                    step: "reading",
                    message: format!("{}: {other}", d.target),
                },
            })?;
        let _ = out.source.pool().close().await;
        Ok(DiskOutcome {
            size,
            ledger: ledger.totals(),
            read_bytes: out.stats.bytes_read,
            retries: out.retries,
        })
    }
}

/// The profile's retry budget: attempts count the first try.
fn profile_retry(profile: &Profile) -> RetryPolicy {
    RetryPolicy {
        attempts: profile.retry.attempts.saturating_sub(1),
        initial: profile.retry.initial,
        max: profile.retry.max,
        ..RetryPolicy::default()
    }
}

/// What the earlier state (the parent snapshot, or an interrupted run)
/// says of each chunk of disk `d`.
fn known_chunks(d: &DiskJob, sh: &Shared, reuse: Reuse, geo: Geometry) -> KnownFn {
    match reuse {
        Reuse::Nothing => Box::new(|_| None),
        Reuse::Parent => {
            // The parent's index of this disk, if it had the same shape.
            let chunks: Option<Vec<ChunkRef>> = sh
                .parent
                .as_ref()
                .and_then(|s| s.manifest.disks.iter().find(|x| x.target == d.target))
                .filter(|x| {
                    x.virtual_size == geo.disk_size && u64::from(x.chunk_size) == geo.chunk_size
                })
                .map(|x| x.chunks.clone());
            Box::new(move |i| {
                let idx = chunks.as_ref()?;
                Some(match idx.binary_search_by_key(&i, |c| c.index) {
                    Ok(k) => Known::Chunk(idx[k].id),
                    Err(_) => Known::Zero,
                })
            })
        }
        Reuse::Done => {
            let (done, target) = (sh.done.clone(), d.target.clone());
            Box::new(move |i| {
                Some(match done.get(&target, i)? {
                    Some(id) => Known::Chunk(id),
                    None => Known::Zero,
                })
            })
        }
    }
}
