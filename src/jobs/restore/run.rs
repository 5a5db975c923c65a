//! The restore job: open the repository and the snapshot, validate as a
//! clone does (the snapshot stands in for the source host), create fresh
//! images on the destination and export them writable with qemu-nbd, copy
//! every disk from the repository through the pipeline (holes stay holes),
//! read back and compare, write the NVRAM, then define the rewritten
//! domain. Anything that fails or is cancelled is undone in reverse; the
//! journal covers an app that dies.

use super::checks;
use super::facts::{restore_format, source_facts};
use super::{RestoreReport, RestoreRequest, default_name};
use crate::config::profile::Profile;
use crate::jobs::context::JobContext;
use crate::jobs::define::define_domain;
use crate::jobs::error::{JobError, journal_err, step};
use crate::jobs::hosts::HostLink;
use crate::jobs::journal::unix_now;
use crate::jobs::journal::{Journal, JournalEntry};
use crate::jobs::nvram::write_nvram;
use crate::jobs::preflight::{self, TargetPlan, ValidationRequest};
use crate::jobs::progress::{Report, Update};
use crate::jobs::rewrite::{self, MacPolicy, RewritePlan};
use crate::jobs::transfer::{Copier, OpenSource, prepare_sinks};
use crate::jobs::undo::{Made, settle};
use crate::model::{Checklist, JobKind, JobPhase};
use crate::pipeline::{BlockError, SnapshotSource};
use crate::repo::{Repo, SnapshotInfo};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Everything one restore needs besides the destination host.
pub struct RestoreSpec {
    pub job_id: u64,
    pub request: RestoreRequest,
    pub profile: Profile,
    /// Where the job journal goes (`<data dir>/journal`).
    pub journal_dir: PathBuf,
}

/// A snapshot disk as a copy source: nothing to connect, nothing to close.
#[derive(Clone)]
struct FromRepo(SnapshotSource);

impl OpenSource for FromRepo {
    type Source = SnapshotSource;
    async fn open(&self, _connections: usize) -> Result<SnapshotSource, BlockError> {
        Ok(self.0.clone())
    }
    async fn close(_source: &SnapshotSource) {}
    fn window(&self) -> u64 {
        self.0.window()
    }
}

/// Opens the repository (key derivation included) and finds the snapshot,
/// on the blocking pool.
pub async fn open_snapshot(
    req: &RestoreRequest,
    open: impl FnOnce(
        &std::path::Path,
        &crate::repo::Unlock,
    ) -> Result<Arc<Repo>, crate::repo::RepoError>
    + Send
    + 'static,
) -> Result<(Arc<Repo>, SnapshotInfo), JobError> {
    let (path, unlock, query) = (req.repo.clone(), req.unlock.clone(), req.snapshot.clone());
    tokio::task::spawn_blocking(move || {
        let repo = open(&path, &unlock)?;
        let snap = repo.load_snapshot(&query)?;
        Ok::<_, crate::repo::RepoError>((repo, snap))
    })
    .await
    .map_err(step("opening the repository"))?
    .map_err(step("opening the repository"))
}

struct Job<'a> {
    spec: &'a RestoreSpec,
    dst: &'a HostLink,
    ctx: JobContext,
    repo: Arc<Repo>,
    snap: SnapshotInfo,
    /// The restored VM's name.
    name: String,
    /// The destination pool the images go to.
    pool: String,
}

/// The validation request of a restore: the snapshot's VM restored as
/// `name` into the profile's pool (else the host's) in `format`.
fn validation_request(
    vm: &str,
    name: &str,
    p: &Profile,
    host_pool: &str,
    format: crate::model::ImageFormat,
) -> ValidationRequest {
    let pool = p.pool.as_deref().unwrap_or(host_pool);
    let mut v = ValidationRequest::new(vm, name, pool);
    v.space_margin = p.space_margin;
    v.format = format.into();
    // The backend folds the request's --start into the profile.
    v.start = p.start;
    v
}

/// The restore's checklist: the clone's checks over the snapshot's VM and
/// the destination, plus the restore's own (chunks present, UUID free).
/// Read-only on the destination and the repository.
pub async fn check(
    spec: &RestoreSpec,
    dst: &HostLink,
    repo: &Arc<Repo>,
    snap: &SnapshotInfo,
) -> Result<(Checklist, ValidationRequest, preflight::Facts), JobError> {
    let req = &spec.request;
    let m = &snap.manifest;
    let name = restored_name(req, &m.vm);
    let format = restore_format(
        req.format,
        m,
        // `same` (a disk's own format) falls back to qcow2 where the
        // snapshot's disks differ.
        spec.profile.format.fixed().unwrap_or_default(),
    );
    let vreq = validation_request(&m.vm, &name, &spec.profile, &dst.pool, format);
    let source = source_facts(m, format);
    let origin = format!("snapshot {} ({} on {})", snap.id, m.vm, m.host);
    let facts = preflight::gather_dest(source, &origin, &dst.worker, &dst.session, &vreq)
        .await
        .map_err(step("validating"))?;
    let mut checklist = preflight::check(&vreq, &facts);
    let chunks = {
        let (repo, id, m) = (repo.clone(), snap.id.to_string(), m.clone());
        tokio::task::spawn_blocking(move || checks::chunks_present(&repo, &id, &m))
            .await
            .map_err(step("checking the snapshot"))?
            .map_err(step("checking the snapshot"))?
    };
    checklist.items.push(chunks);
    if req.keep_identity {
        let uuid = m.vm_uuid.clone();
        let taken = dst
            .worker
            .call(move |c| match c.lookup_domain_by_uuid_string(&uuid) {
                Ok(d) => d.name().map(Some),
                Err(e) if e.code().is(virt::error::ErrorNumber::NoDomain) => Ok(None),
                Err(e) => Err(e),
            })
            .await
            .map_err(step("validating"))?;
        checklist
            .items
            .push(checks::uuid_free(&m.vm_uuid, taken.as_deref(), &dst.name));
    }
    Ok((checklist, vreq, facts))
}

/// The name the restored VM gets.
pub fn restored_name(req: &RestoreRequest, vm: &str) -> String {
    if req.keep_identity {
        return vm.to_string();
    }
    req.new_name.clone().unwrap_or_else(|| default_name(vm))
}

/// Runs one restore to the end, from the snapshot [`open_snapshot`] found
/// (or failed to). On error or cancel, everything it created on the
/// destination is removed before it returns (the journal keeps what could
/// not be removed for the next start).
pub async fn run(
    spec: &RestoreSpec,
    opened: Result<(Arc<Repo>, SnapshotInfo), JobError>,
    dst: &HostLink,
    report: Report,
    cancel: CancellationToken,
) -> Result<RestoreReport, JobError> {
    let req = &spec.request;
    let names = |vm: String| (vm, format!("snapshot {}", req.snapshot), req.to.clone());
    let early = JobContext::new(
        spec.job_id,
        JobKind::Restore,
        names(String::new()),
        report.clone(),
        cancel.clone(),
    );
    early.phase(JobPhase::Validating);
    let (repo, snap) = opened?;
    let (checklist, vreq, facts) = check(spec, dst, &repo, &snap).await?;
    (report)(Update::Checklist(checklist.clone()));
    if !checklist.ok() {
        return Err(JobError::Invalid(checklist));
    }
    let mut ctx = JobContext::new(
        spec.job_id,
        JobKind::Restore,
        names(snap.manifest.vm.clone()),
        report,
        cancel,
    );
    ctx.base.from = format!("snapshot {}", snap.id);
    let job = Job {
        spec,
        dst,
        ctx,
        name: vreq.new_name.clone(),
        pool: vreq.dest_pool.clone(),
        repo,
        snap,
    };
    job.ctx.phase(JobPhase::Validating);
    let plan = preflight::planned_targets(&vreq, &facts)
        .ok_or_else(|| JobError::Step {
            step: "planning",
            message: "validation found no VM or pool to plan with".into(),
        })?
        .map_err(step("planning"))?;
    job.ctx.check_cancel()?;
    let mut journal = Journal::create(
        &spec.journal_dir,
        JournalEntry {
            job_id: job.ctx.tag.clone(),
            kind: crate::model::JobKind::Restore,
            started: unix_now(),
            summary: format!(
                "snapshot {} of {} to {} as {}",
                job.snap.id, job.snap.manifest.vm, spec.request.to, job.name
            ),
            resources: Vec::new(),
        },
    )
    .map_err(journal_err)?;
    let mut made = Made::default();
    let result = job.copy_and_define(&plan, &mut made, &mut journal).await;
    // Only the destination has anything of this job.
    let mut done = settle(result, made, (dst, dst), journal, &job.ctx.tag, |p| {
        job.ctx.phase(p)
    })
    .await?;
    done.checklist = checklist;
    Ok(done)
}

impl Job<'_> {
    async fn copy_and_define(
        &self,
        plan: &TargetPlan,
        made: &mut Made,
        journal: &mut Journal,
    ) -> Result<RestoreReport, JobError> {
        let (spec, dst) = (self.spec, self.dst);
        let m = &self.snap.manifest;
        self.ctx.phase(JobPhase::Preparing);
        // Every disk the domain copies must have its data in the snapshot.
        let mut sources = Vec::new();
        for d in &plan.disks {
            let index = m
                .disks
                .iter()
                .find(|i| i.target == d.target)
                .ok_or_else(|| JobError::Step {
                    step: "planning",
                    message: format!("the snapshot holds no data for disk {}", d.target),
                })?;
            let source = SnapshotSource::new(self.repo.clone(), Arc::new(index.clone()));
            sources.push(FromRepo(source));
        }

        let disks: Vec<_> = (plan.disks.iter())
            .zip(&sources)
            .map(|(d, src)| (d, src.0.disk().virtual_size))
            .collect();
        let sinks = prepare_sinks(dst, &self.ctx.tag, &self.pool, disks, made, journal).await?;
        self.ctx.check_cancel()?;

        let totals = Copier {
            profile: &spec.profile,
            cancel: &self.ctx.cancel,
            report: self.ctx.report.clone(),
            base: self.ctx.view(JobPhase::Copying),
            tag: &self.ctx.tag,
        }
        .copy_all(plan, &sources, &sinks)
        .await?;
        made.release_after_copy(dst, dst).await?;
        self.ctx.check_cancel()?;

        if let Some(n) = &plan.nvram {
            match self.nvram_data().await? {
                Some(data) => write_nvram(dst, &self.pool, &n.path, &data, made, journal).await?,
                // Not in the snapshot: libvirt makes a fresh one from the
                // template at the first start.
                None => tracing::info!(job = %self.ctx.tag, "the snapshot has no NVRAM to restore"),
            }
        }

        self.ctx.phase(JobPhase::Defining);
        let keep = spec.request.keep_identity;
        let uuid = if keep {
            uuid::Uuid::parse_str(&m.vm_uuid).map_err(step("reading the snapshot's UUID"))?
        } else {
            uuid::Uuid::new_v4()
        };
        let xml = {
            let mut rp = RewritePlan::new(&self.name, uuid);
            rp.disks = plan.rewrite_disks();
            rp.nvram_path = plan.nvram.as_ref().map(|n| n.path.clone());
            rp.keep_identity = keep;
            rp.mac_policy = if keep || spec.profile.preserve_macs {
                MacPolicy::Preserve
            } else {
                MacPolicy::Fresh
            };
            let mut rng = rand::rng();
            rewrite::rewrite_domain(&m.domain_xml, &rp, &mut rng)
                .map_err(step("rewriting the domain XML"))?
                .xml
        };
        let start = spec.profile.start || spec.request.start;
        let what = "defining the restored VM";
        let defined = define_domain(dst, &self.name, xml, start, what, made, journal).await?;
        Ok(RestoreReport {
            checklist: Checklist::default(),
            snapshot: self.snap.id.to_string(),
            vm: m.vm.clone(),
            source_host: m.host.clone(),
            name: self.name.clone(),
            uuid: uuid.to_string(),
            keep_identity: keep,
            bytes_moved: totals.moved,
            bytes_stored: totals.stored,
            bytes_skipped: totals.skipped,
            retries: totals.retries,
            verified: totals.verified,
            started: defined.started,
            disks: defined.disks,
            warnings: defined.start_failed.into_iter().collect(),
        })
    }

    /// The NVRAM file's bytes from the snapshot: its chunk, or zeros when
    /// it was all zero; None when the snapshot has none.
    async fn nvram_data(&self) -> Result<Option<Vec<u8>>, JobError> {
        let Some(n) = self.snap.manifest.nvram.clone() else {
            return Ok(None);
        };
        let size = usize::try_from(n.size).map_err(step("reading the snapshot's NVRAM"))?;
        let Some(id) = n.chunk else {
            return Ok(Some(vec![0u8; size]));
        };
        let repo = self.repo.clone();
        let data = tokio::task::spawn_blocking(move || repo.read_chunk(&id))
            .await
            .map_err(step("reading the snapshot's NVRAM"))?
            .map_err(step("reading the snapshot's NVRAM"))?;
        if data.len() != size {
            return Err(JobError::Step {
                step: "reading the snapshot's NVRAM",
                message: format!("{} bytes, the snapshot says {size}", data.len()),
            });
        }
        Ok(Some(data))
    }
}
