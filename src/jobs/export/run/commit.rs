//! The export itself: sources opened, every disk read and stored, NVRAM,
//! then the snapshot committed.

use super::*;

impl Job<'_> {
    pub(super) async fn export(
        &self,
        p: Prepared,
        clock: Instant,
    ) -> Result<ExportReport, ExportError> {
        let (spec, req) = (self.spec, &self.spec.request);
        let mut warnings = p.warnings.clone();
        let cs = p.repo.chunk_size();
        let host = self.host.fresh().await.map_err(step("connecting"))?;

        // The resume state of an interrupted run with the same arguments.
        let resume_path = resume::path_for(&spec.data_dir, p.repo.id(), &req.from, &req.vm);
        let rp = resume_path.clone();
        let loaded = tokio::task::spawn_blocking(move || resume::load(&rp))
            .await
            .map_err(step("reading the resume state"))?
            .map_err(step("reading the resume state"))?
            .filter(|(h, _)| {
                h.repo == p.repo.id() && h.host == req.from && h.vm == req.vm && h.chunk_size == cs
            });
        let stamps = if p.live {
            Vec::new()
        } else {
            self.stamps(&p.disks).await?
        };

        // Checkpoints: only qcow2 disks carry the bitmaps.
        let all_qcow2 = p.disks.iter().all(|d| d.format == "qcow2");
        let want_checkpoints = p.live && spec.profile.incremental && all_qcow2;
        if p.live && spec.profile.incremental && !all_qcow2 {
            warnings.push(
                "not every disk is qcow2: no checkpoint, every export reads everything".into(),
            );
        }
        let existing = if want_checkpoints {
            checkpoint::list(&host.worker, &req.vm)
                .await
                .map_err(step("listing checkpoints"))?
        } else {
            Vec::new()
        };
        let mut full_read_reason = None;
        let mut base = Base::None;
        let mut incremental: Option<String> = None;
        let mut done = resume::Done::default();
        if let Some((h, d)) = loaded {
            let usable = if p.live {
                want_checkpoints
                    && h.live
                    && h.checkpoint.as_ref().is_some_and(|c| existing.contains(c))
            } else {
                !h.live && h.files == stamps
            };
            if usable {
                incremental = if p.live { h.checkpoint.clone() } else { None };
                base = Base::Resume;
                done = d;
            } else {
                tracing::info!(job = %self.ctx.tag, "the resume state no longer applies; starting over");
            }
        }
        if matches!(base, Base::None) && want_checkpoints {
            match p.parent.as_ref().map(|s| &s.manifest) {
                Some(m) if m.live => match &m.checkpoint {
                    Some(cp) if existing.contains(cp) => {
                        incremental = Some(cp.clone());
                        base = Base::Parent;
                    }
                    Some(cp) => {
                        full_read_reason = Some(format!(
                            "checkpoint {cp} of the last snapshot is missing on {}; reading everything",
                            req.from
                        ));
                    }
                    None => {}
                },
                _ => {}
            }
        }
        // A prune may have removed chunks nobody referenced yet.
        if matches!(base, Base::Resume) {
            let repo = p.repo.clone();
            let mut d = std::mem::take(&mut done);
            done = blocking("checking resumed chunks", move || {
                for chunks in d.disks.values_mut() {
                    let mut missing = Vec::new();
                    for (i, c) in chunks.iter() {
                        if let Some(id) = c
                            && !repo.has_chunk(id)?
                        {
                            missing.push(*i);
                        }
                    }
                    for i in missing {
                        chunks.remove(&i);
                    }
                }
                Ok(d)
            })
            .await?;
        }
        if let Some(why) = &full_read_reason {
            tracing::warn!(job = %self.ctx.tag, "{why}");
            self.ctx.phase_note(JobPhase::Preparing, why.clone());
        } else {
            self.ctx.phase(JobPhase::Preparing);
        }
        if p.live {
            self.wait_for_leftover_backup().await?;
        }

        let mut journal = Journal::create(
            &spec.journal_dir,
            JournalEntry {
                job_id: self.ctx.tag.clone(),
                kind: crate::model::JobKind::Export,
                started: unix_now(),
                summary: format!(
                    "export of {} on {} to {}",
                    req.vm,
                    req.from,
                    req.repo.display()
                ),
                resources: Vec::new(),
            },
        )
        .map_err(step("journal"))?;
        let mut made = Made::default();
        let result = self
            .read_and_commit(
                &p,
                &host,
                base,
                incremental,
                done,
                stamps,
                &mut made,
                &mut journal,
                want_checkpoints,
                &resume_path,
            )
            .await;
        match result {
            Ok(mut r) => {
                journal.finish().map_err(step("journal"))?;
                r.full_read_reason = r.full_read_reason.or(full_read_reason);
                r.warnings.splice(0..0, warnings);
                r.totals.duration_ms = clock.elapsed().as_millis() as u64;
                Ok(r)
            }
            Err(e) => {
                let released = made.release(self.host).await;
                if let Some(cp) = made.checkpoint.take() {
                    let deleted = match self.host.fresh().await {
                        Ok(h) => checkpoint::delete(&h.worker, &req.vm, &cp)
                            .await
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    if let Err(why) = deleted {
                        tracing::warn!(job = %self.ctx.tag, "checkpoint {cp} not deleted: {why}");
                    }
                    // The state's checkpoint is gone: nothing left to resume from.
                    if p.live {
                        let rp = resume_path.clone();
                        let _ = tokio::task::spawn_blocking(move || resume::remove(&rp)).await;
                    }
                }
                match released {
                    Ok(()) => {
                        let _ = journal.finish();
                    }
                    Err(left) => {
                        tracing::warn!(job = %self.ctx.tag, "cleanup incomplete, kept in the journal: {left}");
                    }
                }
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn read_and_commit(
        &self,
        p: &Prepared,
        host: &HostLink,
        base: Base,
        incremental: Option<String>,
        done: resume::Done,
        stamps: Vec<FileStamp>,
        made: &mut Made,
        journal: &mut Journal,
        want_checkpoints: bool,
        resume_path: &std::path::Path,
    ) -> Result<ExportReport, ExportError> {
        let (spec, req) = (self.spec, &self.spec.request);
        let dir = RunDir::create(host.session.clone(), &self.ctx.tag)
            .await
            .map_err(step("preparing the source"))?;
        journal
            .record(Resource::RemoteDir {
                host: host.name.clone(),
                path: dir.path().as_str().into(),
            })
            .map_err(step("journal"))?;
        let time = unix_now() as i64;
        let mut endpoints = Vec::new();
        let mut base = base;
        let mut incremental_from = None;
        let mut full_read_reason = None;
        let new_checkpoint = want_checkpoints.then(|| checkpoint::name_for(&self.ctx.tag));
        if p.live {
            let socket = PullBackup::socket_for(&dir).map_err(step("preparing the source"))?;
            journal
                .record(Resource::BackupJob {
                    host: host.name.clone(),
                    domain: req.vm.clone(),
                    socket: socket.as_str().into(),
                    pool: host.pool.clone(),
                    tag: self.ctx.tag.clone(),
                })
                .map_err(step("journal"))?;
            let targets: Vec<&str> = p.disks.iter().map(|d| d.target.as_str()).collect();
            let opts = BackupOptions {
                checkpoint: new_checkpoint.clone(),
                incremental: incremental.clone(),
            };
            made.dir = Some(dir);
            let dir = made.dir.as_ref().ok_or(ExportError::Cancelled)?;
            let b = PullBackup::begin_with(
                dir,
                host.worker.clone(),
                &req.vm,
                &targets,
                &host.pool,
                &self.ctx.tag,
                &opts,
            )
            .await
            .map_err(step("starting the backup job"))?;
            made.checkpoint = new_checkpoint.clone();
            if let Some(why) = b.fallback() {
                full_read_reason = Some(why.to_string());
                base = Base::None;
                self.ctx.phase_note(JobPhase::Preparing, why.to_string());
            }
            incremental_from = b.incremental().map(String::from);
            for d in &p.disks {
                let bd = b.disk(&d.target).ok_or_else(|| ExportError::Step {
                    step: "starting the backup job",
                    message: format!("disk {} is not exported", d.target),
                })?;
                let mut opts = ConnectOptions::new(bd.export_name.clone());
                opts.extra_contexts = bd.dirty_context().into_iter().collect();
                endpoints.push(Endpoint {
                    conn: host.conn.clone(),
                    socket: b.socket().clone(),
                    opts,
                });
            }
            made.backup = Some(b);
        } else {
            for d in &p.disks {
                let path = RemotePath::new(&d.path).map_err(step("preparing the source"))?;
                let format: ImageFormat = d.format.parse().map_err(step("preparing the source"))?;
                let nbd = QemuNbd::start(&dir, NbdExportSpec::read_only(path, format, &d.target))
                    .await
                    .map_err(step("exporting the source disk"))?;
                endpoints.push(Endpoint {
                    conn: host.conn.clone(),
                    socket: nbd.socket().clone(),
                    opts: ConnectOptions::new(nbd.export_name().to_string()),
                });
                made.nbd.push(nbd);
            }
            made.dir = Some(dir);
        }
        self.ctx.check_cancel()?;

        // The resume state of this run, from here on.
        let header = Header {
            version: resume::VERSION,
            repo: p.repo.id().to_string(),
            host: req.from.clone(),
            vm: req.vm.clone(),
            chunk_size: p.repo.chunk_size(),
            live: p.live,
            checkpoint: new_checkpoint.clone(),
            files: stamps,
        };
        let rp = resume_path.to_path_buf();
        let log = tokio::task::spawn_blocking(move || resume::Log::create(&rp, &header))
            .await
            .map_err(step("writing the resume state"))?
            .map_err(step("writing the resume state"))?;
        let log = Arc::new(Mutex::new(log));

        self.ctx.phase(JobPhase::Copying);
        let shared = Shared {
            repo: p.repo.clone(),
            log,
            cpu: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
            throttle: Throttle::from_limit(spec.profile.bandwidth_limit),
            done: Arc::new(done),
            parent: p.parent.clone().map(Arc::new),
        };
        let progress: Vec<Arc<Progress>> =
            p.disks.iter().map(|_| Arc::new(Progress::new())).collect();
        let stop_ticker = CancellationToken::new();
        let _stop_on_drop = stop_ticker.clone().drop_guard();
        let ticker = crate::jobs::transfer::ticker::spawn(
            self.ctx.view(JobPhase::Copying),
            p.disks.iter().map(|d| d.target.clone()).collect(),
            progress.clone(),
            self.ctx.report.clone(),
            stop_ticker.clone(),
        );
        let trust_offline = matches!(base, Base::Resume) && !p.live;
        let reuse_from = match base {
            Base::None => Reuse::Nothing,
            Base::Parent => Reuse::Parent,
            Base::Resume => Reuse::Done,
        };
        let exports = p
            .disks
            .iter()
            .zip(&endpoints)
            .zip(&progress)
            .map(|((d, ep), pr)| {
                self.export_disk(
                    d,
                    ep.clone(),
                    pr.clone(),
                    &shared,
                    reuse_from,
                    trust_offline,
                )
            });
        let results = futures::future::join_all(exports).await;
        stop_ticker.cancel();
        let _ = ticker.await;
        let mut outcomes = Vec::new();
        for r in results {
            outcomes.push(r?);
        }
        self.ctx.check_cancel()?;
        made.release(host)
            .await
            .map_err(|message| ExportError::Step {
                step: "ending the backup job",
                message,
            })?;

        // NVRAM: a small file, stored whole as one chunk.
        let nvram = match &p.nvram {
            Some(v) => self.store_nvram(&p.repo, v).await?,
            None => None,
        };

        let mut totals = Totals::default();
        let mut disks = Vec::new();
        let mut indexes = Vec::new();
        let mut resumed = 0;
        let mut reread = 0;
        let mut retries = 0;
        for (d, o) in p.disks.iter().zip(outcomes) {
            let l = o.ledger;
            totals.virtual_bytes += o.size;
            totals.data_bytes += l.data_bytes;
            totals.read_bytes += o.read_bytes;
            totals.new_bytes += l.new_bytes;
            totals.new_chunks += l.new_chunks;
            totals.reused_chunks += l.reused_chunks;
            resumed += l.resumed;
            reread += l.reread;
            retries += o.retries;
            disks.push(DiskReport {
                target: d.target.clone(),
                virtual_size: o.size,
                read_bytes: o.read_bytes,
                data_bytes: l.data_bytes,
                unchanged_chunks: l.unchanged,
                new_chunks: l.new_chunks,
            });
            indexes.push(DiskIndex {
                target: d.target.clone(),
                virtual_size: o.size,
                format: d.format.clone(),
                source_path: d.path.clone(),
                chunk_size: p.repo.chunk_size(),
                chunks: l.chunks,
            });
        }
        if let Some(n) = &nvram {
            totals.new_bytes += n.1;
            if n.1 > 0 {
                totals.new_chunks += 1;
            }
        }
        // The checkpoint the next incremental starts from: this run's, if
        // libvirt made one.
        let manifest = Manifest {
            format_version: Manifest::FORMAT_VERSION,
            vm: req.vm.clone(),
            vm_uuid: p.vm_uuid.clone(),
            host: req.from.clone(),
            profile: spec.profile.name.clone(),
            time,
            parent: p.parent.as_ref().map(|s| s.id.clone()),
            live: p.live,
            checkpoint: made.checkpoint.clone(),
            domain_xml: p.inactive_xml.clone(),
            nvram: nvram.map(|n| n.0),
            disks: indexes,
            totals: totals.clone(),
        };
        self.ctx.check_cancel()?;
        self.ctx
            .phase_note(JobPhase::Defining, "committing the snapshot".into());
        let repo = p.repo.clone();
        let id = blocking("committing the snapshot", move || {
            repo.commit_snapshot(&manifest)
        })
        .await?;
        // Committed: the new checkpoint is the snapshot's now.
        let kept = made.checkpoint.take();
        let mut warnings = Vec::new();
        if reread > 0 {
            warnings.push(format!(
                "{reread} unchanged chunk(s) of the last snapshot were missing from the repository (removed as damaged?) and were read again; the snapshots that share them are whole again"
            ));
        }
        if p.live {
            match checkpoint::delete_ours_except(&host.worker, &req.vm, kept.as_deref()).await {
                Ok(gone) if !gone.is_empty() => {
                    tracing::info!(job = %self.ctx.tag, "older checkpoints deleted: {}", gone.join(", "))
                }
                Ok(_) => {}
                Err(e) => warnings.push(format!("older checkpoints not deleted: {e}")),
            }
        }
        let rp = resume_path.to_path_buf();
        if let Err(e) = tokio::task::spawn_blocking(move || resume::remove(&rp))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        {
            warnings.push(format!("resume state not removed: {e}"));
        }
        let skipped = totals.virtual_bytes.saturating_sub(totals.read_bytes);
        Ok(ExportReport {
            snapshot: id.to_string(),
            vm: req.vm.clone(),
            host: req.from.clone(),
            repo: req.repo.clone(),
            profile: spec.profile.name.clone(),
            live: p.live,
            parent: p.parent.as_ref().map(|s| s.id.to_string()),
            incremental_from,
            full_read_reason,
            checkpoint: kept,
            resumed_chunks: resumed,
            totals,
            skipped_bytes: skipped,
            retries,
            disks,
            warnings,
            pruned: Vec::new(),
        })
    }

    /// Reads the NVRAM file over SSH and stores it as one chunk (none when
    /// all zero). Returns the copy and the bytes it added to the repository;
    /// None when libvirt has not made the store yet.
    pub(super) async fn store_nvram(
        &self,
        repo: &Arc<Repo>,
        store: &crate::libvirt::domain::VarStore,
    ) -> Result<Option<(NvramCopy, u64)>, ExportError> {
        let path = store.path.as_str();
        let Some(data) = crate::jobs::nvram::read_nvram(self.host, path, store.derived).await?
        else {
            return Ok(None);
        };
        let size = data.len() as u64;
        let repo = repo.clone();
        let compression = self.spec.profile.compression;
        let stored = blocking("storing NVRAM", move || {
            if kvm_clone_codec::is_zero(&data) {
                return Ok(None);
            }
            repo.store_chunk_with(&data, compression).map(Some)
        })
        .await?;
        Ok(Some((
            NvramCopy {
                path: path.to_string(),
                size,
                chunk: stored.as_ref().map(|s| s.id),
            },
            stored.map_or(0, |s| s.stored_bytes),
        )))
    }
}
