//! The export job: validate, open the source disks over NBD (a pull-mode
//! backup with a checkpoint for a running VM, incremental from the last
//! snapshot's checkpoint; qemu-nbd for a shut-off one), plan each 4 MiB
//! chunk, read what must be read over several connections, hash, compress,
//! seal and store it on the blocking pool, then commit the snapshot. A
//! failure or cancel undoes what the job made on the host; chunks already
//! stored stay (unreferenced until a rerun uses them, or a prune drops them).

use super::plan::{self, Action, Geometry, Known};
use super::resume::{self, FileStamp, Header};
use super::{DiskReport, ExportError, ExportReport, ExportRequest};
use crate::config::profile::{Encryption, Profile, ProfileKind};
use crate::jobs::hosts::HostLink;
use crate::jobs::journal::unix_now;
use crate::jobs::journal::{Journal, JournalEntry, Resource};
use crate::jobs::progress::{Report, Update};
use crate::libvirt::domain_xml::parse_domain;
use crate::model::detail::RetryNote;
use crate::model::{DiskProgress, JobPhase, JobView};
use crate::nbd::ConnectOptions;
use crate::pipeline::{BlockError, NbdPool, RateEstimator, RetryPolicy, Throttle};
use crate::remote::backup::{self, BackupOptions, PullBackup, checkpoint};
use crate::remote::qemu_nbd::{ExportSpec as NbdExportSpec, ImageFormat, QemuNbd};
use crate::remote::socket::{self, SocketTransport};
use crate::remote::{RemotePath, RunDir, rundir};
use crate::repo::{
    ChunkId, ChunkRef, DiskIndex, Manifest, NvramCopy, Repo, RepoError, SnapshotInfo, Totals,
};
use crate::transport::HostConnection;
use futures::StreamExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{RwLock, Semaphore};
use tokio_util::sync::CancellationToken;

/// How long the job waits for an earlier run's leftover backup job to be
/// ended by the journal's cleanup before giving up.
const LEFTOVER_WAIT: Duration = Duration::from_secs(60);

/// Everything one export needs besides the host.
pub struct ExportSpec {
    pub job_id: u64,
    pub request: ExportRequest,
    /// The repository already unlocked by the backend (its session key);
    /// None: the job opens it with the request's unlock.
    pub opened: Option<Arc<Repo>>,
    pub profile: Profile,
    /// Where the job journal goes (`<data dir>/journal`).
    pub journal_dir: PathBuf,
    /// The data directory (the resume state goes to `export-resume/`).
    pub data_dir: PathBuf,
}

fn step<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> ExportError {
    move |e| ExportError::Step {
        step,
        message: e.to_string(),
    }
}

/// Runs `f` on the blocking pool (file I/O, hashing, sealing).
async fn blocking<R: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<R, RepoError> + Send + 'static,
) -> Result<R, ExportError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(step(what))?
        .map_err(step(what))
}

/// One disk to export.
#[derive(Debug, Clone)]
struct DiskJob {
    target: String,
    path: String,
    format: String,
}

/// Where a disk is served, so connections can be reopened after a failure.
#[derive(Clone)]
struct Endpoint {
    conn: HostConnection,
    socket: RemotePath,
    opts: ConnectOptions,
}

impl Endpoint {
    async fn connect(&self, count: usize) -> Result<NbdPool, BlockError> {
        let session = self.conn.session().await.map_err(BlockError::transport)?;
        let socket = self.socket.clone();
        NbdPool::connect(count, &self.opts, || {
            let (session, socket) = (session.clone(), socket.clone());
            async move { socket::open(&session, &socket, SocketTransport::Auto).await }
        })
        .await
    }
}

/// Live counters of one disk, sampled by the ticker.
#[derive(Default)]
struct Counters {
    total: AtomicU64,
    done: AtomicU64,
    read: AtomicU64,
    retries: AtomicU32,
}

/// A disk's connections, reopened (once per failure) when they break.
struct Reader {
    endpoint: Endpoint,
    connections: usize,
    /// Shared, so the pool's round-robin spreads requests over every connection.
    pool: RwLock<(u64, Arc<NbdPool>)>,
    retry: RetryPolicy,
    counters: Arc<Counters>,
    target: String,
    report: Report,
}

impl Reader {
    /// Runs `op` on the pool, reconnecting and retrying transient failures
    /// as the profile allows.
    async fn with_retry<T, F, Fut>(&self, op: F) -> Result<T, ExportError>
    where
        F: Fn(Arc<NbdPool>) -> Fut,
        Fut: std::future::Future<Output = Result<T, BlockError>>,
    {
        let mut backoff = self.retry.backoff();
        let mut attempt = 0;
        loop {
            let (generation, pool) = {
                let g = self.pool.read().await;
                (g.0, g.1.clone())
            };
            let err = match op(pool).await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() => e,
                Err(e) => return Err(step("reading")(e)),
            };
            let Some(delay) = backoff.next() else {
                return Err(step("reading")(format!(
                    "{}: {err} (retries used up)",
                    self.target
                )));
            };
            attempt += 1;
            self.counters.retries.fetch_add(1, Relaxed);
            tracing::warn!(disk = %self.target, attempt, error = %err, "NBD failed; reconnecting");
            (self.report)(Update::Retry(RetryNote {
                at_ms: crate::jobs::history::now_ms(),
                disk: self.target.clone(),
                attempt,
                reason: err.to_string(),
            }));
            tokio::time::sleep(delay).await;
            let mut g = self.pool.write().await;
            if g.0 == generation {
                match self.endpoint.connect(self.connections).await {
                    Ok(p) => *g = (generation + 1, Arc::new(p)),
                    // The next attempt fails again and counts against the retries.
                    Err(e) => tracing::warn!(disk = %self.target, error = %e, "reconnect failed"),
                }
            }
        }
    }

    async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, ExportError> {
        self.with_retry(|pool| async move { read_range(&pool, offset, len).await })
            .await
    }

    async fn close(&self) {
        let _ = self.pool.read().await.1.close().await;
    }
}

/// Reads `len` bytes at `offset` in requests the server accepts.
async fn read_range(pool: &NbdPool, offset: u64, len: u64) -> Result<Vec<u8>, BlockError> {
    let max = u64::from(pool.max_io().max(1));
    if len <= max {
        // One request (a chunk within the server's limit): its buffer as is.
        return Ok(pool.client().read(offset, len as u32).await?);
    }
    let mut buf = Vec::with_capacity(len as usize);
    let mut pos = offset;
    while pos < offset + len {
        let n = max.min(offset + len - pos) as u32;
        buf.extend_from_slice(&pool.client().read(pos, n).await?);
        pos += u64::from(n);
    }
    Ok(buf)
}

/// What the source side of the job made, undone in reverse.
#[derive(Default)]
struct Made {
    dir: Option<RunDir>,
    backup: Option<PullBackup>,
    nbd: Vec<QemuNbd>,
    /// The checkpoint this run created (deleted if the run fails).
    checkpoint: Option<String>,
}

impl Made {
    /// Ends the backup, stops qemu-nbd and removes the run directory;
    /// falls back to a path-based cleanup over the current connection.
    async fn release(&mut self, host: &HostLink) -> Result<(), String> {
        let mut errors: Vec<String> = Vec::new();
        let stops = self.nbd.drain(..).map(|n| n.stop());
        for r in futures::future::join_all(stops).await {
            if let Err(e) = r {
                errors.push(e.to_string());
            }
        }
        if let Some(b) = self.backup.take() {
            let socket = b.socket().clone();
            let domain = b.domain().to_string();
            if let Err(e) = b.end().await {
                // The session may have been replaced: again, by path.
                let retry = match host.fresh().await {
                    Ok(h) => crate::jobs::recover::undo(
                        &Resource::BackupJob {
                            host: h.name.clone(),
                            domain,
                            socket: socket.as_str().into(),
                            pool: h.pool.clone(),
                            tag: String::new(),
                        },
                        &h,
                    )
                    .await
                    .err(),
                    Err(e2) => Some(e2.to_string()),
                };
                if let Some(again) = retry {
                    errors.push(format!("{e}; {again}"));
                }
            }
        }
        if let Some(d) = self.dir.take() {
            let path = d.path().clone();
            if let Err(e) = d.remove().await {
                let retry = match host.fresh().await {
                    Ok(h) => rundir::cleanup(&h.session, &path).await.err(),
                    Err(e2) => Some(crate::remote::RemoteError::Backup {
                        domain: String::new(),
                        reason: e2.to_string(),
                    }),
                };
                if let Some(again) = retry {
                    errors.push(format!("{e}; {again}"));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// What the job found before reading anything.
struct Prepared {
    repo: Arc<Repo>,
    inactive_xml: String,
    vm_uuid: String,
    live: bool,
    disks: Vec<DiskJob>,
    nvram: Option<String>,
    parent: Option<SnapshotInfo>,
    warnings: Vec<String>,
}

/// Where unchanged chunks can come from, and since when the dirty bitmap
/// (if any) counts.
enum Base {
    /// Read everything allocated.
    None,
    /// Incremental from the parent snapshot's checkpoint.
    Parent,
    /// Incremental from an interrupted run's checkpoint (live), or an
    /// unchanged shut-off image: that run's done chunks.
    Resume,
}

struct Job<'a> {
    spec: &'a ExportSpec,
    host: &'a HostLink,
    report: Report,
    cancel: CancellationToken,
    tag: String,
}

impl Job<'_> {
    fn view(&self, phase: JobPhase) -> JobView {
        JobView {
            id: self.spec.job_id,
            kind: crate::model::JobKind::Export,
            vm: self.spec.request.vm.clone(),
            from: self.spec.request.from.clone(),
            to: self.spec.request.repo.display().to_string(),
            phase,
            disks: Vec::new(),
            rate_bytes_per_sec: 0.0,
            eta_secs: None,
            message: None,
            queue_position: None,
        }
    }

    fn phase(&self, phase: JobPhase, note: Option<String>) {
        tracing::info!(job = %self.tag, ?phase, note = note.as_deref().unwrap_or(""), "export phase");
        let mut v = self.view(phase);
        v.message = note;
        (self.report)(Update::View(v));
    }

    fn check_cancel(&self) -> Result<(), ExportError> {
        if self.cancel.is_cancelled() {
            Err(ExportError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Runs one export to the end. On error or cancel, what it made on the
/// host is removed (the journal keeps what could not be), the checkpoint
/// it created is deleted, and the repository keeps no new snapshot.
pub async fn run(
    spec: &ExportSpec,
    host: &HostLink,
    report: Report,
    cancel: CancellationToken,
) -> Result<ExportReport, ExportError> {
    let job = Job {
        spec,
        host,
        report,
        cancel,
        tag: format!("e{}", spec.job_id),
    };
    let clock = Instant::now();
    job.phase(JobPhase::Validating, None);
    let prepared = job.validate().await?;
    // Held for the whole run: a prune waits, so no chunk this export relies
    // on disappears under it.
    let repo = prepared.repo.clone();
    let mut result = {
        let lock_repo = repo.clone();
        let _lock = blocking("locking the repository", move || lock_repo.lock_shared()).await?;
        job.export(prepared, clock).await
    };
    // The profile's retention, once the export's own lock is released (a
    // prune needs the repository to itself).
    if let (Ok(r), Some(keep)) = (&mut result, spec.profile.retention.as_ref()) {
        job.phase(
            JobPhase::Preparing,
            Some("applying the profile's retention".into()),
        );
        match apply_retention(repo, &spec.request.vm, keep).await {
            Ok(removed) => r.pruned = removed,
            Err(e) => r
                .warnings
                .push(format!("retention not applied (the snapshot is kept): {e}")),
        }
    }
    match &result {
        Ok(_) => job.phase(JobPhase::Done, None),
        Err(ExportError::Cancelled) => job.phase(JobPhase::Cancelled, None),
        Err(e) => job.phase(JobPhase::Failed, Some(e.to_string())),
    }
    result
}

/// Prunes `vm`'s snapshots to the profile's retention; returns the
/// snapshot ids removed. Another export holding the repository makes this
/// a warning for the caller, never a failure of the export.
async fn apply_retention(
    repo: Arc<Repo>,
    vm: &str,
    keep: &crate::config::profile::Retention,
) -> Result<Vec<String>, ExportError> {
    let opts = crate::repo::prune::PruneOptions {
        policy: crate::repo::retention::Policy {
            last: keep.keep_last.unwrap_or(0),
            daily: keep.keep_daily.unwrap_or(0),
            weekly: keep.keep_weekly.unwrap_or(0),
            monthly: keep.keep_monthly.unwrap_or(0),
            yearly: keep.keep_yearly.unwrap_or(0),
        },
        vm: Some(vm.to_string()),
        dry_run: false,
        confirmed: None,
    };
    let report = blocking("applying retention", move || {
        crate::repo::prune::prune(&repo, &opts)
    })
    .await?;
    Ok(report
        .snapshots
        .iter()
        .filter(|d| !d.keep)
        .map(|d| d.id.to_string())
        .collect())
}

impl Job<'_> {
    async fn validate(&self) -> Result<Prepared, ExportError> {
        let (spec, req) = (self.spec, &self.spec.request);
        if spec.profile.kind != ProfileKind::Export {
            return Err(ExportError::Invalid(format!(
                "profile {} is a {} profile; an export needs an export profile",
                spec.profile.name,
                spec.profile.kind.label()
            )));
        }
        let repo = match &spec.opened {
            Some(r) => r.clone(),
            None => {
                let (path, unlock) = (req.repo.clone(), req.unlock.clone());
                let repo = tokio::task::spawn_blocking(move || Repo::open(&path, &unlock))
                    .await
                    .map_err(step("opening the repository"))?
                    .map_err(|e| {
                        ExportError::Invalid(format!("repository {}: {e}", req.repo.display()))
                    })?;
                Arc::new(repo)
            }
        };
        if spec.profile.encryption != Encryption::None && !repo.encrypted() {
            return Err(ExportError::Invalid(format!(
                "profile {} asks for encryption ({}) but repository {} is not encrypted",
                spec.profile.name,
                spec.profile.encryption.label(),
                req.repo.display()
            )));
        }
        let probe = repo.path().join(format!(".write-test.{}", self.tag));
        tokio::task::spawn_blocking(move || {
            std::fs::write(&probe, b"")?;
            std::fs::remove_file(&probe)
        })
        .await
        .map_err(step("checking the repository"))?
        .map_err(|e| {
            ExportError::Invalid(format!(
                "repository {} is not writable: {e}",
                req.repo.display()
            ))
        })?;

        let name = req.vm.clone();
        let found = self
            .host
            .worker
            .call(move |c| {
                let d = match c.lookup_domain_by_name(&name) {
                    Ok(d) => d,
                    Err(e) if e.code().is(virt::error::ErrorNumber::NoDomain) => return Ok(None),
                    Err(e) => return Err(e),
                };
                let flags = virt::sys::VIR_DOMAIN_XML_INACTIVE | virt::sys::VIR_DOMAIN_XML_SECURE;
                Ok(Some((d.is_active()?, d.xml_desc(flags)?, d.xml_desc(0)?)))
            })
            .await
            .map_err(step("reading the VM"))?;
        let Some((live, inactive_xml, live_xml)) = found else {
            return Err(ExportError::Invalid(format!(
                "no VM named {} on {}",
                req.vm, req.from
            )));
        };
        let parsed = parse_domain(&live_xml).map_err(step("reading the VM's XML"))?;
        let mut warnings = Vec::new();
        let mut disks = Vec::new();
        for d in &parsed.disks {
            let Some(path) = d.source.path() else {
                continue;
            };
            if d.device != "disk" {
                continue;
            }
            if d.readonly || d.shareable {
                warnings.push(format!(
                    "disk {} ({}) is {}: not exported",
                    d.target,
                    path,
                    if d.readonly { "read-only" } else { "shareable" }
                ));
                continue;
            }
            disks.push(DiskJob {
                target: d.target.clone(),
                path: path.to_string(),
                format: d.format.clone().unwrap_or_else(|| "raw".into()),
            });
        }
        if disks.is_empty() {
            return Err(ExportError::Invalid(format!(
                "{} has no writable disk with a local image to export",
                req.vm
            )));
        }
        let vm_uuid = roxmltree::Document::parse(&inactive_xml)
            .ok()
            .and_then(|doc| {
                doc.root_element()
                    .children()
                    .find(|n| n.has_tag_name("uuid"))
                    .and_then(|n| n.text())
                    .map(|t| t.trim().to_string())
            })
            .unwrap_or_default();
        let (repo2, vm, from) = (repo.clone(), req.vm.clone(), req.from.clone());
        let parent = blocking("reading the last snapshot", move || {
            repo2.latest_snapshot(&vm, &from)
        })
        .await?;
        if spec.profile.live.shuts_down() && live {
            warnings.push(format!(
                "profile {} asks to shut the VM down; exports read running VMs live",
                spec.profile.name
            ));
        }
        Ok(Prepared {
            repo,
            inactive_xml,
            vm_uuid,
            live,
            disks,
            nvram: parsed.nvram.clone(),
            parent,
            warnings,
        })
    }

    /// `size mtime` of each image file, for an offline resume.
    async fn stamps(&self, disks: &[DiskJob]) -> Result<Vec<FileStamp>, ExportError> {
        let host = self
            .host
            .fresh()
            .await
            .map_err(step("reading the images"))?;
        let mut out = Vec::new();
        for d in disks {
            let cmd = crate::transport::quote::Command::new("stat")
                .arg("-L")
                .arg("-c")
                .arg("%s %y")
                .arg("--")
                .arg(&d.path)
                .build();
            let o = host
                .session
                .exec(&cmd)
                .await
                .and_then(|o| o.check(&cmd))
                .map_err(step("reading the images"))?;
            out.push(FileStamp {
                path: d.path.clone(),
                stamp: o.stdout_str().trim().to_string(),
            });
        }
        Ok(out)
    }

    /// Waits while a backup job of an earlier, killed run of ours is still
    /// being ended by the journal's cleanup; another tool's job is an error.
    async fn wait_for_leftover_backup(&self) -> Result<(), ExportError> {
        let start = Instant::now();
        loop {
            let host = self.host.fresh().await.map_err(step("checking the VM"))?;
            let socket = backup::active_socket(&host.worker, &self.spec.request.vm)
                .await
                .map_err(step("checking the VM"))?;
            let Some(socket) = socket else {
                return Ok(());
            };
            let ours = RemotePath::new(&socket)
                .ok()
                .and_then(|p| p.parent()?.parent())
                .is_some_and(|d| rundir::is_run_dir(&d));
            if !ours {
                return Err(ExportError::Invalid(format!(
                    "{} already has a backup job running (not kvm-clone's)",
                    self.spec.request.vm
                )));
            }
            if start.elapsed() > LEFTOVER_WAIT {
                return Err(ExportError::Invalid(format!(
                    "an earlier kvm-clone backup job of {} is still running",
                    self.spec.request.vm
                )));
            }
            self.check_cancel()?;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn export(&self, p: Prepared, clock: Instant) -> Result<ExportReport, ExportError> {
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
                tracing::info!(job = %self.tag, "the resume state no longer applies; starting over");
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
            tracing::warn!(job = %self.tag, "{why}");
            self.phase(JobPhase::Preparing, Some(why.clone()));
        } else {
            self.phase(JobPhase::Preparing, None);
        }
        if p.live {
            self.wait_for_leftover_backup().await?;
        }

        let mut journal = Journal::create(
            &spec.journal_dir,
            JournalEntry {
                job_id: self.tag.clone(),
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
                        tracing::warn!(job = %self.tag, "checkpoint {cp} not deleted: {why}");
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
                        tracing::warn!(job = %self.tag, "cleanup incomplete, kept in the journal: {left}");
                    }
                }
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn read_and_commit(
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
        let dir = RunDir::create(host.session.clone(), &self.tag)
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
        let new_checkpoint = want_checkpoints.then(|| checkpoint::name_for(&self.tag));
        if p.live {
            let socket = PullBackup::socket_for(&dir).map_err(step("preparing the source"))?;
            journal
                .record(Resource::BackupJob {
                    host: host.name.clone(),
                    domain: req.vm.clone(),
                    socket: socket.as_str().into(),
                    pool: host.pool.clone(),
                    tag: self.tag.clone(),
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
                &self.tag,
                &opts,
            )
            .await
            .map_err(step("starting the backup job"))?;
            made.checkpoint = new_checkpoint.clone();
            if let Some(why) = b.fallback() {
                full_read_reason = Some(why.to_string());
                base = Base::None;
                self.phase(JobPhase::Preparing, Some(why.to_string()));
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
        self.check_cancel()?;

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

        self.phase(JobPhase::Copying, None);
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
        let counters: Vec<Arc<Counters>> = p.disks.iter().map(|_| Arc::default()).collect();
        let stop_ticker = CancellationToken::new();
        let _stop_on_drop = stop_ticker.clone().drop_guard();
        let ticker = self.spawn_ticker(&p.disks, &counters, stop_ticker.clone());
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
            .zip(&counters)
            .map(|((d, ep), c)| {
                self.export_disk(d, ep.clone(), c.clone(), &shared, reuse_from, trust_offline)
            });
        let results = futures::future::join_all(exports).await;
        stop_ticker.cancel();
        let _ = ticker.await;
        let mut outcomes = Vec::new();
        for r in results {
            outcomes.push(r?);
        }
        self.check_cancel()?;
        made.release(host)
            .await
            .map_err(|message| ExportError::Step {
                step: "ending the backup job",
                message,
            })?;

        // NVRAM: a small file, stored whole as one chunk.
        let nvram = match &p.nvram {
            Some(path) => Some(self.store_nvram(&p.repo, path).await?),
            None => None,
        };

        let mut totals = Totals::default();
        let mut disks = Vec::new();
        let mut indexes = Vec::new();
        let mut resumed = 0;
        let mut reread = 0;
        for (d, o) in p.disks.iter().zip(outcomes) {
            totals.virtual_bytes += o.size;
            totals.data_bytes += o.data_bytes;
            totals.read_bytes += o.read_bytes;
            totals.new_bytes += o.new_bytes;
            totals.new_chunks += o.new_chunks;
            totals.reused_chunks += o.reused_chunks;
            resumed += o.resumed;
            reread += o.reread;
            disks.push(DiskReport {
                target: d.target.clone(),
                virtual_size: o.size,
                read_bytes: o.read_bytes,
                data_bytes: o.data_bytes,
                unchanged_chunks: o.unchanged,
                new_chunks: o.new_chunks,
            });
            indexes.push(DiskIndex {
                target: d.target.clone(),
                virtual_size: o.size,
                format: d.format.clone(),
                source_path: d.path.clone(),
                chunk_size: p.repo.chunk_size(),
                chunks: o.chunks,
            });
        }
        if let Some(n) = &nvram {
            totals.new_bytes += n.1;
            if n.1 > 0 {
                totals.new_chunks += 1;
            }
        }
        let retries: u32 = counters.iter().map(|c| c.retries.load(Relaxed)).sum();
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
        self.check_cancel()?;
        self.phase(JobPhase::Defining, Some("committing the snapshot".into()));
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
                    tracing::info!(job = %self.tag, "older checkpoints deleted: {}", gone.join(", "))
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
    /// all zero). Returns the copy and the bytes it added to the repository.
    async fn store_nvram(
        &self,
        repo: &Arc<Repo>,
        path: &str,
    ) -> Result<(NvramCopy, u64), ExportError> {
        let from = RemotePath::new(path).map_err(step("reading NVRAM"))?;
        let host = self.host.fresh().await.map_err(step("reading NVRAM"))?;
        let cmd = crate::transport::quote::Command::new("cat")
            .arg("--")
            .arg(from.as_str())
            .build();
        let data = host
            .session
            .exec(&cmd)
            .await
            .and_then(|o| o.check(&cmd))
            .map_err(step("reading NVRAM"))?
            .stdout;
        let size = data.len() as u64;
        let repo = repo.clone();
        let stored = blocking("storing NVRAM", move || {
            if plan::is_zero(&data) {
                return Ok(None);
            }
            repo.store_chunk(&data).map(Some)
        })
        .await?;
        Ok((
            NvramCopy {
                path: path.to_string(),
                size,
                chunk: stored.as_ref().map(|s| s.id),
            },
            stored.map_or(0, |s| s.stored_bytes),
        ))
    }

    fn spawn_ticker(
        &self,
        disks: &[DiskJob],
        counters: &[Arc<Counters>],
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        use tracing::Instrument;
        let targets: Vec<String> = disks.iter().map(|d| d.target.clone()).collect();
        let counters = counters.to_vec();
        let base = self.view(JobPhase::Copying);
        let report = self.report.clone();
        let task = async move {
            let mut rate = RateEstimator::new(Duration::from_secs(3));
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                let last = tokio::select! {
                    _ = tick.tick() => false,
                    _ = stop.cancelled() => true,
                };
                let disks: Vec<DiskProgress> = targets
                    .iter()
                    .zip(&counters)
                    .map(|(t, c)| DiskProgress {
                        target: t.clone(),
                        bytes_done: c.done.load(Relaxed),
                        bytes_total: c.total.load(Relaxed),
                    })
                    .collect();
                let done: u64 = disks.iter().map(|d| d.bytes_done).sum();
                let total: u64 = disks.iter().map(|d| d.bytes_total).sum();
                rate.update(Instant::now(), done);
                let mut v = base.clone();
                v.disks = disks;
                v.rate_bytes_per_sec = rate.rate().unwrap_or(0.0);
                v.eta_secs = rate.eta(done, total).map(|d| d.as_secs());
                report(Update::View(v));
                if last {
                    break;
                }
            }
        };
        tokio::spawn(task.in_current_span())
    }
}

/// Which earlier state unchanged chunks are taken from.
#[derive(Debug, Clone, Copy)]
enum Reuse {
    Nothing,
    Parent,
    Done,
}

/// What every disk's export shares.
struct Shared {
    repo: Arc<Repo>,
    log: Arc<Mutex<resume::Log>>,
    /// Bounds the chunks being hashed, compressed and sealed at once.
    cpu: Arc<Semaphore>,
    throttle: Throttle,
    done: Arc<resume::Done>,
    parent: Option<Arc<SnapshotInfo>>,
}

/// One disk's result.
#[derive(Default)]
struct DiskOutcome {
    size: u64,
    chunks: Vec<ChunkRef>,
    data_bytes: u64,
    read_bytes: u64,
    new_bytes: u64,
    new_chunks: u64,
    reused_chunks: u64,
    unchanged: u64,
    resumed: u64,
    /// Parent chunks missing from the repository, read again.
    reread: u64,
}

/// A read chunk after the blocking pool handled it.
struct Stored {
    index: u64,
    len: u64,
    chunk: Option<crate::repo::StoredChunk>,
}

impl Job<'_> {
    async fn export_disk(
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
            report: self.report.clone(),
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
    async fn export_chunks(
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
            self.check_cancel()?;
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
                    _ = self.cancel.cancelled() => return Err(ExportError::Cancelled),
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

    async fn append_log(&self, sh: &Shared, target: &str, chunks: Vec<(u64, Option<ChunkId>)>) {
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
            tracing::warn!(job = %self.tag, "resume state not updated: {e}");
        }
    }

    async fn read_and_store(
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
async fn read_missing(
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
