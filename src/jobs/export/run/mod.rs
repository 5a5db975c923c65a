//! The export job: validate, open the source disks over NBD (a pull-mode
//! backup with a checkpoint for a running VM, incremental from the last
//! snapshot's checkpoint; qemu-nbd for a shut-off one), plan each 4 MiB
//! chunk, read what must be read over several connections, hash, compress,
//! seal and store it on the blocking pool, then commit the snapshot. A
//! failure or cancel undoes what the job made on the host; chunks already
//! stored stay (unreferenced until a rerun uses them, or a prune drops them).

mod chunks;
mod commit;
mod endpoint;
mod made;
mod prepare;

use chunks::*;
use endpoint::*;
use made::*;

use super::resume::{self, FileStamp, Header};
use super::{DiskReport, ExportError, ExportReport, ExportRequest};
use crate::config::profile::{Encryption, Profile, ProfileKind};
use crate::jobs::context::JobContext;
use crate::jobs::error::step;
use crate::jobs::hosts::HostLink;
use crate::jobs::journal::unix_now;
use crate::jobs::journal::{Journal, JournalEntry, Resource};
use crate::jobs::progress::{Report, Update};
use crate::libvirt::domain::{DomainDef, parse_domain};
use crate::model::checklist::{CheckItem, ids};
use crate::model::{Checklist, JobKind, JobPhase, JobRequest};
use crate::nbd::ConnectOptions;
use crate::pipeline::chunk_plan::{Geometry, Known};
use crate::pipeline::chunk_source::KnownFn;
use crate::pipeline::chunk_store::ChunkJournal;
use crate::pipeline::{
    BlockError, ChunkLedger, ChunkStoreSink, CopyError, CopyJob, CopyOptions, DiskPlan,
    LedgerTotals, NbdPool, PlanInputs, PlannedSource, Progress, RetryPolicy, Throttle,
};
use crate::remote::backup::{self, BackupOptions, PullBackup, checkpoint};
use crate::remote::qemu_nbd::{ExportSpec as NbdExportSpec, ImageFormat, QemuNbd};
use crate::remote::socket::{self, SocketTransport};
use crate::remote::{RemotePath, RunDir, rundir};
use crate::repo::{
    ChunkRef, DiskIndex, Manifest, NvramCopy, Repo, RepoError, SnapshotInfo, Totals,
};
use crate::transport::HostConnection;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
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

/// What the job found before reading anything.
struct Prepared {
    repo: Arc<Repo>,
    inactive_xml: String,
    vm_uuid: String,
    live: bool,
    disks: Vec<DiskJob>,
    nvram: Option<crate::libvirt::domain::VarStore>,
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
    ctx: JobContext,
}

impl Job<'_> {
    fn new<'a>(
        spec: &'a ExportSpec,
        host: &'a HostLink,
        report: Report,
        cancel: CancellationToken,
    ) -> Job<'a> {
        let names = JobRequest::Export(spec.request.clone()).vm_from_to();
        let ctx = JobContext::new(spec.job_id, JobKind::Export, names, report, cancel);
        Job { spec, host, ctx }
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
    let job = Job::new(spec, host, report, cancel);
    let clock = Instant::now();
    job.ctx.phase(JobPhase::Validating);
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
        job.ctx.phase_note(
            JobPhase::Preparing,
            "applying the profile's retention".into(),
        );
        match apply_retention(repo, &spec.request.vm, keep).await {
            Ok(removed) => r.pruned = removed,
            Err(e) => r
                .warnings
                .push(format!("retention not applied (the snapshot is kept): {e}")),
        }
    }
    match &result {
        Ok(_) => job.ctx.phase(JobPhase::Done),
        Err(ExportError::Cancelled) => job.ctx.phase(JobPhase::Cancelled),
        Err(e) => job.ctx.phase_note(JobPhase::Failed, e.to_string()),
    }
    result
}

/// The export's pre-flight checklist without exporting (`--dry-run`):
/// what [`run`] would check first. A failed check is in the checklist, not
/// an error; an error means the checks could not run (libvirt down).
pub async fn check(spec: &ExportSpec, host: &HostLink) -> Result<Checklist, ExportError> {
    let seen: Arc<Mutex<Option<Checklist>>> = Arc::default();
    let slot = seen.clone();
    let report: Report = Arc::new(move |u: Update| {
        if let Update::Checklist(c) = u {
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(c);
        }
    });
    let mut job = Job::new(spec, host, report, CancellationToken::new());
    job.ctx.tag.push_str("-check");
    match job.validate().await {
        Ok(_) => {}
        Err(ExportError::Invalid(c)) => return Ok(c),
        Err(e) => return Err(e),
    }
    let checked = seen.lock().unwrap_or_else(PoisonError::into_inner).take();
    checked.ok_or_else(|| ExportError::Step {
        step: "checking",
        message: "the checks produced no checklist".into(),
    })
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
