//! The clone job itself: validate, export the source disks over NBD (a
//! pull-mode backup for a running VM, qemu-nbd for a shut-off one), create
//! and export fresh images on the destination, copy through the pipeline,
//! verify, then define the rewritten domain. Anything that fails or is
//! cancelled is undone in reverse; the journal covers an app that dies.

use super::power;
use super::validate::{self, PlannedDisk, TargetPlan, ValidationRequest};
use super::xml_rewrite::{self, DiskFormat, MacPolicy, RewritePlan};
use crate::config::profile::{ImageFormat as ProfileFormat, LivePolicy, Profile};
use crate::jobs::journal::{Journal, JournalEntry, Resource};
use crate::libvirt::HostWorker;
use crate::model::{Checklist, CloneRequest, DiskProgress, JobPhase, JobView, VmState};
use crate::nbd::ConnectOptions;
use crate::pipeline::{
    BlockError, BlockSource, CopyJob, CopyOptions, Digest, NbdPool, NbdSink, NbdSource, Progress,
    RateEstimator, RetryPolicy, Throttle,
};
use crate::remote::backup::PullBackup;
use crate::remote::qemu_nbd::{ExportSpec, ImageFormat, QemuNbd};
use crate::remote::socket::{self, SocketTransport};
use crate::remote::{Image, RemoteError, RemotePath, RunDir};
use crate::transport::{HostConnection, Session, SupervisorError};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// One host as a job sees it: its libvirt thread, its SSH connection (which
/// may be replaced by a reconnect) and its default pool.
#[derive(Clone)]
pub struct HostLink {
    pub name: String,
    pub worker: Arc<HostWorker>,
    pub conn: HostConnection,
    pub session: Arc<Session>,
    pub pool: String,
    /// The host's handles as they are now: after a reconnect, the worker
    /// and session above are dead and these are their successors.
    pub current: Arc<dyn Fn() -> Option<HostLink> + Send + Sync>,
}

/// How long a job waits for a host to come back before giving up.
const RECONNECT_WAIT: Duration = Duration::from_secs(120);

impl HostLink {
    fn alive(&self) -> bool {
        !self.session.is_closed() && !self.worker.is_closed()
    }

    /// Live handles for this host, waiting for a reconnect if needed.
    pub async fn fresh(&self) -> Result<HostLink, CloneError> {
        if self.alive() {
            return Ok(self.clone());
        }
        let start = Instant::now();
        loop {
            if let Some(l) = (self.current)().filter(HostLink::alive) {
                return Ok(l);
            }
            if start.elapsed() > RECONNECT_WAIT {
                return Err(CloneError::Step {
                    step: "reconnecting",
                    message: format!("{} did not come back within {RECONNECT_WAIT:?}", self.name),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Everything one clone needs besides the hosts.
pub struct CloneSpec {
    pub job_id: u64,
    pub request: CloneRequest,
    pub profile: Profile,
    /// Where the job journal goes (`<data dir>/journal`).
    pub journal_dir: PathBuf,
}

/// What a finished clone reports (headless `--json` prints it).
#[derive(Debug, Clone, serde::Serialize)]
pub struct CloneReport {
    pub checklist: Checklist,
    pub new_name: String,
    pub new_uuid: String,
    /// Bytes of data read from the source and written (holes excluded,
    /// re-writes after a resume included).
    pub bytes_moved: u64,
    /// Data bytes the copies hold (each written byte once).
    pub bytes_stored: u64,
    /// Bytes of the disks never sent: holes and zero runs of the source.
    pub bytes_skipped: u64,
    /// Reconnects the copies needed.
    pub retries: u32,
    /// True when the copy was read back and its digest compared.
    pub verified: bool,
    pub live: bool,
    pub started: bool,
    pub disks: Vec<String>,
    /// The source was shut down for the copy (the profile's live policy).
    pub source_shut_down: bool,
    /// The source was started again after the copy.
    pub source_restarted: bool,
    /// Things that went wrong after the clone was made (e.g. the restart).
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CloneError {
    #[error("pre-flight checks failed: {}", summary(.0))]
    Invalid(Checklist),
    #[error("cancelled")]
    Cancelled,
    #[error("{step}: {message}")]
    Step { step: &'static str, message: String },
}

fn summary(c: &Checklist) -> String {
    c.failures()
        .map(|i| format!("{}: {}", i.title, i.message))
        .collect::<Vec<_>>()
        .join("; ")
}

pub(crate) fn step<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> CloneError {
    move |e| CloneError::Step {
        step,
        message: e.to_string(),
    }
}

/// What a running clone tells its owner.
#[derive(Debug, Clone)]
pub enum Update {
    /// Progress: at least 4 times a second while copying, and at each phase.
    View(JobView),
    /// The pre-flight checklist, passed or not, once checked.
    Checklist(Checklist),
    /// A disk's copy reconnected after a transient failure.
    Retry(crate::jobs::detail::RetryNote),
}

/// Receives the job's [`Update`]s.
pub type Report = Arc<dyn Fn(Update) + Send + Sync>;

/// What the copies of all disks add up to (see [`CloneReport`]).
#[derive(Debug, Default)]
pub(crate) struct CopyTotals {
    pub moved: u64,
    pub stored: u64,
    pub skipped: u64,
    pub retries: u32,
    pub verified: bool,
}

/// Where one disk is exported, so a connection can be reopened after the
/// SSH session was replaced.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub conn: HostConnection,
    pub socket: RemotePath,
    pub export: String,
}

/// Where a copy reads one disk from; opened again after a transient
/// failure. Clone reads NBD exports ([`Endpoint`]); restore reads a
/// repository snapshot.
pub(crate) trait OpenSource: Clone + Send + Sync + 'static {
    type Source: BlockSource + 'static;
    /// A source over `connections` connections (where that means anything).
    fn open(
        &self,
        connections: usize,
    ) -> impl std::future::Future<Output = Result<Self::Source, BlockError>> + Send;
    /// Ends what [`OpenSource::open`] made, once the copy is over.
    fn close(source: &Self::Source) -> impl std::future::Future<Output = ()> + Send;
    /// The copy's window: its unit of work and of reads.
    fn window(&self) -> u64 {
        crate::pipeline::engine::DEFAULT_WINDOW
    }
}

impl OpenSource for Endpoint {
    type Source = NbdSource;
    async fn open(&self, connections: usize) -> Result<NbdSource, BlockError> {
        Ok(NbdSource::new(self.pool(connections, true).await?))
    }
    async fn close(source: &NbdSource) {
        let _ = source.pool().close().await;
    }
}

impl Endpoint {
    /// Opens `count` connections. The allocation map is wanted on both
    /// sides: verification reads the sink back and must skip its holes.
    pub(crate) async fn pool(
        &self,
        count: usize,
        want_allocation: bool,
    ) -> Result<NbdPool, BlockError> {
        let session = self.conn.session().await.map_err(|e| match e {
            SupervisorError::NeedsOperator { .. } => BlockError::fatal(e),
            other => BlockError::transport(other),
        })?;
        let mut opts = ConnectOptions::new(self.export.clone());
        opts.want_allocation = want_allocation;
        let socket = self.socket.clone();
        NbdPool::connect(count, &opts, || {
            let session = session.clone();
            let socket = socket.clone();
            async move { socket::open(&session, &socket, SocketTransport::Auto).await }
        })
        .await
    }
}

/// What the job made so far, undone in reverse by [`Made::undo`].
/// The journal's resources: what a path-based cleanup works from when the
/// handles above lost their connection (their cleanup then fails).
/// Restore uses it too, with only the destination half.
#[derive(Default)]
pub(crate) struct Made {
    pub src_dir: Option<RunDir>,
    pub backup: Option<PullBackup>,
    pub src_nbd: Vec<QemuNbd>,
    pub dst_dir: Option<RunDir>,
    pub dst_nbd: Vec<QemuNbd>,
    pub images: Vec<Image>,
    /// The NVRAM copy: a plain file with no handle, removed by path.
    pub nvram: Option<Resource>,
    pub resources: Vec<Resource>,
}

impl Made {
    /// Stops the NBD servers and ends the backup; when a connection was
    /// replaced meanwhile, does the same from the recorded paths over the
    /// hosts' current connections.
    pub(crate) async fn release_on(
        &mut self,
        src: &HostLink,
        dst: &HostLink,
    ) -> Result<(), String> {
        if self.release().await.is_ok() {
            return Ok(());
        }
        self.by_path(src, dst, |r| !matches!(r, Resource::Image { .. }))
            .await
    }

    /// Removes everything, images included, falling back as `release_on` does.
    pub(crate) async fn undo_on(mut self, src: &HostLink, dst: &HostLink) -> Result<(), String> {
        let resources = std::mem::take(&mut self.resources);
        let nvram = self.nvram.take();
        if self.undo().await.is_ok() {
            return match nvram {
                Some(r) => {
                    let d = dst.fresh().await.map_err(|e| e.to_string())?;
                    crate::jobs::recover::undo(&r, &d).await
                }
                None => Ok(()),
            };
        }
        let mut again = Made {
            resources,
            ..Made::default()
        };
        again.by_path(src, dst, |_| true).await
    }

    async fn by_path(
        &mut self,
        src: &HostLink,
        dst: &HostLink,
        which: impl Fn(&Resource) -> bool,
    ) -> Result<(), String> {
        let (s, d) = match (src.fresh().await, dst.fresh().await) {
            (Ok(s), Ok(d)) => (s, d),
            (Err(e), _) | (_, Err(e)) => return Err(e.to_string()),
        };
        let mut errors = Vec::new();
        for r in self.resources.iter().rev().filter(|r| which(r)) {
            let host = if r.host() == s.name { &s } else { &d };
            if let Err(e) = crate::jobs::recover::undo(r, host).await {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Stops the NBD servers and ends the backup: the copy is over either way.
    async fn release(&mut self) -> Result<(), String> {
        // Each stop is a round trip to a host: run them side by side.
        let stops = self.dst_nbd.drain(..).chain(self.src_nbd.drain(..));
        let mut errors: Vec<String> = futures::future::join_all(stops.map(|n| n.stop()))
            .await
            .into_iter()
            .filter_map(|r| r.err().map(|e| e.to_string()))
            .collect();
        if let Some(b) = self.backup.take()
            && let Err(e) = b.end().await
        {
            errors.push(e.to_string());
        }
        let dirs = [self.dst_dir.take(), self.src_dir.take()];
        let removals = dirs.into_iter().flatten().map(|d| d.remove());
        for r in futures::future::join_all(removals).await {
            if let Err(e) = r {
                errors.push(e.to_string());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Removes everything, images included.
    async fn undo(mut self) -> Result<(), String> {
        let mut errors: Vec<String> = self.release().await.err().into_iter().collect();
        for img in self.images.drain(..) {
            if let Err(e) = img.remove().await {
                errors.push(e.to_string());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// Ends a job that made things on `src` and `dst`: on success closes its
/// journal and reports Done; on failure or cancel undoes `made` in reverse
/// (the journal keeps what could not be undone, for the next start) and
/// reports Failed or Cancelled.
pub(crate) async fn settle<T>(
    result: Result<T, CloneError>,
    made: Made,
    (src, dst): (&HostLink, &HostLink),
    journal: Journal,
    tag: &str,
    phase: impl Fn(JobPhase),
) -> Result<T, CloneError> {
    match result {
        Ok(done) => {
            journal.finish().map_err(journal_err)?;
            phase(JobPhase::Done);
            Ok(done)
        }
        Err(e) => {
            let ended = if matches!(e, CloneError::Cancelled) {
                JobPhase::Cancelled
            } else {
                JobPhase::Failed
            };
            match made.undo_on(src, dst).await {
                // Nothing is left: the journal has nothing to tell a restart.
                Ok(()) => {
                    let _ = journal.finish();
                }
                Err(left) => {
                    tracing::warn!(job = %tag, "cleanup incomplete, kept in the journal: {left}");
                }
            }
            phase(ended);
            Err(e)
        }
    }
}

/// Records a resource in the journal (for a restart) and in `made` (for
/// this run's own path-based cleanup).
pub(crate) fn note(
    journal: &mut Journal,
    made: &mut Made,
    r: Resource,
) -> Result<(), crate::jobs::journal::JournalError> {
    made.resources.push(r.clone());
    journal.record(r)
}

pub(crate) fn journal_err(e: crate::jobs::journal::JournalError) -> CloneError {
    CloneError::Step {
        step: "journal",
        message: e.to_string(),
    }
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The validation request a clone with this profile makes; `pool` is the
/// destination host's configured pool, used unless the profile names one.
pub fn validation_request(req: &CloneRequest, p: &Profile, pool: &str) -> ValidationRequest {
    let pool = p.pool.as_deref().unwrap_or(pool);
    let mut v = ValidationRequest::new(&req.vm, &req.new_name, pool);
    v.allow_shutdown = p.live.shuts_down();
    v.space_margin = p.space_margin;
    v.format = disk_format(p.format);
    v
}

pub(crate) fn disk_format(f: ProfileFormat) -> DiskFormat {
    match f {
        ProfileFormat::Qcow2 => DiskFormat::Qcow2,
        ProfileFormat::Raw => DiskFormat::Raw,
    }
}

pub(crate) fn image_format(f: DiskFormat) -> ImageFormat {
    match f {
        DiskFormat::Qcow2 => ImageFormat::Qcow2,
        DiskFormat::Raw => ImageFormat::Raw,
    }
}

struct Job<'a> {
    spec: &'a CloneSpec,
    src: &'a HostLink,
    dst: &'a HostLink,
    report: Report,
    cancel: CancellationToken,
    tag: String,
    /// The destination pool the images go to.
    pool: String,
}

impl Job<'_> {
    fn view(&self, phase: JobPhase, disks: Vec<DiskProgress>) -> JobView {
        JobView {
            id: self.spec.job_id,
            kind: "clone".into(),
            vm: self.spec.request.vm.clone(),
            from: self.spec.request.from.clone(),
            to: self.spec.request.to.clone(),
            phase,
            disks,
            rate_bytes_per_sec: 0.0,
            eta_secs: None,
            message: None,
            queue_position: None,
        }
    }

    fn phase(&self, phase: JobPhase) {
        tracing::info!(job = %self.tag, ?phase, "clone phase");
        (self.report)(Update::View(self.view(phase, Vec::new())));
    }

    /// A phase with a line saying what happens in it.
    fn phase_note(&self, phase: JobPhase, note: String) {
        tracing::info!(job = %self.tag, ?phase, "{note}");
        let mut v = self.view(phase, Vec::new());
        v.message = Some(note);
        (self.report)(Update::View(v));
    }

    fn check_cancel(&self) -> Result<(), CloneError> {
        if self.cancel.is_cancelled() {
            Err(CloneError::Cancelled)
        } else {
            Ok(())
        }
    }
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
) -> Result<CloneReport, CloneError> {
    let vreq = validation_request(&spec.request, &spec.profile, &dst.pool);
    let job = Job {
        spec,
        src,
        dst,
        report,
        cancel,
        tag: format!("c{}", spec.job_id),
        pool: vreq.dest_pool.clone(),
    };
    job.phase(JobPhase::Validating);
    let facts = validate::gather(&src.worker, &dst.worker, &dst.session, &vreq)
        .await
        .map_err(step("validating"))?;
    let checklist = validate::check(&vreq, &facts);
    (job.report)(Update::Checklist(checklist.clone()));
    if !checklist.ok() {
        return Err(CloneError::Invalid(checklist));
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
    job.phase_note(
        JobPhase::Preparing,
        format!(
            "shutting {vm} down for an offline copy (up to {})",
            crate::config::format_duration(spec.profile.shutdown_timeout)
        ),
    );
    let mut result =
        match power::shut_down(src, vm, spec.profile.shutdown_timeout, &job.cancel).await {
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
                tracing::info!(job = %job.tag, started, "source {vm} is running again");
                // Only a start by this job counts: someone may have been quicker.
                if let Ok(r) = &mut result {
                    r.source_restarted = started;
                }
            }
            Err(e) => {
                let why = format!("starting {vm} on {} again failed: {e}", src.name);
                tracing::warn!(job = %job.tag, "{why}");
                match &mut result {
                    Ok(r) => r.warnings.push(why),
                    Err(CloneError::Step { message, .. }) => {
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
    ) -> Result<CloneReport, CloneError> {
        let (job, spec, src, dst) = (self, self.spec, self.src, self.dst);
        let plan = validate::planned_targets(vreq, &facts)
            .ok_or_else(|| CloneError::Step {
                step: "planning",
                message: "validation found no VM or pool to plan with".into(),
            })?
            .map_err(step("planning"))?;
        let live = facts
            .source
            .vm
            .as_ref()
            .is_some_and(|v| v.state != VmState::ShutOff);
        job.check_cancel()?;

        let mut journal = Journal::create(
            &spec.journal_dir,
            JournalEntry {
                job_id: job.tag.clone(),
                kind: "clone".into(),
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
        let mut done = settle(result, made, (src, dst), journal, &job.tag, |p| {
            job.phase(p)
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
    ) -> Result<CloneReport, CloneError> {
        let (spec, src, dst) = (self.spec, self.src, self.dst);
        self.phase(JobPhase::Preparing);
        let source_xml = self.source_xml().await?;

        // Source side.
        let src_dir = RunDir::create(src.session.clone(), &self.tag)
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
                    tag: self.tag.clone(),
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
                &self.tag,
            )
            .await
            .map_err(step("starting the backup job"))?;
            for d in &plan.disks {
                let export = backup
                    .disk(&d.target)
                    .map(|b| b.export_name.clone())
                    .ok_or_else(|| CloneError::Step {
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
        self.check_cancel()?;

        // Destination side: fresh images, exported writable.
        let dst_dir = RunDir::create(dst.session.clone(), &self.tag)
            .await
            .map_err(step("preparing the destination"))?;
        note(
            journal,
            made,
            Resource::RemoteDir {
                host: dst.name.clone(),
                path: dst_dir.path().as_str().into(),
            },
        )
        .map_err(journal_err)?;
        let mut sinks = Vec::new();
        for d in &plan.disks {
            let file = d.path.rsplit('/').next().unwrap_or(&d.path).to_string();
            let image = Image::create(
                dst.session.clone(),
                dst.worker.clone(),
                &self.pool,
                &file,
                image_format(d.format),
                d.capacity_bytes,
            )
            .await
            .map_err(step("creating the destination image"))?;
            note(
                journal,
                made,
                Resource::Image {
                    host: dst.name.clone(),
                    path: image.path().as_str().into(),
                    pool: self.pool.clone(),
                },
            )
            .map_err(journal_err)?;
            let spec =
                ExportSpec::writable(image.path().clone(), image_format(d.format), &d.target);
            let nbd = start_sink(&dst_dir, spec)
                .await
                .map_err(step("exporting the destination image"))?;
            sinks.push(Endpoint {
                conn: dst.conn.clone(),
                socket: nbd.socket().clone(),
                export: nbd.export_name().to_string(),
            });
            made.images.push(image);
            made.dst_nbd.push(nbd);
        }
        made.dst_dir = Some(dst_dir);
        self.check_cancel()?;

        // Copy every disk at once, sharing one bandwidth limit.
        let totals = self.copy_all(plan, &sources, &sinks).await?;
        tracing::info!(job = %self.tag, "copy done; stopping the exports");
        made.release_on(src, dst)
            .await
            .map_err(|message| CloneError::Step {
                step: "stopping the NBD exports",
                message,
            })?;
        self.check_cancel()?;

        // The UEFI variable store: a small file, copied whole.
        if let Some(n) = &plan.nvram {
            self.copy_nvram(&n.source, &n.path, made, journal).await?;
        }

        // Define the rewritten domain: the last step, and the only one that
        // makes the clone visible.
        self.phase(JobPhase::Defining);
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
        let domain = Resource::Domain {
            host: dst.name.clone(),
            name: spec.request.new_name.clone(),
        };
        note(journal, made, domain.clone()).map_err(journal_err)?;
        let start = spec.profile.start;
        dst.fresh()
            .await?
            .worker
            .call(move |c| {
                let d = c.define_domain_xml(&xml)?;
                if start {
                    d.create()?;
                }
                Ok(())
            })
            .await
            .map_err(step("defining the clone"))?;
        // From here on the clone is the operator's: keep its images.
        let disks: Vec<String> = made
            .images
            .drain(..)
            .map(|i| i.keep().as_str().to_string())
            .collect();
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
            started: start,
            disks,
            source_shut_down: false,
            source_restarted: false,
            warnings: Vec::new(),
        })
    }

    /// Copies the source's NVRAM file to `dest` on the destination, never
    /// overwriting (`set -C`). The file is recorded as an image of the pool,
    /// so an undo removes it like the disks.
    async fn copy_nvram(
        &self,
        source: &str,
        dest: &str,
        made: &mut Made,
        journal: &mut Journal,
    ) -> Result<(), CloneError> {
        let from = RemotePath::new(source).map_err(step("copying NVRAM"))?;
        let src = self.src.fresh().await?;
        let read = crate::transport::quote::Command::new("cat")
            .arg("--")
            .arg(from.as_str())
            .build();
        let data = src
            .session
            .exec(&read)
            .await
            .and_then(|o| o.check(&read))
            .map_err(step("reading the source NVRAM"))?
            .stdout;
        write_nvram(self.dst, &self.pool, dest, &data, made, journal).await
    }

    async fn source_xml(&self) -> Result<String, CloneError> {
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
    ) -> Result<CopyTotals, CloneError> {
        Copier {
            profile: &self.spec.profile,
            cancel: &self.cancel,
            report: self.report.clone(),
            base: self.view(JobPhase::Copying, Vec::new()),
            tag: &self.tag,
        }
        .copy_all(plan, sources, sinks)
        .await
    }
}

/// Writes an NVRAM file at `dest` on `dst`, never overwriting (`set -C`).
/// It is recorded as an image of `pool` first, so an undo removes it like
/// the disks.
pub(crate) async fn write_nvram(
    dst: &HostLink,
    pool: &str,
    dest: &str,
    data: &[u8],
    made: &mut Made,
    journal: &mut Journal,
) -> Result<(), CloneError> {
    use tokio::io::AsyncWriteExt;
    let to = RemotePath::new(dest).map_err(step("copying NVRAM"))?;
    let dst = dst.fresh().await?;
    let file = Resource::Image {
        host: dst.name.clone(),
        path: to.as_str().into(),
        pool: pool.to_string(),
    };
    note(journal, made, file.clone()).map_err(journal_err)?;
    made.nvram = Some(file);
    let write = format!(
        "set -C; umask 077; cat > {}",
        crate::transport::quote::quote(to.as_str())
    );
    let mut stream = dst
        .session
        .exec_stream(&write)
        .await
        .map_err(step("writing the NVRAM copy"))?;
    stream
        .write_all(data)
        .await
        .map_err(step("writing the NVRAM copy"))?;
    let exit = stream
        .finish()
        .await
        .map_err(step("writing the NVRAM copy"))?;
    if !exit.success() {
        return Err(CloneError::Step {
            step: "writing the NVRAM copy",
            message: exit.describe(),
        });
    }
    Ok(())
}

/// The copy phase of a job (clone or restore): every disk at once under
/// one bandwidth limit, progress 4 times a second, then the read-back.
pub(crate) struct Copier<'a> {
    pub profile: &'a Profile,
    pub cancel: &'a CancellationToken,
    pub report: Report,
    /// The job's view; the copy sets its phase, disks and rate.
    pub base: JobView,
    /// The job's tag, for the log.
    pub tag: &'a str,
}

impl Copier<'_> {
    fn phase(&self, phase: JobPhase) {
        tracing::info!(job = %self.tag, ?phase, "{} phase", self.base.kind);
        let mut v = self.base.clone();
        v.phase = phase;
        (self.report)(Update::View(v));
    }

    /// Copies each disk from its source to its sink, reporting progress,
    /// and verifies by reading the copies back when the profile asks.
    pub(crate) async fn copy_all<O: OpenSource>(
        &self,
        plan: &TargetPlan,
        sources: &[O],
        sinks: &[Endpoint],
    ) -> Result<CopyTotals, CloneError> {
        let profile = self.profile;
        let throttle = Throttle::from_limit(profile.bandwidth_limit);
        let connections = usize::from(profile.connections);
        let opts = CopyOptions {
            hash: profile.verify,
            // Requests in flight per connection, over every connection.
            workers: profile.copy_workers(),
            retry: RetryPolicy {
                attempts: profile.retry.attempts.saturating_sub(1),
                initial: profile.retry.initial,
                max: profile.retry.max,
                ..RetryPolicy::default()
            },
            ..CopyOptions::default()
        };
        let progress: Vec<Arc<Progress>> = plan
            .disks
            .iter()
            .map(|_| Arc::new(Progress::new()))
            .collect();
        self.phase(JobPhase::Copying);
        let stop_ticker = CancellationToken::new();
        let ticker = self.spawn_ticker(plan, &progress, JobPhase::Copying, stop_ticker.clone());
        // Stops the ticker too if this future is dropped midway.
        let _stop_on_drop = stop_ticker.clone().drop_guard();
        let copies = plan.disks.iter().enumerate().map(|(i, _)| {
            let (from, to) = (sources[i].clone(), sinks[i].clone());
            let job = CopyJob::new(CopyOptions {
                window: from.window(),
                ..opts.clone()
            })
            .with_progress(progress[i].clone())
            .with_throttle(throttle.clone())
            .with_cancel(self.cancel.child_token());
            async move {
                let pair = || {
                    let (from, to) = (from.clone(), to.clone());
                    async move {
                        let s = from.open(connections).await?;
                        let k = NbdSink::new(to.pool(connections, true).await?, true);
                        Ok::<_, BlockError>((s, k))
                    }
                };
                let (s, k) = pair().await.map_err(step("connecting NBD"))?;
                let out = job.run(s, k, pair).await.map_err(|e| match e {
                    crate::pipeline::CopyError::Cancelled => CloneError::Cancelled,
                    other => CloneError::Step {
                        step: "copying",
                        message: other.to_string(),
                    },
                })?;
                Ok::<_, CloneError>((job, out, to))
            }
        });
        let results = futures::future::join_all(copies).await;
        // One last report, so the final bytes and any late retry are seen.
        stop_ticker.cancel();
        let _ = ticker.await;
        let mut done = Vec::new();
        for r in results {
            done.push(r?);
        }
        let mut totals = CopyTotals::default();
        for ((_, out, _), disk) in done.iter().zip(&plan.disks) {
            totals.moved += out.stats.bytes_written;
            totals.stored += out.stats.bytes_done;
            totals.skipped += disk.capacity_bytes.saturating_sub(out.stats.bytes_done);
            totals.retries += out.retries;
        }
        if !profile.verify {
            for (_, out, _) in &done {
                let _ = out.sink.pool().close().await;
                O::close(&out.source).await;
            }
            return Ok(totals);
        }
        self.phase(JobPhase::Verifying);
        for (i, (job, out, to)) in done.iter().enumerate() {
            let expected: Option<Digest> = out.digest;
            let to = to.clone();
            let reread = || {
                let to = to.clone();
                async move { Ok::<_, BlockError>(NbdSource::new(to.pool(connections, true).await?)) }
            };
            let got = job
                .digest(out.sink.as_source(), reread)
                .await
                .map_err(step("verifying"))?;
            if Some(got) != expected {
                return Err(CloneError::Step {
                    step: "verifying",
                    message: format!(
                        "disk {}: the copy's BLAKE3 digest {got} differs from the source's {}",
                        plan.disks[i].target,
                        expected.map(|d| d.to_string()).unwrap_or_default()
                    ),
                });
            }
            let _ = out.sink.pool().close().await;
            O::close(&out.source).await;
        }
        totals.verified = true;
        Ok(totals)
    }

    /// Sends the job's progress 4 times a second, and each disk's retries
    /// as they happen, until `stop` (then once more).
    fn spawn_ticker(
        &self,
        plan: &TargetPlan,
        progress: &[Arc<Progress>],
        phase: JobPhase,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        use tracing::Instrument;
        let targets: Vec<String> = plan.disks.iter().map(|d| d.target.clone()).collect();
        let progress = progress.to_vec();
        let mut base = self.base.clone();
        base.phase = phase;
        let report = self.report.clone();
        let task = async move {
            let mut rate = RateEstimator::new(Duration::from_secs(3));
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            let mut seen = vec![0u32; targets.len()];
            loop {
                let last = tokio::select! {
                    _ = tick.tick() => false,
                    _ = stop.cancelled() => true,
                };
                for ((t, p), seen) in targets.iter().zip(&progress).zip(&mut seen) {
                    for e in p.retries_after(*seen) {
                        *seen = e.seq;
                        report(Update::Retry(crate::jobs::detail::RetryNote {
                            at_ms: e.at_ms,
                            disk: t.clone(),
                            attempt: e.attempt,
                            reason: e.reason,
                        }));
                    }
                }
                let disks: Vec<DiskProgress> = targets
                    .iter()
                    .zip(&progress)
                    .map(|(t, p)| {
                        let s = p.snapshot();
                        DiskProgress {
                            target: t.clone(),
                            bytes_done: s.bytes_done,
                            bytes_total: s.bytes_total,
                        }
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
        // In the job's span, so its lines land in the job's log.
        tokio::spawn(task.in_current_span())
    }
}

/// Exports a destination image with the host page cache bypassed
/// (`--cache=none --aio=native`): the copy is written once and not read
/// again soon, and filling the cache with it costs the host more CPU than
/// the write itself (about a fifth of a clone's CPU on the lab). A pool
/// whose file system has no O_DIRECT (tmpfs) refuses that; it then gets
/// the ordinary cached export.
pub(crate) async fn start_sink(dir: &RunDir, spec: ExportSpec) -> Result<QemuNbd, RemoteError> {
    let direct = ExportSpec {
        direct_io: true,
        ..spec.clone()
    };
    match QemuNbd::start(dir, direct).await {
        Ok(nbd) => Ok(nbd),
        Err(e) => {
            tracing::info!(image = %spec.image, error = %e, "no direct I/O for this image; using the page cache");
            QemuNbd::start(dir, spec).await
        }
    }
}

async fn start_source(dir: &RunDir, d: &PlannedDisk) -> Result<QemuNbd, CloneError> {
    let path = d.source_path.as_deref().ok_or_else(|| CloneError::Step {
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
