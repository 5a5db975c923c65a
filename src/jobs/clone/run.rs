//! The clone job itself: validate, export the source disks over NBD (a
//! pull-mode backup for a running VM, qemu-nbd for a shut-off one), create
//! and export fresh images on the destination, copy through the pipeline,
//! verify, then define the rewritten domain. Anything that fails or is
//! cancelled is undone in reverse; the journal covers an app that dies.

use super::power;
use crate::config::profile::{LivePolicy, Profile};
use crate::jobs::context::JobContext;
use crate::jobs::define::define_domain;
use crate::jobs::error::{JobError, journal_err, step};
use crate::jobs::hosts::HostLink;
use crate::jobs::journal::{Journal, JournalEntry, Resource, unix_now};
use crate::jobs::nvram::write_nvram;
use crate::jobs::preflight::{self as validate, PlannedDisk, TargetPlan, ValidationRequest};
use crate::jobs::progress::{Report, Update};
use crate::jobs::rewrite::{self as xml_rewrite, MacPolicy, RewritePlan};
use crate::jobs::transfer::{Copier, CopyTotals, Endpoint, prepare_sinks};
use crate::jobs::undo::{Made, note, settle};
use crate::model::{Checklist, CloneRequest, ImageFormat, JobKind, JobPhase, JobRequest, VmState};
use crate::remote::backup::PullBackup;
use crate::remote::qemu_nbd::{ExportSpec, QemuNbd};
use crate::remote::{RemotePath, RunDir};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// Everything one clone needs besides the hosts.
pub struct CloneSpec {
    pub job_id: u64,
    pub request: CloneRequest,
    pub profile: Profile,
    /// Where the job journal goes (`<data dir>/journal`).
    pub journal_dir: PathBuf,
}

pub use crate::model::CloneReport;

/// The validation request a clone with this profile makes; `pool` is the
/// destination host's configured pool, used unless the profile names one.
pub fn validation_request(req: &CloneRequest, p: &Profile, pool: &str) -> ValidationRequest {
    let pool = p.pool.as_deref().unwrap_or(pool);
    let mut v = ValidationRequest::new(&req.vm, &req.new_name, pool);
    v.allow_shutdown = p.live.shuts_down();
    v.space_margin = p.space_margin;
    v.format = p.format;
    v.start = p.start || req.start;
    v
}

struct Job<'a> {
    spec: &'a CloneSpec,
    src: &'a HostLink,
    dst: &'a HostLink,
    ctx: JobContext,
    /// The destination pool the images go to.
    pool: String,
}

/// Runs one clone to the end. On error or cancel, everything it created on
/// either host is removed before it returns (the journal keeps what could
/// not be removed for the next start).
pub async fn run(
    spec: &CloneSpec,
    src: &HostLink,
    dst: &HostLink,
    report: Report,
    cancel: CancellationToken,
) -> Result<CloneReport, JobError> {
    let vreq = validation_request(&spec.request, &spec.profile, &dst.pool);
    let job = Job {
        spec,
        src,
        dst,
        ctx: JobContext::new(
            spec.job_id,
            JobKind::Clone,
            JobRequest::Clone(spec.request.clone()).vm_from_to(),
            report,
            cancel,
        ),
        pool: vreq.dest_pool.clone(),
    };
    job.ctx.phase(JobPhase::Validating);
    let facts = validate::gather(&src.worker, &dst.worker, &dst.session, &vreq)
        .await
        .map_err(step("validating"))?;
    let checklist = validate::check(&vreq, &facts);
    (job.ctx.report)(Update::Checklist(checklist.clone()));
    if !checklist.ok() {
        return Err(JobError::Invalid(checklist));
    }
    let policy = spec.profile.live;
    let running = facts
        .source
        .vm
        .as_ref()
        .is_some_and(|v| v.state != VmState::ShutOff);
    if !(policy.shuts_down() && running) {
        return job.after_checks(&vreq, facts, checklist).await;
    }
    // Shut the source down, copy it offline, and start it again when the
    // policy says so, or whenever the job did not succeed.
    let vm = &spec.request.vm;
    job.ctx.phase_note(
        JobPhase::Preparing,
        format!(
            "shutting {vm} down for an offline copy (up to {})",
            crate::config::format_duration(spec.profile.shutdown_timeout)
        ),
    );
    let mut result =
        match power::shut_down(src, vm, spec.profile.shutdown_timeout, &job.ctx.cancel).await {
            Ok(()) => match validate::gather(&src.worker, &dst.worker, &dst.session, &vreq).await {
                Ok(facts) => job.after_checks(&vreq, facts, checklist).await,
                Err(e) => Err(step("validating")(e)),
            },
            Err(e) => Err(e),
        };
    if let Ok(r) = &mut result {
        r.source_shut_down = true;
    }
    if policy == LivePolicy::ShutdownRestart || result.is_err() {
        match power::start_again(src, vm).await {
            Ok(started) => {
                tracing::info!(job = %job.ctx.tag, started, "source {vm} is running again");
                // Only a start by this job counts: someone may have been quicker.
                if let Ok(r) = &mut result {
                    r.source_restarted = started;
                }
            }
            Err(e) => {
                let why = format!("starting {vm} on {} again failed: {e}", src.name);
                tracing::warn!(job = %job.ctx.tag, "{why}");
                match &mut result {
                    Ok(r) => r.warnings.push(why),
                    Err(JobError::Step { message, .. }) => {
                        message.push_str(&format!("; then {why}"));
                    }
                    Err(_) => {}
                }
            }
        }
    }
    result
}

impl Job<'_> {
    /// Everything after a passing checklist: plan, copy, define; undone on
    /// failure.
    async fn after_checks(
        &self,
        vreq: &ValidationRequest,
        facts: validate::Facts,
        checklist: Checklist,
    ) -> Result<CloneReport, JobError> {
        let (job, spec, src, dst) = (self, self.spec, self.src, self.dst);
        let plan = validate::planned_targets(vreq, &facts)
            .ok_or_else(|| JobError::Step {
                step: "planning",
                message: "validation found no VM or pool to plan with".into(),
            })?
            .map_err(step("planning"))?;
        let live = facts
            .source
            .vm
            .as_ref()
            .is_some_and(|v| v.state != VmState::ShutOff);
        job.ctx.check_cancel()?;

        let mut journal = Journal::create(
            &spec.journal_dir,
            JournalEntry {
                job_id: job.ctx.tag.clone(),
                kind: crate::model::JobKind::Clone,
                started: unix_now(),
                summary: format!(
                    "{} {}→{} as {}",
                    spec.request.vm, spec.request.from, spec.request.to, spec.request.new_name
                ),
                resources: Vec::new(),
            },
        )
        .map_err(journal_err)?;
        let mut made = Made::default();
        let result = job
            .copy_and_define(&plan, live, &mut made, &mut journal)
            .await;
        let mut done = settle(result, made, (src, dst), journal, &job.ctx.tag, |p| {
            job.ctx.phase(p)
        })
        .await?;
        done.checklist = checklist;
        Ok(done)
    }

    async fn copy_and_define(
        &self,
        plan: &TargetPlan,
        live: bool,
        made: &mut Made,
        journal: &mut Journal,
    ) -> Result<CloneReport, JobError> {
        let (spec, src, dst) = (self.spec, self.src, self.dst);
        self.ctx.phase(JobPhase::Preparing);
        let source_xml = self.source_xml().await?;

        // Source side.
        let src_dir = RunDir::create(src.session.clone(), &self.ctx.tag)
            .await
            .map_err(step("preparing the source"))?;
        note(
            journal,
            made,
            Resource::RemoteDir {
                host: src.name.clone(),
                path: src_dir.path().as_str().into(),
            },
        )
        .map_err(journal_err)?;
        let mut sources = Vec::new();
        if live {
            let socket = PullBackup::socket_for(&src_dir).map_err(step("preparing the source"))?;
            note(
                journal,
                made,
                Resource::BackupJob {
                    host: src.name.clone(),
                    domain: spec.request.vm.clone(),
                    socket: socket.as_str().into(),
                    pool: src.pool.clone(),
                    tag: self.ctx.tag.clone(),
                },
            )
            .map_err(journal_err)?;
            let targets: Vec<&str> = plan.disks.iter().map(|d| d.target.as_str()).collect();
            let backup = PullBackup::begin(
                &src_dir,
                src.worker.clone(),
                &spec.request.vm,
                &targets,
                &src.pool,
                &self.ctx.tag,
            )
            .await
            .map_err(step("starting the backup job"))?;
            for d in &plan.disks {
                let export = backup
                    .disk(&d.target)
                    .map(|b| b.export_name.clone())
                    .ok_or_else(|| JobError::Step {
                        step: "starting the backup job",
                        message: format!("disk {} is not exported", d.target),
                    })?;
                sources.push(Endpoint {
                    conn: src.conn.clone(),
                    socket: backup.socket().clone(),
                    export,
                });
            }
            made.backup = Some(backup);
        } else {
            for d in &plan.disks {
                let nbd = start_source(&src_dir, d).await?;
                sources.push(Endpoint {
                    conn: src.conn.clone(),
                    socket: nbd.socket().clone(),
                    export: nbd.export_name().to_string(),
                });
                made.src_nbd.push(nbd);
            }
        }
        made.src_dir = Some(src_dir);
        self.ctx.check_cancel()?;

        // Destination side: fresh images, exported writable.
        let disks: Vec<_> = plan.disks.iter().map(|d| (d, d.capacity_bytes)).collect();
        let sinks = prepare_sinks(dst, &self.ctx.tag, &self.pool, disks, made, journal).await?;
        self.ctx.check_cancel()?;

        // Copy every disk at once, sharing one bandwidth limit.
        let totals = self.copy_all(plan, &sources, &sinks).await?;
        tracing::info!(job = %self.ctx.tag, "copy done; stopping the exports");
        made.release_after_copy(src, dst).await?;
        self.ctx.check_cancel()?;

        // The UEFI variable store: a small file, copied whole.
        if let Some(n) = &plan.nvram {
            self.copy_nvram(n, made, journal).await?;
        }

        // Define the rewritten domain: the last step, and the only one that
        // makes the clone visible.
        self.ctx.phase(JobPhase::Defining);
        let new_uuid = uuid::Uuid::new_v4();
        let xml = {
            let mut rp = RewritePlan::new(&spec.request.new_name, new_uuid);
            rp.disks = plan.rewrite_disks();
            rp.nvram_path = plan.nvram.as_ref().map(|n| n.path.clone());
            rp.mac_policy = if spec.profile.preserve_macs {
                MacPolicy::Preserve
            } else {
                MacPolicy::Fresh
            };
            let mut rng = rand::rng();
            xml_rewrite::rewrite_domain(&source_xml, &rp, &mut rng)
                .map_err(step("rewriting the domain XML"))?
                .xml
        };
        let start = spec.profile.start;
        let name = &spec.request.new_name;
        // From here on the clone is the operator's: its images are kept.
        let defined =
            define_domain(dst, name, xml, start, "defining the clone", made, journal).await?;
        Ok(CloneReport {
            checklist: Checklist::default(),
            new_name: spec.request.new_name.clone(),
            new_uuid: new_uuid.to_string(),
            bytes_moved: totals.moved,
            bytes_stored: totals.stored,
            bytes_skipped: totals.skipped,
            retries: totals.retries,
            verified: totals.verified,
            live,
            started: defined.started,
            disks: defined.disks,
            source_shut_down: false,
            source_restarted: false,
            warnings: defined.start_failed.into_iter().collect(),
        })
    }

    /// Copies the source's NVRAM file to `dest` on the destination, never
    /// overwriting (`set -C`). The file is recorded as an image of the pool,
    /// so an undo removes it like the disks.
    /// Copies the source's variable store, when there is one yet.
    async fn copy_nvram(
        &self,
        n: &crate::jobs::preflight::PlannedNvram,
        made: &mut Made,
        journal: &mut Journal,
    ) -> Result<(), JobError> {
        match crate::jobs::nvram::read_nvram(self.src, &n.source, n.derived).await? {
            Some(data) => write_nvram(self.dst, &self.pool, &n.path, &data, made, journal).await,
            None => Ok(()),
        }
    }

    async fn source_xml(&self) -> Result<String, JobError> {
        let name = self.spec.request.vm.clone();
        self.src
            .worker
            .call(move |c| {
                c.lookup_domain_by_name(&name)?
                    .xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE | virt::sys::VIR_DOMAIN_XML_SECURE)
            })
            .await
            .map_err(step("reading the source domain"))
    }

    /// Copies each disk from its source to its sink, reporting progress,
    /// and verifies by reading the copies back when the profile asks.
    async fn copy_all(
        &self,
        plan: &TargetPlan,
        sources: &[Endpoint],
        sinks: &[Endpoint],
    ) -> Result<CopyTotals, JobError> {
        Copier {
            profile: &self.spec.profile,
            cancel: &self.ctx.cancel,
            report: self.ctx.report.clone(),
            base: self.ctx.view(JobPhase::Copying),
            tag: &self.ctx.tag,
        }
        .copy_all(plan, sources, sinks)
        .await
    }
}

async fn start_source(dir: &RunDir, d: &PlannedDisk) -> Result<QemuNbd, JobError> {
    let path = d.source_path.as_deref().ok_or_else(|| JobError::Step {
        step: "preparing the source",
        message: format!("disk {} has no local image to copy", d.target),
    })?;
    let path = RemotePath::new(path).map_err(step("preparing the source"))?;
    let format: ImageFormat = d
        .source_format
        .as_deref()
        .unwrap_or("raw")
        .parse()
        .map_err(step("preparing the source"))?;
    QemuNbd::start(dir, ExportSpec::read_only(path, format, &d.target))
        .await
        .map_err(step("exporting the source disk"))
}
